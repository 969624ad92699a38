"""The SLURM releases the tests run: the host's 22.05, and newer ones from Debian chroots.

scripts/chroots.sh builds one minimal Debian chroot per newer release under $FLURM_CHROOTS (default
/var/cache/flurm/chroots; ``make setup`` runs it). ``Release.command`` turns a SLURM command line into
one that runs that release's binary: as it is for the host's release; for a chrooted one inside a
private mount namespace (``unshare --mount --propagation private``) that bind-mounts, each at the same
path inside the chroot, /proc, /dev, /sys, /etc/passwd and /etc/group (users resolve alike), /etc/hosts
(localhost), the system's temporary directory and the directories the caller shares (a cluster's, with
its slurm.conf, munge socket, spool, logs and job output). The mounts belong to that namespace alone:
they vanish with its last process (a daemon's namespace with the daemon), nothing to unmount by hand.
Every daemon and job a chrooted slurmd starts stays in its namespace and sees the same paths.

SLURM_CONF is always set: without it even ``sinfo -V`` of 24.11 looks for the controller in DNS SRV
records, and fails.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CHROOTS = Path("/var/cache/flurm/chroots")
BUILD_HINT = "scripts/chroots.sh builds it (make setup runs it)"


def chroots_dir() -> Path:
    """Where scripts/chroots.sh keeps the chroots: $FLURM_CHROOTS, else /var/cache/flurm/chroots."""
    return Path(os.environ.get("FLURM_CHROOTS") or DEFAULT_CHROOTS)


class ReleaseError(RuntimeError):
    pass


@dataclass(frozen=True)
class Release:
    name: str  # "24.11": what tests ask for
    protocol: int  # SLURM_PROTOCOL_VERSION on the wire
    suite: str  # the Debian suite its packages come from
    chrooted: bool  # False: the host's own binaries

    @property
    def root(self) -> Path | None:
        """The chroot holding this release, None for the host's."""
        return chroots_dir() / self.suite if self.chrooted else None

    @property
    def stamp(self) -> Path | None:
        return chroots_dir() / f"{self.suite}.stamp" if self.chrooted else None

    def require(self) -> None:
        """Raise unless this release can run: a chroot is usable once scripts/chroots.sh stamped it."""
        if self.stamp is not None and not self.stamp.is_file():
            raise ReleaseError(f"SLURM {self.name}: no chroot at {self.root} ({BUILD_HINT})")

    def command(
        self,
        argv: Sequence[str],
        conf: Path,
        share: Sequence[Path] = (),
        cwd: Path | None = None,
    ) -> list[str]:
        """``argv`` (a SLURM binary and its arguments) as this release runs it with SLURM_CONF=conf.

        ``share``: directories the command must see at their own path (beyond the temporary
        directory); ``cwd``: its working directory, which must be among them (a chrooted command
        otherwise starts in /). A host command is ``argv`` itself, as before there were releases: the
        caller's environment carries SLURM_CONF=conf and subprocess gets the same ``cwd``."""
        if self.root is None:
            return list(argv)
        self.require()
        root = shlex.quote(str(self.root))
        lines = ["set -e"]
        for what, how in (("/proc", "--bind"), ("/dev", "--rbind"), ("/sys", "--rbind")):
            lines.append(f"mount {how} {what} {root}{what}")
        for file in ("/etc/passwd", "/etc/group", "/etc/hosts"):
            # /etc/hosts is missing from a fresh chroot: the bind needs a file to land on
            lines.append(f"[ -e {root}{file} ] || : > {root}{file}")
            lines.append(f"mount --bind {file} {root}{file}")
        for dir in _outermost([Path(tempfile.gettempdir()), *share]):
            d = shlex.quote(str(dir))
            lines.append(f"mkdir -p {root}{d} && mount --bind {d} {root}{d}")
        inner = ["env", "-C", str(cwd or "/"), f"SLURM_CONF={conf}", *argv]
        lines.append(f"exec chroot {root} {shlex.join(inner)}")
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]

    @functools.cached_property
    def version(self) -> str:
        """The exact SLURM version, e.g. 24.11.5 (from the chroot's stamp, or the host's slurmctld)."""
        if self.stamp is not None:
            self.require()
            for line in self.stamp.read_text().splitlines():
                if line.startswith("slurm="):
                    return line.removeprefix("slurm=").split("-")[0]
            raise ReleaseError(f"{self.stamp} names no SLURM version ({BUILD_HINT})")
        try:
            out = subprocess.run(["slurmctld", "-V"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return "?"
        fields = out.stdout.split()
        return fields[1] if len(fields) > 1 else "?"


def _outermost(dirs: Sequence[Path]) -> list[Path]:
    """The directories, resolved, without those inside another (its bind already shows them)."""
    resolved = sorted({d.resolve() for d in dirs}, key=lambda d: len(d.parts))
    kept: list[Path] = []
    for d in resolved:
        if not any(d == k or d.is_relative_to(k) for k in kept):
            kept.append(d)
    return kept


HOST = "22.05"
RELEASES: dict[str, Release] = {
    r.name: r
    for r in (
        Release("22.05", 0x2600, "bookworm", chrooted=False),
        Release("24.11", 0x2A00, "trixie", chrooted=True),
        Release("26.05", 0x2D00, "sid", chrooted=True),
    )
}


def get(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise ReleaseError(f"unknown SLURM release {name!r} (known: {', '.join(RELEASES)})") from None

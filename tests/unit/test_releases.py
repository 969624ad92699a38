"""harness/releases.py: the releases as data, and the command line that runs a newer release's binary
in its chroot (what it mounts where; run for real in tests/integration/test_releases_harness.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from harness import releases


def test_releases_table() -> None:
    assert {r.name: (r.protocol, r.suite, r.chrooted) for r in releases.RELEASES.values()} == {
        "22.05": (0x2600, "bookworm", False),
        "24.11": (0x2A00, "trixie", True),
        "26.05": (0x2D00, "sid", True),
    }
    assert releases.get(releases.HOST).root is None
    with pytest.raises(releases.ReleaseError, match=r"unknown SLURM release '23\.02'"):
        releases.get("23.02")


def test_host_command_is_the_command_itself() -> None:
    assert releases.get("22.05").command(["sinfo", "-V"], Path("/c/etc/slurm.conf")) == ["sinfo", "-V"]


def test_chroot_missing_says_how_to_build_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLURM_CHROOTS", str(tmp_path))
    with pytest.raises(releases.ReleaseError, match=r"scripts/chroots\.sh"):
        releases.get("24.11").command(["sinfo"], Path("/c/slurm.conf"))


def test_chroot_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLURM_CHROOTS", str(tmp_path))
    monkeypatch.setattr(releases.tempfile, "gettempdir", lambda: "/tmp")
    (tmp_path / "trixie.stamp").write_text("recipe=1\nslurm=24.11.5-4+deb13u1\n")
    cluster = Path("/srv/c1")
    argv = releases.get("24.11").command(
        ["sbatch", "--wrap", "echo hi"],
        cluster / "etc/slurm.conf",
        share=[cluster, Path("/tmp/inside-tmp"), cluster / "jobs"],
        cwd=cluster / "jobs",
    )
    assert argv[:6] == ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
    script = argv[6].splitlines()
    root = tmp_path / "trixie"
    for path in ("/proc", "/dev", "/sys", "/etc/passwd", "/etc/group", "/etc/hosts"):
        assert any(line.startswith("mount") and line.endswith(f" {path} {root}{path}") for line in script)
    # each shared directory once, at its own path; those inside another come with it
    binds = [line for line in script if line.startswith("mkdir")]
    assert binds == [
        f"mkdir -p {root}/tmp && mount --bind /tmp {root}/tmp",
        f"mkdir -p {root}/srv/c1 && mount --bind /srv/c1 {root}/srv/c1",
    ]
    assert shlex.split(script[-1]) == [
        "exec",
        "chroot",
        str(root),
        "env",
        "-C",
        "/srv/c1/jobs",
        "SLURM_CONF=/srv/c1/etc/slurm.conf",
        "sbatch",
        "--wrap",
        "echo hi",
    ]
    assert script[0] == "set -e"

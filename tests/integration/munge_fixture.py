"""A private munged for integration tests: its own key and socket under a fresh directory, stopped by pid.

Use the ``munged`` fixture (one daemon for the whole session, registered in conftest.py), or
:func:`start_munged` / :meth:`Munged.stop` for a daemon with options of its own.

Layout (as harness/launcher.py): every directory above the socket is 0755 (munged refuses a
socket it cannot prove reachable), the key is 0600, and munged runs with --force in the foreground as our
child, so its pid is known and nothing but that pid is ever signalled.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

MUNGED = "munged"
START_TIMEOUT = 10.0


@dataclass
class Munged:
    """A running munged of ours."""

    dir: Path
    socket: Path
    key_file: Path
    log_file: Path
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def munge(
        self, payload: bytes = b"", *, uid_restriction: int | None = None, ttl: int | None = None
    ) -> bytes:
        """A credential made by the real ``munge`` command line (without its trailing newline)."""
        cmd = ["munge", "--socket", str(self.socket)]
        if uid_restriction is not None:
            cmd += ["--restrict-uid", str(uid_restriction)]
        if ttl is not None:
            cmd += ["--ttl", str(ttl)]
        out = subprocess.run(cmd, input=payload, capture_output=True, check=True, timeout=10).stdout
        return out.strip()

    def unmunge(self, cred: bytes, *, as_uid: int | None = None) -> subprocess.CompletedProcess[bytes]:
        """Run the real ``unmunge`` on ``cred`` (optionally as another uid, which needs root), unchecked.

        The exit status is the munge error code; the metadata goes to stdout, the payload to ``--output``."""
        cmd = ["unmunge", "--socket", str(self.socket), "--output", "/dev/null"]
        if as_uid is not None:
            cmd = ["setpriv", f"--reuid={as_uid}", f"--regid={as_uid}", "--clear-groups", *cmd]
        return subprocess.run(cmd, input=cred + b"\n", capture_output=True, timeout=10)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM our munged by pid (SIGKILL after 10 s), then remove its directory."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _socket_ready(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True


def start_munged(*, extra_args: Sequence[str] = (), parent: str | None = None) -> Munged:
    """Start a munged with a fresh random key in a new directory (under ``parent`` or the system temp dir)."""
    if shutil.which(MUNGED) is None:
        pytest.fail("munged is not installed (apt-get install munge)")
    base = Path(tempfile.mkdtemp(prefix="flurm-munge-", dir=parent))
    run = base / "run"
    run.mkdir()
    for d in (base, run):
        d.chmod(0o755)
    key_file = base / "munge.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(1024))
    sock = run / "munge.sock"
    log_file = base / "munged.log"
    cmd = [
        MUNGED,
        "--foreground",
        "--force",
        f"--socket={sock}",
        f"--key-file={key_file}",
        f"--pid-file={run / 'munged.pid'}",
        f"--log-file={log_file}",
        f"--seed-file={base / 'munged.seed'}",
        *extra_args,
    ]
    process = subprocess.Popen(
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    m = Munged(base, sock, key_file, log_file, process)
    deadline = time.monotonic() + START_TIMEOUT
    while not _socket_ready(sock):
        if process.poll() is not None or time.monotonic() > deadline:
            err = process.stderr.read().decode(errors="replace") if process.stderr else ""
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            m.stop()
            pytest.fail(f"munged did not start (rc={process.returncode}): {err}\n{log}")
        time.sleep(0.01)
    return m


@pytest.fixture(scope="session")
def munged() -> Iterator[Munged]:
    """One private munged for the test session."""
    m = start_munged()
    try:
        yield m
    finally:
        m.stop()

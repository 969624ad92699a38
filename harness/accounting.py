"""SLURM's accounting peers on loopback, for tests: a MariaDB server of its own and a real slurmdbd on it.

    with accounting(dir, munge_key) as acct:       # mariadbd, munged, slurmdbd, on free ports under dir
        cluster("slurmctld", extra_conf=acct.slurm_conf_lines(), ...)

slurmctld refuses to start on a database it cannot reach, so these come up first, with a munged of their own
that holds the cluster's key (``write_munge_key`` makes it where the cluster's launcher looks for it).
MariaDB runs from a data directory of its own (``mariadb-install-db``) on 127.0.0.1 with grant tables
skipped: nothing but this machine's tests can reach it, and slurmdbd then needs no password. slurmdbd runs as
root (SlurmUser=root). Each is stopped, by pid, when the block ends; nothing is left listening.

``release`` picks slurmdbd's SLURM release (harness/releases.py): the host's 22.05 by default, or a newer
one from its chroot (scripts/chroots.sh installs slurmdbd there), which sees this directory at its own
path (its slurmdbd.conf, munge socket, log). MariaDB is always the host's: the database server does not
depend on the SLURM release, and slurmdbd reaches it over TCP on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness import releases
from harness.loopback import free_port_block


class AccountingError(RuntimeError):
    pass


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AccountingError(f"{what} exited with {proc.returncode}:\n{_tail(log)}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise AccountingError(f"{what} not listening on {port} after {timeout:.0f} s:\n{_tail(log)}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class Accounting:
    """A running MariaDB and slurmdbd; ``slurm_conf_lines`` points a slurm.conf at them."""

    dir: Path
    munge_key: Path
    db_port: int = 0
    dbd_port: int = 0
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    slurmdbd: subprocess.Popen[bytes] | None = None
    release: str = releases.HOST  # of slurmdbd

    @property
    def conf(self) -> Path:
        return self.dir / "slurmdbd.conf"

    @property
    def munge_socket(self) -> Path:
        return self.dir / "munge.sock"

    def slurm_conf_lines(self) -> str:
        """What a slurm.conf needs to record into these (the ports are picked now if they were not)."""
        self.reserve()
        return (
            "AccountingStorageType=accounting_storage/slurmdbd\n"
            "AccountingStorageHost=127.0.0.1\n"
            f"AccountingStoragePort={self.dbd_port}\n"
            # the munge socket slurmctld signs its slurmdbd messages with (else munged's default one)
            f"AccountingStoragePass={self.munge_socket}\n"
        )

    def reserve(self) -> Accounting:
        """Pick the two ports (before a slurm.conf names them)."""
        if not self.dbd_port:
            self.db_port, self.dbd_port = (base := free_port_block(2)), base + 1
        return self

    def start(self, timeout: float = 60.0) -> Accounting:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.dir.chmod(0o755)
        self.reserve()
        munged = subprocess.Popen(
            ["munged", "--foreground", "--force", f"--socket={self.munge_socket}",
             f"--key-file={self.munge_key}", f"--pid-file={self.dir / 'munged.pid'}",
             f"--log-file={self.dir / 'munged.log'}", f"--seed-file={self.dir / 'munged.seed'}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(munged)
        deadline = time.monotonic() + timeout
        while not self.munge_socket.exists():
            if munged.poll() is not None or time.monotonic() > deadline:
                raise AccountingError(f"munged did not start:\n{_tail(self.dir / 'munged.log')}")
            time.sleep(0.05)
        data = self.dir / "mysql"
        log = self.dir / "mariadb.log"
        # a temporary directory of its own: MariaDBs sharing /tmp met each other's temporary tables there
        # ("Error on delete of '/tmp/#sql-temptable-...'" from mariadb-install-db)
        tmp = self.dir / "mysql-tmp"
        tmp.mkdir(exist_ok=True)
        if not (data / "mysql").is_dir():
            made = subprocess.run(
                ["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                 "--auth-root-authentication-method=normal", "--skip-test-db", f"--tmpdir={tmp}"],
                capture_output=True, timeout=120,
            )  # fmt: skip
            if made.returncode:
                out = (made.stdout + made.stderr).decode(errors="replace")
                raise AccountingError(f"mariadb-install-db failed ({made.returncode}):\n{out[-3000:]}")
        db = subprocess.Popen(
            ["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={self.dir / 'mysql.sock'}",
             f"--port={self.db_port}", "--bind-address=127.0.0.1", "--user=root", "--skip-grant-tables",
             f"--pid-file={self.dir / 'mariadb.pid'}", f"--log-error={log}", f"--tmpdir={tmp}",
             "--innodb-buffer-pool-size=64M", "--innodb-log-file-size=16M"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.procs.append(db)
        _wait_port(self.db_port, db, "mariadbd", log, timeout)
        self.start_slurmdbd(timeout)
        return self

    def start_slurmdbd(self, timeout: float = 60.0) -> None:
        """(Re)start slurmdbd alone, on the same port and database."""
        dbd_log = self.dir / "slurmdbd.log"
        self.conf.write_text(
            "AuthType=auth/munge\n"
            f"AuthInfo=socket={self.munge_socket}\n"
            "DbdHost=localhost\n"
            "DbdAddr=127.0.0.1\n"
            f"DbdPort={self.dbd_port}\n"
            "SlurmUser=root\n"
            f"LogFile={dbd_log}\n"
            f"PidFile={self.dir / 'slurmdbd.pid'}\n"
            "StorageType=accounting_storage/mysql\n"
            "StorageHost=127.0.0.1\n"
            f"StoragePort={self.db_port}\n"
            "StorageUser=root\n"
            "StorageLoc=slurm_acct_db\n"
        )
        self.conf.chmod(0o600)  # slurmdbd refuses a slurmdbd.conf others can read
        # slurmdbd reads the slurmdbd.conf beside $SLURM_CONF
        slurm_conf = self.dir / "slurm.conf"
        release = releases.get(self.release)
        if release.root is not None and not (release.root / "usr/sbin/slurmdbd").exists():
            raise AccountingError(
                f"no slurmdbd in {release.root}: a chroot built before its recipe installed it "
                f"({releases.BUILD_HINT})"
            )
        argv = release.command(["slurmdbd", "-D"], slurm_conf, share=[self.dir])
        dbd = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=open(dbd_log, "ab"),  # noqa: SIM115 (kept open for the child)
            env={**os.environ, "SLURM_CONF": str(slurm_conf)},
        )
        self.procs.append(dbd)
        self.slurmdbd = dbd
        _wait_port(self.dbd_port, dbd, "slurmdbd", dbd_log, timeout)

    def stop_slurmdbd(self, timeout: float = 30.0) -> None:
        """Stop slurmdbd alone (SIGTERM, by pid); MariaDB keeps running."""
        dbd = self.slurmdbd
        if dbd is None or dbd.poll() is not None:
            return
        dbd.send_signal(signal.SIGTERM)
        dbd.wait(timeout)
        self.procs.remove(dbd)
        self.slurmdbd = None

    def stop(self) -> None:
        """Stop every daemon, then drop the database's files (about 100 MB a run; the logs stay), unless
        FLURM_KEEP_TEST_DIRS asks to keep them."""
        self._stop_procs()
        if not os.environ.get("FLURM_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir / "mysql", ignore_errors=True)
            shutil.rmtree(self.dir / "mysql-tmp", ignore_errors=True)

    def _stop_procs(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        self.procs.clear()


def write_munge_key(path: Path) -> Path:
    """A new munge key at ``path`` (mode 0600), for the cluster and its accounting to share."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(1024))
    return path


@contextlib.contextmanager
def accounting(dir: Path, munge_key: Path, release: str = releases.HOST) -> Iterator[Accounting]:
    acct = Accounting(dir, munge_key, release=release)
    try:
        yield acct.start()
    finally:
        acct.stop()

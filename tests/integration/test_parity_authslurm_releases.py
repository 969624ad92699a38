"""AuthType=auth/slurm with real 24.11 and 26.05 clients, side by side: flurm and that release's own
slurmctld (from its Debian chroot) on two clusters alike but for the controller. Clients get their tokens
from the controller's sack socket (/run/slurmctld/sack.socket: each side runs in a private mount namespace
whose /run is a directory of its own), root's and nobody's alike; what they print must be the same.

Jobs: with each CredType a site sets (cred/munge, the default, with a munged of the test's own; cred/slurm)
a batch job and ``srun hostname`` run on the release's own slurmd under both controllers.

Also the attack: a client whose sack socket signs with another key (a sack server of this test holding a
wrong key) gets the same failure from both controllers (the connection is closed unanswered).

The chroots are harness.releases' (scripts/chroots.sh builds them); a missing chroot skips that release,
saying so. Release.command shares paths at the same place; these tests need a /run of their own inside
the chroot (the sack socket's fixed paths), so they mount it themselves. Bodies of other families
(squeue's, sbatch's) speak the newer releases only once those families are ported: until then the commands
needing them skip, naming the body.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flurm.auth.sack import SackServer
from flurm.auth.slurm_auth import SackKey, SackKeys, SlurmAuthenticator
from flurm.protocol.constants import MsgType
from flurm.protocol.messages import body_class
from flurm.protocol.versions import VersionError, check_body
from harness import releases
from harness.loopback import free_port_block

SUITES = {"24.11": ("trixie", 0x2A00), "26.05": ("sid", 0x2D00)}
NOBODY = 65534


def chroot_of(release: str) -> Path:
    """The release's chroot as harness.releases has it (scripts/chroots.sh builds it): a missing one fails."""
    rel = releases.get(release)
    rel.require()
    assert rel.root is not None
    return rel.root


def in_namespace(root: Path, run_dir: Path, argv: list[str], user: int | None = None) -> list[str]:
    """``argv`` run in ``root`` inside a private mount namespace whose /run is ``run_dir``."""
    lines = [
        "set -e",
        f"mount --bind /proc {root}/proc",
        f"mount --rbind /dev {root}/dev",
        f"mount --rbind /sys {root}/sys",
        f"mount --bind /etc/passwd {root}/etc/passwd",
        f"mount --bind /etc/group {root}/etc/group",
        f"[ -e {root}/etc/hosts ] || : > {root}/etc/hosts",  # localhost for slurmd and srun
        f"mount --bind /etc/hosts {root}/etc/hosts",
        f"mount --bind /tmp {root}/tmp",
        f"mount --bind {run_dir} {root}/run",
    ]
    who = [] if user is None else ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups"]
    lines.append(f"exec chroot {root} {shlex.join([*who, *argv])}")
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)]


CONF = """\
ClusterName=authslurm
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={port}
SlurmdPort={slurmd_port}
AuthType=auth/slurm
CredType={cred}
{authinfo}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdPidFile={d}/run/slurmd.pid
SlurmdLogFile={d}/slurmd.log
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
KillWait=5
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@dataclass
class Side:
    """One controller with its own directory (slurm.conf, slurm.key, /run)."""

    release: str
    name: str  # "flurm" or "slurmctld"
    dir: Path
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "slurm.conf"

    @property
    def run_dir(self) -> Path:
        return self.dir / "run"

    def client(
        self, *argv: str, user: int | None = None, run_dir: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        cmd = in_namespace(
            self.root, run_dir or self.run_dir, ["env", f"SLURM_CONF={self.conf}", *argv], user
        )
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def make_side(
    tmp: Path, release: str, name: str, key: bytes, cred: str = "cred/slurm", munge_socket: Path | None = None
) -> Side:
    d = tmp / f"{name}-{release}"
    for sub in ("etc", "state", "spool", "run"):
        (d / sub).mkdir(parents=True)
    port = free_port_block(2)
    authinfo = f"AuthInfo=socket={munge_socket}" if munge_socket else ""
    text = CONF.format(port=port, slurmd_port=port + 1, d=d, cred=cred, authinfo=authinfo)
    (d / "etc" / "slurm.conf").write_text(text)
    (d / "etc" / "slurm.key").write_bytes(key)
    (d / "etc" / "slurm.key").chmod(0o600)
    side = Side(release, name, d, chroot_of(release))
    if name == "flurm":
        argv = [sys.executable, "-m", "flurm.cli", "run", "-f", str(side.conf), "--http-port", "0"]
        argv += ["--listen", "127.0.0.1", "--sack-socket", str(side.run_dir / "slurmctld" / "sack.socket")]
        side.proc = subprocess.Popen(argv, stdout=(d / "flurm.log").open("wb"), stderr=subprocess.STDOUT)
    else:
        argv = in_namespace(
            side.root, side.run_dir, ["env", f"SLURM_CONF={side.conf}", "slurmctld", "-D", "-i"]
        )
        side.proc = subprocess.Popen(argv, stdout=(d / "slurmctld.out").open("wb"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if side.proc.poll() is not None:
            raise AssertionError(f"{name} {release} ended at start:\n{_log(side)}")
        if (side.run_dir / "slurmctld" / "sack.socket").exists() and "UP" in side.client(
            "scontrol", "ping"
        ).stdout:
            return side
        time.sleep(0.3)
    side.stop()
    raise AssertionError(f"{name} {release} did not come up:\n{_log(side)}")


def _log(side: Side) -> str:
    texts = [p.read_text(errors="replace")[-3000:] for p in side.dir.glob("*.log") if p.is_file()]
    texts += [p.read_text(errors="replace")[-3000:] for p in side.dir.glob("*.out") if p.is_file()]
    return "\n".join(texts)


@pytest.fixture(params=list(SUITES), scope="module")
def sides(request: pytest.FixtureRequest) -> Iterator[tuple[Side, Side]]:
    release = request.param
    chroot_of(release)
    # not under pytest's 0700 directories: nobody's clients read slurm.conf here
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-authslurm-{release}-"))
    tmp.chmod(0o755)
    key = os.urandom(64)
    started: list[Side] = []
    try:
        for name in ("slurmctld", "flurm"):
            started.append(make_side(tmp, release, name, key))
        yield started[1], started[0]
    finally:
        for side in started:
            side.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def same(flurm: Side, real: Side, *argv: str, user: int | None = None) -> subprocess.CompletedProcess[str]:
    """Run the command on both sides; the output must be the same (the hostname aside, it is one host)."""
    ours, theirs = flurm.client(*argv, user=user), real.client(*argv, user=user)
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr), (
        f"{argv} as {user}:\nflurm:     {ours}\nslurmctld: {theirs}"
    )
    return ours


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_ping_through_the_sack_socket(sides: tuple[Side, Side], user: int | None) -> None:
    flurm, real = sides
    out = same(flurm, real, "scontrol", "ping", user=user)
    assert "is UP" in out.stdout


def test_identity_comes_from_the_token(sides: tuple[Side, Side]) -> None:
    """nobody's shutdown is refused by both (the uid is the one the sack socket saw, not a claim)."""
    flurm, real = sides
    out = same(flurm, real, "scontrol", "shutdown", user=NOBODY)
    assert out.returncode == 1 and "Invalid user id" in out.stderr


def test_token_signed_with_another_key_is_refused(sides: tuple[Side, Side], tmp_path: Path) -> None:
    """A sack socket holding a wrong key mints the client's token: both controllers close the connection."""
    flurm, real = sides
    run_dir = tmp_path / "run"
    (run_dir / "slurmctld").mkdir(parents=True)
    wrong = SlurmAuthenticator(SackKeys(SackKey(os.urandom(64))), cluster_name="authslurm")
    server = _BackgroundSack(wrong, str(run_dir / "slurmctld" / "sack.socket"))
    try:
        results = [side.client("scontrol", "ping", run_dir=run_dir) for side in (flurm, real)]
    finally:
        server.stop()
    assert server.minted >= 2  # both clients did get a token from it
    ours, theirs = results
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout)
    assert "DOWN" in ours.stdout
    assert "authentication failed" in (flurm.dir / "flurm.log").read_text()


class _BackgroundSack:
    """A SackServer on its own event loop thread."""

    def __init__(self, auth: SlurmAuthenticator, path: str) -> None:
        self.server = SackServer(auth, path, slurm_user_uid=os.getuid())
        self.loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.run_until_complete(self.server.start())
            started.set()
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert started.wait(10)

    @property
    def minted(self) -> int:
        return self.server.served

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def sackd_of(side: Side) -> str:
    """sackd of the side's release: the chroot's (package sackd), or $FLURM_SACKD_24_11 / $FLURM_SACKD_26_05:
    the usr/sbin/sackd of that release's unpacked package under /tmp (which the chroot sees alike)."""
    if (side.root / "usr/sbin/sackd").exists():
        return "/usr/sbin/sackd"
    path = os.environ.get("FLURM_SACKD_" + side.release.replace(".", "_"), "")
    if path.startswith("/tmp/") and Path(path).is_file():
        return path
    raise AssertionError(f"no sackd for {side.release}: scripts/chroots.sh installs the package sackd")


def test_tokens_sackd_minted(sides: tuple[Side, Side], tmp_path: Path) -> None:
    """A login node without slurmd: sackd (holding slurm.key) mints nobody's token at /run/slurm/sack.socket;
    flurm verifies it with its own key and the uid in it is the one the kernel gave sackd."""
    flurm, real = sides
    sackd = sackd_of(flurm)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    argv = in_namespace(flurm.root, run_dir, ["env", f"SLURM_CONF={flurm.conf}", sackd, "-D"])
    proc = subprocess.Popen(argv, stdout=(tmp_path / "sackd.log").open("wb"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not (run_dir / "slurm" / "sack.socket").exists():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "sackd.log").read_text()
            time.sleep(0.2)
        for side in (flurm, real):
            # 24.11 tries /run/slurm/sack.socket first; 26.05 /run/slurm-<cluster>/ first, then the same
            ping = side.client("scontrol", "ping", user=NOBODY, run_dir=run_dir)
            assert "is UP" in ping.stdout, (side.name, ping)
            down = side.client("scontrol", "shutdown", user=NOBODY, run_dir=run_dir)
            assert "Invalid user id" in down.stderr, (side.name, down)
        assert "SHUTDOWN RPC from uid=65534" in (flurm.dir / "flurm.log").read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ported(msg_type: MsgType, release: str) -> None:
    cls = body_class(msg_type)
    try:
        if cls is None:
            raise VersionError(msg_type.name)
        check_body(cls, SUITES[release][1])
    except VersionError:
        pytest.skip(f"{msg_type.name} does not speak {release} yet (its family's port)")


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_sinfo(sides: tuple[Side, Side], user: int | None) -> None:
    flurm, real = sides
    _ported(MsgType.REQUEST_PARTITION_INFO, flurm.release)
    _ported(MsgType.REQUEST_NODE_INFO, flurm.release)
    same(flurm, real, "sinfo", "-h", "-o", "%P %a %l %D", user=user)


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_squeue(sides: tuple[Side, Side], user: int | None) -> None:
    flurm, real = sides
    _ported(MsgType.REQUEST_JOB_INFO, flurm.release)
    _ported(MsgType.REQUEST_PARTITION_INFO, flurm.release)  # squeue loads the partitions too
    same(flurm, real, "squeue", user=user)
    same(flurm, real, "squeue", "-h", "-o", "%i %u", user=user)


def _sbatch(side: Side, user: int | None) -> subprocess.CompletedProcess[str]:
    out_dir = side.dir / "out"
    out_dir.mkdir(exist_ok=True)
    out_dir.chmod(0o777)
    return side.client("sbatch", "--hold", "-o", f"{out_dir}/%j.out", "--wrap", "true", user=user)


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_sbatch(sides: tuple[Side, Side], user: int | None) -> None:
    flurm, real = sides
    _ported(MsgType.REQUEST_SUBMIT_BATCH_JOB, flurm.release)
    ours, theirs = _sbatch(flurm, user), _sbatch(real, user)
    assert ours.returncode == theirs.returncode == 0, (ours, theirs)
    assert ours.stdout.split()[:3] == theirs.stdout.split()[:3] == ["Submitted", "batch", "job"]


@pytest.mark.parametrize("user", [None, NOBODY], ids=["root", "nobody"])
def test_job_owner_is_the_token_uid(sides: tuple[Side, Side], user: int | None) -> None:
    """The job is nobody's when nobody's sack token submits it, on both controllers."""
    flurm, real = sides
    for msg_type in (
        MsgType.REQUEST_SUBMIT_BATCH_JOB,
        MsgType.REQUEST_JOB_INFO,
        MsgType.REQUEST_PARTITION_INFO,
    ):
        _ported(msg_type, flurm.release)
    owner = "root" if user is None else "nobody"
    for side in (flurm, real):
        job_id = _sbatch(side, user).stdout.split()[3]
        listing = side.client("squeue", "-h", "-j", job_id, "-o", "%u %T").stdout
        assert listing.strip() == f"{owner} PENDING", side.name


# -- jobs run by the release's own slurmd: job credentials as CredType says ---------------------------


def start_munged(tmp: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """A munged of the test's own for cred/munge (its socket under /tmp, seen alike in the chroot)."""
    key = tmp / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    socket_path = tmp / "munge.socket"
    argv = ["munged", "-F", "--force", f"--socket={socket_path}", f"--key-file={key}"]
    argv += [f"--pid-file={tmp}/munged.pid", f"--log-file={tmp}/munged.log", f"--seed-file={tmp}/munged.seed"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while not socket_path.exists():
        assert proc.poll() is None and time.monotonic() < deadline, "munged did not start"
        time.sleep(0.1)
    return proc, socket_path


def start_slurmd(side: Side) -> subprocess.Popen[bytes]:
    argv = in_namespace(
        side.root, side.run_dir, ["env", f"SLURM_CONF={side.conf}", "slurmd", "-D", "-N", "compute-node-1"]
    )
    return subprocess.Popen(argv, stdout=(side.dir / "slurmd.out").open("wb"), stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# CredType as a site sets it: cred/munge is every release's default (also with AuthType=auth/slurm),
# cred/slurm the one that needs no munged; both are valid in 24.11 and 26.05
CREDS = ["cred/munge", "cred/slurm"]


@pytest.fixture(
    params=[(r, c) for r in SUITES for c in CREDS], ids=lambda p: f"{p[0]}-{p[1]}", scope="module"
)
def with_slurmd(request: pytest.FixtureRequest) -> Iterator[tuple[Side, Side]]:
    """Two clusters with AuthType=auth/slurm and the CredType of the parameter, each with the release's
    own slurmd (in the side's namespace, its /run the side's): flurm, and the release's slurmctld."""
    release, cred = request.param
    chroot_of(release)
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-credslurm-{release}-"))
    tmp.chmod(0o755)
    key = os.urandom(64)
    started: list[Side] = []
    slurmds: list[subprocess.Popen[bytes]] = []
    munged = None
    try:
        munge_socket = None
        if cred == "cred/munge":
            munged, munge_socket = start_munged(tmp)
        for name in ("slurmctld", "flurm"):
            side = make_side(tmp, release, name, key, cred, munge_socket)
            started.append(side)
            slurmds.append(start_slurmd(side))
        for side in started:
            deadline = time.monotonic() + 60
            while side.client("sinfo", "-h", "-o", "%T").stdout.strip() != "idle":
                assert time.monotonic() < deadline, f"{side.name}: node not idle\n{_log(side)}"
                time.sleep(0.5)
        yield started[1], started[0]
    finally:
        for proc in slurmds:
            _stop(proc)
        for side in started:
            side.stop()
        if munged is not None:
            _stop(munged)
        shutil.rmtree(tmp, ignore_errors=True)


def test_batch_job_runs_on_the_release_slurmd(with_slurmd: tuple[Side, Side]) -> None:
    """sbatch --wait: the batch launch's credential (a launch token with cred/slurm, unsigned with
    cred/munge) is taken by the release's slurmd under both controllers; the script ran."""
    flurm, real = with_slurmd
    results = []
    for side in (flurm, real):
        out_dir = side.dir / "out"
        out_dir.mkdir(exist_ok=True)
        run = side.client("sbatch", "--wait", "-o", f"{out_dir}/%j.out", "--wrap", "echo batch ran")
        assert run.returncode == 0, (side.name, run, _log(side))
        job_id = run.stdout.split()[3]
        results.append((run.returncode, (out_dir / f"{job_id}.out").read_text()))
    assert results[0] == results[1] == (0, "batch ran\n")


def test_srun_hostname_on_the_release_slurmd(with_slurmd: tuple[Side, Side]) -> None:
    """srun hostname: the step credential (a launch token, or munge's signature of the packed
    credential, checked by slurmd with munged) is accepted under both controllers, the same output."""
    flurm, real = with_slurmd
    ours, theirs = (side.client("srun", "-N1", "hostname") for side in (flurm, real))
    assert ours.returncode == 0, (ours, _log(flurm))
    assert (ours.returncode, ours.stdout, ours.stderr) == (theirs.returncode, theirs.stdout, theirs.stderr)
    assert ours.stdout.strip() == socket.gethostname()

"""Real SLURM clusters on loopback, with flurm or slurmctld as the controller (tests, demo, benchmarks).

``SlurmCluster`` starts munged and the slurmd daemons with harness/launcher.py under a fresh
directory, on ports nobody else uses; the controller is either the real slurmctld (the reference)
or flurm, started as a child process (``python -m flurm.cli run``) and stopped by its pid.
Clients run with SLURM_CONF pointing at the cluster, so every command is the real SLURM binary.

``release`` picks the SLURM release (harness/releases.py): "22.05" (the host's, the default), "24.11" or
"26.05" (from their chroots). It is the release of slurmctld, of the slurmd (unless ``slurmd_release``
says otherwise) and of ``run``'s clients; ``run(..., release=...)`` runs another release's client
against the same cluster. flurm itself always runs on the host.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness import launcher, releases

REPO = Path(__file__).resolve().parents[1]
# One lock so that concurrent test processes never pick the same ports.
_PORT_LOCK = Path(tempfile.gettempdir()) / "flurm-test-ports.lock"


# "pid start-time" of the test process a cluster belongs to, and flurm's pid: what the next cluster's
# start needs to stop the daemons of a test process killed before its teardown (a timeout around it)
OWNER_FILE = "owner"
FLURM_PIDFILE = "run/flurm.pid"


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks since boot (tells a reused pid from its first owner)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def reap_orphaned_clusters() -> None:
    """Stop what is left running of the clusters whose test process died without stopping them: each
    daemon by its pid file, and only if its command line names that cluster's directory."""
    for dir in Path(tempfile.gettempdir()).glob("flurm-*"):
        owner = dir / OWNER_FILE
        try:
            pid, started = owner.read_text().split()
        except (OSError, ValueError):
            continue
        if _start_time(int(pid)) == started:
            continue  # its test process still runs
        log_line = f"harness: stopping the cluster of test process {pid}, which has gone ({dir})"
        print(log_line, file=sys.stderr)
        launcher.stop_pidfiles(dir, [(dir / FLURM_PIDFILE, "flurm")])
        with contextlib.suppress(launcher.LauncherError, OSError):
            launcher.stop(dir)
        owner.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _port_range() -> tuple[int, int]:
    """20000-29999, split between the processes of a parallel test run (pytest-xdist's workers gw0,
    gw1, ...) so that two tests never pick the same block between its check and its use."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or "1")
    if not worker.startswith("gw") or workers <= 1:
        return 20000, 30000
    size = 10000 // workers
    first = 20000 + int(worker[2:]) * size
    return first, first + size


def free_port_block(count: int) -> int:
    """The first of ``count`` consecutive free ports (in 20000-29999; a share of it per test process)."""
    low, high = _port_range()
    for _ in range(200):
        base = random.randrange(low, high - count)
        if all(_port_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no free port block")


@dataclass
class Result:
    args: Sequence[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def check(self) -> Result:
        if self.returncode != 0:
            raise AssertionError(
                f"{' '.join(self.args)} failed ({self.returncode}):\n{self.stdout}{self.stderr}"
            )
        return self


@dataclass
class SlurmCluster:
    """A running cluster. ``controller`` is "flurm" or "slurmctld"."""

    dir: Path
    controller: str
    nodes: int = 1
    cpus: int = 2
    extra_conf: str = ""
    flurm_args: tuple[str, ...] = ()
    ctld_port: int = 0
    slurmd_port: int = 0
    node_port_base: int = 0
    flurm: subprocess.Popen[bytes] | None = None
    env: dict[str, str] = field(default_factory=dict)
    shadow_port: int = 0
    http_port: int = 0  # flurm's HTTP API: off unless a test asks for it
    _settings: launcher.Settings | None = None
    # False: no slurmd, ready once the controller answers (launcher.Settings.slurmd)
    slurmd: bool = True
    etc_files: tuple[tuple[str, str], ...] = ()  # files beside slurm.conf (launcher.Settings.etc_files)
    drop_keys: tuple[str, ...] = ()  # slurm.conf keys left out (launcher.Settings.drop_keys)
    node_features: tuple[str, ...] = ()  # Features= of each node (launcher.Settings.node_features)
    node_shape: tuple[int, ...] = ()  # Sockets, CoresPerSocket, ThreadsPerCore (launcher.Settings.node_shape)
    # generic resources of each node (launcher.NodeGres; harness/gres.py has ready topologies)
    gres: tuple[launcher.NodeGres, ...] = ()
    gres_types: str = ""  # GresTypes= ("": the names the nodes use)
    may_drain: tuple[str, ...] = ()  # nodes ready when drained (launcher.Settings.may_drain)
    release: str = releases.HOST  # of slurmctld, the slurmd and the clients (harness/releases.py)
    # the first of the cluster's ports (controller, SlurmdPort, then one per node); 0: a free block of
    # the test range (a fleet of thousands of nodes needs a block of its own, outside that range)
    port_base: int = 0
    slurmd_release: str = ""  # of the slurmd, if not ``release``

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> SlurmCluster:
        reap_orphaned_clusters()
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / OWNER_FILE).write_text(f"{os.getpid()} {_start_time(os.getpid())}\n")
        base = self.port_base or free_port_block(3 + self.nodes)
        self.ctld_port, self.slurmd_port, self.node_port_base = base, base + 1, base + 3
        self._settings = launcher.Settings(
            nodes=self.nodes,
            cpus=self.cpus,
            ctld_port=self.ctld_port,
            slurmd_port=self.slurmd_port,
            node_port_base=self.node_port_base,
            controller="external" if self.controller == "flurm" else "slurmctld",
            extra_conf=self.extra_conf,
            timeout=60.0,
            slurmd=self.slurmd,
            etc_files=self.etc_files,
            drop_keys=self.drop_keys,
            node_features=self.node_features,
            node_shape=self.node_shape,
            gres=self.gres,
            gres_types=self.gres_types,
            may_drain=self.may_drain,
            release=self.release,
            slurmd_release=self.slurmd_release,
        )
        self.start_daemons()
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/root"),
            "LANG": "C",
            "SLURM_CONF": str(self.conf),
        }
        if self.controller == "flurm":
            self.start_flurm()
        return self

    def start_daemons(self) -> None:
        """(Re)start whatever of munged, slurmd and slurmctld is not running (launcher.start)."""
        assert self._settings is not None, "start() first"
        launcher.start(self.dir, self._settings)

    def restart_slurmd(self, node: str, conf: Sequence[str] | None = None) -> None:
        """Stop ``node``'s slurmd and start it again; with ``conf``, its gres.conf lines become these
        (its Gres= stays: e.g. fewer devices than Gres= says, as when a GPU is lost) and the node may
        come back drained or INVAL (it joins ``may_drain``). Returns once it registered again."""
        assert self._settings is not None, "start() first"
        if conf is not None:
            if not self.gres:
                raise ValueError("restart_slurmd(conf=...) needs a cluster with gres")
            index = self._settings.node_names.index(node)
            nodes = [self._settings.node_gres(i) for i in range(self.nodes)]
            nodes[index] = launcher.NodeGres(nodes[index].gres, tuple(conf))
            self.gres = tuple(nodes)
            self.may_drain = tuple(dict.fromkeys((*self.may_drain, node)))
            self._settings = dataclasses.replace(self._settings, gres=self.gres, may_drain=self.may_drain)
        launcher.stop_pidfiles(self.dir, [(self.dir / "run" / f"slurmd-{node}.pid", f"slurmd {node}")])
        self.start_daemons()
        if self.controller == "flurm":
            self.wait_ready()

    def stop_slurmctld(self, timeout: float = 30.0) -> None:
        """SIGTERM the real slurmctld (it saves its state) and wait until its process has gone."""
        pid = int((self.dir / "run" / "slurmctld.pid").read_text().split()[0])
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid):
            if time.monotonic() > deadline:
                raise TimeoutError(f"slurmctld {pid} did not exit")
            time.sleep(0.05)

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "slurm.conf"

    @property
    def jobs_dir(self) -> Path:
        return self.dir / "jobs"

    def flurm_command(self, extra: Sequence[str] = ()) -> list[str]:
        http = ["--http-port", str(self.http_port)]
        return [
            sys.executable,
            "-m",
            "flurm.cli",
            "run",
            "-f",
            str(self.conf),
            *http,
            *self.flurm_args,
            *extra,
        ]

    def start_flurm(self, wait: bool = True, extra: Sequence[str] = ()) -> None:
        log = open(self.dir / "log" / "flurm.log", "ab")  # noqa: SIM115 (kept open for the child)
        self.flurm = subprocess.Popen(
            self.flurm_command(extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        (self.dir / FLURM_PIDFILE).write_text(f"{self.flurm.pid}\n")
        if wait:
            self.wait_ready()

    # -- flurm beside a running slurmctld (migration) ---------------------------------------------
    def start_shadow(
        self, port: int | None = None, state_dir: Path | None = None, timeout: float = 30.0
    ) -> int:
        """flurm in shadow of this cluster's slurmctld, on its own port; returns that port."""
        port = port or free_port_block(1)
        self.shadow_port = port
        state = state_dir or (self.dir / "flurm-state")
        self.start_flurm(wait=False, extra=["--shadow", "--port", str(port), "--state-dir", str(state)])
        conf = self.client_conf(port)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.flurm is not None and self.flurm.poll() is not None:
                raise RuntimeError(
                    f"flurm exited with {self.flurm.returncode}:\n{self.log_tail(path='flurm.log')}"
                )
            if self.run("scontrol", "ping", conf=conf, timeout=10).stdout.find("is UP") >= 0:
                return port
            time.sleep(0.1)
        raise TimeoutError(f"flurm did not come up in shadow:\n{self.log_tail(path='flurm.log')}")

    def client_conf(self, port: int) -> Path:
        """A copy of slurm.conf whose SlurmctldPort is ``port``: clients using it talk to that port."""
        from flurm.config.render import render_with_overrides

        path = self.dir / "etc" / f"slurm-{port}.conf"
        if not path.exists():
            path.write_text(render_with_overrides(self.conf.read_text(), {"SlurmctldPort": str(port)}))
        return path

    def flurm_cli(self, *args: str, timeout: float = 120.0) -> Result:
        """The flurm command line (status, takeover, rollback, ...) against the shadow flurm."""
        cmd = [
            sys.executable,
            "-m",
            "flurm.cli",
            *args,
            "-f",
            str(self.conf),
            "--port",
            str(self.shadow_port),
        ]
        p = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env={**os.environ, **self.env}
        )
        return Result(cmd, p.returncode, p.stdout, p.stderr)

    def stop_flurm(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int | None:
        proc = self.flurm
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        self.flurm = None
        return proc.returncode

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            launcher.stop(self.dir)
        self.stop_flurm()
        (self.dir / OWNER_FILE).unlink(missing_ok=True)

    def __enter__(self) -> SlurmCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- clients ----------------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        timeout: float = 60.0,
        user: str | None = None,
        cwd: Path | None = None,
        input: str | None = None,
        conf: Path | None = None,
        release: str | None = None,
    ) -> Result:
        """A real SLURM client of ``release`` (default the cluster's); ``conf`` (a slurm.conf copy)
        points it at another controller port. A chrooted release sees the cluster directory and the
        temporary directory at their own paths: ``cwd`` must be in one of them."""
        cmd = list(args)
        if user is not None:
            pw = pwd.getpwnam(user)
            cmd = ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]
        conf = conf or self.conf
        env = {**self.env, "SLURM_CONF": str(conf)}
        workdir = cwd or self.jobs_dir
        argv = releases.get(release or self.release).command(cmd, conf, share=[self.dir], cwd=workdir)
        p = subprocess.run(
            argv,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=str(workdir),
            input=input,
        )
        return Result(cmd, p.returncode, p.stdout, p.stderr)

    def sbatch(
        self, *args: str, user: str | None = None, conf: Path | None = None, release: str | None = None
    ) -> int:
        r = self.run("sbatch", "--parsable", *args, user=user, conf=conf, release=release).check()
        return int(r.stdout.strip().split(";")[0])

    def wait_controller(self, timeout: float = 30.0) -> None:
        """Until the controller answers ``scontrol ping`` (a cluster without slurmd is then ready)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.flurm is not None and self.flurm.poll() is not None:
                raise RuntimeError(f"flurm exited with {self.flurm.returncode}:\n{self.log_tail()}")
            r = self.run("scontrol", "ping", timeout=15)
            last = r.stdout + r.stderr
            if "is UP" in r.stdout:
                return
            time.sleep(0.1)
        raise TimeoutError(f"controller not answering: {last}\n{self.log_tail()}")

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the controller answers and every node registered (idle, mixed or allocated)."""
        if not self.slurmd:
            return self.wait_controller(timeout)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.flurm is not None and self.flurm.poll() is not None:
                raise RuntimeError(f"flurm exited with {self.flurm.returncode}:\n{self.log_tail()}")
            r = self.run("sinfo", "-h", "-N", "-o", "%N %t", timeout=15)
            last = r.stdout + r.stderr
            # one line per node and partition: count each node once
            by_node = dict(line.split()[:2] for line in r.stdout.splitlines() if line.strip())
            states = [
                "idle" if n in self.may_drain and st in ("drain", "inval") else st
                for n, st in by_node.items()
            ]
            if (
                r.ok
                and len(states) == self.nodes
                and all(s.rstrip("*") in ("idle", "mix", "alloc") and not s.endswith("*") for s in states)
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready: {last}\n{self.log_tail()}")

    def job_state(self, job_id: int | str, conf: Path | None = None) -> str:
        r = self.run("scontrol", "show", "job", "-o", str(job_id), conf=conf)
        m = re.search(r"JobState=(\S+)", r.stdout)
        return m.group(1) if m else ""

    def wait_state(self, job_id: int | str, states: Sequence[str], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state in states:
                return state
            time.sleep(0.1)
        raise TimeoutError(f"job {job_id} is {state!r}, not one of {list(states)}\n{self.log_tail()}")

    def log_tail(self, n: int = 40, path: str | None = None) -> str:
        name = path or ("flurm.log" if self.controller == "flurm" else "slurmctld.log")
        try:
            return "\n".join((self.dir / "log" / name).read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@contextlib.contextmanager
def cluster(controller: str, **kwargs: object) -> Iterator[SlurmCluster]:
    """A fresh cluster in a temporary directory, stopped and removed afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-it-{controller}-"))
    os.chmod(tmp, 0o755)
    c = SlurmCluster(tmp, controller, **kwargs)  # type: ignore[arg-type]
    try:
        c.start()
        yield c
    finally:
        c.stop()
        if os.environ.get("FLURM_KEEP_TEST_DIRS"):
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

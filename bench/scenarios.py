"""The benchmark scenarios, each run against one live loopback cluster (flurm or slurmctld as its controller).

Every figure is what a user of the real SLURM clients sees: the wall time of a whole ``sbatch``, ``squeue`` or
``scontrol`` process (client start-up, munge, one or two RPCs, formatting), measured from this process. Both
controllers face exactly the same clients, machine and slurm.conf, so the differences are the controllers'.

A scenario records its figures on the :class:`Bench` it is given (``bench.record(...)``); the order of the
records is the order of the rows in the report.
"""

from __future__ import annotations

import math
import os
import socket
import statistics
import struct
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config.slurmconf import load
from flurm.protocol.constants import MsgType, ShowFlags
from flurm.protocol.frame import encode_frame
from flurm.protocol.messages import encode_body
from flurm.protocol.messages.job_info import JobInfoRequest
from harness import releases
from harness.loopback import SlurmCluster

Better = Literal["lower", "higher", "neither"]  # "neither": for information (no verdict)
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_SQUEUE_SHOW_FLAGS = ShowFlags.LOCAL  # what squeue sends (client-protocol.md)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise BenchError("the controller closed the connection inside a reply")
        buf += chunk
    return bytes(buf)


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work each scenario does (the full run, or ``--quick``)."""

    seq_submits: int = 200
    par_workers: int = 8
    par_per_worker: int = 50
    query_levels: tuple[int, ...] = (1_000, 10_000)
    query_repeats: int = 10  # per query and level (halved above 5,000 jobs)
    latency_samples: int = 10
    fill_workers: int = 8


FULL = Sizes()
QUICK = Sizes(
    seq_submits=50, par_per_worker=10, query_levels=(200, 1_000), query_repeats=3, latency_samples=3
)


@dataclass(frozen=True, slots=True)
class Metric:
    key: str
    label: str
    unit: str  # "ms", "/s", "MB"
    better: Better
    value: float
    samples: tuple[float, ...] = ()


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


class BenchError(RuntimeError):
    """A client failed or a controller answered something wrong: the figures would be meaningless."""


@dataclass
class Bench:
    """One controller's cluster, what has been submitted to it so far, and the figures recorded."""

    cluster: SlurmCluster
    sizes: Sizes
    metrics: dict[str, Metric] = field(default_factory=dict)
    held_ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load: list[float] = field(default_factory=list)  # the machine's load average, before and after
    _auth: MungeAuthenticator | None = None

    # -- recording --------------------------------------------------------------------------------
    def record(
        self, key: str, label: str, unit: str, value: float, better: Better, samples: Sequence[float] = ()
    ) -> None:
        self.metrics[key] = Metric(key, label, unit, better, value, tuple(samples))

    def record_latencies(self, key: str, label: str, seconds: Sequence[float]) -> None:
        """p50 and p99 (in ms) of a list of latencies."""
        ms = [s * 1000 for s in seconds]
        self.record(f"{key}_p50", f"{label} p50", "ms", percentile(ms, 50), "lower", ms)
        self.record(f"{key}_p99", f"{label} p99", "ms", percentile(ms, 99), "lower")

    # -- the controller ---------------------------------------------------------------------------
    @property
    def controller(self) -> str:
        return self.cluster.controller

    def controller_pid(self) -> int:
        if self.cluster.flurm is not None:
            return self.cluster.flurm.pid
        return int((self.cluster.dir / "run" / "slurmctld.pid").read_text().split()[0])

    def cpu_seconds(self) -> float:
        """CPU time (user + system, all threads) the controller has used so far."""
        fields = Path(f"/proc/{self.controller_pid()}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK_TCK

    def rss_mb(self) -> float:
        """The controller's resident set (VmRSS), in MB (10^6 bytes)."""
        status = Path(f"/proc/{self.controller_pid()}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024 / 1e6
        raise BenchError("no VmRSS in /proc/PID/status")

    # -- clients ----------------------------------------------------------------------------------
    def timed(self, *args: str, timeout: float = 120.0) -> tuple[float, str]:
        """Run a client; its wall time in seconds and its stdout. Raises BenchError if it fails."""
        started = time.perf_counter()
        r = self.cluster.run(*args, timeout=timeout)
        elapsed = time.perf_counter() - started
        if not r.ok:
            raise BenchError(
                f"{' '.join(args)} failed ({r.returncode}): {(r.stdout + r.stderr).strip()[:500]}"
            )
        return elapsed, r.stdout

    def submit_held(self) -> float:
        """One ``sbatch --hold --wrap true``; its wall time. The job id is kept in ``held_ids``."""
        elapsed, out = self.timed("sbatch", "--parsable", "--hold", "--wrap", "true")
        self.held_ids.append(int(out.strip().split(";")[0]))
        return elapsed

    def submit_parallel(self, workers: int, per_worker: int) -> tuple[float, list[float]]:
        """``workers`` threads, each submitting ``per_worker`` held jobs in a row: wall time, latencies."""

        def worker(_: int) -> list[float]:
            return [self.submit_held() for _ in range(per_worker)]

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            latencies = [t for chunk in pool.map(worker, range(workers)) for t in chunk]
        return time.perf_counter() - started, latencies

    def fill_to(self, target: int) -> float | None:
        """Submit held jobs (in parallel) until ``target`` are queued; the submit rate, or None if none were
        needed."""
        missing = target - len(self.held_ids)
        if missing <= 0:
            return None
        workers = min(self.sizes.fill_workers, missing)
        per_worker, extra = divmod(missing, workers)
        wall, _ = self.submit_parallel(workers, per_worker)
        if extra:
            wall += sum(self.submit_held() for _ in range(extra))
        return missing / wall

    def job_state(self, job_id: int) -> str:
        return self.cluster.job_state(job_id)

    def rpc_job_info(self, show_flags: int) -> tuple[float, int]:
        """One raw REQUEST_JOB_INFO (all jobs): seconds from connect to the reply's last byte, reply size."""
        if self._auth is None:
            conf = load(self.cluster.conf)
            self._auth = MungeAuthenticator.from_slurm_conf(conf.auth_info)
        # in the protocol version of the cluster's release, as its squeue would send it
        version = releases.get(self.cluster.release).protocol
        body = encode_body(JobInfoRequest(0, show_flags, None), version)
        request = encode_frame(
            MsgType.REQUEST_JOB_INFO,
            body,
            self._auth.sign(MsgType.REQUEST_JOB_INFO, body, version=version),
            version=version,
        )
        started = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.cluster.ctld_port), timeout=60) as s:
            s.sendall(request)
            reply = _recv_exactly(s, 4)
            (length,) = struct.unpack(">I", reply)
            frame = _recv_exactly(s, length)
        elapsed = time.perf_counter() - started
        (msg_type,) = struct.unpack_from(">H", frame, 4)  # after u16 version, u16 flags
        if msg_type != MsgType.RESPONSE_JOB_INFO:
            raise BenchError(f"REQUEST_JOB_INFO answered with message type {msg_type}")
        return elapsed, length + 4


# -- scenarios -------------------------------------------------------------------------------------


def submit_seq(b: Bench) -> None:
    """Sequential ``sbatch --hold --wrap true``: submits per second, latency per submit."""
    n = b.sizes.seq_submits
    b.submit_held()  # warm-up (first connection, page cache)
    cpu = b.cpu_seconds()
    started = time.perf_counter()
    latencies = [b.submit_held() for _ in range(n)]
    wall = time.perf_counter() - started
    cpu = b.cpu_seconds() - cpu
    b.record("submit_seq_rate", f"sbatch sequential ({n}), submits/s", "/s", n / wall, "higher")
    b.record_latencies("submit_seq", "sbatch sequential, latency", latencies)
    b.record("submit_seq_cpu", "sbatch sequential, controller CPU per submit", "ms", cpu / n * 1000, "lower")


def submit_par(b: Bench) -> None:
    """``par_workers`` parallel streams of held submits."""
    w, k = b.sizes.par_workers, b.sizes.par_per_worker
    cpu = b.cpu_seconds()
    wall, latencies = b.submit_parallel(w, k)
    cpu = b.cpu_seconds() - cpu
    b.record("submit_par_rate", f"sbatch {w}x{k} parallel, submits/s", "/s", w * k / wall, "higher")
    b.record_latencies("submit_par", f"sbatch {w}x{k} parallel, latency", latencies)
    b.record(
        "submit_par_cpu",
        f"sbatch {w}x{k} parallel, controller CPU per submit",
        "ms",
        cpu / (w * k) * 1000,
        "lower",
    )


def _count_squeue_rows(out: str) -> int:
    return max(0, len(out.splitlines()) - 1)  # header line


def _query(b: Bench, level: int) -> None:
    repeats = b.sizes.query_repeats if level <= 5_000 else max(3, b.sizes.query_repeats // 2)
    one = b.held_ids[len(b.held_ids) // 2]
    queries: list[tuple[str, str, tuple[str, ...], Callable[[str], bool]]] = [
        ("squeue", "squeue", ("squeue",), lambda out: _count_squeue_rows(out) >= level),
        (
            "scontrol_all",
            "scontrol show job (all)",
            ("scontrol", "show", "job"),
            lambda out: out.count("JobId=") >= level,
        ),
        (
            "scontrol_one",
            "scontrol show job ID",
            ("scontrol", "show", "job", str(one)),
            lambda out: f"JobId={one} " in out,
        ),
    ]
    for key, label, args, check in queries:
        times: list[float] = []
        _, out = b.timed(*args)  # warm-up: the controller may build and cache records
        if not check(out):
            raise BenchError(f"{' '.join(args)} at {level} jobs: unexpected output ({len(out)} bytes)")
        cpu = b.cpu_seconds()
        for _ in range(repeats):
            elapsed, out = b.timed(*args)
            times.append(elapsed)
        cpu = b.cpu_seconds() - cpu
        ms = [t * 1000 for t in times]
        b.record(f"{key}_{level}", f"{label} @{level:,} jobs, p50", "ms", statistics.median(ms), "lower", ms)
        if key != "scontrol_one" and level >= 5_000:  # CPU time is counted in 10 ms ticks
            b.record(
                f"{key}_{level}_cpu",
                f"{label} @{level:,} jobs, controller CPU per call",
                "ms",
                cpu / repeats * 1000,
                "lower",
            )
    # The controller's share, without the client: one REQUEST_JOB_INFO as squeue sends it, timed from
    # connect to the last byte of the reply (signing the request and checking the reply are not timed).
    times = []
    size = 0
    for _ in range(repeats + 1):
        elapsed, size = b.rpc_job_info(_SQUEUE_SHOW_FLAGS)
        times.append(elapsed)
    ms = [t * 1000 for t in times[1:]]
    b.record(
        f"rpc_job_info_{level}",
        f"JOB_INFO RPC alone (no client) @{level:,} jobs, p50",
        "ms",
        statistics.median(ms),
        "lower",
        ms,
    )
    b.record(
        f"rpc_job_info_{level}_size", f"JOB_INFO reply size @{level:,} jobs", "MB", size / 1e6, "neither"
    )


def query(b: Bench) -> None:
    """Query latency with ``query_levels`` held jobs queued; controller RSS at each level."""
    for level in b.sizes.query_levels:
        rate = b.fill_to(level)
        if rate is not None:
            b.record(
                f"fill_{level}_rate",
                f"sbatch {b.sizes.fill_workers}-way while filling to {level:,}, submits/s",
                "/s",
                rate,
                "higher",
            )
        time.sleep(1.0)  # let background work (state saves, scheduler passes) settle
        _query(b, level)
        b.record(f"rss_{level}", f"controller RSS @{level:,} held jobs", "MB", b.rss_mb(), "lower")


def latency(b: Bench) -> None:
    """Submit → RUNNING, submit → the job's script runs, submit → COMPLETED, for a short job on an idle
    cluster. States are polled back to back with ``scontrol show job -o ID`` (a few ms per poll)."""
    jobs_dir = b.cluster.jobs_dir

    def one() -> tuple[float, float, float]:
        t0 = time.time()
        _, out = b.timed("sbatch", "--parsable", "-o", "lat-%j.out", "--wrap", "date +%s.%N")
        job_id = int(out.strip().split(";")[0])
        running = done = 0.0
        deadline = t0 + 60
        while time.time() < deadline:
            state = b.job_state(job_id)
            now = time.time()
            if state not in ("", "PENDING") and not running:
                running = now - t0
            if state == "COMPLETED":
                done = now - t0
                break
            if state in ("FAILED", "CANCELLED", "NODE_FAIL", "TIMEOUT", "BOOT_FAIL", "OUT_OF_MEMORY"):
                raise BenchError(f"latency job {job_id} ended {state}")
        else:
            raise BenchError(f"latency job {job_id} did not complete within 60 s")
        started_at = float((jobs_dir / f"lat-{job_id}.out").read_text().split()[0])
        return running, started_at - t0, done

    one()  # warm-up: slurmctld's first scheduling pass comes ~3 s after it starts
    samples = []
    for _ in range(b.sizes.latency_samples):
        samples.append(one())
        time.sleep(0.1)
    for i, (key, label) in enumerate(
        [
            ("to_running", "submit -> RUNNING (polled), median"),
            ("to_script", "submit -> job script starts (job's clock), median"),
            ("to_completed", "submit -> COMPLETED (polled), median"),
        ]
    ):
        ms = [s[i] * 1000 for s in samples]
        b.record(key, label, "ms", statistics.median(ms), "lower", ms)


def idle_rss(b: Bench) -> None:
    b.record("rss_idle", "controller RSS, idle", "MB", b.rss_mb(), "lower")


# In the order they run: latency first, on an idle and empty cluster; query last, as it fills the queue.
SCENARIOS: dict[str, Callable[[Bench], None]] = {
    "idle_rss": idle_rss,
    "latency": latency,
    "submit_seq": submit_seq,
    "submit_par": submit_par,
    "query": query,
}

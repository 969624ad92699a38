"""The scenarios of bench/scale.py, each on a live cluster whose nodes are a simulated fleet (bench/fleet).

A scenario records its figures on the cluster's :class:`bench.scenarios.Bench`; keys carry the size they were
measured at, so that the figures of several clusters of one controller can be put side by side.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from bench.scale_fleet import FleetProcess
from bench.scenarios import Bench, BenchError, percentile

# what a throughput job "runs": one second on the fleet (bench/fleet/script.py)
FLEET_JOB = "#FLEET sleep=1"


@dataclass(frozen=True, slots=True)
class ScaleSizes:
    """How big each scenario is (the full run, or ``--quick``)."""

    nodes: tuple[int, ...] = (1_000, 5_000)  # a registration storm each; the other scenarios use the last
    cpus: int = 32
    submitters: int = 8
    throughput_seconds: float = 60.0
    job_levels: tuple[int, ...] = (10_000, 100_000)  # held jobs queued when the queries are timed
    query_repeats: int = 5
    fill_workers: int = 8
    fleet_workers: int = 1  # one process: its CPU time is that process's alone


FULL = ScaleSizes()
QUICK = ScaleSizes(nodes=(200, 1_000), throughput_seconds=15.0, job_levels=(2_000, 10_000), query_repeats=3)


@dataclass
class Storm:
    """What a registration storm took: from the fleet's first registration to every node idle in sinfo."""

    nodes: int
    seconds: float
    polls: int
    controller_cpu: float
    fleet_cpu: float
    failed_polls: int = 0  # sinfo calls that failed (timed out) while the nodes registered


def idle_nodes(b: Bench) -> int:
    """Nodes sinfo shows idle (and responding: ``idle*`` is not counted)."""
    _, out = b.timed("sinfo", "-h", "-o", "%t %D")
    count = 0
    for line in out.splitlines():
        state, _, n = line.partition(" ")
        if state == "idle":
            count += int(n)
    return count


def settle(b: Bench, timeout: float = 30.0, quiet: float = 0.05) -> None:
    """Wait until the controller used less than ``quiet`` CPU seconds in one second (state saves, agents)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = b.cpu_seconds()
        time.sleep(1.0)
        if b.cpu_seconds() - before < quiet:
            return


def storm(b: Bench, fleet: FleetProcess, nodes: int, timeout: float = 600.0) -> Storm:
    """Start the fleet (every node registers at once) and poll sinfo until every node is idle. The time runs
    from the moment the fleet listens on every port (its registrations start then) to the end of the first
    sinfo that showed every node idle: its resolution is one sinfo call (sinfo itself is slow at scale)."""
    ctl_cpu = b.cpu_seconds()
    t0 = fleet.start()
    fleet_cpu = fleet.cpu_seconds()  # listening on every port is start-up, not the storm
    polls = failed = 0
    deadline = time.monotonic() + timeout
    while True:
        polls += 1
        try:
            idle = idle_nodes(b)
        except BenchError as exc:  # a client timing out during the storm is a figure, not the end of it
            failed += 1
            print(f"[{b.controller}] storm: {exc}", flush=True)
            idle = -1
        if idle == nodes:
            seconds = time.time() - t0
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{nodes} nodes not all idle after {timeout:.0f} s")
        time.sleep(0.2)
    ctl_used, fleet_used = b.cpu_seconds() - ctl_cpu, fleet.cpu_seconds() - fleet_cpu
    return Storm(nodes, seconds, polls, ctl_used, fleet_used, failed)


def record_storm(b: Bench, fleet: FleetProcess, s: Storm) -> None:
    """The storm's rows; the fleet's counts once the controller is quiet (replies to the last registrations
    may still be on their way when sinfo shows every node idle)."""
    settle(b)
    stats = fleet.stats()
    received = stats.get("received", {})
    asked = received.get("REQUEST_NODE_REGISTRATION_STATUS", 0) if isinstance(received, dict) else 0
    sent = stats.get("registrations_sent", 0)
    at = f"registration storm @{s.nodes:,} nodes"
    b.record(f"storm_{s.nodes}", f"{at}: fleet up -> all idle in sinfo", "s", s.seconds, "lower")
    b.record(f"storm_{s.nodes}_asked", f"{at}: REQUEST_NODE_REGISTRATION_STATUS sent", "", asked, "neither")
    b.record(f"storm_{s.nodes}_regs", f"{at}: registrations the nodes sent", "", float(str(sent)), "neither")
    b.record(f"storm_{s.nodes}_failed", f"{at}: sinfo calls that failed", "", s.failed_polls, "lower")
    b.record(f"storm_{s.nodes}_cpu", f"{at}: controller CPU", "s", s.controller_cpu, "lower")
    b.record(
        f"storm_{s.nodes}_fleet_cpu",
        f"{at}: fleet CPU (competes on the same cores)",
        "s",
        s.fleet_cpu,
        "neither",
    )
    b.record(f"rss_nodes_{s.nodes}", f"{at}: controller RSS after", "MB", b.rss_mb(), "lower")


# -- high throughput ---------------------------------------------------------------------------------------

_FIELD = re.compile(r"(JobId|JobState|SubmitTime|StartTime|EndTime)=(\S+)")


def _when(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").timestamp()
    except ValueError:
        return None  # "Unknown", "None"


def job_records(b: Bench) -> dict[int, dict[str, str]]:
    """Every job the controller shows (``scontrol show job -o``): id -> the fields this module reads."""
    _, out = b.timed("scontrol", "show", "job", "-o", timeout=600)
    jobs: dict[int, dict[str, str]] = {}
    for line in out.splitlines():
        fields = dict(_FIELD.findall(line))
        if "JobId" in fields:
            jobs[int(fields["JobId"])] = fields
    return jobs


def throughput(b: Bench, fleet: FleetProcess, sizes: ScaleSizes, drain_timeout: float = 300.0) -> None:
    """``submitters`` streams of ``sbatch --wrap '#FLEET sleep=1'`` for ``throughput_seconds``; then wait
    until no job is pending or running. Completed jobs per second over that whole time; submit -> start
    latency from the jobs' SubmitTime and StartTime (SLURM prints whole seconds); controller CPU per job."""
    p, window = sizes.submitters, sizes.throughput_seconds
    ids: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    ctl_cpu, fleet_cpu = b.cpu_seconds(), fleet.cpu_seconds()
    started = time.time()
    stop = time.monotonic() + window

    def submitter() -> None:
        while time.monotonic() < stop:
            try:
                _, out = b.timed("sbatch", "--parsable", "-o", "/dev/null", "--wrap", FLEET_JOB)
            except (BenchError, subprocess.TimeoutExpired) as exc:
                with lock:
                    failures.append(str(exc)[:200])
                continue
            with lock:
                ids.append(int(out.strip().split(";")[0]))

    threads = [threading.Thread(target=submitter) for _ in range(p)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    window_cpu = b.cpu_seconds() - ctl_cpu
    deadline = time.monotonic() + drain_timeout
    while True:  # until nothing is pending, running or completing
        try:
            _, out = b.timed("squeue", "-h", "-o", "%i")
        except BenchError as exc:  # a busy controller may time a client out: ask again
            print(f"[{b.controller}] throughput: {exc}", flush=True)
            out = "?"
        if not out.strip():
            break
        if time.monotonic() > deadline:
            b.notes.append(
                f"throughput: {len(out.splitlines())} jobs still queued {drain_timeout:.0f} s after"
            )
            break
        time.sleep(0.5)
    drained = time.time()
    total_cpu = b.cpu_seconds() - ctl_cpu
    fleet_used = fleet.cpu_seconds() - fleet_cpu
    jobs = job_records(b)
    mine = [jobs[i] for i in ids if i in jobs]
    done = [j for j in mine if j.get("JobState") == "COMPLETED"]
    if failures:
        b.notes.append(f"throughput: {len(failures)} sbatch failed, first: {failures[0]}")
    if len(done) < len(ids):
        states: dict[str, int] = {}
        for j in mine:
            states[j.get("JobState", "?")] = states.get(j.get("JobState", "?"), 0) + 1
        missing = len(ids) - len(mine)
        b.notes.append(f"throughput: of {len(ids)} jobs {states} ({missing} not shown)")
    if not done:
        raise BenchError("throughput: no job completed")
    waits = []
    for j in done:
        submit, start = _when(j.get("SubmitTime", "")), _when(j.get("StartTime", ""))
        if submit is not None and start is not None:
            waits.append(start - submit)
    at = f"{p} submitters x {window:.0f} s"
    b.record("tp_submit_rate", f"throughput {at}: submits/s", "/s", len(ids) / window, "higher")
    rate = len(done) / (drained - started)
    b.record("tp_done_rate", f"throughput {at}: completed jobs/s (until drained)", "/s", rate, "higher")
    b.record(
        "tp_wait_p50",
        f"throughput {at}: submit -> start p50 (whole s)",
        "s",
        percentile(waits, 50),
        "lower",
        waits,
    )
    b.record(
        "tp_wait_p99", f"throughput {at}: submit -> start p99 (whole s)", "s", percentile(waits, 99), "lower"
    )
    per_job = total_cpu / len(done) * 1000
    b.record("tp_cpu_job", f"throughput {at}: controller CPU per job", "ms", per_job, "lower")
    per_submit = window_cpu / len(ids) * 1000
    b.record(
        "tp_cpu_submit", f"throughput {at}: controller CPU per submit (window)", "ms", per_submit, "lower"
    )
    b.record("tp_fleet_cpu", f"throughput {at}: fleet CPU", "s", fleet_used, "neither")


# -- queries at scale --------------------------------------------------------------------------------------

QUERIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("squeue", ("squeue",)),
    ("sinfo", ("sinfo",)),
    ("show_node", ("scontrol", "show", "node")),
    ("show_job", ("scontrol", "show", "job")),
)


def _run_quiet(b: Bench, args: tuple[str, ...], out_path: str = "/dev/null") -> float:
    """One client with its output written to ``out_path`` (replies at scale are tens of MB); wall time."""
    c = b.cluster
    started = time.perf_counter()
    with open(out_path, "wb") as out:
        r = subprocess.run(args, env=c.env, cwd=c.jobs_dir, stdout=out, stderr=subprocess.PIPE, timeout=900)
    elapsed = time.perf_counter() - started
    if r.returncode != 0:
        raise BenchError(
            f"{' '.join(args)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[:300]}"
        )
    return elapsed


def _check(b: Bench, key: str, args: tuple[str, ...], nodes: int, jobs: int) -> None:
    """One run with its output kept, to see that it shows every job or node (the timed runs discard it)."""
    path = b.cluster.dir / "query.out"
    _run_quiet(b, args, str(path))
    lines = 0
    marked = 0
    marker = {"show_job": "JobId=", "show_node": "NodeName="}.get(key, "")
    with open(path, errors="replace") as f:
        for line in f:
            lines += 1
            marked += bool(marker) and line.startswith(marker)
    path.unlink()
    shown = {"squeue": lines - 1, "show_job": marked, "show_node": marked}.get(key)
    wanted = {"squeue": jobs, "show_job": jobs, "show_node": nodes}.get(key)
    if shown is not None and wanted is not None and shown < wanted:
        raise BenchError(f"{' '.join(args)} showed {shown} of {wanted}")


def queries(b: Bench, nodes: int, sizes: ScaleSizes) -> None:
    """Held jobs (one ``sbatch -H`` each, ``fill_workers`` in parallel) up to each of ``job_levels``; at
    each, the median wall time of each query and the controller's RSS."""
    settle(b)
    rss0 = b.rss_mb()
    b.record("rss_jobs_0", f"queries @{nodes:,} nodes: controller RSS before the jobs", "MB", rss0, "lower")
    for level in sizes.job_levels:
        t = time.perf_counter()
        rate = b.fill_to(level)
        if rate is not None:
            took = time.perf_counter() - t
            print(f"[{b.controller}] {level:,} held jobs queued ({rate:.0f}/s, {took:.0f} s)", flush=True)
        settle(b)
        for key, args in QUERIES:
            _check(b, key, args, nodes, level)  # also the warm-up
            cpu = b.cpu_seconds()
            ms = [_run_quiet(b, args) * 1000 for _ in range(sizes.query_repeats)]
            cpu = b.cpu_seconds() - cpu
            label = f"{' '.join(args)} @{nodes:,} nodes, {level:,} jobs"
            b.record(f"q_{key}_{level}", f"{label}, median", "ms", statistics.median(ms), "lower", ms)
            per_call = cpu / sizes.query_repeats * 1000
            b.record(f"q_{key}_{level}_cpu", f"{label}, controller CPU per call", "ms", per_call, "lower")
        label = f"controller RSS @{nodes:,} nodes, {level:,} held jobs"
        b.record(f"rss_jobs_{level}", label, "MB", b.rss_mb(), "lower")
    levels = sizes.job_levels
    last = b.metrics[f"rss_jobs_{levels[-1]}"].value
    b.record(
        "rss_per_job",
        f"controller RSS per job (0 -> {levels[-1]:,})",
        "KB",
        (last - rss0) * 1e3 / levels[-1],
        "lower",
    )
    if len(levels) > 1:
        first = b.metrics[f"rss_jobs_{levels[0]}"].value
        label = f"controller RSS per job ({levels[0]:,} -> {levels[-1]:,})"
        b.record("rss_growth_per_job", label, "KB", (last - first) * 1e3 / (levels[-1] - levels[0]), "lower")

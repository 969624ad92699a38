"""The migration figures: flurm in shadow of the slurmctld cluster the bench has filled (10,000 jobs).

Import time (a full re-import over the wire), mirror lag (how long a new, changed or cancelled job takes to
show through flurm), and the takeover: how long client writes were held, how long slurmctld's port was
closed, and what a client running ``squeue`` in a loop saw meanwhile.
"""

from __future__ import annotations

import json
import re
import statistics
import threading
import time
from pathlib import Path

from bench.scenarios import Bench, BenchError


def _visible(b: Bench, conf: Path, job_id: int, pattern: str) -> bool:
    r = b.cluster.run("scontrol", "show", "job", "-o", str(job_id), conf=conf)
    return r.ok and re.search(pattern, r.stdout) is not None


def _lag(b: Bench, conf: Path, job_id: int, pattern: str, timeout: float = 30.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if _visible(b, conf, job_id, pattern):
            return time.perf_counter() - t0
    raise BenchError(f"job {job_id}: {pattern!r} never showed through flurm")


def migration(b: Bench) -> None:
    c = b.cluster
    if c.controller != "slurmctld":
        return
    jobs = len(b.held_ids)
    t = time.perf_counter()
    c.start_shadow()
    b.record(
        "mig_start",
        f"flurm --shadow start + first import @{jobs:,} jobs",
        "ms",
        (time.perf_counter() - t) * 1000,
        "lower",
    )
    conf = c.client_conf(c.shadow_port)

    seconds = []
    for _ in range(3):
        r = c.flurm_cli("import")
        if r.returncode != 0:
            raise BenchError(f"flurm import failed: {r.stdout}{r.stderr}")
        seconds.append(float(json.loads(r.stdout)["seconds"]))
    b.record(
        "mig_import",
        f"full re-import @{jobs:,} jobs, median",
        "ms",
        statistics.median(seconds) * 1000,
        "lower",
        [s * 1000 for s in seconds],
    )

    new, changed, vanished = [], [], []
    for i in range(5):
        b.submit_held()
        job_id = b.held_ids[-1]
        new.append(_lag(b, conf, job_id, r"JobState=PENDING"))
        c.run("scontrol", "update", f"JobId={job_id}", f"Name=lag{i}").check()
        changed.append(_lag(b, conf, job_id, rf"JobName=lag{i} "))
        c.run("scancel", str(job_id)).check()
        vanished.append(_lag(b, conf, job_id, r"JobState=CANCELLED"))
    for key, label, values in (
        ("mig_lag_new", "mirror lag, new job", new),
        ("mig_lag_changed", "mirror lag, changed job", changed),
        ("mig_lag_cancelled", "mirror lag, cancelled job", vanished),
    ):
        ms = [v * 1000 for v in values]
        b.record(key, f"{label} @{jobs:,} jobs, median (polled)", "ms", statistics.median(ms), "lower", ms)

    # the takeover, with a client polling squeue on slurmctld's own port the whole time
    latencies: list[float] = []
    failures: list[str] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.is_set():
            t0 = time.perf_counter()
            r = c.run("squeue", "-h", "-t", "R", timeout=60)
            latencies.append(time.perf_counter() - t0)
            if not r.ok:
                failures.append(r.stderr.strip())

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    time.sleep(1.0)
    r = c.flurm_cli("takeover", timeout=300)
    time.sleep(1.0)
    stop.set()
    poller.join(120)
    result = re.search(r"\{\s*\"adopted_running\".*\}", r.stdout, re.S)
    if r.returncode != 0 or result is None:
        raise BenchError(f"takeover failed: {r.stdout[-2000:]}{r.stderr[-2000:]}")
    doc = json.loads(result.group(0))
    b.record("mig_gap_writes", "takeover: client writes held", "ms", doc["gap_seconds"] * 1000, "lower")
    b.record(
        "mig_gap_port",
        "takeover: slurmctld's port closed until flurm listened",
        "ms",
        doc["endpoint_gap_seconds"] * 1000,
        "lower",
    )
    b.record(
        "mig_squeue_max",
        "takeover: slowest squeue of a client polling through it",
        "ms",
        max(latencies) * 1000,
        "lower",
    )
    b.record("mig_squeue_failed", "takeover: squeue calls that failed", "", float(len(failures)), "lower")
    if failures:
        b.notes.append(f"squeue failed during the takeover: {failures[:3]}")

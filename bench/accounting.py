"""What accounting costs: each controller recording into a real slurmdbd of its own, on a MariaDB of its own
(harness.accounting), with the same clients and slurm.conf as the main run plus the accounting lines.

Figures per controller, as rows of the main table ("with accounting: ..."), and the first two again on the
same cluster without accounting ("without accounting: ..."), so that what accounting adds shows:

* sequential ``sbatch --wrap true`` of jobs that run at once (held jobs send slurmdbd nothing: they are not
  eligible), submits per second and the controller's CPU per job, submit to completion included;
* submit -> RUNNING for a short job (the main run's latency scenario);
* how long after the last of those jobs completed slurmdbd has every one of them (``sacct`` shows them all
  ended): the lag of the records, which the sender's batching and spool decide.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from pathlib import Path

from bench.scenarios import Bench, BenchError, Sizes, latency
from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}
METRICS = ("acct_submit_rate", "acct_submit_cpu", "to_running", "acct_record_lag")


def _sacct_ended(c: SlurmCluster, first: int, last: int) -> int:
    """How many of the jobs ``first``..``last`` sacct shows ended."""
    r = c.run(
        "sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(map(str, range(first, last + 1)))
    )
    if not r.ok:
        raise BenchError(f"sacct failed: {(r.stdout + r.stderr).strip()[:300]}")
    return sum(1 for line in r.stdout.splitlines() if line.split("|")[-1].split()[0] in ENDED)


def _submit_and_record(b: Bench, recorded: bool = True) -> None:
    c = b.cluster
    n = b.sizes.seq_submits
    b.timed("sbatch", "--wait", "--wrap", "true")  # warm-up: the first scheduling pass, the first records
    cpu = b.cpu_seconds()
    started = time.perf_counter()
    ids = [int(b.timed("sbatch", "--parsable", "--wrap", "true")[1].strip().split(";")[0]) for _ in range(n)]
    wall = time.perf_counter() - started
    deadline = time.monotonic() + 120
    while any(b.job_state(i) not in ("", *ENDED) for i in (ids[-1], ids[0])):
        if time.monotonic() > deadline:
            raise BenchError("the submitted jobs did not end within 120 s")
        time.sleep(0.05)
    ended_at = time.perf_counter()
    cpu = b.cpu_seconds() - cpu
    b.record("acct_submit_rate", f"sbatch sequential ({n} running jobs), submits/s", "/s", n / wall, "higher")
    b.record(
        "acct_submit_cpu", "controller CPU per job (submit to completion)", "ms", cpu / n * 1000, "lower"
    )
    if not recorded:
        return
    while _sacct_ended(c, ids[0], ids[-1]) < n:
        if time.monotonic() > deadline + 60:
            raise BenchError("slurmdbd did not have every job's end within 60 s of the last one")
        time.sleep(0.1)
    lag = time.perf_counter() - ended_at
    b.record("acct_record_lag", "last job ended -> slurmdbd has every job's end", "ms", lag * 1000, "lower")


def run_with_accounting(
    controller: str, sizes: Sizes, cpus: int, extra_conf: str, *, accounting: bool = True
) -> Bench:
    """One controller's cluster recording into its own slurmdbd: the figures above (``accounting=False``:
    the same cluster without, for the submit figures to compare with)."""
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-bench-acct-{controller}-"))
    tmp.chmod(0o755)
    acct = Accounting(tmp / "acct", write_munge_key(launcher.Layout(tmp / "cluster").munge_key))
    lines = acct.slurm_conf_lines() if accounting else ""
    c = SlurmCluster(tmp / "cluster", controller, cpus=cpus, extra_conf=f"{extra_conf}\n{lines}")
    bench = Bench(c, replace(sizes, latency_samples=max(3, sizes.latency_samples // 2)))
    what = "with accounting" if accounting else "without accounting"
    scenarios: tuple[Callable[[Bench], None], ...] = (
        (_submit_and_record, latency) if accounting else (partial(_submit_and_record, recorded=False),)
    )
    try:
        if accounting:
            acct.start()  # slurmctld refuses to start on a database it cannot reach
        c.start()
        print(f"[{controller} {what}] cluster up ({tmp})", flush=True)
        for scenario in scenarios:
            try:
                scenario(bench)
            except Exception as exc:  # a failed scenario is a note in the report, not a lost run
                bench.notes.append(f"{what}: {scenario} failed: {exc}")
                print(c.log_tail(20), flush=True)
    finally:
        c.stop()
        acct.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return bench


def accounting_rows(benches: dict[str, Bench], runs: dict[str, tuple[Bench, Bench]]) -> None:
    """Fold the runs' figures into the table's benches, as rows of their own: per controller, the run
    without accounting then the one with."""
    for controller, (without, with_acct) in runs.items():
        into = benches.get(controller)
        if into is None:
            continue
        for tag, what, bench in (
            ("noacct", "without accounting", without),
            ("acct", "with accounting", with_acct),
        ):
            for key in METRICS:
                m = bench.metrics.get(key)
                if m is not None:
                    into.metrics[f"{key}@{tag}"] = replace(m, key=f"{key}@{tag}", label=f"{what}: {m.label}")
            into.notes.extend(bench.notes)

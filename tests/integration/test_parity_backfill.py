"""Backfill: flurm lets a small job go first exactly when slurmctld 22.05's backfill scheduler does.

Both clusters (2 nodes x 2 CPUs) run the backfill scheduler every 5 s (``bf_interval=5``). A job
with a 10 minute limit fills compute-node-1; a 2-node job waits for Resources (its reservation
starts when that limit ends); a 5 minute job fits on compute-node-2 and ends before the reservation,
so the backfill scheduler starts it (the main scheduler never does: it is behind a waiting job of
higher priority); a 60 minute job would delay the reservation and stays pending. The pending jobs
show their expected StartTime, SchedNodeList and ``Scheduler=Backfill:*`` as slurmctld shows them.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator

import pytest
from parity import (
    Records,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    mask_last_pass,
    mask_pass_flags,
    normalise,
    record_diff,
    run_both,
    settle,
    wait_state,
)

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=5"

STEPS = [
    cmd("sbatch", "-J", "run", "-t", "10", "-n", "2", "--wrap", "sleep 120"),  # 1: fills compute-node-1
    wait_state(1, "RUNNING"),
    cmd("sbatch", "-J", "big", "-N", "2", "-n", "4", "-t", "30", "--wrap", "true"),  # 2
    cmd("sbatch", "-J", "small", "-t", "5", "--wrap", "sleep 120"),  # 3
    cmd("sbatch", "-J", "long", "-t", "60", "-w", "compute-node-2", "--wrap", "sleep 120"),  # 4
    settle(),
    cmd("squeue", "-o", "%i %t %r", label="before backfill"),
    wait_state(3, "RUNNING", timeout=40),
    settle(),
    Records("after backfill"),
    cmd("squeue", "-o", "%i %t %r %N", label="after backfill"),
    cmd("scontrol", "show", "job", label="jobs after backfill"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_main_scheduler_does_not_backfill(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    for t in runs:
        # whether the backfill already ran is timing; the main scheduler never starts job 3
        lines = t["before backfill"].stdout.splitlines()
        assert "2 PD Resources" in lines
        assert "3 PD Priority" in lines or "3 R None" in lines
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("sbatch")])


def test_backfill_starts_the_small_job_only(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["after backfill"])
    assert "3 R None compute-node-2" in runs[1]["after backfill"].stdout


# job 1 starts at once on an empty cluster: slurmctld's backfill thread may start it before its main
# scheduler does (Scheduler=Backfill), whichever comes first
EITHER = (1,)


def test_expected_start_and_planned_nodes(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    theirs, ours = (
        mask_last_pass(normalise(t["jobs after backfill"].stdout, t.cluster), EITHER) for t in runs
    )
    assert ours == theirs, "\n".join(
        difflib.unified_diff(theirs.splitlines(), ours.splitlines(), lineterm="")
    )
    assert "SchedNodeList=compute-node-[1-2]" in ours
    job3 = [b for b in ours.split("\n\n") if b.startswith("JobId=3 ")]
    assert job3 and "Scheduler=Backfill\n" in job3[0]  # started by backfill, on both sides (compared above)
    for t in runs:
        assert len(re.findall(r"Scheduler=(Main|Backfill:\*)\n", t["jobs after backfill"].stdout)) >= 2
    assert ref.cluster is not None and got.cluster is not None
    problems = record_diff(
        mask_pass_flags(ref.records["after backfill"], EITHER),
        mask_pass_flags(got.records["after backfill"], EITHER),
        ref.cluster,
        got.cluster,
    )
    assert not problems, "decoded job records differ:\n" + "\n".join(problems)

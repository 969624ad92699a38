"""Backfill with GPUs, as slurmctld 22.05's backfill scheduler does it (harness.gres.two_gpu_types,
bf_interval=2).

Jobs 1 (-t5, both teslas) and 2 (-t5, one k80) run; then 3 (-t10 --gpus=3) waits for them, and of the
jobs behind it 4 (-t2, any GPU) is backfilled onto the free k80 since it ends before 3 could start, while
5 (-t30, any GPU) and 6 (-t2 --gres=gpu:k80:1) wait with Priority. Job 3 shows its expected start (the
end of 1 and 2) and its planned nodes (SchedNodeList), Scheduler=Backfill:*; job 4 Scheduler=Backfill.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from parity import (
    Step,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    mask_last_pass,
    normalise,
    poll,
    run_both,
    settle,
)

from harness import gres
from harness.loopback import SlurmCluster

CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=2"


def sbatch(*args: str) -> Step:
    return cmd("sbatch", *args, "--wrap", "sleep 300", label="sbatch " + " ".join(args))


def planned(job: int) -> Step:
    """Until the backfill scheduler has given job ``job`` a planned start (given up after 30 s: the
    transcripts then show what the controller did instead)."""

    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            out = c.run("scontrol", "show", "job", "-o", str(job)).stdout
            return re.search(r"Scheduler=Backfill:\*", out) is not None and "SchedNodeList=" in out

        with contextlib.suppress(TimeoutError):
            poll(f"job {job} planned by backfill", done, timeout=30)

    return act


STEPS: list[Step] = [
    sbatch("-t5", "--gres=gpu:tesla:2"),
    sbatch("-t5", "--gres=gpu:k80:1"),
    settle(),
    sbatch("-t10", "--gpus=3"),
    sbatch("-t2", "--gres=gpu:1"),
    sbatch("-t30", "--gres=gpu:1"),
    sbatch("-t2", "--gres=gpu:k80:1"),
    planned(3),
    settle(),
    cmd("squeue", "-h", "-S", "i", "-o", "%i %t %r %N %b", label="queue"),
    cmd("scontrol", "show", "job", "3", label="job 3"),
    cmd("scontrol", "show", "job", "4", label="job 4"),
    cmd("scancel", "1", "2", "3", "4", "5", "6"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, **gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, STEPS)


def _start_minus_submit(text: str) -> str:
    """How long after its submission the job is expected to start (whole minutes: both controllers
    plan from the running jobs' end times, which they set from their own start times)."""

    def at(key: str) -> datetime:
        m = re.search(rf"{key}=(\S+)", text)
        assert m is not None, text
        return datetime.fromisoformat(m.group(1))

    return str(round((at("StartTime") - at("SubmitTime")).total_seconds() / 60))


def test_backfilled_and_planned(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "4 R None compute-node-2 gres:gpu:1" in ref["queue"].stdout
    assert "SchedNodeList=compute-node-[1-2]" in ref["job 3"].stdout
    assert re.search(r"Scheduler=Backfill$", ref["job 4"].stdout, re.M)
    assert_same(ref, got, ["queue", "job 4"])
    # job 3 waits: which pass looked at it last (Main or Backfill:*) is slurmctld's own timing
    theirs, ours = (mask_last_pass(normalise(t["job 3"].stdout, t.cluster)) for t in runs)
    assert ours == theirs
    assert _start_minus_submit(got["job 3"].stdout) == _start_minus_submit(ref["job 3"].stdout) == "5"

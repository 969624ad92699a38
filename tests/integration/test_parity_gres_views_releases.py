"""Jobs' GPUs as SLURM 24.11's clients see them from slurmctld 24.11 and from flurm: the request strings as
24.11's sbatch writes them (gres/gpu:1, TresPerTask=gres/gpu=1 with TresBind=gres/gpu:per_task:1), JOB_GRES=
and each node's GRES= of ``scontrol -d show job``, squeue's tres-per-* columns (records in 24.11's layout).

One scenario on gres.two_gpu_types with release 24.11 (slurmctld, slurmd and clients from its chroot).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle
from parity import wait_state as wait

from harness import gres

# 24.11's slurmctld defaults to priority/multifactor (priorities 1): the priority is not what this is about
CONF = "PriorityType=priority/basic\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
JOBS = ("scontrol", "-d", "show", "job")
TRES = (
    "squeue",
    "-S",
    "i",
    "-O",
    "jobid,tres-per-node:24,tres-per-job:24,tres-per-task:16,tres-bind:24,tres-alloc:40",
)

STEPS: list[Step] = [
    cmd("sbatch", "-N2", "--gpus-per-node=1", "--wrap", "exec sleep 300"),  # 1: tesla 0 and k80 0
    wait(1, "RUNNING"),
    cmd("sbatch", "--gres=gpu:tesla:1", "--wrap", "exec sleep 300"),  # 2: tesla 1
    wait(2, "RUNNING"),
    cmd("sbatch", "--gpus=k80:1", "--wrap", "exec sleep 300"),  # 3: k80 1
    wait(3, "RUNNING"),
    cmd("sbatch", "-n1", "--gpus-per-task=1", "--wrap", "exec sleep 300"),  # 4: waits
    settle(),
    cmd(*JOBS, label="jobs"),
    cmd(*TRES, label="tres"),
    cmd("scancel", "1", "2", "3", "4"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, release="24.11", **gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_job_views_24_11(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    jobs = ref["jobs"].stdout
    assert "JOB_GRES=gpu:tesla:1,gpu:k80:1" in jobs and "TresPerNode=gres/gpu:1" in jobs
    assert "TresPerTask=gres/gpu=1" in jobs
    assert_same(ref, got, ["jobs", "tres"])

"""sbatch --test-only and srun --test-only: flurm answers REQUEST_JOB_WILL_RUN as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side: a job that
fits at once, one that needs the whole cluster while a job with a time limit runs (it would start
when that job reaches its limit) and again behind a pending job (later by the CPU-minutes that job
asks for over the partition's CPUs), a job no node can hold, srun's test, and the ids and priorities
of the jobs submitted next (a test uses up a job id and a priority, as in slurmctld).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"

STEPS = [
    cmd("sbatch", "--test-only", "--wrap", "true", label="fits now"),
    cmd("sbatch", "--test-only", "-N2", "-n4", "--wrap", "true", label="whole cluster now"),
    cmd("sbatch", "-J", "limited", "-t", "10", "--wrap", "exec sleep 600"),
    wait_state(3, "RUNNING"),
    cmd("sbatch", "--test-only", "-N2", "--exclusive", "--wrap", "true", label="after the running job"),
    cmd("sbatch", "-J", "waiting", "-N2", "--exclusive", "-t", "5", "--wrap", "true"),  # 5
    cmd("sbatch", "--test-only", "-N2", "--exclusive", "--wrap", "true", label="behind a pending job"),
    cmd("sbatch", "--test-only", "-n", "64", "--wrap", "true", label="too big"),
    cmd("sbatch", "--test-only", "-p", "nosuch", "--wrap", "true", label="no such partition"),
    cmd("srun", "--test-only", "-n2", "true", label="srun test"),
    cmd("sbatch", "-J", "after", "--wrap", "true"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %Q", label="queue"),
    cmd("scontrol", "show", "job", "3", label="limited job"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_test_only_answers(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "to start at" in got["fits now"].stderr


def test_start_is_the_running_jobs_end(runs: tuple[Transcript, Transcript]) -> None:
    """Times are normalised away in the comparison: the start told must be the limited job's end."""
    for t in runs:
        start = re.search(r"to start at (\S+)", t["after the running job"].stderr)
        end = re.search(r"EndTime=(\S+)", t["limited job"].stdout)
        assert start is not None and end is not None, t.text()
        assert start.group(1) == end.group(1), t.controller
        behind = re.search(r"to start at (\S+)", t["behind a pending job"].stderr)
        assert behind is not None
        # the pending job asks for 4 CPUs x 5 minutes of the partition's 4 CPUs: 300 s later
        delay = datetime.fromisoformat(behind.group(1)) - datetime.fromisoformat(end.group(1))
        assert delay.total_seconds() == 300, t.controller

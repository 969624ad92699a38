"""scontrol requeue and requeuehold: flurm requeues running batch jobs as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side. Four
batch jobs run (one ``--no-requeue``, one of ``nobody``); requeue refusals (not requeueable, another
user's job, a missing job, a pending job) carry SLURM's texts; the requeued jobs' processes are
killed, they wait PENDING with Restarts=1 and a BeginTime past the credential lifetime (held, with
"job requeued in held state", for requeuehold); one is started again with ``StartTime=now`` and
runs. Jobs run ``exec sleep`` so that the signal reaches the sleep itself on either controller.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import (
    Records,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    records_same,
    run_both,
    settle,
    wait_state,
)

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"

STEPS = [
    cmd("sbatch", "-J", "again", "--wrap", "exec sleep 300"),  # 1
    cmd("sbatch", "-J", "norequeue", "--no-requeue", "--wrap", "exec sleep 300"),  # 2
    cmd("sbatch", "-J", "held", "--wrap", "exec sleep 300"),  # 3
    cmd("sbatch", "-J", "theirs", "--wrap", "exec sleep 300", user="nobody"),  # 4
    wait_state(1, "RUNNING"),
    wait_state(2, "RUNNING"),
    wait_state(3, "RUNNING"),
    wait_state(4, "RUNNING"),
    cmd("scontrol", "requeue", "2", label="requeue a --no-requeue job"),
    cmd("scontrol", "requeue", "999", label="requeue a missing job"),
    cmd("scontrol", "requeue", "1", user="nobody", label="requeue another user's job"),
    cmd("scontrol", "requeue", "1", label="requeue"),
    cmd("scontrol", "requeuehold", "3", label="requeuehold"),
    cmd("scontrol", "requeue", "4", user="nobody", label="requeue own job"),
    settle(),
    Records("after requeue"),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %Q", label="queue after requeue"),
    cmd("scontrol", "show", "job", "-o", label="jobs after requeue"),
    cmd("scontrol", "requeue", "1", label="requeue a pending job"),
    cmd("scontrol", "update", "JobId=1", "StartTime=now", label="start again"),
    wait_state(1, "RUNNING"),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r", label="queue after restart"),
    cmd("scontrol", "show", "job", "1", label="job run again"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_requeue_answers(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("requeue")])
    assert "disabled" in got["requeue a --no-requeue job"].stderr


def test_requeued_jobs(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["queue after requeue", "jobs after requeue"])
    assert "Restarts=1" in got["jobs after requeue"].stdout
    records_same(ref, got, "after requeue")


def test_requeued_job_runs_again(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["start again", "queue after restart", "job run again"])

"""scontrol hold/release/update and scancel: flurm answers and changes jobs as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side. A blocker
job holds every CPU so that the jobs of the scenario stay pending; root and ``nobody`` hold, release
and update them (user holds, admin holds, a user's release of an admin hold, limits only an
operator may raise, priorities only an operator may set), cancel single jobs, single array tasks
(which slurmctld drops from the array's pending record without a record of their own), whole
arrays and all the jobs of a user; the refusals carry SLURM's own texts. Each test compares a part
of the transcripts; the last ones compare the decoded job records.
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
    cmd("sbatch", "-J", "blocker", "-N2", "--exclusive", "--wrap", "sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    cmd("sbatch", "--wrap", "true"),  # 2
    cmd("sbatch", "--wrap", "true", user="nobody"),  # 3
    cmd("sbatch", "--array", "1-4", "--wrap", "true"),  # 4
    cmd("sbatch", "--hold", "--wrap", "true", user="nobody"),  # 5
    cmd("sbatch", "--array", "1-3", "--wrap", "true", user="nobody"),  # 6
    cmd("sbatch", "-t", "20", "--wrap", "true", user="nobody"),  # 7
    settle(),
    # one more scheduling cycle a second later, so that the arrays accrue (see test_parity_submit)
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true", label="tick"),  # 8
    settle(),
    # holds and releases
    cmd("scontrol", "hold", "2", label="admin hold"),
    cmd("scontrol", "hold", "3", user="nobody", label="user hold"),
    cmd("scontrol", "release", "3", user="nobody", label="user release"),
    cmd("scontrol", "hold", "2", user="nobody", label="hold of another user's job"),
    cmd("scontrol", "release", "2", user="nobody", label="release of another user's job"),
    cmd("scontrol", "release", "5", user="nobody", label="release of a held submission"),
    cmd("scontrol", "hold", "4_2", label="hold one array task"),
    cmd("scontrol", "hold", "6", user="nobody", label="hold a whole array"),
    cmd("scontrol", "release", "6_2", user="nobody", label="release one task"),
    cmd("scontrol", "hold", "999", label="hold a missing job"),
    cmd("scontrol", "release", "999", label="release a missing job"),
    # updates
    cmd("scontrol", "update", "JobId=2", "TimeLimit=10", label="admin time limit"),
    cmd("scontrol", "update", "JobId=3", "TimeLimit=10", user="nobody", label="user sets a limit"),
    cmd("scontrol", "update", "JobId=7", "TimeLimit=30", user="nobody", label="user raises a pending limit"),
    cmd("scontrol", "update", "JobId=1", "TimeLimit=30", user="nobody", label="user limits another's job"),
    cmd("scontrol", "update", "JobId=7", "TimeLimit=15", user="nobody", label="user lowers a limit"),
    cmd("scontrol", "update", "JobId=3", "Priority=100", user="nobody", label="user priority"),
    cmd("scontrol", "update", "JobId=3", "Priority=100", label="admin priority"),
    cmd("scontrol", "update", "JobId=7", "Priority=4294967290", user="nobody", label="user raises priority"),
    cmd("scontrol", "update", "JobId=4", "TimeLimit=5", label="update a whole array"),
    cmd("scontrol", "update", "JobId=999", "TimeLimit=5", label="update a missing job"),
    # cancels
    cmd("scancel", "1", user="nobody", label="cancel another user's job"),
    cmd("scancel", "999", label="cancel a missing job"),
    cmd("scancel", "4_3", label="cancel a pending task"),
    settle(),
    # slurmctld gives the job released above its AccrueTime on its next scheduling cycle, which may
    # or may not have run yet: a submit starts one (flurm's release accrues at once)
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true", label="tick after updates"),  # 11
    settle(),
    Records("after updates"),
    cmd("squeue", "-r", label="queue after updates"),
    cmd("squeue", "-r", "-o", "%i %t %r %Q %l %u", label="reasons after updates"),
    cmd("scontrol", "show", "job", "-o", label="jobs after updates"),
    cmd("scontrol", "release", "2", label="admin release"),
    settle(),
    cmd("squeue", "-r", "-o", "%i %t %r %Q %l", label="reasons after release"),
    cmd("scontrol", "show", "job", "4", label="show array"),
    cmd("scontrol", "show", "job", "4_2", label="show array task"),
    cmd("scontrol", "show", "job", "999", label="show missing job"),
    cmd("scancel", "4", label="cancel a whole array"),
    cmd("scancel", "-u", "nobody", label="cancel a user's jobs"),
    settle(),
    Records("after cancels"),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %t %r", label="queue after cancels"),
    cmd("scontrol", "show", "job", "-o", label="jobs after cancels"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def _labels(t: Transcript, *words: str) -> list[str]:
    return [k for k in t.labels() if any(w in k for w in words)]


def test_hold_and_release(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "hold", "release"))
    assert "Invalid user id" in got["hold of another user's job"].stderr


def test_update(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = [k for k in ref.labels() if "limit" in k or "priority" in k or k.startswith("update")]
    assert_same(ref, got, keys)
    assert "Invalid user id" in got["user limits another's job"].stderr


def test_cancel_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "cancel"))
    assert got["cancel another user's job"].returncode != 0
    assert "Access/permission denied" in got["cancel another user's job"].stderr


def test_queue_after_updates(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["queue after updates", "reasons after updates", "jobs after updates"])


def test_release_and_array_records(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["reasons after release", "show array", "show array task", "show missing job"])


def test_queue_after_cancels(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["queue after cancels", "jobs after cancels"])


def test_decoded_records(runs: tuple[Transcript, Transcript]) -> None:
    records_same(*runs, "after updates")
    records_same(*runs, "after cancels")

"""Advanced reservations: flurm creates, shows, updates, deletes and schedules around them as slurmctld
22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side: reservations
by node count (named ``root_1``, ``acct1_N`` as slurmctld names them), by node name, in the future,
daily, with slurmctld's refusals (``nobody`` is no operator, unknown nodes, users and partitions, a
past start, an overlap, a duplicate name); jobs that name a reservation run on its nodes (or wait with
``Reservation`` before it starts, or are refused at submit), jobs that do not never use its nodes in
its window (``ReqNodeNotAvail, May be reserved for other job``); a maintenance reservation over every
node (``maint`` in sinfo, ``Reserved for maintenance``) that ends and goes away; deleting one a job
runs in or waits for is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from parity import Action, Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
ROW = "%i %j %t %r %v %N"


def wait_node_states(*states: str, timeout: float = 30.0) -> Action:
    """Until ``sinfo -N`` shows each node in these states (slurmctld sets the flags every 5 s)."""

    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            r = c.run("sinfo", "-h", "-N", "-o", "%t")
            return sorted(r.stdout.split()) == sorted(states)

        poll(f"[{c.controller}] node states {states}", done, timeout)

    return act


def wait_gone(name: str, timeout: float = 90.0) -> Action:
    """Until the reservation is no longer listed (slurmctld purges ended ones every 30 s)."""

    def act(c: SlurmCluster) -> None:
        poll(
            f"[{c.controller}] reservation {name} gone",
            lambda: not c.run("scontrol", "show", "res", name).ok,
            timeout,
        )

    return act


def wait_reason_text(job: int, text: str, timeout: float = 30.0) -> Action:
    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            return c.run("squeue", "-h", "-j", str(job), "-o", "%r").stdout.strip() == text

        poll(f"[{c.controller}] job {job} reason {text!r}", done, timeout)

    return act


STEPS = [
    cmd("scontrol", "show", "reservation", label="none yet"),
    cmd("sinfo", "-T", label="sinfo -T none yet"),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=root",
        "StartTime=now",
        "Duration=30",
        "NodeCnt=1",
        label="create by count",
    ),
    # refusals, in slurmctld's order of checks
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=nobody",
        "StartTime=now",
        "Duration=30",
        "NodeCnt=1",
        user="nobody",
        label="refused: nobody creates",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=root",
        "StartTime=now",
        "Duration=30",
        "Nodes=compute-node-9",
        label="refused: unknown node",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=root",
        "StartTime=now",
        "Duration=30",
        "NodeCnt=1",
        "PartitionName=nope",
        label="refused: unknown partition",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=no_such_user",
        "StartTime=now",
        "Duration=30",
        "NodeCnt=1",
        label="refused: unknown user",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=root",
        "StartTime=2020-01-01T00:00:00",
        "Duration=30",
        "NodeCnt=1",
        label="refused: past start",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Users=root",
        "StartTime=now",
        "Duration=30",
        "Nodes=compute-node-1",
        label="refused: overlap",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "ReservationName=root_1",
        "Users=root",
        "StartTime=now",
        "Duration=30",
        "NodeCnt=1",
        "Flags=IGNORE_JOBS",
        label="refused: duplicate name",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "ReservationName=later",
        "Users=nobody",
        "StartTime=now+1hour",
        "Duration=60",
        "Nodes=compute-node-2",
        "Flags=IGNORE_JOBS",
        label="create later",
    ),
    cmd(
        "scontrol",
        "create",
        "reservation",
        "Accounts=acct1",
        "StartTime=now+3hours",
        "Duration=10",
        "NodeCnt=1",
        "Flags=IGNORE_JOBS,DAILY",
        label="create daily by account",
    ),
    wait_node_states("idle", "resv"),
    cmd("sinfo", label="sinfo with a reservation"),
    cmd("sinfo", "-T", label="sinfo -T"),
    cmd("scontrol", "show", "reservation", label="show reservations"),
    # jobs
    cmd("sbatch", "--reservation=nope", "--wrap", "true", label="submit: no such reservation"),  # 1
    cmd("sbatch", "--reservation=root_1", "--wrap", "true", user="nobody", label="submit: not allowed"),  # 2
    cmd("sbatch", "-J", "inres", "-t", "60", "--reservation=root_1", "--wrap", "sleep 300"),  # 3
    cmd("sbatch", "-J", "short", "-t", "30", "--wrap", "sleep 300"),  # 4
    cmd("sbatch", "-J", "long", "-t", "120", "--wrap", "true", user="nobody"),  # 5
    cmd("sbatch", "-J", "notyet", "--reservation=later", "--wrap", "true", user="nobody"),  # 6
    wait_state(3, "RUNNING"),
    wait_state(4, "RUNNING"),
    settle(),
    cmd("squeue", "-S", "i", "-o", ROW, label="queue with reservations"),
    cmd("scontrol", "show", "job", "-o", "3", label="job in a reservation"),
    cmd("scontrol", "delete", "ReservationName=root_1", label="delete: in use"),
    cmd("scontrol", "delete", "ReservationName=later", user="nobody", label="delete: nobody"),
    cmd("scontrol", "update", "JobId=6", "ReservationName=root_1", label="job update: not allowed"),
    cmd("scontrol", "update", "JobId=6", "ReservationName=nope", label="job update: no such reservation"),
    cmd("scontrol", "update", "ReservationName=later", "Users=+root", label="update: add a user"),
    cmd("scontrol", "update", "ReservationName=later", "Duration=90", user="nobody", label="update: nobody"),
    cmd("scontrol", "update", "ReservationName=nope", "Duration=5", label="update: no such reservation"),
    cmd("scontrol", "show", "reservation", "later", label="show updated"),
    # maintenance over every node, ending 20 s later
    cmd(
        "scontrol",
        "create",
        "reservation",
        "ReservationName=mnt",
        "Users=root",
        "StartTime=now",
        "EndTime=now+20",
        "Nodes=ALL",
        "Flags=MAINT,IGNORE_JOBS",
        label="create maint",
    ),
    wait_node_states("mix$", "mix$"),
    cmd("sinfo", label="sinfo in maintenance"),
    cmd("sbatch", "-J", "m1", "--wrap", "true", user="nobody"),  # 7
    wait_reason_text(7, "ReqNodeNotAvail, Reserved for maintenance"),
    settle(),
    cmd("squeue", "-S", "i", "-o", ROW, label="queue in maintenance"),
    wait_gone("mnt"),
    wait_node_states("mix", "mix"),
    # slurmctld clears the maintenance reasons when the reservation goes and sets new ones on its next
    # cycle, which a submission starts (flurm schedules at once)
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true", label="tick"),  # 8
    settle(),
    cmd("squeue", "-S", "i", "-o", ROW, label="queue after maintenance"),
    cmd("sinfo", "-T", label="sinfo -T after maintenance"),
    # a reservation a pending job names is in use too
    cmd("scontrol", "delete", "ReservationName=later", label="delete with a waiting job"),
    cmd("scancel", "6"),
    wait_state(6, "CANCELLED"),
    cmd("scontrol", "delete", "ReservationName=later", label="delete once nothing waits"),
    settle(),
    cmd("squeue", "-S", "i", "-o", ROW, label="queue after delete"),
    cmd("scontrol", "show", "reservation", label="show after delete"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def _labels(t: Transcript, *words: str) -> list[str]:
    return [k for k in t.labels() if any(w in k for w in words)]


def test_create_show_and_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "create", "refused", "none yet", "show reservations", "sinfo -T"))
    assert "Reservation created: root_1" in got["create by count"].stdout
    assert "Invalid user id" in got["refused: nobody creates"].stderr


def test_submit_and_update_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "submit:", "delete:", "update:", "show updated"))
    assert "Requested reservation is invalid" in got["submit: no such reservation"].stderr


def test_where_jobs_run_and_why_others_wait(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["queue with reservations", "job in a reservation", "sinfo with a reservation"])
    rows = got["queue with reservations"].stdout
    assert re.search(r"^3 inres R None root_1 compute-node-1$", rows, re.M)
    assert re.search(r"^6 notyet PD Reservation later", rows, re.M)


def test_maintenance_and_expiry(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "maintenance", "maint"))
    assert "mnt" not in got["sinfo -T after maintenance"].stdout


def test_delete_refused_while_a_job_names_it(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "delete with", "delete once", "after delete"))

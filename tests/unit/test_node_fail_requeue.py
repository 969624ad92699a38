"""A node of a running batch job fails: the job is requeued by requeue.py as slurmctld's
kill_running_job_by_node_name does (NODE_FAIL for the mails, Restarts+1, the DOWN node given back
at once, the others running their epilog before the job is pending again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_jobctl import NOW, OWNER, controller

from flurm.controller import mail, requeue
from flurm.controller.engine import Controller
from flurm.protocol.constants import JobFlag, JobState, JobStateFlag, JobStateReason, NodeState
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.cluster import Allocation
from flurm.state.model import Job
from flurm.state.records import build_job_record

TWO_NODES = "NodeName=compute-node-2 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN\n"
NODES = ("compute-node-1", "compute-node-2")


@pytest.fixture
def ctl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Controller]:
    sent: list[tuple[int, int, int]] = []
    monkeypatch.setattr(mail, "send", lambda _ctl, job, kind: sent.append((job.job_id, kind, job.base_state)))
    for c in controller(tmp_path, TWO_NODES):
        c.mails = sent  # type: ignore[attr-defined]
        yield c


def on_both_nodes(ctl: Controller, **desc: Any) -> Job:
    job, _ = ctl.jobs.create(
        JobDesc(script="#!/bin/sh\nsleep 60\n", mail_type=mail.MAIL_JOB_FAIL | mail.MAIL_JOB_REQUEUE, **desc),
        OWNER,
        OWNER,
        "localhost",
    )
    ctl.cluster.start_job(job, Allocation(NODES, ((0,), (0,)), (1, 1), (0, 0)), NOW - 60)
    return job


def fail_node_2(ctl: Controller, job: Job) -> None:
    ctl.cluster.nodes["compute-node-2"].base_state = NodeState.DOWN
    ctl.jobs.node_failed(job, "compute-node-2")


def test_a_requeued_job_waits_for_the_epilog_of_its_other_nodes(ctl: Controller) -> None:
    job = on_both_nodes(ctl)
    fail_node_2(ctl, job)
    assert job.state == JobState.PENDING | JobStateFlag.COMPLETING and job.restart_cnt == 1
    assert job.completing_nodes == ("compute-node-1",)
    assert ctl.cluster.nodes["compute-node-2"].alloc_cpus == 0  # the DOWN node is given back at once
    assert ctl.cluster.nodes["compute-node-1"].alloc_cpus == 1
    calls = ctl.agent.calls  # type: ignore[attr-defined]
    assert calls == [
        ("terminate_on_down_node", (job, JobState.NODE_FAIL, "compute-node-2")),
        ("terminate_job", (job, JobState.NODE_FAIL)),
    ]
    # job_completion_logger ran with the job NODE_FAIL and requeue: Failed, then Requeued
    assert ctl.mails == [  # type: ignore[attr-defined]
        (job.job_id, mail.MAIL_JOB_FAIL, JobState.NODE_FAIL),
        (job.job_id, mail.MAIL_JOB_REQUEUE, JobState.NODE_FAIL),
    ]
    ctl.jobs.node_epilog_done(job.job_id, "compute-node-1")
    assert job.state == JobState.PENDING and job.nodes == () and job.start_time == 0
    assert job.begin_time == NOW + ctl.config.cred_expire + 1
    assert ctl.cluster.nodes["compute-node-1"].alloc_cpus == 0
    assert job.job_id in ctl.cluster.schedulable


def test_a_job_that_may_not_be_requeued_ends_node_fail(ctl: Controller) -> None:
    job = on_both_nodes(ctl, requeue=0)
    fail_node_2(ctl, job)
    assert job.state == JobState.NODE_FAIL | JobStateFlag.COMPLETING and job.restart_cnt == 0
    assert ctl.mails == [(job.job_id, mail.MAIL_JOB_FAIL, JobState.NODE_FAIL)]  # type: ignore[attr-defined]


def test_a_suspended_job_is_requeued_with_the_end_of_its_run(ctl: Controller) -> None:
    job = on_both_nodes(ctl)
    job.state = JobState.SUSPENDED
    job.suspend_time = NOW - 30
    fail_node_2(ctl, job)
    assert job.is_pending() and job.restart_cnt == 1 and job.end_time == NOW - 30


def test_a_no_kill_job_runs_on_without_the_failed_node(ctl: Controller) -> None:
    job = on_both_nodes(ctl, kill_on_node_fail=0)
    fail_node_2(ctl, job)
    assert job.state == JobState.RUNNING and job.restart_cnt == 0
    assert job.nodes == ("compute-node-1",) and job.cpus_alloc == (1,) and job.cores_alloc == ((0,),)
    assert job.resize_time == NOW and job.bitflags & JobFlag.JOB_RESIZED
    assert ctl.cluster.nodes["compute-node-2"].alloc_cpus == 0
    assert job.job_id not in ctl.cluster.nodes["compute-node-2"].jobs
    assert ctl.cluster.nodes["compute-node-1"].alloc_cpus == 1
    assert ctl.mails == []  # type: ignore[attr-defined]


def test_a_no_kill_job_on_one_node_ends_as_any_other(ctl: Controller) -> None:
    job = on_both_nodes(ctl, kill_on_node_fail=0, requeue=0)
    fail_node_2(ctl, job)
    assert job.nodes == ("compute-node-1",)
    ctl.cluster.nodes["compute-node-1"].base_state = NodeState.DOWN
    ctl.jobs.node_failed(job, "compute-node-1")
    assert job.state == JobState.NODE_FAIL  # its only node was DOWN: nothing left completing


def test_an_unanswered_launch_requeues_even_a_job_that_may_not_be(ctl: Controller) -> None:
    job = on_both_nodes(ctl, requeue=0)
    ctl.jobs.launch_unanswered(job)
    assert job.state == JobState.PENDING | JobStateFlag.COMPLETING
    assert job.restart_cnt == 1 and job.launch_requeues == 1
    assert build_job_record(job, ctl.cluster, 0).batch_flag == 2
    ctl.jobs.node_epilog_done(job.job_id, "compute-node-1")
    ctl.jobs.node_epilog_done(job.job_id, "compute-node-2")
    assert job.state == JobState.PENDING and job.priority != 0


def test_the_sixth_unanswered_launch_holds_the_job(ctl: Controller) -> None:
    job = on_both_nodes(ctl)
    job.launch_requeues = requeue.MAX_BATCH_REQUEUE - 1
    ctl.jobs.launch_unanswered(job)
    assert job.state == JobState.PENDING | JobStateFlag.COMPLETING | JobStateFlag.REQUEUE_HOLD
    assert job.state_reason == JobStateReason.WAIT_MAX_REQUEUE and job.priority == 0
    assert job.launch_requeues == 0


def test_a_pending_job_shows_the_node_count_of_its_test_at_submit(ctl: Controller) -> None:
    # two tasks fit on one node of two CPUs; with two CPUs each they would need both
    for node in ctl.cluster.node_list:
        node.registered, node.base_state = True, NodeState.IDLE
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\n", num_tasks=2), OWNER, OWNER, "localhost")
    assert job.sched_node_count == 1
    job.cpus_per_task = 2
    assert build_job_record(job, ctl.cluster, 0).num_nodes == 1
    job.sched_node_count = 0  # an update changed its TRES
    assert build_job_record(job, ctl.cluster, 0).num_nodes == 2


def test_a_held_job_is_not_tested_at_submit(ctl: Controller) -> None:
    for node in ctl.cluster.node_list:
        node.registered, node.base_state = True, NodeState.IDLE
    job, _ = ctl.jobs.create(
        JobDesc(script="#!/bin/sh\n", num_tasks=2, priority=0), OWNER, OWNER, "localhost"
    )
    assert job.priority == 0 and job.sched_node_count == 0

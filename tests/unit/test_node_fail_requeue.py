"""A node of a running batch job fails: the job is requeued by requeue.py as slurmctld's
kill_running_job_by_node_name does (NODE_FAIL for the mails, Restarts+1, the DOWN node given back
at once, the others running their epilog before the job is pending again)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_jobctl import NOW, OWNER, controller

from flurm.controller import mail
from flurm.controller.engine import Controller
from flurm.protocol.constants import JobState, JobStateFlag, NodeState
from flurm.protocol.messages.job_desc import JobDesc
from flurm.state.cluster import Allocation
from flurm.state.model import Job

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

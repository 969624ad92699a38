"""Job control on a controller that is not started (no event loop, a recording node driver): requeue
as slurmctld's _job_requeue_op and batch_requeue_fini, for scontrol and for slurmd's launch failure."""

from __future__ import annotations

import errno
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller import job_control, mail, reboot, requeue, suspend
from flurm.controller.engine import Controller
from flurm.controller.job_env import job_common_env
from flurm.daemon import Daemon
from flurm.protocol.constants import (
    JobState,
    JobStateFlag,
    JobStateReason,
    MsgType,
    NodeState,
    NodeStateFlag,
    SlurmRC,
)
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_control import WillRunResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.jobctl import (
    REBOOT_FLAGS_ASAP,
    RESUME_JOB,
    SUSPEND_JOB,
    BatchScriptResponse,
    JobNotify,
    RebootNodes,
    SrunUserMsg,
    SuspendInt,
    SuspendRequest,
    TopJobRequest,
)
from flurm.state.cluster import Allocation
from flurm.state.model import Job
from flurm.users import user_name

NOW = 1_795_696_400
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
OWNER, OTHER = 1000, 65534


class RecordingDriver:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: self.calls.append((name, args))


def controller(tmp_path: Path, extra: str = "") -> Iterator[Controller]:
    daemon = Daemon(parse_text(CONF + extra), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]  # no event loop: no scheduling
    ctl.agent = RecordingDriver()  # type: ignore[assignment]
    try:
        yield ctl
    finally:
        ctl.store.close()
        ctl.signer.close()


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    yield from controller(tmp_path)


def running(ctl: Controller, **desc: Any) -> Job:
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\nsleep 60\n", **desc), OWNER, OWNER, "localhost")
    ctl.cluster.start_job(job, Allocation(("compute-node-1",), ((0,),), (1,), (0,)), NOW - 60)
    return job


def test_requeue_of_a_running_job_waits_for_its_epilog(ctl: Controller) -> None:
    job = running(ctl)
    assert requeue.requeue_request(ctl, job.job_id, str(job.job_id), 0, OWNER) == (0, None)
    assert job.state == JobState.PENDING | JobStateFlag.COMPLETING and job.restart_cnt == 1
    assert ("terminate_job", (job, JobStateFlag.REQUEUE)) in ctl.agent.calls  # type: ignore[attr-defined]
    assert job.job_id not in ctl.cluster.schedulable  # not started again before its nodes are clean
    ctl.jobs.node_epilog_done(job.job_id, "compute-node-1")
    assert job.state == JobState.PENDING and job.nodes == () and job.start_time == 0
    assert job.begin_time == NOW + ctl.config.cred_expire + 1
    assert job.submit_time == NOW + 1  # submitted in this same second: a different submit time
    assert ctl.cluster.nodes["compute-node-1"].alloc_cpus == 0
    assert job.job_id in ctl.cluster.schedulable


def test_launch_failure_from_slurmd_requeues_held(ctl: Controller) -> None:
    job = running(ctl)
    flags = JobStateFlag.REQUEUE_HOLD | JobStateFlag.LAUNCH_FAILED
    assert requeue.requeue_request(ctl, job.job_id, None, flags, 0) == (0, None)
    assert job.priority == 0 and job.state_reason == JobStateReason.WAIT_HELD_USER
    assert job.state_desc == "launch failed requeued held"


def test_refusals(ctl: Controller) -> None:
    job = running(ctl)
    norequeue = running(ctl, requeue=0)
    assert requeue.requeue_request(ctl, job.job_id, None, 0, OTHER)[0] == SlurmRC.ESLURM_ACCESS_DENIED
    assert requeue.requeue_request(ctl, norequeue.job_id, None, 0, 0)[0] == SlurmRC.ESLURM_DISABLED
    assert requeue.requeue_request(ctl, 999, "999", 0, 0)[0] == SlurmRC.ESLURM_INVALID_JOB_ID
    assert requeue.requeue_request(ctl, job.job_id, None, 0, 0)[0] == 0
    assert requeue.requeue_request(ctl, job.job_id, None, 0, 0)[0] == SlurmRC.ESLURM_JOB_PENDING


def test_job_requeue_in_slurm_conf_is_the_default(tmp_path: Path) -> None:
    for ctl in controller(tmp_path, "JobRequeue=0\n"):
        job = running(ctl)
        given = running(ctl, requeue=1)
        assert job.requeue == 0 and given.requeue == 1
        assert requeue.requeue_request(ctl, job.job_id, None, 0, 0)[0] == SlurmRC.ESLURM_DISABLED


def test_requeue_of_a_whole_array_answers_per_task(ctl: Controller) -> None:
    meta, _ = ctl.jobs.create(
        JobDesc(script="#!/bin/sh\ntrue\n", array_inx="1-3", priority=0), OWNER, OWNER, "localhost"
    )
    rc, errors = requeue.requeue_request(ctl, meta.job_id, str(meta.job_id), 0, OWNER)
    assert rc == 0 and errors is not None
    assert [(e.error_code, e.job_array_id) for e in errors] == [
        (SlurmRC.ESLURM_JOB_PENDING, f"{meta.job_id}_1-3")
    ]


def test_will_run_response_round_trip() -> None:
    for body in (
        WillRunResponse(7, "compute-node-[1-2]", "debug", 4, NOW),
        WillRunResponse(8, None, None, 0, 0, preemptee_job_ids=(3, 4), job_submit_user_msg="hi"),
    ):
        raw = encode_body(body)
        assert decode_body(MsgType.RESPONSE_JOB_WILL_RUN, raw) == body
    # no preempted jobs: the count is NO_VAL, as slurmctld packs it
    assert encode_body(WillRunResponse(1))[16:20] == b"\xff\xff\xff\xfe"


def test_top_is_for_operators_unless_enable_user_top(ctl: Controller) -> None:
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n"), OWNER, OWNER, "localhost")
    assert job_control.top(ctl, str(job.job_id), OWNER) == SlurmRC.ESLURM_ACCESS_DENIED
    assert job_control.top(ctl, str(job.job_id), 0) == 0


def test_batch_script_of_an_allocation_is_missing(ctl: Controller) -> None:
    job, _ = ctl.jobs.create(JobDesc(), OWNER, OWNER, "localhost", interactive=True)
    assert job_control.batch_script(ctl, job.job_id, OWNER) == SlurmRC.ESLURM_JOB_SCRIPT_MISSING
    assert job_control.batch_script(ctl, job.job_id, OTHER) == SlurmRC.ESLURM_USER_ID_MISSING


def test_job_control_bodies_round_trip() -> None:
    bodies = [
        (MsgType.RESPONSE_BATCH_SCRIPT, BatchScriptResponse("#!/bin/sh\ntrue\n")),
        (MsgType.REQUEST_TOP_JOB, TopJobRequest("5,6_2")),
        (MsgType.REQUEST_JOB_NOTIFY, JobNotify(StepId(5), "hello")),
        (MsgType.SRUN_USER_MSG, SrunUserMsg(5, "hello")),
        (MsgType.REQUEST_SUSPEND, SuspendRequest(RESUME_JOB, 5, "5")),
        (MsgType.REQUEST_SUSPEND_INT, SuspendInt(5, SUSPEND_JOB)),
        (MsgType.REQUEST_REBOOT_NODES, RebootNodes("compute-node-[1-2]", 1, 0x20, "why")),
    ]
    for msg_type, body in bodies:
        assert decode_body(msg_type, encode_body(body)) == body
    # REQUEST_SUSPEND_INT: u8 indf_susp, u16 core spec, u32 job id, u16 op
    assert encode_body(SuspendInt(5, RESUME_JOB)) == b"\x01\xff\xfe\x00\x00\x00\x05\x00\x01"


def test_suspended_time_does_not_count_against_the_limit(tmp_path: Path) -> None:
    now = [NOW]
    daemon = Daemon(parse_text(CONF), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: now[0])
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]
    ctl.agent = RecordingDriver()  # type: ignore[assignment]
    try:
        job = running(ctl, time_limit=10)  # started at NOW - 60, 10 minutes
        assert (
            suspend.suspend_request(ctl, SUSPEND_JOB, job.job_id, None, OWNER)[0]
            == SlurmRC.ESLURM_ACCESS_DENIED
        )
        assert suspend.suspend_request(ctl, SUSPEND_JOB, job.job_id, None, 0) == (0, None)
        assert job.base_state == JobState.SUSPENDED and job.priority == 0 and job.pre_sus_time == 60
        assert (
            "send_to_node",
            ("compute-node-1", MsgType.REQUEST_SUSPEND_INT, SuspendInt(job.job_id, 0)),
        ) in (
            ctl.agent.calls  # type: ignore[attr-defined]
        )
        now[0] += 1000
        ctl.jobs.time_limits(now[0])  # suspended: no time limit runs
        assert job.base_state == JobState.SUSPENDED
        assert suspend.suspend_request(ctl, RESUME_JOB, job.job_id, None, 0) == (0, None)
        assert job.is_running() and job.priority != 0
        assert job.end_time == now[0] + 600 - 60
        assert (
            suspend.suspend_request(ctl, RESUME_JOB, job.job_id, None, 0)[0]
            == SlurmRC.ESLURM_JOB_NOT_SUSPENDED
        )
    finally:
        ctl.store.close()
        ctl.signer.close()


def test_mail_subjects(ctl: Controller) -> None:
    job = running(ctl, name="wrap")
    job.submit_time = NOW - 61
    assert mail.duration(3661) == "01:01:01" and mail.duration(90061) == "1-01:01:01"
    subject, env = mail.subject_and_env(ctl, job, mail.MAIL_JOB_BEGIN)
    assert subject == f"Slurm Job_id={job.job_id} Name=wrap Began, Queued time 00:00:01"
    assert env["SLURM_JOB_QUEUED_TIME"] == "00:00:01" and env["SLURM_JOB_STATE"] == "RUNNING"
    job.state, job.end_time, job.exit_code = JobState.FAILED, NOW, 3 << 8
    subject, env = mail.subject_and_env(ctl, job, mail.MAIL_JOB_FAIL)
    assert subject == f"Slurm Job_id={job.job_id} Name=wrap Failed, Run time 00:01:00, FAILED, ExitCode 3"
    assert env["SLURM_JOB_EXIT_CODE2"] == "3:0" and env["SLURM_JOB_EXIT_CODE_MAX"] == "3"
    assert mail.mail_user(ctl, job) == user_name(OWNER)  # no --mail-user: the job's user
    job.mail_user = "someone@example.com"
    assert mail.mail_user(ctl, job) == "someone@example.com"


def test_reboot_marks_then_issues_when_idle(ctl: Controller) -> None:
    node = ctl.cluster.nodes["compute-node-1"]
    node.base_state = NodeState.IDLE
    msg = RebootNodes("compute-node-1", REBOOT_FLAGS_ASAP)
    assert reboot.reboot_request(ctl, msg, OWNER) == errno.EACCES
    assert reboot.reboot_request(ctl, RebootNodes("nosuch"), 0) == SlurmRC.ESLURM_INVALID_NODE_NAME
    job = running(ctl)
    assert reboot.reboot_request(ctl, msg, 0) == 0
    assert node.flags & NodeStateFlag.REBOOT_REQUESTED and node.flags & NodeStateFlag.DRAIN
    assert node.reason == "Reboot ASAP"
    assert node.next_state == NodeStateFlag.RESUME | NodeStateFlag.UNDRAIN
    reboot.issue_due(ctl, NOW)  # busy: not yet
    assert not node.flags & NodeStateFlag.REBOOT_ISSUED
    ctl.jobs.cancel(job)
    ctl.jobs.node_epilog_done(job.job_id, node.name)
    reboot.issue_due(ctl, NOW)
    assert node.base_state == NodeState.DOWN and node.flags & NodeStateFlag.REBOOT_ISSUED
    assert node.reason == "Reboot ASAP : reboot issued"
    assert not reboot.node_rebooted(node, NOW - 1)  # registered, but did not boot since
    reboot.issue_due(ctl, NOW + 60)
    assert node.flags & NodeStateFlag.REBOOT_ISSUED  # ResumeTimeout (60 s) not passed yet
    assert reboot.node_rebooted(node, NOW + 5)
    assert node.base_state == NodeState.IDLE and not node.flags & (
        NodeStateFlag.DRAIN | NodeStateFlag.REBOOT_ISSUED
    )


def test_a_suspended_jobs_cores_serve_another_job_and_are_shared_after_resume(ctl: Controller) -> None:
    node = ctl.cluster.nodes["compute-node-1"]
    paused = running(ctl)
    assert (node.alloc_cores, node.alloc_cpus) == ({0}, 1)
    assert suspend.suspend_request(ctl, SUSPEND_JOB, paused.job_id, None, 0) == (0, None)
    assert (node.alloc_cores, node.alloc_cpus, node.jobs) == (set(), 0, {paused.job_id})
    taker = running(ctl)  # the scheduler may give the same core to another job meanwhile
    assert suspend.suspend_request(ctl, RESUME_JOB, paused.job_id, None, 0) == (0, None)
    assert (node.alloc_cores, node.alloc_cpus) == ({0}, 1)  # shared, counted once
    ctl.jobs.cancel(paused)
    ctl.jobs.node_epilog_done(paused.job_id, node.name)
    assert (node.alloc_cores, node.alloc_cpus) == ({0}, 1)  # still the other job's
    ctl.jobs.cancel(taker)
    ctl.jobs.node_epilog_done(taker.job_id, node.name)
    assert (node.alloc_cores, node.alloc_cpus, node.jobs) == (set(), 0, set())


def test_a_jobs_spank_environment_cannot_reach_programs_run_as_root(ctl: Controller) -> None:
    """MailProg, PrologSlurmctld and EpilogSlurmctld run as the controller's user with the job's
    environment: a user's spank_job_env (LD_PRELOAD, PATH ...) gets SPANK_ in front, as slurmctld's
    valid_spank_job_env, and cannot replace what the controller sets (SLURM_JOB_ID ...)."""
    job = running(ctl)
    job.spank_job_env = ("LD_PRELOAD=/tmp/evil.so", "PATH=/tmp/evil", "SLURM_JOB_ID=1", "SPANK_OK=1")
    env = job_common_env(ctl, job, True)
    assert "LD_PRELOAD" not in env and "PATH" not in env
    assert env["SPANK_LD_PRELOAD"] == "/tmp/evil.so" and env["SPANK_PATH"] == "/tmp/evil"
    assert env["SPANK_OK"] == "1" and env["SLURM_JOB_ID"] == str(job.job_id)


def test_time_limit_mails_go_out_once_each(tmp_path: Path) -> None:
    now = [NOW]
    daemon = Daemon(
        parse_text(CONF + "MailProg=/bin/true\n"),
        FakeAuthenticator(),
        state_dir=tmp_path,
        clock=lambda: now[0],
    )
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]
    ctl.agent = RecordingDriver()  # type: ignore[assignment]
    sent: list[str] = []

    def spawn(coro: Any, name: str = "") -> None:
        sent.append(name)
        coro.close()

    ctl.spawn = spawn  # type: ignore[method-assign,assignment]
    try:
        job = running(ctl, time_limit=10, mail_type=mail.MAIL_JOB_TIME50 | mail.MAIL_JOB_TIME90)
        job.start_time, job.end_time = NOW, NOW + 600
        mail.time_limit_due(ctl, job, NOW + 200)
        assert sent == []
        mail.time_limit_due(ctl, job, NOW + 300)  # half of the limit used
        assert len(sent) == 1 and job.mail_type == mail.MAIL_JOB_TIME90
        subject, _ = mail.subject_and_env(ctl, job, mail.MAIL_JOB_TIME50)
        assert subject.endswith("Reached 50% of time limit, Run time 00:00:00")  # (clock still at NOW)
        mail.time_limit_due(ctl, job, NOW + 301)
        assert len(sent) == 1
        mail.time_limit_due(ctl, job, NOW + 540)
        assert len(sent) == 2 and job.mail_type == 0
    finally:
        ctl.store.close()
        ctl.signer.close()


def test_a_node_that_does_not_boot_in_time_stays_down(ctl: Controller) -> None:
    node = ctl.cluster.nodes["compute-node-1"]
    node.base_state = NodeState.IDLE
    assert reboot.reboot_request(ctl, RebootNodes("compute-node-1"), 0) == 0
    reboot.issue_due(ctl, NOW)
    reboot.issue_due(ctl, NOW + 61)
    assert node.base_state == NodeState.DOWN and not node.flags & NodeStateFlag.REBOOT_ISSUED
    assert node.reason == "reboot requested : reboot issued : reboot timed out"

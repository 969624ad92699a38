"""One simulated slurmd: its state and what it answers (sans-IO: a request in, a reply and effects out).

The answers follow slurmd 22.05's req.c, which 24.11 and 26.05 keep for these RPCs:

* REQUEST_PING 1008 and REQUEST_NODE_REGISTRATION_STATUS 1001 get RESPONSE_PING_SLURMD 1016; after 1001
  the node also sends a registration of its own (MESSAGE_NODE_REGISTRATION_STATUS, flag "answer me").
* REQUEST_BATCH_JOB_LAUNCH 4005 is answered 0 and the job "runs" for its plan's time (script.py);
  then REQUEST_COMPLETE_BATCH_SCRIPT 5018 carries its exit status to the controller.
* REQUEST_TERMINATE_JOB 6011 (and KILL_PREEMPTED): a node with nothing of that job running and no Epilog
  answers ESLURMD_KILL_JOB_ALREADY_COMPLETE 4002 and sends nothing more; otherwise it ends what runs
  (the batch script reports 5018 with SIGTERM's status), answers 0 and sends MESSAGE_EPILOG_COMPLETE 6012.
* REQUEST_KILL_TIMELIMIT 6009 is answered 0 and always followed by 6012; REQUEST_ABORT_JOB 6013 ends
  the job with no message at all.
* REQUEST_LAUNCH_PROLOG 6017 is answered 0, then REQUEST_COMPLETE_PROLOG 6018.
* Requests only root or SlurmUser may send are refused with ESLURM_USER_ID_MISSING from anyone else.
"""

from __future__ import annotations

import errno
import platform
import signal
import time
from dataclasses import dataclass, field

from bench.fleet.script import JobPlan, ScriptError, plan
from flurm.config.slurmconf import NodeConf
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    MsgType,
    SlurmRC,
)
from flurm.protocol.messages import Body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.slurmd import (
    SLURMD_REG_FLAG_RESP,
    BatchJobLaunch,
    CompleteBatchScript,
    CompleteProlog,
    EpilogComplete,
    KillJobMsg,
    LaunchProlog,
    NodeRegistrationStatus,
    PingSlurmdResponse,
)
from flurm.protocol.wire import Writer


# the GRES configuration blob of a node without GRES: u16 protocol version, u16 record count 0
def empty_gres_info(version: int) -> bytes:
    w = Writer()
    w.u16(version)
    w.u16(0)
    return w.getvalue()


@dataclass(frozen=True, slots=True)
class Send:
    """A message the node sends to the controller (``expect_reply``: it waits for the answer)."""

    msg_type: int
    body: Body
    expect_reply: bool = True
    retries: int = 0  # further attempts, 15 s apart, when the controller cannot be reached


@dataclass(frozen=True, slots=True)
class StartTimer:
    """The batch script of ``job_id`` ends after ``seconds``: call :meth:`SimNode.batch_ended`."""

    job_id: int
    seconds: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    job_id: int


@dataclass(frozen=True, slots=True)
class Register:
    """Send a registration (``wants_response``: ask for RESPONSE_NODE_REGISTRATION)."""

    wants_response: bool = True


Effect = Send | StartTimer | CancelTimer | Register


@dataclass(slots=True)
class SimJob:
    job_id: int
    uid: int
    plan: JobPlan
    step: StepId  # the batch step, as the registration lists it
    running: bool = True


# slurmstepd's retries of 5018: 240 attempts 15 s apart (mgr.c)
COMPLETE_RETRIES = 240
# what a script killed by SIGTERM reports as its wait status
SIGTERM_STATUS = int(signal.SIGTERM)


@dataclass(slots=True)
class SimNode:
    conf: NodeConf
    version: int  # the protocol version the node speaks
    release: str  # e.g. "22.05.8", sent in its registration
    conf_hash: int
    slurm_user_uid: int = 0
    has_epilog: bool = False
    default_seconds: float = 0.0
    started: int = field(default_factory=lambda: int(time.time()))
    jobs: dict[int, SimJob] = field(default_factory=dict)
    requests: dict[int, int] = field(default_factory=dict)  # msg_type -> count received

    @property
    def name(self) -> str:
        return self.conf.name

    # -- what the node sends ------------------------------------------------------------------------
    def registration(self, wants_response: bool) -> NodeRegistrationStatus:
        c = self.conf
        uname = platform.uname()
        now = int(time.time())
        return NodeRegistrationStatus(
            timestamp=now,
            slurmd_start_time=self.started,
            status=0,
            hostname=c.hostname,
            node_name=c.name,
            arch=uname.machine,
            os=f"{uname.system} {uname.release} {uname.version}",
            cpus=c.cpus,
            boards=c.boards,
            sockets=c.sockets,
            cores=c.cores_per_socket,
            threads=c.threads_per_core,
            real_memory=c.real_memory_mib,
            tmp_disk=c.tmp_disk_mib,
            up_time=max(0, now - self.started),
            hash_val=self.conf_hash,
            cpu_load=0,
            free_mem=c.real_memory_mib,
            steps=tuple(job.step for job in self.jobs.values() if job.running),
            flags=SLURMD_REG_FLAG_RESP if wants_response else 0,
            gres_info=empty_gres_info(self.version),
            version=self.release,
        )

    def _ping_reply(self) -> PingSlurmdResponse:
        node_name = self.name if self.version >= SLURM_26_05_PROTOCOL_VERSION else None
        return PingSlurmdResponse(0, self.conf.real_memory_mib, node_name)

    def _epilog(self, job_id: int) -> Send:
        return Send(MsgType.MESSAGE_EPILOG_COMPLETE, EpilogComplete(job_id, 0, self.name), expect_reply=False)

    def _complete(self, job: SimJob, wait_status: int) -> Send:
        body = CompleteBatchScript(job.job_id, wait_status, 0, job.uid, self.name)
        return Send(MsgType.REQUEST_COMPLETE_BATCH_SCRIPT, body, retries=COMPLETE_RETRIES)

    # -- what it answers -----------------------------------------------------------------------------
    def handle(self, msg_type: int, body: Body, uid: int) -> tuple[tuple[int, Body] | None, list[Effect]]:
        """(reply type and body, or None for no reply; the effects) for one request from ``uid``."""
        self.requests[msg_type] = self.requests.get(msg_type, 0) + 1
        if uid not in (0, self.slurm_user_uid):
            return _rc(SlurmRC.ESLURM_USER_ID_MISSING), []
        if msg_type == MsgType.REQUEST_PING:
            return (MsgType.RESPONSE_PING_SLURMD, self._ping_reply()), []
        if msg_type == MsgType.REQUEST_NODE_REGISTRATION_STATUS:
            return (MsgType.RESPONSE_PING_SLURMD, self._ping_reply()), [Register(True)]
        if msg_type == MsgType.REQUEST_BATCH_JOB_LAUNCH and isinstance(body, BatchJobLaunch):
            return self._launch(body)
        if msg_type in (MsgType.REQUEST_TERMINATE_JOB, MsgType.REQUEST_KILL_PREEMPTED) and isinstance(
            body, KillJobMsg
        ):
            return self._terminate(body, always_epilog=False)
        if msg_type == MsgType.REQUEST_KILL_TIMELIMIT and isinstance(body, KillJobMsg):
            return self._terminate(body, always_epilog=True)
        if msg_type == MsgType.REQUEST_ABORT_JOB and isinstance(body, KillJobMsg):
            job = self.jobs.pop(body.step_id.job_id, None)
            return _rc(0), [CancelTimer(job.job_id)] if job else []
        if msg_type == MsgType.REQUEST_LAUNCH_PROLOG and isinstance(body, LaunchProlog):
            done = CompleteProlog(body.job_id, self.name, 0)
            return _rc(0), [Send(MsgType.REQUEST_COMPLETE_PROLOG, done, retries=COMPLETE_RETRIES)]
        if msg_type in (MsgType.REQUEST_RECONFIGURE, MsgType.REQUEST_RECONFIGURE_WITH_CONFIG):
            return _rc(0), [Register(True)]
        if msg_type in _ANSWERED_ZERO:
            return _rc(0), []
        if msg_type == MsgType.REQUEST_LAUNCH_TASKS:
            return _rc(SlurmRC.ESLURM_NOT_SUPPORTED), []  # srun steps are not simulated
        return _rc(errno.EINVAL), []  # slurmd's answer to a type it does not serve

    def _launch(self, msg: BatchJobLaunch) -> tuple[tuple[int, Body], list[Effect]]:
        job_id = msg.job_id or msg.credential.step_id.job_id
        if job_id in self.jobs:
            return _rc(SlurmRC.ESLURM_DUPLICATE_JOB_ID), []
        try:
            job_plan = plan(msg.script, self.default_seconds)
        except ScriptError:
            # a script the fleet cannot read fails as a script would: it ran and exited 1
            job_plan = JobPlan(0.0, 1)
        step = StepId(job_id, SLURM_BATCH_SCRIPT, NO_VAL, msg.credential.step_id.sluid)
        uid = msg.uid or msg.credential.uid
        self.jobs[job_id] = SimJob(job_id, uid, job_plan, step)
        return _rc(0), [StartTimer(job_id, job_plan.seconds)]

    def batch_ended(self, job_id: int) -> list[Effect]:
        """The batch script of ``job_id`` reached the end of its plan."""
        job = self.jobs.pop(job_id, None)
        if job is None or not job.running:
            return []
        return [self._complete(job, job.plan.wait_status)]

    def _terminate(self, msg: KillJobMsg, always_epilog: bool) -> tuple[tuple[int, Body], list[Effect]]:
        job_id = msg.step_id.job_id
        if msg.step_id.step_id not in (NO_VAL, SLURM_BATCH_SCRIPT):
            return _rc(0), []  # one step of the job (the fleet runs none but the batch script)
        job = self.jobs.pop(job_id, None)
        effects: list[Effect] = []
        if job is not None:
            effects.append(CancelTimer(job_id))
            effects.append(self._complete(job, SIGTERM_STATUS))
        elif not (always_epilog or self.has_epilog):
            return _rc(SlurmRC.ESLURMD_KILL_JOB_ALREADY_COMPLETE), []
        effects.append(self._epilog(job_id))
        return _rc(0), effects


_ANSWERED_ZERO = frozenset(
    {
        MsgType.REQUEST_HEALTH_CHECK,
        MsgType.REQUEST_SIGNAL_TASKS,
        MsgType.REQUEST_TERMINATE_TASKS,
        MsgType.REQUEST_JOB_NOTIFY,
        MsgType.REQUEST_SUSPEND_INT,
        MsgType.REQUEST_SHUTDOWN,
        MsgType.REQUEST_REBOOT_NODES,
    }
)


def _rc(rc: int) -> tuple[int, Body]:
    return MsgType.RESPONSE_SLURM_RC, ReturnCode(int(rc))

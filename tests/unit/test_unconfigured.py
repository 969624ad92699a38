"""Requests for features flurm's clusters do not have, and the job, step, node and partition requests
answered with them: codecs (round trips, hostile counts) and handlers (slurmctld 22.05's return codes
and empty replies, read from proc_req.c, trigger_mgr.c, step_mgr.c, node_mgr.c, partition_mgr.c)."""

from __future__ import annotations

import asyncio
import errno
import pwd
import struct
from pathlib import Path
from typing import Any

import pytest

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import parse_text
from flurm.controller.engine import Controller
from flurm.controller.ports import NoAccountingPolicy
from flurm.controller.steps import JobSteps, Step
from flurm.modes import Mode
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    JobState,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import Frame, Header
from flurm.protocol.limits import BodyLimits
from flurm.protocol.messages import Body, decode_body, encode_body
from flurm.protocol.messages.common import Empty, ReturnCode, ReturnCodeMsg
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.crontab import CrontabRequest
from flurm.protocol.messages.dbd_assoc import AccountingUpdate, QosRec, UpdateObject, UpdateType
from flurm.protocol.messages.job_lookups import (
    DeletePartitionRequest,
    FsDampeningFactorRequest,
    NodeChangeRequest,
    SbcastCredRequest,
    StepLayoutRequest,
    StepLayoutResponse,
    UpdateStepRequest,
)
from flurm.protocol.messages.persist import PERSIST_TYPE_DBD, PERSIST_TYPE_FED, PersistInitRequest, PersistRc
from flurm.protocol.messages.reports import (
    AssocMgrInfoRequest,
    BurstBufferStatusRequest,
    FrontEndInfoRequest,
    PriorityFactorsRequest,
    SharesRequest,
    TopoInfoRequest,
    UpdateFrontEndRequest,
)
from flurm.protocol.messages.steps import JobAllocInfoRequest, SrunTimeout
from flurm.protocol.messages.triggers import Trigger, TriggerMessage
from flurm.protocol.wire import DecodeError
from flurm.rpc.transport import Reply, Request
from flurm.state.model import Job

NOW = 1_795_696_400
BASE = """
ClusterName=nc
SlurmctldHost=localhost
SlurmUser=slurm
SelectType=select/cons_tres
StateSaveLocation={state}
NodeName=n[1-2] NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES State=UP
PartitionName=other Nodes=ALL State=UP
"""
NOBODY = pwd.getpwnam("nobody").pw_uid


def controller(tmp: Path, extra: str = "") -> Controller:
    return Controller(
        parse_text(BASE.format(state=tmp) + extra), FakeAuthenticator(), state_dir=tmp, clock=lambda: NOW
    )


def handle(ctl: Controller, msg_type: int, body: Body, uid: int = 0) -> Reply | None:
    frame = Frame(Header(msg_type), 101, None, encode_body(body))
    reply = ctl.handlers[msg_type](ctl, Request(msg_type, body, Identity(uid, uid), frame, ("127.0.0.1", 1)))
    if asyncio.iscoroutine(reply):
        reply = asyncio.run(reply)
    assert reply is None or isinstance(reply, Reply)
    return reply  # None for a message that gets no reply


def ask(ctl: Controller, msg_type: int, body: Body, uid: int = 0) -> Reply:
    reply = handle(ctl, msg_type, body, uid)
    assert reply is not None
    return reply


def rc(reply: Reply) -> int:
    assert isinstance(reply.body, ReturnCode | ReturnCodeMsg), reply
    return reply.body.rc


def wire(reply: Reply) -> tuple[int, bytes]:
    assert reply.body is not None
    return reply.msg_type, encode_body(reply.body)


def add_job(ctl: Controller, job_id: int, state: int, *, user: int = 0, partition: str = "debug") -> Job:
    job = Job(job_id=job_id, name="j", user_id=user, group_id=user, partition=partition)
    job.state = state
    job.end_time = NOW + 600 if state == JobState.RUNNING else 0
    ctl.cluster.jobs[job_id] = job
    return job


def add_step(job: Job, step_id: int) -> None:
    step = Step(
        step_id=step_id,
        nodes=("n1", "n2"),
        tids=((0, 1), (2,)),
        task_dist=1,
        cores=((0, 1), (0,)),
        cpu_count=3,
        cpus_per_task=1,
        mem=(0, 0),
        flags=0,
        start_time=NOW,
    )
    job.steps = JobSteps(next_step_id=step_id + 1, steps={step_id: step}).to_dict()


# -- codecs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        BurstBufferStatusRequest(("a", "b")),
        FrontEndInfoRequest(NOW),
        UpdateFrontEndRequest("fe1", 0x200, "why", 0),
        AssocMgrInfoRequest(None, 7, ("normal",), ("root", "nobody")),
        SharesRequest(("acct",), None),
        PriorityFactorsRequest((1, 2), None, "debug"),
        TriggerMessage((Trigger(0, 1, 2, "n1", 0x10, 0, 0, 0, "/bin/true"),)),
        CrontabRequest(1000),
        SbcastCredRequest(StepId(5, 0, NO_VAL), NO_VAL, NO_VAL),
        StepLayoutRequest(StepId(5, 0, NO_VAL)),
        UpdateStepRequest(5, NO_VAL, 10),
        DeletePartitionRequest("other"),
        FsDampeningFactorRequest(3),
        NodeChangeRequest(extra="NodeName=x State=FUTURE"),
    ],
)
def test_requests_round_trip(body: Body) -> None:
    for msg_type in body.MSG_TYPES:  # type: ignore[attr-defined]
        assert decode_body(msg_type, encode_body(body)) == body


def test_requests_with_no_body_and_shared_layouts() -> None:
    for t in (MsgType.REQUEST_BURST_BUFFER_INFO, MsgType.ACCOUNTING_FIRST_REG):
        assert decode_body(t, b"") == Empty()
    assert decode_body(MsgType.REQUEST_TOPO_INFO, b"") == TopoInfoRequest()
    assert decode_body(
        MsgType.REQUEST_JOB_END_TIME, encode_body(JobAllocInfoRequest(7))
    ) == JobAllocInfoRequest(7)


@pytest.mark.parametrize(
    ("msg_type", "data"),
    [
        (MsgType.REQUEST_SHARE_INFO, struct.pack(">I", 1_000_000)),  # more strings than bytes
        (MsgType.REQUEST_SHARE_INFO, struct.pack(">II", NO_VAL + 1, NO_VAL)),
        (MsgType.REQUEST_PRIORITY_FACTORS, struct.pack(">I", 0xFFFF0000)),
        (MsgType.REQUEST_ASSOC_MGR_INFO, struct.pack(">I", 2) + b"\0" * 4),
        (MsgType.REQUEST_TRIGGER_GET, struct.pack(">I", 0x7FFFFFFF)),
        (MsgType.REQUEST_FRONT_END_INFO, b"\0\0"),
        (MsgType.REQUEST_UPDATE_JOB_STEP, struct.pack(">II", 1, 2)),
    ],
)
def test_hostile_requests_are_refused_by_the_decoder(msg_type: int, data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_body(msg_type, data)


# -- empty reports ------------------------------------------------------------------------------------


def test_reports_of_features_not_configured(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    none = b"\0\0\0\0"
    assert wire(ask(ctl, MsgType.REQUEST_BURST_BUFFER_INFO, Empty())) == (
        MsgType.RESPONSE_BURST_BUFFER_INFO,
        none,
    )
    assert wire(ask(ctl, MsgType.REQUEST_BURST_BUFFER_STATUS, BurstBufferStatusRequest(()))) == (
        MsgType.RESPONSE_BURST_BUFFER_STATUS,
        none,
    )
    assert wire(ask(ctl, MsgType.REQUEST_TOPO_INFO, TopoInfoRequest())) == (MsgType.RESPONSE_TOPO_INFO, none)
    assert wire(ask(ctl, MsgType.REQUEST_FRONT_END_INFO, FrontEndInfoRequest(0))) == (
        MsgType.RESPONSE_FRONT_END_INFO,
        none + struct.pack(">q", NOW),
    )
    assert (
        rc(ask(ctl, MsgType.REQUEST_FRONT_END_INFO, FrontEndInfoRequest(1)))
        == SlurmRC.SLURM_NO_CHANGE_IN_DATA
    )
    assert wire(ask(ctl, MsgType.REQUEST_SHARE_INFO, SharesRequest(), uid=NOBODY)) == (
        MsgType.RESPONSE_SHARE_INFO,
        none + struct.pack(">IQ", NO_VAL, 0),
    )
    kind, data = wire(ask(ctl, MsgType.REQUEST_ASSOC_MGR_INFO, AssocMgrInfoRequest(flags=7)))
    assert kind == MsgType.RESPONSE_ASSOC_MGR_INFO and data.endswith(none * 3)
    assert data.startswith(struct.pack(">I", 8) + struct.pack(">I", 4) + b"cpu\0")


def test_assoc_mgr_with_private_users(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "PrivateData=users\n")
    empty = ask(ctl, MsgType.REQUEST_ASSOC_MGR_INFO, AssocMgrInfoRequest(flags=7), uid=NOBODY)
    assert (empty.msg_type, empty.body, empty.raw_body) == (MsgType.RESPONSE_ASSOC_MGR_INFO, None, b"")
    full = ask(ctl, MsgType.REQUEST_ASSOC_MGR_INFO, AssocMgrInfoRequest(flags=7))
    assert full.body is not None


def test_priority_factors_by_plugin(tmp_path: Path) -> None:
    basic = controller(tmp_path)
    assert wire(ask(basic, MsgType.REQUEST_PRIORITY_FACTORS, PriorityFactorsRequest())) == (
        MsgType.RESPONSE_PRIORITY_FACTORS,
        b"\0\0\0\0",
    )
    multi = controller(tmp_path, "PriorityType=priority/multifactor\n")
    assert wire(ask(multi, MsgType.REQUEST_PRIORITY_FACTORS, PriorityFactorsRequest())) == (
        MsgType.RESPONSE_PRIORITY_FACTORS,
        struct.pack(">I", NO_VAL),
    )


def test_reports_come_from_slurmctld_beside_it(tmp_path: Path) -> None:
    """In shadow, slurmctld's cluster may have accounting, topology, burst buffers or triggers."""
    ctl = controller(tmp_path)
    asked: list[int] = []

    async def forward(req: Request) -> Reply:
        asked.append(req.msg_type)
        return Reply(MsgType.RESPONSE_SLURM_RC, ReturnCode(0))

    def dispatch(msg_type: int, body: Body) -> Reply:
        frame = Frame(Header(msg_type), 101, None, encode_body(body))
        reply = asyncio.run(ctl.dispatch(Request(msg_type, body, Identity(0, 0), frame, ("127.0.0.1", 1))))
        assert reply is not None
        return reply

    ctl.forward = forward
    ctl.mode = Mode.SHADOW  # the mode table sends these reports to slurmctld (STATUS)
    assert rc(dispatch(MsgType.REQUEST_SHARE_INFO, SharesRequest())) == 0
    assert rc(dispatch(MsgType.REQUEST_TRIGGER_GET, TriggerMessage())) == 0
    assert asked == [MsgType.REQUEST_SHARE_INFO, MsgType.REQUEST_TRIGGER_GET]
    ctl.mode = Mode.STANDALONE  # after a takeover flurm answers itself
    assert dispatch(MsgType.REQUEST_SHARE_INFO, SharesRequest()).msg_type == MsgType.RESPONSE_SHARE_INFO


def test_front_end_update(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    body = UpdateFrontEndRequest("fe1", 0x200, "x", 0)
    assert rc(ask(ctl, MsgType.REQUEST_UPDATE_FRONT_END, body, uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert rc(ask(ctl, MsgType.REQUEST_UPDATE_FRONT_END, body)) == SlurmRC.ESLURM_INVALID_NODE_NAME


# -- triggers -----------------------------------------------------------------------------------------


def one(**fields: Any) -> TriggerMessage:
    return TriggerMessage((Trigger(**fields),))


def test_triggers(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    got = ask(ctl, MsgType.REQUEST_TRIGGER_GET, TriggerMessage(), uid=NOBODY)
    assert wire(got) == (MsgType.RESPONSE_TRIGGER_GET, b"\0\0\0\0")
    node_down = one(res_type=2, trig_type=0x2, program="/bin/true")
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_SET, node_down, uid=NOBODY)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_SET, node_down)) == SlurmRC.ESLURM_NOT_SUPPORTED
    users = controller(tmp_path, "SlurmctldParameters=allow_user_triggers\n")
    assert rc(ask(users, MsgType.REQUEST_TRIGGER_SET, node_down, uid=NOBODY)) == SlurmRC.ESLURM_NOT_SUPPORTED
    # trigger_clear on a list holding nothing
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_CLEAR, TriggerMessage())) == errno.ESRCH
    assert (
        rc(ask(ctl, MsgType.REQUEST_TRIGGER_CLEAR, one(res_type=1, res_id="0")))
        == SlurmRC.ESLURM_INVALID_JOB_ID
    )
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_CLEAR, one(res_type=1, res_id="12x"))) == errno.ESRCH
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_CLEAR, one(res_type=2))) == errno.EINVAL
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_CLEAR, one(trig_id=4), uid=NOBODY)) == errno.ESRCH
    # trigger_pull: SlurmUser only, for slurmctld/slurmdbd/database events
    ctld = one(res_type=3)
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_PULL, ctld, uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_PULL, ctld)) == 0
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_PULL, one(res_type=2))) == errno.EINVAL
    assert rc(ask(ctl, MsgType.REQUEST_TRIGGER_PULL, TriggerMessage())) == errno.ESRCH


# -- scrontab, federation, slurmdbd ----------------------------------------------------------------------


def test_scrontab(tmp_path: Path) -> None:
    off = controller(tmp_path)
    assert rc(ask(off, MsgType.REQUEST_CRONTAB, CrontabRequest(0))) == SlurmRC.SLURM_ERROR
    assert rc(ask(off, MsgType.REQUEST_UPDATE_CRONTAB, Empty())) == SlurmRC.SLURM_ERROR
    on = controller(tmp_path, "ScronParameters=enable\n")
    assert (
        rc(ask(on, MsgType.REQUEST_CRONTAB, CrontabRequest(0), uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    )
    assert rc(ask(on, MsgType.REQUEST_CRONTAB, CrontabRequest(NOBODY), uid=NOBODY)) == (
        SlurmRC.ESLURM_JOB_SCRIPT_MISSING
    )
    assert rc(ask(on, MsgType.REQUEST_UPDATE_CRONTAB, Empty(), uid=NOBODY)) == SlurmRC.ESLURM_NOT_SUPPORTED


def test_controller_and_slurmdbd_messages(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    for t in (MsgType.REQUEST_SIB_JOB_LOCK, MsgType.REQUEST_SIB_JOB_UNLOCK, MsgType.REQUEST_CTLD_MULT_MSG):
        assert rc(ask(ctl, t, Empty())) == SlurmRC.ESLURM_ACCESS_DENIED
    assert rc(ask(ctl, MsgType.ACCOUNTING_UPDATE_MSG, Empty(), uid=NOBODY)) == errno.EACCES
    assert rc(ask(ctl, MsgType.ACCOUNTING_UPDATE_MSG, AccountingUpdate())) == 0  # nothing enforced
    assert handle(ctl, MsgType.ACCOUNTING_FIRST_REG, Empty()) is None
    assert handle(ctl, MsgType.ACCOUNTING_REGISTER_CTLD, Empty(), uid=NOBODY) is None
    assert rc(ask(ctl, MsgType.REQUEST_NODE_REGISTRATION_STATUS, Empty())) == errno.EINVAL
    factor = FsDampeningFactorRequest(3)
    assert rc(ask(ctl, MsgType.REQUEST_SET_FS_DAMPENING_FACTOR, factor, uid=NOBODY)) == errno.EACCES
    assert rc(ask(ctl, MsgType.REQUEST_SET_FS_DAMPENING_FACTOR, factor)) == 0
    for t in (MsgType.REQUEST_SUBMIT_BATCH_HET_JOB, MsgType.REQUEST_HET_JOB_ALLOCATION):
        assert rc(ask(ctl, t, Empty())) == SlurmRC.ESLURM_NOT_SUPPORTED


def persist_rc(reply: Reply) -> tuple[int, str | None, int, int]:
    """(rc, comment, flags, ret_info) of a PERSIST_RC in persistent-connection framing."""
    assert reply.persistent and reply.raw_body is not None
    assert struct.unpack(">H", reply.raw_body[:2]) == (MsgType.PERSIST_RC,)
    body = decode_body(MsgType.PERSIST_RC, reply.raw_body[2:])
    assert isinstance(body, PersistRc)
    return body.rc, body.comment, body.flags, body.ret_info


def test_persistent_connection_refused_in_its_own_framing(tmp_path: Path) -> None:
    """_slurm_rpc_persist_init: PERSIST_RC (slurm_persist_make_rc_msg) in the request's version, which
    it carries as ret_info; a newer version is brought down to 22.05."""
    ctl = controller(tmp_path)
    v2108 = SLURM_21_08_PROTOCOL_VERSION
    sibling = PersistInitRequest(v2108, "other", PERSIST_TYPE_FED, 6817)
    assert persist_rc(ask(ctl, MsgType.REQUEST_PERSIST_INIT, sibling, uid=NOBODY)) == (
        SlurmRC.ESLURM_USER_ID_MISSING,
        None,
        0,
        v2108,
    )
    assert persist_rc(ask(ctl, MsgType.REQUEST_PERSIST_INIT, sibling)) == (
        SlurmRC.SLURM_ERROR,
        "no fed_mgr_fed_rec on cluster nc yet.",
        0,
        v2108,
    )
    newer = PersistInitRequest(0x2700, "other", PERSIST_TYPE_DBD, 0)
    assert persist_rc(ask(ctl, MsgType.REQUEST_PERSIST_INIT, newer)) == (
        SlurmRC.SLURM_ERROR,
        None,
        0,
        SLURM_22_05_PROTOCOL_VERSION,
    )
    reply = ask(ctl, MsgType.REQUEST_PERSIST_INIT, newer)
    assert reply.raw_body == struct.pack(">HIHiH", MsgType.PERSIST_RC, 0, 0, SlurmRC.SLURM_ERROR, 0x2600)


def test_persist_init_codec() -> None:
    init = PersistInitRequest(SLURM_22_05_PROTOCOL_VERSION, "c", PERSIST_TYPE_FED, 6817)
    assert decode_body(MsgType.REQUEST_PERSIST_INIT, encode_body(init)) == init
    with pytest.raises(DecodeError):  # older than 20.11: slurm_persist_unpack_init_req_msg refuses it
        decode_body(MsgType.REQUEST_PERSIST_INIT, struct.pack(">H", 0x2300) + b"\0" * 8)


# -- jobs and steps -------------------------------------------------------------------------------------


def test_job_end_time(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    add_job(ctl, 5, JobState.RUNNING)
    reply = ask(ctl, MsgType.REQUEST_JOB_END_TIME, JobAllocInfoRequest(5), uid=NOBODY)
    assert reply.msg_type == MsgType.SRUN_TIMEOUT
    assert reply.body == SrunTimeout(StepId(5, NO_VAL, NO_VAL), NOW + 600)
    assert rc(ask(ctl, MsgType.REQUEST_JOB_END_TIME, JobAllocInfoRequest(6))) == SlurmRC.ESLURM_INVALID_JOB_ID


def test_step_layout(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    add_step(add_job(ctl, 5, JobState.RUNNING, user=NOBODY), 0)
    add_job(ctl, 6, JobState.PENDING)
    add_job(ctl, 7, JobState.COMPLETE)
    reply = ask(ctl, MsgType.REQUEST_STEP_LAYOUT, StepLayoutRequest(StepId(5, 0, NO_VAL)), uid=NOBODY)
    assert reply.msg_type == MsgType.RESPONSE_STEP_LAYOUT
    assert isinstance(reply.body, StepLayoutResponse)
    layout = reply.body.layout
    assert (layout.node_list, layout.node_cnt, layout.task_cnt, layout.tids) == (
        "n[1-2]",
        2,
        3,
        ((0, 1), (2,)),
    )
    assert decode_body(MsgType.RESPONSE_STEP_LAYOUT, encode_body(reply.body)) == reply.body

    def layout_rc(job: int, step: int = 0) -> int:
        return rc(ask(ctl, MsgType.REQUEST_STEP_LAYOUT, StepLayoutRequest(StepId(job, step, NO_VAL))))

    assert layout_rc(5, 1) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert layout_rc(6) == SlurmRC.ESLURM_JOB_PENDING
    assert layout_rc(7) == SlurmRC.ESLURM_ALREADY_DONE
    assert layout_rc(8) == SlurmRC.ESLURM_INVALID_JOB_ID


def test_step_layout_with_private_jobs(tmp_path: Path) -> None:
    ctl = controller(tmp_path, "PrivateData=jobs\n")
    add_step(add_job(ctl, 5, JobState.RUNNING), 0)
    request = StepLayoutRequest(StepId(5, 0, NO_VAL))
    assert rc(ask(ctl, MsgType.REQUEST_STEP_LAYOUT, request, uid=NOBODY)) == SlurmRC.ESLURM_ACCESS_DENIED


def test_sbcast_credential_checks(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    add_step(add_job(ctl, 5, JobState.RUNNING), 0)

    def sbcast(job: int, step: int = NO_VAL, uid: int = 0, offset: int = NO_VAL) -> int:
        body = SbcastCredRequest(StepId(job, step, NO_VAL), NO_VAL, offset)
        return rc(ask(ctl, MsgType.REQUEST_JOB_SBCAST_CRED, body, uid=uid))

    assert sbcast(5, uid=NOBODY) == SlurmRC.ESLURM_USER_ID_MISSING
    assert sbcast(5, 3) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert sbcast(9) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert sbcast(5, offset=1) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert sbcast(5, 0) == SlurmRC.ESLURM_NOT_SUPPORTED


def test_step_time_limit(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    job = add_job(ctl, 5, JobState.RUNNING, user=NOBODY)
    add_step(job, 0)

    def update(step: int, limit: int, uid: int = NOBODY, job_id: int = 5) -> int:
        return rc(ask(ctl, MsgType.REQUEST_UPDATE_JOB_STEP, UpdateStepRequest(job_id, step, limit), uid=uid))

    assert update(0, 10, uid=NOBODY + 1) == SlurmRC.ESLURM_USER_ID_MISSING
    assert update(0, 10, job_id=9) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert update(3, 10) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert update(0, 10) == 0
    assert JobSteps.of(job).steps[0].time_limit == 10
    assert update(0, 0) == 0  # no limit given: nothing changes
    assert JobSteps.of(job).steps[0].time_limit == 10
    assert update(NO_VAL, 20, uid=0) == 0
    assert JobSteps.of(job).steps[0].time_limit == 20


# -- nodes and partitions -------------------------------------------------------------------------------


def test_dynamic_nodes(tmp_path: Path) -> None:
    ctl = controller(tmp_path)

    def create(line: str, uid: int = 0) -> Reply:
        return ask(ctl, MsgType.REQUEST_CREATE_NODE, NodeChangeRequest(extra=line), uid=uid)

    def delete(names: str, uid: int = 0) -> Reply:
        return ask(ctl, MsgType.REQUEST_DELETE_NODE, NodeChangeRequest(node_names=names), uid=uid)

    assert rc(create("NodeName=x State=FUTURE", uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    refused = create("NodeName=x CPUs=1")
    assert refused.body == ReturnCodeMsg(
        SlurmRC.ESLURM_INVALID_NODE_STATE,
        "Only State=FUTURE and State=CLOUD allowed for nodes created by scontrol",
    )
    assert rc(create("NodeName=x state=future")) == SlurmRC.ESLURM_NOT_SUPPORTED
    assert rc(create("NodeName=x State=CLOUD")) == SlurmRC.ESLURM_NOT_SUPPORTED
    assert rc(delete("n1", uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert delete("n[1-3]").body == ReturnCodeMsg(
        SlurmRC.ESLURM_INVALID_NODE_NAME, "failed to delete nodes n3"
    )
    ctl.cluster.nodes["n2"].alloc_cpus = 1
    busy = SlurmRC.ESLURM_INVALID_NODE_NAME | SlurmRC.ESLURM_NODES_BUSY
    assert delete("n[2-3]").body == ReturnCodeMsg(busy, "failed to delete nodes n[2-3]")
    assert rc(delete("n1")) == SlurmRC.ESLURM_NOT_SUPPORTED
    linear = controller(tmp_path, "SelectType=select/linear\n")
    reply = ask(linear, MsgType.REQUEST_DELETE_NODE, NodeChangeRequest(node_names="n1"))
    assert reply.body == ReturnCodeMsg(
        SlurmRC.ESLURM_ACCESS_DENIED, "Node deletion only compatible with select/cons_tres"
    )


def test_partition_deletion(tmp_path: Path) -> None:
    asyncio.run(_partition_deletion(tmp_path))  # a deletion asks for a scheduling pass


async def _partition_deletion(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    cluster = ctl.cluster

    def delete(name: str, uid: int = 0) -> int:
        return rc(ask(ctl, MsgType.REQUEST_DELETE_PARTITION, DeletePartitionRequest(name), uid=uid))

    add_job(ctl, 5, JobState.PENDING, partition="debug,other")
    add_job(ctl, 6, JobState.COMPLETE, partition="other")
    assert delete("other", uid=NOBODY) == SlurmRC.ESLURM_USER_ID_MISSING
    assert delete("nosuch") == SlurmRC.ESLURM_INVALID_PARTITION_NAME
    assert delete("other") == SlurmRC.ESLURM_PARTITION_IN_USE
    cluster.jobs[5].state = JobState.CANCELLED
    assert delete("other") == 0
    assert "other" not in cluster.partitions and cluster.last_part_update == NOW
    assert delete("debug") == 0
    assert cluster.default_partition is None and not cluster.partitions


def test_refused_submissions_are_read_whole() -> None:
    """A heterogeneous job or a crontab is refused with a reason the client prints, not cut off as an
    oversized frame: it may be as large as a batch submission."""
    limits = BodyLimits()
    batch = limits.for_type(MsgType.REQUEST_SUBMIT_BATCH_JOB)
    assert limits.for_type(MsgType.REQUEST_SUBMIT_BATCH_HET_JOB) == batch
    assert limits.for_type(MsgType.REQUEST_UPDATE_CRONTAB) == batch
    assert limits.for_type(MsgType.REQUEST_HET_JOB_ALLOCATION) == limits.for_type(
        MsgType.REQUEST_RESOURCE_ALLOCATION
    )
    for t in (MsgType.REQUEST_CREATE_NODE, MsgType.REQUEST_DELETE_NODE):
        assert limits.for_type(t) == limits.for_type(MsgType.REQUEST_UPDATE_NODE)


def test_slurmdbd_updates_reach_the_accounting_policy_from_slurmuser_only(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    heard: list[AccountingUpdate] = []

    class Policy(NoAccountingPolicy):
        def accounting_update(self, update: AccountingUpdate) -> int:
            heard.append(update)
            return 0

    ctl.acct_policy = Policy()
    update = AccountingUpdate((UpdateObject(UpdateType.SLURMDB_REMOVE_QOS, (QosRec(id=4),)),))
    assert rc(ask(ctl, MsgType.ACCOUNTING_UPDATE_MSG, update, uid=NOBODY)) == errno.EACCES
    assert heard == []

    async def as_slurmdbd() -> int:  # (a scheduling pass is asked for: the loop runs)
        return rc(ask(ctl, MsgType.ACCOUNTING_UPDATE_MSG, update))

    assert asyncio.run(as_slurmdbd()) == 0
    assert heard == [update]

"""The controller tells its AccountingSink what slurmctld tells its accounting plugin, and the slurmdbd sink
turns node events into the records slurmctld 22.05 sent (tests/golden/dbd/22.05), queued only while the
mode says flurm is the one recording."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flurm.accounting.client import RECORD_BODIES, SPOOL_VERSION, in_version
from flurm.accounting.sink import DbdAccounting
from flurm.auth.authenticator import FakeAuthenticator
from flurm.config import parse_text
from flurm.controller import node_update, reservations
from flurm.controller.engine import Controller
from flurm.controller.steps import Step
from flurm.daemon import Daemon
from flurm.modes import TRAITS, Mode
from flurm.protocol.constants import NO_VAL, MsgType, NodeState, NodeStateFlag
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    DBD_NODE_STATE_DOWN,
    DBD_NODE_STATE_UP,
    ReservationRec,
)
from flurm.protocol.messages.dbd_conn import NodeState as NodeStateMsg
from flurm.protocol.messages.dbd_jobs import (
    DbdJobComplete,
    DbdJobStart,
    DbdMultMsg,
    DbdStepComplete,
    decode_dbd_msg,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.nodes import UpdateNodeRequest
from flurm.protocol.messages.reservations import ReservationDesc
from flurm.state.model import Job, Node
from flurm.state.reservations import Reservation

NOW = 1_795_696_400
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
SlurmUser=root
NodeName=compute-node-[1-2] NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""
ACCT = "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05" / "dbd-conn1-c2s.bin"


def decode(msg: bytes, version: int) -> tuple[int, object]:
    return decode_dbd_msg(msg, version, DBD_CONN_BODIES)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def node_state_changed(self, node: Node, now: int) -> None:
        self.events.append(("node", (node.name, node.base_state, node.flags & NodeStateFlag.DRAIN)))

    def job_eligible(self, job: Job) -> None:
        self.events.append(("eligible", job.job_id))

    def job_started(self, job: Job) -> None:
        self.events.append(("started", job.job_id))

    def job_completed(self, job: Job) -> None:
        self.events.append(("completed", (job.job_id, job.base_state)))

    def job_suspended(self, job: Job) -> None:
        self.events.append(("suspended", job.job_id))

    def step_started(self, job: Job, step: Step) -> None:
        self.events.append(("step_started", (job.job_id, step.step_id)))

    def step_completed(self, job: Job, step: Step) -> None:
        self.events.append(("step_completed", (job.job_id, step.step_id)))

    def reservation_added(self, resv: Reservation) -> None:
        self.events.append(("resv_added", resv.name))

    def reservation_modified(self, resv: Reservation, previous_start: int) -> None:
        self.events.append(("resv_modified", resv.name))

    def reservation_removed(self, resv: Reservation) -> None:
        self.events.append(("resv_removed", resv.name))


def _controller(tmp_path: Path, conf: str) -> Iterator[tuple[Daemon, Controller]]:
    daemon = Daemon(parse_text(conf), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    ctl = daemon.controller
    ctl.store.open()
    ctl.schedule_soon = lambda: None  # type: ignore[method-assign]  # no event loop: no scheduling
    try:
        yield daemon, ctl
    finally:
        ctl.store.close()
        ctl.signer.close()
        if daemon.accounting is not None:
            daemon.accounting.signer.close()


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[tuple[Controller, Recorder]]:
    for daemon, ctl in _controller(tmp_path, CONF):
        assert daemon.accounting is None  # accounting_storage/none: nothing attached
        rec = Recorder()
        ctl.accounting = rec
        yield ctl, rec


@pytest.fixture
def fed(tmp_path: Path) -> Iterator[tuple[Controller, DbdAccounting]]:
    for daemon, ctl in _controller(tmp_path, CONF + ACCT):
        assert daemon.accounting is not None and ctl.accounting is daemon.accounting
        daemon.accounting.follow_mode(TRAITS[Mode.STANDALONE])
        yield ctl, daemon.accounting


def drain(ctl: Controller, name: str, reason: str, uid: int = 0) -> None:
    req = UpdateNodeRequest(node_names=name, node_state=NodeStateFlag.DRAIN, reason=reason)
    assert node_update.update_nodes(ctl, req, uid) == 0


def resume(ctl: Controller, name: str) -> None:
    ctl.agent = _Agent()  # a resume asks slurmd to register again
    assert (
        node_update.update_nodes(ctl, UpdateNodeRequest(node_names=name, node_state=NodeStateFlag.RESUME), 0)
        == 0
    )


class _Agent:
    def request_registration(self, node: Node) -> None:
        pass


def registered(ctl: Controller, name: str) -> Node:
    node = ctl.cluster.nodes[name]
    node.base_state = NodeState.IDLE
    ctl.cluster.node_changed(node)
    return node


def test_the_controller_tells_submissions_cancellations_and_node_changes(
    recorded: tuple[Controller, Recorder],
) -> None:
    ctl, rec = recorded
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")
    ctl.jobs.cancel(job)
    drain(ctl, "compute-node-2", "maint")
    assert rec.events == [
        ("eligible", job.job_id),
        ("completed", (job.job_id, 4)),  # JOB_CANCELLED
        ("node", ("compute-node-2", NodeState.UNKNOWN, NodeStateFlag.DRAIN)),
    ]


def queued(acct: DbdAccounting) -> list[tuple[int, object]]:
    """What the sink queued: decoded when it is a message of dbd_conn, else its type alone."""
    out: list[tuple[int, object]] = []
    for m in acct.spool.head(1000, 1 << 30):
        t = struct.unpack_from(">H", m)[0]
        out.append(decode(m, SPOOL_VERSION) if t in DBD_CONN_BODIES else (t, None))
    return out


def golden_node_states() -> list[NodeStateMsg]:
    data, out, i = GOLDEN.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        msg = data[i + 4 : i + 4 + n]
        i += 4 + n
        if struct.unpack_from(">H", msg)[0] == DbdMsgType.DBD_NODE_STATE:
            body = decode(msg, 0x2600)[1]
            assert isinstance(body, NodeStateMsg)
            out.append(body)
    return out


def test_node_records_are_slurmctld_s(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    up1, up2, drained, resumed = golden_node_states()
    registered(ctl, "compute-node-1")
    registered(ctl, "compute-node-2")
    ctl.cluster.node_changed(ctl.cluster.nodes["compute-node-2"])  # nothing changed: nothing recorded
    drain(ctl, "compute-node-2", "maint")
    resume(ctl, "compute-node-2")
    got = [body for _, body in queued(acct)]
    assert got == [
        NodeStateMsg("compute-node-1", DBD_NODE_STATE_UP, NOW),
        NodeStateMsg("compute-node-2", DBD_NODE_STATE_UP, NOW),
        NodeStateMsg("compute-node-2", DBD_NODE_STATE_DOWN, NOW, "maint", 0, drained.state, drained.tres_str),
        NodeStateMsg("compute-node-2", DBD_NODE_STATE_UP, NOW),
    ]
    # the same records as slurmctld's, but for the time
    for mine, theirs in zip(got, (up1, up2, drained, resumed), strict=True):
        assert isinstance(mine, NodeStateMsg)
        assert mine == NodeStateMsg(**{**_fields(theirs), "event_time": NOW})


def _fields(msg: NodeStateMsg) -> dict[str, object]:
    return {f: getattr(msg, f) for f in msg.__dataclass_fields__}


def test_cluster_tres_and_registration_are_slurmctld_s(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    tres = acct.client.cluster_tres()
    assert (tres.cluster_nodes, tres.tres_str) == ("compute-node-[1-2]", "1=4,2=2000,3=0,4=2,5=4,6=0,7=0,8=0")
    reg = acct.client.register()
    assert (reg.port, reg.dimensions, reg.flags, reg.plugin_id_select) == (ctl.port, 1, 0x80, 109)


def test_first_registration_sends_the_nodes_not_up(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    registered(ctl, "compute-node-1")
    node = ctl.cluster.nodes["compute-node-2"]
    node.base_state = NodeState.DOWN  # not through node_changed: as restored from the state
    node.reason, node.reason_uid = None, NO_VAL
    acct.spool.answered(len(acct.spool))
    acct.client.send_all(MsgType.ACCOUNTING_FIRST_REG, 1234)
    assert [body for _, body in queued(acct)] == [
        NodeStateMsg(
            "compute-node-2",
            DBD_NODE_STATE_DOWN,
            1234,
            "First Registration",
            0,
            NodeState.DOWN,
            "1=2,2=1000,5=2",
        )
    ]


def test_nothing_is_queued_while_slurmctld_records(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    acct.follow_mode(TRAITS[Mode.SHADOW])
    assert not acct.client.active
    registered(ctl, "compute-node-1")
    drain(ctl, "compute-node-1", "maint")
    assert len(acct.spool) == 0
    acct.follow_mode(TRAITS[Mode.STANDALONE])
    assert acct.client.active
    resume(ctl, "compute-node-1")
    assert [body for _, body in queued(acct)] == [NodeStateMsg("compute-node-1", DBD_NODE_STATE_UP, NOW)]


def test_a_restart_does_not_record_a_drain_again(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    node = ctl.cluster.nodes["compute-node-2"]
    node.flags |= NodeStateFlag.DRAIN  # as restored from the store
    node.reason = "maint"
    acct.restore([])
    node.base_state = NodeState.IDLE  # its slurmd registers again
    ctl.cluster.node_changed(node)
    assert len(acct.spool) == 0


def _job_records(acct: DbdAccounting) -> list[object]:
    return [decode_dbd_msg(m, SPOOL_VERSION, RECORD_BODIES)[1] for m in acct.spool.head(1000, 1 << 30)]


def test_a_26_05_slurmdbd_knows_a_job_by_its_sluid(fed: tuple[Controller, DbdAccounting]) -> None:
    """As slurmctld 26.05: the job's sluid is its db_index (until slurmdbd answered one), in its start and
    its step ids; sent to an older slurmdbd the records carry no db_index (that slurmdbd gives its own)
    and no sluid."""
    ctl, acct = fed
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")
    assert job.sluid >> 52 and job.db_index == 0  # slurmdbd has not answered: no row known
    acct.batch_step_completed(job, 0, None)
    acct.job_completed(job)
    start, step, done = _job_records(acct)
    assert isinstance(start, DbdJobStart) and (start.db_index, start.sluid) == (job.sluid, job.sluid)
    assert isinstance(step, DbdStepComplete) and (step.db_index, step.step_id.sluid) == (job.sluid, job.sluid)
    assert isinstance(done, DbdJobComplete) and done.db_index == job.sluid
    for older in (0x2A00, 0x2600):
        for record in acct.spool.head(1000, 1 << 30):
            body = decode_dbd_msg(in_version(record, SPOOL_VERSION, older), older, RECORD_BODIES)[1]
            assert isinstance(body, DbdJobStart | DbdStepComplete | DbdJobComplete) and body.db_index == 0
            if isinstance(body, DbdStepComplete):
                assert body.step_id.sluid == 0


def test_a_db_index_slurmdbd_answered_is_kept(fed: tuple[Controller, DbdAccounting]) -> None:
    ctl, acct = fed
    job, _ = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")
    job.db_index = 7  # an older slurmdbd's DBD_ID_RC
    acct.job_completed(job)
    done = _job_records(acct)[-1]
    assert isinstance(done, DbdJobComplete) and done.db_index == 7
    older = decode_dbd_msg(
        in_version(acct.spool.head(9, 1 << 30)[-1], SPOOL_VERSION, 0x2A00), 0x2A00, RECORD_BODIES
    )
    assert isinstance(older[1], DbdJobComplete) and older[1].db_index == 7


def golden_resv_records() -> list[tuple[int, ReservationRec]]:
    data, out, i = GOLDEN.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        msg = data[i + 4 : i + 4 + n]
        i += 4 + n
        if struct.unpack_from(">H", msg)[0] != DbdMsgType.DBD_SEND_MULT_MSG:
            continue
        mult = decode_dbd_msg(msg, 0x2600)[1]
        assert isinstance(mult, DbdMultMsg)
        for inner in mult.messages or ():
            t = struct.unpack_from(">H", inner)[0]
            if t in (DbdMsgType.DBD_ADD_RESV, DbdMsgType.DBD_MODIFY_RESV, DbdMsgType.DBD_REMOVE_RESV):
                rec = decode(inner, 0x2600)[1]
                assert isinstance(rec, ReservationRec)
                out.append((t, rec))
    return out


def test_reservation_records_are_slurmctld_s(fed: tuple[Controller, DbdAccounting]) -> None:
    """The capture's r1 (Nodes=compute-node-1 Users=root, an hour from now for an hour, then two hours,
    then deleted): the same records but for the times and the association ids (the cache's)."""
    ctl, acct = fed
    (_, add), (_, mod), (_, rem) = golden_resv_records()
    start = NOW + 3600

    async def run() -> None:
        base = ReservationDesc(
            name="r1", start_time=start, duration=60, node_list="compute-node-1", users="root"
        )
        await reservations.create(ctl, base, 0)
        await reservations.update(ctl, ReservationDesc(name="r1", duration=120), 0)
        await reservations.delete(ctl, "r1", 0)

    asyncio.run(run())
    got = [(t, rec) for t, rec in queued(acct)]
    assert [t for t, _ in got] == [
        DbdMsgType.DBD_ADD_RESV,
        DbdMsgType.DBD_MODIFY_RESV,
        DbdMsgType.DBD_REMOVE_RESV,
    ]

    def shifted(theirs: ReservationRec, **times: int) -> ReservationRec:
        return replace(theirs, assocs=None, **times)

    assert got[0][1] == shifted(add, time_start=start, time_end=start + 3600)
    assert got[1][1] == shifted(mod, time_start=start, time_end=start + 7200, time_start_prev=start)
    assert got[2][1] == shifted(rem, time_start=start, time_end=NOW, time_start_prev=NOW)


def test_first_registration_sends_the_jobs_slurmdbd_has_no_row_of_and_every_reservation(
    fed: tuple[Controller, DbdAccounting],
) -> None:
    ctl, acct = fed
    held = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")[0]
    known = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")[0]
    known.db_index = 7
    gone = ctl.jobs.create(JobDesc(script="#!/bin/sh\ntrue\n", priority=0), 1000, 1000, "localhost")[0]
    ctl.jobs.cancel(gone)

    async def resv() -> None:
        desc = ReservationDesc(
            name="r1", start_time=NOW + 60, duration=60, node_list="compute-node-1", users="root"
        )
        await reservations.create(ctl, desc, 0)

    asyncio.run(resv())
    acct.spool.answered(len(acct.spool))
    acct.client.send_all(MsgType.ACCOUNTING_FIRST_REG, NOW)
    got = queued(acct)
    assert [t for t, _ in got] == [DbdMsgType.DBD_JOB_START, DbdMsgType.DBD_ADD_RESV]
    start = decode_dbd_msg(acct.spool.head(1, 1 << 20)[0], SPOOL_VERSION)[1]
    assert isinstance(start, DbdJobStart) and start.job_id == held.job_id
    acct.spool.answered(len(acct.spool))
    acct.client.send_all(MsgType.ACCOUNTING_TRES_CHANGE_DB, NOW)  # the TRES alone: the nodes only
    assert queued(acct) == []

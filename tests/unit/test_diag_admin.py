"""sdiag's counters and codec, scontrol setdebug/setdebugflags/schedloglevel/reconfigure/takeover/shutdown."""

from __future__ import annotations

import asyncio
import errno
import logging
import pwd
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import load, parse_text
from flurm.controller import reconfig
from flurm.controller.diag import RPC_USER_SIZE, DiagStats
from flurm.controller.engine import Controller
from flurm.controller.handlers import HANDLERS, admin_ctl
from flurm.controller.log_settings import LogSettings, clamp, python_level
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.common import Empty, ReturnCode, ReturnCodeMsg, ShutdownRequest
from flurm.protocol.messages.config_info import BuildInfo
from flurm.protocol.messages.control import ControlStatus
from flurm.protocol.messages.debug import SetDebugFlags, SetDebugLevel
from flurm.protocol.messages.job_control import LastUpdateRequest
from flurm.protocol.messages.stats import (
    STAT_COMMAND_GET,
    STAT_COMMAND_RESET,
    ControllerCounters,
    PendingRpc,
    RpcCount,
    StatsInfoRequest,
    StatsInfoResponse,
)
from flurm.rpc.transport import Reply, Request
from flurm.scheduler.scheduler import CycleCounts
from flurm.state.cluster import Allocation
from flurm.state.model import Job, Node
from flurm.state.tasks import TaskSet

NOW = 1_795_696_400
NOBODY = pwd.getpwnam("nobody").pw_uid
BASE = """\
ClusterName=diag
SlurmctldHost=localhost
SlurmUser=root
StateSaveLocation={state}
NodeName=n[1-2] NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=60 State=UP
"""


# -- codecs -----------------------------------------------------------------------------------------


def test_stats_request_and_reset_answer_layout() -> None:
    assert encode_body(StatsInfoRequest(STAT_COMMAND_RESET)) == b"\x00\x00"
    assert decode_body(MsgType.REQUEST_STATS_INFO, b"\x00\x01") == StatsInfoRequest(STAT_COMMAND_GET)
    # a reset's answer: parts_packed 0, no RPC type, root's row alone, no pending RPC
    raw = encode_body(StatsInfoResponse(None, (), (RpcCount(0, 0, 0),)))
    u32 = struct.Struct(">I").pack
    assert raw == (
        u32(0)  # parts_packed
        + u32(0)
        + u32(0)
        + u32(0)
        + u32(0)  # rpc_type_size, ids (u16 array), counts, times
        + u32(1)
        + u32(1)
        + u32(0)
        + u32(1)
        + u32(0)
        + u32(1)
        + b"\0" * 8  # users: root
        + u32(0) * 4  # queued types and counts, dumped types and hostlists
    )
    assert decode_body(MsgType.RESPONSE_STATS_INFO, raw) == StatsInfoResponse(None, (), (RpcCount(0, 0, 0),))


def test_stats_response_round_trip() -> None:
    counters = ControllerCounters(
        req_time=NOW, req_time_start=NOW - 60, server_thread_count=2, jobs_submitted=3, bf_cycle_sum=1 << 40
    )
    body = StatsInfoResponse(
        counters,
        (RpcCount(MsgType.REQUEST_JOB_INFO, 5, 1234), RpcCount(MsgType.REQUEST_PING, 1, 7)),
        (RpcCount(0, 4, 1000), RpcCount(NOBODY, 2, 241)),
        (RpcCount(MsgType.REQUEST_SHUTDOWN, 1, 0),),
        (PendingRpc(MsgType.REQUEST_SHUTDOWN, "n[1-2]"),),
    )
    raw = encode_body(body)
    # parts_packed, two times, then 13 u32 counters: the counters part is 4 + 16 + 52 + ... bytes long
    assert raw[:4] == b"\x00\x00\x00\x01" and struct.unpack(">q", raw[4:12])[0] == NOW
    assert decode_body(MsgType.RESPONSE_STATS_INFO, raw) == body


def test_debug_and_control_codecs() -> None:
    assert encode_body(SetDebugLevel(7)) == b"\x00\x00\x00\x07"
    assert decode_body(MsgType.REQUEST_SET_SCHEDLOG_LEVEL, b"\x00\x00\x00\x01") == SetDebugLevel(1)
    raw = encode_body(SetDebugFlags(1 << 12, 1 << 1))
    assert raw == struct.pack(">QQ", 1 << 12, 1 << 1)
    assert decode_body(MsgType.REQUEST_SET_DEBUG_FLAGS, raw) == SetDebugFlags(1 << 12, 1 << 1)
    assert encode_body(ControlStatus(1, NOW)) == b"\x00\x01" + struct.pack(">q", NOW)
    assert decode_body(MsgType.REQUEST_CONTROL_STATUS, b"") == Empty()


# -- the counters -----------------------------------------------------------------------------------


def job(job_id: int) -> Job:
    return Job(job_id=job_id, name="j", user_id=0, group_id=0, partition="debug")


def test_rpc_counts_per_type_and_user_root_first() -> None:
    stats = DiagStats(lambda: NOW)
    stats.observe_rpc(MsgType.REQUEST_JOB_INFO, NOBODY, 0.002, True)
    stats.observe_rpc(MsgType.REQUEST_PING, 0, 0.001, True)
    stats.observe_rpc(MsgType.REQUEST_JOB_INFO, NOBODY, 0.0005, False)
    by_type, by_user = stats.rpc_rows()
    assert by_type == (RpcCount(MsgType.REQUEST_JOB_INFO, 2, 2500), RpcCount(MsgType.REQUEST_PING, 1, 1000))
    assert by_user == (RpcCount(0, 1, 1000), RpcCount(NOBODY, 2, 2500))
    stats.reset()
    assert stats.rpc_rows() == ((), (RpcCount(0, 0, 0),))  # root's row stays, as slurmctld packs it
    for uid in range(1, 1000):
        stats.observe_rpc(MsgType.REQUEST_PING, uid, 0.0, True)
    by_type, by_user = stats.rpc_rows()
    assert len(by_user) == RPC_USER_SIZE and by_type == (RpcCount(MsgType.REQUEST_PING, 999, 0),)


def test_job_counts_and_cycles() -> None:
    t = [NOW]
    stats = DiagStats(lambda: t[0])
    stats.count("submitted", 4)
    stats.count("started")
    stats.count("completed")
    stats.count("canceled")
    stats.observe_pass(CycleCounts(main=True, queue_len=3, depth=2), 0.000250)
    stats.observe_pass(CycleCounts(main=True, queue_len=1, depth=1), 0.000100)
    stats.observe_pass(CycleCounts(backfill=True, bf_queue_len=2, bf_depth=2, backfilled=1), 0.0004)
    array = job(1)
    array.array_job_id = 1
    array.array_task_pending = TaskSet.of([3, 4, 5])
    running = job(2)
    running.state = 1  # RUNNING
    stats.tick(NOW + 1, [array, running, job(3)])
    stats.tick(NOW + 30, [])  # counted again only JOB_COUNT_INTERVAL later
    t[0] = NOW + 30
    c = stats.response(server_threads=2).counters
    assert c is not None
    assert (c.req_time, c.req_time_start, c.server_thread_count) == (NOW + 30, NOW, 2)
    assert (c.jobs_submitted, c.jobs_started, c.jobs_completed, c.jobs_canceled, c.jobs_failed) == (
        4,
        1,
        1,
        1,
        0,
    )
    assert (c.jobs_pending, c.jobs_running, c.job_states_ts) == (4, 1, NOW + 1)  # each pending task counts
    assert (c.schedule_cycle_counter, c.schedule_cycle_last, c.schedule_cycle_max) == (2, 100, 250)
    assert (c.schedule_cycle_sum, c.schedule_cycle_depth, c.schedule_queue_len) == (350, 3, 1)
    assert (c.bf_cycle_counter, c.bf_cycle_last, c.bf_queue_len, c.bf_last_depth) == (1, 400, 2, 2)
    assert (c.bf_backfilled_jobs, c.bf_when_last_cycle) == (1, NOW)
    stats.reset()
    stats.tick(NOW + 31, [])
    c = stats.response(server_threads=1).counters
    assert c is not None and (c.jobs_submitted, c.schedule_cycle_counter, c.bf_backfilled_jobs) == (0, 0, 0)
    assert c.req_time_start == NOW + 30 and (c.jobs_pending, c.job_states_ts) == (0, NOW + 31)


# -- DebugFlags and log levels ----------------------------------------------------------------------


def test_log_levels() -> None:
    assert clamp(42) == 9 and clamp(-1) == 0
    assert python_level(2) == logging.ERROR and python_level(3) == logging.INFO
    assert python_level(6) == logging.DEBUG and python_level(0) > logging.CRITICAL


# -- handlers ---------------------------------------------------------------------------------------


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    conf = tmp_path / "slurm.conf"
    conf.write_text(BASE.format(state=tmp_path) + "DebugFlags=Steps\n")
    c = Controller(load(conf), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    flurm_log = logging.getLogger("flurm")
    level = flurm_log.level
    yield c
    flurm_log.setLevel(level)
    c.signer.close()


def ask(ctl: Controller, msg_type: int, body: Body, uid: int = 0) -> Reply:
    frame = Frame(Header(msg_type), 101, None, encode_body(body))
    req = Request(msg_type, body, Identity(uid, uid), frame, ("x", 1))

    async def on_the_loop() -> object:  # a handler may ask for a scheduling pass
        return HANDLERS[msg_type](ctl, req)

    result = asyncio.run(on_the_loop())
    assert isinstance(result, Reply)
    return result


def rc(reply: Reply) -> int:
    assert isinstance(reply.body, (ReturnCode, ReturnCodeMsg)), reply
    return reply.body.rc


def test_operator_only_with_slurmctlds_refusals(ctl: Controller) -> None:
    refusals: dict[int, tuple[Body, int]] = {
        MsgType.REQUEST_SET_DEBUG_LEVEL: (SetDebugLevel(7), errno.EACCES),
        MsgType.REQUEST_SET_DEBUG_FLAGS: (SetDebugFlags(0, 1), errno.EACCES),
        MsgType.REQUEST_SET_SCHEDLOG_LEVEL: (SetDebugLevel(1), errno.EACCES),
        MsgType.REQUEST_RECONFIGURE: (Empty(), SlurmRC.ESLURM_USER_ID_MISSING),
        MsgType.REQUEST_TAKEOVER: (Empty(), SlurmRC.ESLURM_USER_ID_MISSING),
        MsgType.REQUEST_STATS_INFO: (StatsInfoRequest(STAT_COMMAND_RESET), SlurmRC.ESLURM_ACCESS_DENIED),
    }
    for msg_type, (body, refusal) in refusals.items():
        assert rc(ask(ctl, msg_type, body, NOBODY)) == refusal, msg_type
    assert ctl.log_settings.debug_flags == 1 << 1 and ctl.log_settings.slurmctld_debug == 3
    assert (
        ask(ctl, MsgType.REQUEST_STATS_INFO, StatsInfoRequest(), NOBODY).msg_type
        == MsgType.RESPONSE_STATS_INFO
    )


def test_shutdown_refused_to_others_and_stops_for_operators(ctl: Controller) -> None:
    stopped: list[int] = []

    def shutdown(uid: int, body: Body, msg_type: int = MsgType.REQUEST_SHUTDOWN) -> Reply:
        frame = Frame(Header(msg_type), 101, None, encode_body(body))
        req = Request(msg_type, body, Identity(uid, uid), frame, ("x", 1))
        ctl.stop_requested.clear()
        reply = asyncio.run(admin_ctl.shutdown(ctl, req))
        if ctl.stop_requested.is_set():
            stopped.append(msg_type)
        return reply

    agent = NodesSeen()
    ctl.agent = agent  # type: ignore[assignment]  # the part of the driver these handlers use
    controller_only = ShutdownRequest(admin_ctl.SHUTDOWN_CTLD)
    assert rc(shutdown(NOBODY, controller_only)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert rc(shutdown(NOBODY, Empty(), MsgType.REQUEST_CONTROL)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert not stopped
    assert rc(shutdown(0, controller_only)) == 0 and agent.told == []
    assert rc(shutdown(0, Empty(), MsgType.REQUEST_CONTROL)) == 0 and agent.told == []
    assert rc(shutdown(0, ShutdownRequest(admin_ctl.SHUTDOWN_ALL))) == 0
    assert agent.told == [MsgType.REQUEST_SHUTDOWN]  # the slurmd nodes are told first
    assert stopped == [MsgType.REQUEST_SHUTDOWN, MsgType.REQUEST_CONTROL, MsgType.REQUEST_SHUTDOWN]


def test_setdebug_and_flags(ctl: Controller) -> None:
    assert rc(ask(ctl, MsgType.REQUEST_SET_DEBUG_LEVEL, SetDebugLevel(6))) == 0
    assert ctl.log_settings.slurmctld_debug == 6
    assert logging.getLogger("flurm.controller").getEffectiveLevel() == logging.DEBUG
    assert rc(ask(ctl, MsgType.REQUEST_SET_DEBUG_LEVEL, SetDebugLevel(99))) == 0
    assert ctl.log_settings.slurmctld_debug == 9  # clamped as slurmctld does
    assert rc(ask(ctl, MsgType.REQUEST_SET_DEBUG_FLAGS, SetDebugFlags(1 << 1, 1 << 12))) == 0
    assert ctl.log_settings.debug_flags == 1 << 12  # Steps off, Backfill on
    # no SlurmSchedLogFile: slurmctld answers "Requested operation is presently disabled"
    assert rc(ask(ctl, MsgType.REQUEST_SET_SCHEDLOG_LEVEL, SetDebugLevel(1))) == SlurmRC.ESLURM_DISABLED
    # scontrol show config reports them, and a client's cached copy is out of date
    ctl.started_at = NOW - 100
    shown = ask(ctl, MsgType.REQUEST_BUILD_INFO, LastUpdateRequest(NOW - 50)).body
    assert isinstance(shown, BuildInfo)
    assert (shown.debug_flags, shown.slurmctld_debug, shown.sched_log_level) == (1 << 12, 9, 0)


def test_log_settings_from_config(ctl: Controller) -> None:
    text = (
        BASE.format(state="/tmp")
        + "SlurmctldDebug=debug3\nSlurmSchedLogFile=/tmp/s.log\nDebugFlags=Steps,NET\n"
    )
    assert LogSettings.from_config(parse_text(text)) == LogSettings(7, (1 << 1) | (1 << 10), 0, "/tmp/s.log")
    ctl.log_settings = LogSettings.from_config(parse_text(text))
    assert rc(ask(ctl, MsgType.REQUEST_SET_SCHEDLOG_LEVEL, SetDebugLevel(5))) == 0
    assert ctl.log_settings.sched_log_level == 1  # clamped to 0..1 as slurmctld does


# -- reconfigure ------------------------------------------------------------------------------------


class NodesSeen:
    """The node driver's part reconfigure and shutdown use, recording what they asked."""

    def __init__(self) -> None:
        self.registrations: list[str] = []
        self.told: list[int] = []

    def request_registration(self, node: Node) -> None:
        self.registrations.append(node.name)

    async def tell_all_nodes(self, msg_type: int, body: Body) -> None:
        self.told.append(msg_type)


def test_reconfigure_adds_and_changes_without_touching_jobs(ctl: Controller, tmp_path: Path) -> None:
    cluster = ctl.cluster
    running = job(7)
    running.state = 1
    cluster.jobs[7] = running
    cluster.start_job(running, Allocation(("n2",), ((0,),), (1,), (0,)), NOW)
    cluster.nodes["n1"].reason = "kept at run time"
    conf = tmp_path / "slurm.conf"
    conf.write_text(
        BASE.format(state=tmp_path)
        .replace("NodeName=n[1-2]", "NodeName=n[0-2]")
        .replace("MaxTime=60", "MaxTime=30")
        + "PartitionName=extra Nodes=n1 MaxTime=5\n"
    )
    agent = NodesSeen()
    ctl.agent = agent  # type: ignore[assignment]  # the part of the driver these handlers use
    assert rc(ask(ctl, MsgType.REQUEST_RECONFIGURE, Empty())) == 0
    assert [n.name for n in cluster.node_list] == ["n0", "n1", "n2"]
    assert [n.index for n in cluster.node_list] == [0, 1, 2]
    assert cluster.nodes["n1"].reason == "kept at run time"
    assert cluster.nodes["n2"].jobs == {7} and cluster.nodes["n2"].alloc_cpus == 1
    assert agent.registrations == ["n0"] and agent.told == [MsgType.REQUEST_RECONFIGURE]
    assert cluster.partitions["debug"].max_time == 30 and cluster.partitions["extra"].nodes == ("n1",)
    assert cluster.partitions["debug"].nodes == ("n0", "n1", "n2")
    assert running.is_running() and running.nodes == ("n2",)
    assert ctl.config.partitions[1].name == "extra"


def test_reconfigure_keeps_a_busy_node_and_refuses_a_bad_file(ctl: Controller, tmp_path: Path) -> None:
    cluster = ctl.cluster
    running = job(7)
    cluster.jobs[7] = running
    cluster.start_job(running, Allocation(("n2",), ((0,),), (1,), (0,)), NOW)
    conf = tmp_path / "slurm.conf"
    conf.write_text(BASE.format(state=tmp_path).replace("NodeName=n[1-2]", "NodeName=n1"))
    changes = reconfig.apply_to_cluster(cluster, load(conf))
    assert changes.nodes_kept == ["n2"] and sorted(cluster.nodes) == ["n1", "n2"]
    before = ctl.config
    conf.write_text(BASE.format(state=tmp_path) + "NodeName=n9 CPUs=lots\n")
    reply = ask(ctl, MsgType.REQUEST_RECONFIGURE, Empty())
    assert isinstance(reply.body, ReturnCodeMsg) and reply.body.rc == SlurmRC.SLURM_ERROR
    assert reply.body.message is not None and 'CPUs value "lots"' in reply.body.message
    assert ctl.config is before


# -- slurm.conf points reconfigure relies on -----------------------------------------------------------


def test_repeated_key_across_an_include_last_wins(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    main = tmp_path / "slurm.conf"
    main.write_text("ClusterName=c\nSlurmctldHost=h\nMessageTimeout=11\nInclude sub/more.conf\n")
    (tmp_path / "sub" / "more.conf").write_text("MessageTimeout=22\nInclude last.conf\n")
    (tmp_path / "sub" / "last.conf").write_text("messagetimeout=33\n")  # relative to sub/, its includer
    assert load(main).message_timeout == 33
    main.write_text(main.read_text() + "MessageTimeout=44\n")
    assert load(main).message_timeout == 44

"""The reports and operator bodies of SLURM 24.11 and 26.05 (sdiag, topology, sshare, sprio, strigger,
assoc_mgr, burst buffers, federation, top, notify, requeue, suspend, step updates, debug levels,
reservation requests, partition deletion) against what each release's client and slurmctld put on the
wire, and what flurm answers in each release."""

from __future__ import annotations

import errno
import struct
from pathlib import Path

import pytest
from test_reservations import T0, create, make_cluster, refused
from test_unconfigured import NOBODY, ask, controller, handle, rc, wire

from flurm.controller.reservations import record
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import Frame, Header, decode_frame
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.common import Opaque, ReturnCode
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_lookups import ContainerIdRequest, UpdateStepRequest
from flurm.protocol.messages.jobctl import JobNotify, SuspendRequest, TopJobRequest
from flurm.protocol.messages.reports import (
    FLAT_TOPOLOGY_CONFIG,
    HostlistExpansion,
    PriorityFactorsRequest,
    TopoConfigResponse,
    TopoInfoRequest,
    TopoInfoResponse,
)
from flurm.protocol.messages.reservations import ReservationDesc
from flurm.protocol.messages.slurmd import JobRequeue
from flurm.protocol.messages.stats import (
    ControllerCounters,
    RpcCount,
    RpcQueueStats,
    StatsInfoRequest,
    StatsInfoResponse,
)
from flurm.rpc.transport import Reply, Request

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}
ALL_VERSIONS = (SLURM_22_05_PROTOCOL_VERSION, *RELEASES.values())


def frames(path: Path) -> list[Frame]:
    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(decode_frame(data[i + 4 : i + 4 + n]))
        i += 4 + n
    return out


def captures() -> list[tuple[str, str]]:
    return sorted((r, p.name) for r in RELEASES for p in (GOLDEN / r / "misc").glob("*.bin"))


def body_of(release: str, name: str, side: str) -> Body:
    (f,) = frames(GOLDEN / release / "misc" / f"{name}-{side}.bin")
    assert f.version == RELEASES[release]
    return decode_body(f.msg_type, f.body, f.version)


@pytest.mark.parametrize(("release", "name"), captures())
def test_capture_round_trips(release: str, name: str) -> None:
    for f in frames(GOLDEN / release / "misc" / name):
        assert f.version == RELEASES[release]
        body = decode_body(f.msg_type, f.body, f.version)
        assert encode_body(body, f.version) == f.body, name


@pytest.mark.parametrize("release", RELEASES)
def test_captured_requests_read_as_the_client_meant(release: str) -> None:
    v = RELEASES[release]
    top = body_of(release, "top", "c2s")
    assert isinstance(top, TopJobRequest) and top.job_id_str == "999"
    notify = body_of(release, "notify", "c2s")
    assert isinstance(notify, JobNotify) and (notify.step_id.job_id, notify.message) == (999, "hello")
    requeue = body_of(release, "requeue", "c2s")
    assert isinstance(requeue, JobRequeue) and (requeue.job_id, requeue.job_id_str) == (NO_VAL, "999")
    for name, op in (("suspend", 0), ("resume", 1)):
        sus = body_of(release, name, "c2s")
        assert isinstance(sus, SuspendRequest) and (sus.op, sus.job_id, sus.job_id_str) == (op, NO_VAL, "999")
    step = body_of(release, "update_step", "c2s")
    assert isinstance(step, UpdateStepRequest)
    assert (step.job_id, step.step_id, step.time_limit) == (999, 0, 5)
    assert body_of(release, "sprio", "c2s") == PriorityFactorsRequest()
    assert body_of(release, "topology", "c2s") == TopoInfoRequest()
    assert body_of(release, "topology", "s2c") == TopoInfoResponse()
    resv = body_of(release, "create_resv", "c2s")
    assert isinstance(resv, ReservationDesc)
    assert (resv.name, resv.node_list, resv.users, resv.node_cnt, resv.comment) == (
        "r1",
        "ALL",
        "root",
        (),
        None,
    )
    assert (resv.tres_str, resv.qos, resv.allowed_parts) == (None, None, None)
    stats = body_of(release, "sdiag", "s2c")
    assert isinstance(stats, StatsInfoResponse) and stats.counters is not None
    assert stats.counters.schedule_exit == stats.counters.bf_exit == (0,) * 6
    assert stats.rpc_queue is None and (MsgType.REQUEST_PING, 1) in {(c.key, c.count) for c in stats.by_type}
    assert body_of(release, "sdiag_reset", "s2c") == ReturnCode(0)
    if v >= SLURM_26_05_PROTOCOL_VERSION:
        assert body_of(release, "topoconf", "s2c") == TopoConfigResponse(FLAT_TOPOLOGY_CONFIG)


@pytest.mark.parametrize(
    "body",
    [
        TopJobRequest("5,6_2", 0, 5),
        SuspendRequest(1, 12, "12"),
        UpdateStepRequest(7, 2, 30),
        JobNotify(StepId(7), "hi"),
        ReservationDesc(name="r", node_cnt=(3,), comment="c", tres_str="cpu=4", qos="q", allowed_parts="p"),
        StatsInfoResponse(
            ControllerCounters(req_time=5, schedule_cycle_sum=9, schedule_exit=(1, 2, 3, 4, 5, 6)),
            (RpcCount(1008, 2, 30),),
            (RpcCount(0, 2, 30),),
            rpc_queue=RpcQueueStats((1,), (2,), (3,), (4,)),
        ),
        HostlistExpansion("n[1-3]"),
        TopoConfigResponse("x"),
    ],
)
def test_round_trip_in_each_release(body: Body) -> None:
    for v in ALL_VERSIONS:
        if v < SLURM_26_05_PROTOCOL_VERSION and isinstance(body, HostlistExpansion | TopoConfigResponse):
            continue
        again = decode_body(body.MSG_TYPES[0], encode_body(body, v), v)  # type: ignore[attr-defined]
        if v < SLURM_24_11_PROTOCOL_VERSION and isinstance(body, ReservationDesc):
            assert again == ReservationDesc(name="r", node_cnt=(3,))  # 22.05 has none of the new fields
        elif v < SLURM_24_11_PROTOCOL_VERSION and isinstance(body, StatsInfoResponse):
            assert again.counters == ControllerCounters(req_time=5, schedule_cycle_sum=9)  # type: ignore[attr-defined]
        elif v < SLURM_26_05_PROTOCOL_VERSION and isinstance(body, ReservationDesc):
            assert again == ReservationDesc(name="r", node_cnt=(3,), comment="c", tres_str="cpu=4")
        elif v >= SLURM_26_05_PROTOCOL_VERSION and isinstance(body, TopJobRequest):
            assert again == TopJobRequest("5,6_2", 0)  # 26.05 has no job id in it
        elif v >= SLURM_26_05_PROTOCOL_VERSION and isinstance(body, SuspendRequest):
            assert again == SuspendRequest(1, 12, "12", StepId(12))  # the step id kept as 26.05 sent it
        elif v >= SLURM_26_05_PROTOCOL_VERSION and isinstance(body, UpdateStepRequest):
            assert again == UpdateStepRequest(7, 2, 30, StepId(7, 2))
        else:
            assert again == body, (hex(v), again)


def test_22_05_bytes_are_unchanged() -> None:
    v = SLURM_22_05_PROTOCOL_VERSION
    assert encode_body(TopJobRequest("9"), v).hex() == "0000fffffffe000000023900"
    assert encode_body(SuspendRequest(0, 9), v).hex() == "0000" + "00000009" + "00000000"
    assert encode_body(UpdateStepRequest(9, 0, 5), v).hex() == "00000009" + "00000000" + "00000005"
    assert encode_body(PriorityFactorsRequest(), v).hex() == "fffffffefffffffe00000000"
    assert encode_body(TopoInfoResponse(), v).hex() == "00000000"
    # parts_packed 0, the RPC counts per type and per user (size and three arrays), queued and pending
    assert encode_body(StatsInfoResponse(), v).hex() == "00000000" * 13


def test_a_newer_release_takes_one_reservation_count() -> None:
    with pytest.raises(Exception, match="one"):
        encode_body(ReservationDesc(name="r", node_cnt=(2, 1)), SLURM_24_11_PROTOCOL_VERSION)


def _ask_in(tmp_path: Path, version: int, msg_type: int, body: Body, uid: int = 0, extra: str = "") -> Reply:
    ctl = controller(tmp_path, extra)
    frame = Frame(Header(msg_type, version=version), 101, None, encode_body(body, version))
    reply = ctl.handlers[msg_type](ctl, Request(msg_type, body, _identity(uid), frame, ("127.0.0.1", 1)))
    assert isinstance(reply, Reply)
    return reply


def _identity(uid: int):  # type: ignore[no-untyped-def]
    from flurm.auth.authenticator import Identity

    return Identity(uid, uid)


def test_a_reset_of_the_statistics_is_a_bare_rc_from_24_11(tmp_path: Path) -> None:
    reset = StatsInfoRequest(0)
    got = _ask_in(tmp_path, SLURM_22_05_PROTOCOL_VERSION, MsgType.REQUEST_STATS_INFO, reset)
    assert got.msg_type == MsgType.RESPONSE_STATS_INFO
    for v in RELEASES.values():
        got = _ask_in(tmp_path, v, MsgType.REQUEST_STATS_INFO, reset)
        assert (got.msg_type, got.body) == (MsgType.RESPONSE_SLURM_RC, ReturnCode(0))


def test_topology_and_its_configuration(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    assert (
        wire(ask(ctl, MsgType.REQUEST_TOPO_INFO, TopoInfoRequest("default")))[0] == MsgType.RESPONSE_TOPO_INFO
    )
    assert rc(ask(ctl, MsgType.REQUEST_TOPO_INFO, TopoInfoRequest("fat"))) == (
        SlurmRC.ESLURM_REQUESTED_TOPO_CONFIG_UNAVAILABLE
    )
    got = ask(ctl, MsgType.REQUEST_TOPO_CONFIG, TopoInfoRequest())
    assert (got.msg_type, got.body) == (
        MsgType.RESPONSE_TOPO_CONFIG,
        TopoConfigResponse(FLAT_TOPOLOGY_CONFIG),
    )


def test_hostlist_expansion_names_the_cluster_nodes(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    got = ask(ctl, MsgType.REQUEST_HOSTLIST_EXPANSION, HostlistExpansion("n2,n1"))
    assert (got.msg_type, got.body) == (MsgType.RESPONSE_HOSTLIST_EXPANSION, HostlistExpansion("n[1-2]"))
    for bad in ("n[1-3]", "n[", "other"):
        assert rc(ask(ctl, MsgType.REQUEST_HOSTLIST_EXPANSION, HostlistExpansion(bad))) == (
            SlurmRC.ESLURM_INVALID_NODE_NAME
        )
    private = controller(tmp_path, "PrivateData=nodes\n")
    assert rc(ask(private, MsgType.REQUEST_HOSTLIST_EXPANSION, HostlistExpansion("n1"), uid=65534)) == (
        SlurmRC.ESLURM_ACCESS_DENIED
    )


def test_reservations_keep_a_comment_and_refuse_what_flurm_does_not_hold() -> None:
    cluster = make_cluster()
    resv = create(cluster, name="r", node_list="n1", users="root", comment="why")
    assert resv.comment == "why"
    assert record(resv, cluster).comment == "why"
    cluster.reservations.update(ReservationDesc(name="r", comment="other"), cluster, T0)
    assert cluster.reservations.items["r"].comment == "other"
    for extra in ({"tres_str": "cpu=2"}, {"qos": "normal"}, {"allowed_parts": "debug"}):
        assert (
            refused(cluster, name="s", node_list="n2", users="root", **extra) == SlurmRC.ESLURM_NOT_SUPPORTED
        )


def test_what_24_11_added_for_features_flurm_lacks(tmp_path: Path) -> None:
    ctl = controller(tmp_path)
    opaque = Opaque(b"")
    for t in (
        MsgType.REQUEST_SET_SUSPEND_EXC_NODES,
        MsgType.REQUEST_SET_SUSPEND_EXC_PARTS,
        MsgType.REQUEST_SET_SUSPEND_EXC_STATES,
    ):
        assert rc(ask(ctl, t, opaque, uid=NOBODY)) == errno.EACCES
        assert rc(ask(ctl, t, opaque)) == SlurmRC.ESLURM_NOT_SUPPORTED
    assert handle(ctl, MsgType.REQUEST_DBD_RELAY, opaque, uid=NOBODY) is None  # no reply, as slurmctld
    assert rc(ask(ctl, MsgType.REQUEST_DBD_RELAY, opaque)) == SlurmRC.ESLURM_NOT_SUPPORTED
    assert rc(ask(ctl, MsgType.REQUEST_TLS_CERT, opaque, uid=NOBODY)) == SlurmRC.ESLURM_ACCESS_DENIED
    assert rc(ask(ctl, MsgType.REQUEST_TLS_CERT, opaque)) == SlurmRC.SLURM_ERROR
    no_job = MsgType.REQUEST_SBCAST_CRED_NO_JOB
    assert rc(ask(ctl, no_job, opaque, uid=NOBODY)) == SlurmRC.ESLURM_USER_ID_MISSING
    assert rc(ask(ctl, MsgType.REQUEST_SBCAST_CRED_NO_JOB, opaque)) == SlurmRC.ESLURM_NOT_SUPPORTED
    for cid, want in ((None, SlurmRC.ESLURM_INVALID_CONTAINER_ID), ("c1", SlurmRC.ESLURM_NOT_SUPPORTED)):
        body = ContainerIdRequest(cid, NOBODY)
        v = SLURM_24_11_PROTOCOL_VERSION
        assert decode_body(MsgType.REQUEST_STEP_BY_CONTAINER_ID, encode_body(body, v), v) == body
        assert rc(ask(ctl, MsgType.REQUEST_STEP_BY_CONTAINER_ID, body)) == want

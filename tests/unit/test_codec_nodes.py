"""Node and partition info RPCs (2007/2040/2008, 2009/2010) against bytes real SLURM 22.05 produced."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import INFINITE, NO_VAL, NO_VAL64, MsgType
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.nodes import (
    AcctGatherEnergy,
    ExtSensorsData,
    NodeInfoRequest,
    NodeInfoResponse,
    NodeInfoSingleRequest,
    NodeRecord,
    SelectNodeInfo,
)
from flurm.protocol.messages.partitions import (
    JOB_DEF_MEM_PER_GPU,
    JobDefault,
    PartitionInfoRequest,
    PartitionInfoResponse,
    PartitionRecord,
)
from flurm.protocol.wire import Bitmap, DecodeError, Reader, WireError, Writer

REPO = Path(__file__).resolve().parents[2]
CAPTURES = REPO / "tests" / "golden" / "captures"
GOLDEN = REPO / "tests" / "golden" / "slurmd"

TYPES = {
    MsgType.REQUEST_NODE_INFO,
    MsgType.REQUEST_NODE_INFO_SINGLE,
    MsgType.RESPONSE_NODE_INFO,
    MsgType.REQUEST_PARTITION_INFO,
    MsgType.RESPONSE_PARTITION_INFO,
}


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


def one_frame(path: Path) -> Frame:
    frames = frames_of(path)
    assert len(frames) == 1, path.name
    return frames[0]


def all_info_frames() -> list[tuple[str, Frame]]:
    paths = sorted((CAPTURES / "proxy").glob("*.bin")) + sorted((CAPTURES / "extra").glob("*.bin"))
    paths += sorted(GOLDEN.glob("*.bin"))
    return [(p.name, f) for p in paths for f in frames_of(p) if f.msg_type in TYPES]


def test_captures_are_there() -> None:
    # the captures are part of the test fixture: missing means failure, not skip
    assert (CAPTURES / "proxy" / "sinfo-conn2-s2c.bin").is_file()
    assert (GOLDEN / "sinfo_n_2040-c2s.bin").is_file()


def test_every_captured_info_body_round_trips() -> None:
    frames = all_info_frames()
    seen: dict[int, int] = {}
    for name, f in frames:
        body = decode_body(f.msg_type, f.body, f.version)
        assert encode_body(body, f.version) == f.body, name
        seen[f.msg_type] = seen.get(f.msg_type, 0) + 1
    # all five types are covered, 2009/2010 from squeue, sinfo and scontrol
    assert set(seen) == TYPES
    assert seen[MsgType.RESPONSE_PARTITION_INFO] >= 10
    assert seen[MsgType.RESPONSE_NODE_INFO] >= 6


def test_sinfo_node_record_values() -> None:
    f = one_frame(CAPTURES / "proxy" / "sinfo-conn2-s2c.bin")
    resp = decode_body(f.msg_type, f.body, f.version)
    assert isinstance(resp, NodeInfoResponse)
    assert len(resp.nodes) == 1
    n = resp.nodes[0]
    assert (n.name, n.node_hostname, n.node_addr, n.bcast_address, n.port) == (
        "compute-node-1",
        "localhost",
        "127.0.0.1",
        None,
        6818,
    )
    assert (n.next_state, n.node_state, n.version) == (NO_VAL, 3, "22.05.8")
    assert (n.cpus, n.boards, n.sockets, n.cores, n.threads, n.real_memory, n.tmp_disk) == (
        2,
        1,
        1,
        2,
        1,
        1000,
        0,
    )
    assert (n.owner, n.cpus_efctv, n.cpu_load, n.free_mem, n.weight, n.reason_uid) == (
        NO_VAL,
        2,
        35,
        23960,
        1,
        NO_VAL,
    )
    assert n.reason_time == 0 and n.boot_time > 1_700_000_000
    assert n.select_nodeinfo == SelectNodeInfo(109, 2, 0, "cpu=2", 2.0)
    assert n.arch == "x86_64" and n.os is not None and n.os.startswith("Linux")
    assert (n.features, n.gres, n.gres_drain, n.gres_used, n.reason) == (None, None, None, None, None)
    assert n.energy == AcctGatherEnergy()
    assert n.ext_sensors == ExtSensorsData(NO_VAL64, NO_VAL, 0, 0)
    assert n.power_cap_watts == NO_VAL
    assert n.tres_fmt_str == "cpu=2,mem=1000M,billing=2"
    # the record is all of the body after u32 count + time
    assert NodeInfoResponse.join(resp.last_update, [n.encode()]) == f.body
    assert len(n.encode()) == len(f.body) - 12


def test_sinfo_json_asks_for_detail_and_gets_gres_drain() -> None:
    req = one_frame(CAPTURES / "proxy" / "sinfo_json-conn1-c2s.bin")
    assert decode_body(req.msg_type, req.body) == NodeInfoRequest(0, 0x1B)
    resp = one_frame(CAPTURES / "proxy" / "sinfo_json-conn1-s2c.bin")
    body = decode_body(resp.msg_type, resp.body)
    assert isinstance(body, NodeInfoResponse)
    assert body.nodes[0].gres_drain == "N/A"
    assert body.nodes[0].gres_used is None


def test_partition_record_values() -> None:
    req = one_frame(CAPTURES / "proxy" / "sinfo-conn1-c2s.bin")
    assert decode_body(req.msg_type, req.body) == PartitionInfoRequest(0, 0x10)
    squeue_req = one_frame(CAPTURES / "proxy" / "squeue-conn2-c2s.bin")
    assert decode_body(squeue_req.msg_type, squeue_req.body) == PartitionInfoRequest(0, 0x11)
    f = one_frame(CAPTURES / "proxy" / "sinfo-conn1-s2c.bin")
    resp = decode_body(f.msg_type, f.body)
    assert isinstance(resp, PartitionInfoResponse)
    assert len(f.body) == 210 and len(resp.partitions) == 1
    p = resp.partitions[0]
    assert p.name == "debug"
    assert (p.max_time, p.default_time, p.max_nodes, p.min_nodes, p.total_nodes, p.total_cpus) == (
        INFINITE,
        NO_VAL,
        INFINITE,
        0,
        1,
        2,
    )
    assert (p.flags, p.max_share, p.priority_tier, p.state_up, p.suspend_time) == (1, 1, 1, 3, NO_VAL)
    assert p.nodes == "compute-node-1" and p.nodesets is None
    assert p.node_bitmap == Bitmap(1, 1)
    assert p.tres_fmt_str == "cpu=2,mem=1000M,node=1,billing=2"
    assert p.job_defaults is None
    assert p.allow_groups is None and p.deny_accounts is None
    # the dataclass defaults are exactly what slurmctld sends for this slurm.conf partition
    assert p == PartitionRecord(
        name="debug",
        total_nodes=1,
        total_cpus=2,
        flags=1,
        nodes="compute-node-1",
        node_bitmap=Bitmap(1, 1),
        tres_fmt_str="cpu=2,mem=1000M,node=1,billing=2",
    )
    assert PartitionInfoResponse.join(resp.last_update, [p.encode()]) == f.body


def test_scontrol_show_node_sends_node_info_then_partition_info() -> None:
    # scontrol 22.05.8 filters by name itself: 2007 (SHOW_LOCAL) then 2009, never 2040
    req = one_frame(GOLDEN / "scontrol_show_node_2007-c2s.bin")
    assert decode_body(req.msg_type, req.body) == NodeInfoRequest(0, 0x10)
    part = one_frame(GOLDEN / "scontrol_show_node_2009-c2s.bin")
    assert decode_body(part.msg_type, part.body) == PartitionInfoRequest(0, 0x10)
    resp = one_frame(GOLDEN / "scontrol_show_node_2007-s2c.bin")
    body = decode_body(resp.msg_type, resp.body)
    assert isinstance(body, NodeInfoResponse)
    n = body.nodes[0]
    # idle node, the port slurmctld was configured with (a capture proxy in front of slurmd)
    assert (n.name, n.node_state, n.port, n.select_nodeinfo.alloc_cpus) == ("compute-node-1", 2, 7820, 0)
    assert n.select_nodeinfo.tres_alloc_fmt_str is None


def test_sinfo_n_sends_node_info_single() -> None:
    req = one_frame(GOLDEN / "sinfo_n_2040-c2s.bin")
    assert req.msg_type == MsgType.REQUEST_NODE_INFO_SINGLE
    body = decode_body(req.msg_type, req.body)
    assert body == NodeInfoSingleRequest("compute-node-1", 0)
    assert encode_body(NodeInfoSingleRequest("compute-node-1", 0)) == req.body
    resp = one_frame(GOLDEN / "sinfo_n_2040-s2c.bin")
    assert resp.msg_type == MsgType.RESPONSE_NODE_INFO
    nodes = decode_body(resp.msg_type, resp.body)
    assert isinstance(nodes, NodeInfoResponse) and [n.name for n in nodes.nodes] == ["compute-node-1"]


def test_scontrol_show_partition_sends_partition_info() -> None:
    req = one_frame(GOLDEN / "scontrol_show_partition_2009-c2s.bin")
    assert decode_body(req.msg_type, req.body) == PartitionInfoRequest(0, 0x10)


def test_blank_record_and_job_defaults_round_trip() -> None:
    blank = NodeRecord.blank()
    raw = blank.encode()
    r = Reader(raw)
    assert NodeRecord.unpack(r, 0x2600) == blank
    r.expect_end()
    # a hidden slot: NULL name, zero config, zero ext sensors, power NO_VAL
    assert raw[:4] == b"\0\0\0\0"
    assert blank.ext_sensors == ExtSensorsData(0, 0, 0, 0) and blank.power_cap_watts == NO_VAL
    two = NodeInfoResponse(5, (NodeRecord(name="a", cpus=4, cpus_efctv=4, port=6818), blank))
    assert decode_body(MsgType.RESPONSE_NODE_INFO, encode_body(two)) == two
    part = PartitionRecord(
        name="gpu", job_defaults=(JobDefault(JOB_DEF_MEM_PER_GPU, 4096),), allow_groups="wheel"
    )
    data = encode_body(PartitionInfoResponse(7, (part,)))
    assert decode_body(MsgType.RESPONSE_PARTITION_INFO, data) == PartitionInfoResponse(7, (part,))
    # the list is u32 count then {u16 type, u64 value}
    assert data.endswith(struct.pack(">IHQ", 1, JOB_DEF_MEM_PER_GPU, 4096))
    empty = PartitionRecord(name="x", job_defaults=())
    assert encode_body(PartitionInfoResponse(0, (empty,))).endswith(b"\0\0\0\0")


@pytest.mark.parametrize(
    "path",
    [
        CAPTURES / "proxy" / "sinfo-conn2-s2c.bin",
        CAPTURES / "proxy" / "sinfo-conn1-s2c.bin",
        CAPTURES / "proxy" / "sinfo_json-conn1-c2s.bin",
        GOLDEN / "sinfo_n_2040-c2s.bin",
    ],
    ids=lambda p: p.name,
)
def test_every_prefix_is_a_decode_error(path: Path) -> None:
    f = one_frame(path)
    for n in range(len(f.body)):
        with pytest.raises(DecodeError):
            decode_body(f.msg_type, f.body[:n], f.version)
    with pytest.raises(DecodeError):
        decode_body(f.msg_type, f.body + b"\0", f.version)


def test_hostile_counts_fail_fast() -> None:
    huge = struct.pack(">Iq", 0xFFFFFFF0, 0)
    for t in (MsgType.RESPONSE_NODE_INFO, MsgType.RESPONSE_PARTITION_INFO):
        with pytest.raises(DecodeError):
            decode_body(t, huge)


def test_other_versions_are_refused() -> None:
    f = one_frame(CAPTURES / "proxy" / "sinfo-conn2-s2c.bin")
    with pytest.raises(WireError) as exc:
        decode_body(f.msg_type, f.body, 0x2500)
    assert exc.value.rc == 1005  # SLURM_PROTOCOL_VERSION_ERROR
    with pytest.raises(WireError):
        NodeRecord().pack(Writer(), 0x2500)


def test_update_node_request_round_trip() -> None:
    from flurm.protocol.constants import MsgType
    from flurm.protocol.messages import decode_body, encode_body
    from flurm.protocol.messages.nodes import UpdateNodeRequest

    msg = UpdateNodeRequest(node_names="compute-node-[1-2]", node_state=0x200, reason="maint", reason_uid=0)
    raw = encode_body(msg)
    assert decode_body(MsgType.REQUEST_UPDATE_NODE, raw) == msg
    # 9 strings (7 NULL + names + reason), 4 u32s: the 21.08+ layout scontrol sends
    assert len(raw) == 7 * 4 + (4 + 19) + (4 + 6) + 4 * 4

"""sinfo/scontrol bodies of SLURM 24.11 and 26.05 (node, partition, reservation, license info, node and
partition updates) against what each release's client and slurmctld put on the wire."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import (
    INFINITE,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.frame import Frame, decode_frame
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.licenses import LicenseInfoResponse, LicenseRecord
from flurm.protocol.messages.nodes import NodeInfoResponse, NodeRecord, SelectNodeInfo, UpdateNodeRequest
from flurm.protocol.messages.partitions import PartitionInfoResponse, PartitionRecord, UpdatePartitionRequest
from flurm.protocol.messages.reservations import ReservationInfoResponse, ReservationRecord
from flurm.protocol.wire import Bitmap

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}
NAMES = (
    "build_info",
    "node_info",
    "node_info_single",
    "partition_info",
    "reservation_info",
    "license_info",
    "ping",
    "update_node",
    "update_partition",
)
ALL_VERSIONS = (SLURM_22_05_PROTOCOL_VERSION, *RELEASES.values())


def frames(path: Path) -> list[Frame]:
    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(decode_frame(data[i + 4 : i + 4 + n]))
        i += 4 + n
    return out


def one(release: str, name: str, side: str) -> Frame:
    got = frames(GOLDEN / release / "nodeparts" / f"{name}-{side}.bin")
    assert len(got) == 1
    return got[0]


@pytest.mark.parametrize("release", RELEASES)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("side", ["c2s", "s2c"])
def test_capture_round_trips(release: str, name: str, side: str) -> None:
    f = one(release, name, side)
    assert f.version == RELEASES[release]
    body = decode_body(f.msg_type, f.body, f.version)
    assert encode_body(body, f.version) == f.body


@pytest.mark.parametrize("release", RELEASES)
def test_node_listing_of_the_release(release: str) -> None:
    f = one(release, "node_info", "s2c")
    resp = decode_body(f.msg_type, f.body, f.version)
    assert isinstance(resp, NodeInfoResponse)
    by_name = {n.name: n for n in resp.nodes}
    assert list(by_name) == ["node-1", "node-2", "node-3", "node-4"]
    assert by_name["node-1"].select_nodeinfo.alloc_cpus == 2
    assert by_name["node-2"].reason == "maint_test"
    assert by_name["node-3"].resv_name == "r1"
    # 26.05 sends a node's SuspendTime (INFINITE when none is set) and no select plugin block
    if release == "26.05":
        assert by_name["node-1"].suspend_time == INFINITE
    single = one(release, "node_info_single", "s2c")
    resp1 = decode_body(single.msg_type, single.body, single.version)
    assert isinstance(resp1, NodeInfoResponse)
    assert not resp1.hidden_map and [n.name for n in resp1.nodes] == ["node-1"]


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_hidden_slots(version: int) -> None:
    shown = NodeRecord(
        name="a", cpus=2, select_nodeinfo=SelectNodeInfo(alloc_cpus=1, tres_alloc_fmt_str="cpu=1")
    )
    resp = NodeInfoResponse(5, (NodeRecord.blank(), shown, NodeRecord.blank()))
    body = encode_body(resp, version)
    back = decode_body(MsgType.RESPONSE_NODE_INFO, body, version)
    assert isinstance(back, NodeInfoResponse)
    assert [n.name for n in back.nodes] == [None, "a", None]
    assert back.nodes[1].select_nodeinfo.alloc_cpus == 1
    if version >= SLURM_24_11_PROTOCOL_VERSION:
        # the hidden slots are a bitmap, not records
        assert body[12:16] == struct.pack(">I", 3)
        assert len(body) < len(encode_body(NodeInfoResponse(5, (shown,)), SLURM_22_05_PROTOCOL_VERSION)) + 40


@pytest.mark.parametrize("version", ALL_VERSIONS)
def test_records_round_trip_every_release(version: int) -> None:
    part = PartitionRecord(
        name="p", flags=0x1, node_bitmap=Bitmap.from_indexes(3, [0, 2]), topology_name=None
    )
    for body in (
        PartitionInfoResponse(7, (part,)),
        ReservationInfoResponse(7, (ReservationRecord(name="r", node_list="a", flags=1),)),
        LicenseInfoResponse(7, (LicenseRecord("lic", 4, 1, 0, 0),)),
        UpdateNodeRequest(node_names="a", node_state=0x200, reason="x"),
        UpdatePartitionRequest(name="p", max_time=40),
    ):
        back = decode_body(_type_of(body), encode_body(body, version), version)
        assert back == body


def _type_of(body: object) -> int:
    return {
        PartitionInfoResponse: MsgType.RESPONSE_PARTITION_INFO,
        ReservationInfoResponse: MsgType.RESPONSE_RESERVATION_INFO,
        LicenseInfoResponse: MsgType.RESPONSE_LICENSE_INFO,
        UpdateNodeRequest: MsgType.REQUEST_UPDATE_NODE,
        UpdatePartitionRequest: MsgType.REQUEST_UPDATE_PARTITION,
    }[type(body)]

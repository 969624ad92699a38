"""REQUEST_RESERVATION_INFO / RESPONSE_RESERVATION_INFO in 24.11 and 26.05: real `scontrol show reservation`
traffic of each release with its own slurmctld (tests/golden/<release>/reservations, made by
tests/golden/capture_reservations.py) decodes to what scontrol printed and encodes back to the same bytes;
each release's layout differs from the others' only where its packer says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.reservations import (
    CoreSpec,
    ReservationInfoRequest,
    ReservationInfoResponse,
    ReservationRecord,
)
from flurm.protocol.wire import Bitmap

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_real_traffic_decodes_and_encodes_back(release: str) -> None:
    version = RELEASES[release]
    d = GOLDEN / release / "reservations"
    (request,) = frames_of(d / "show_res-conn1-c2s.bin")
    (reply,) = frames_of(d / "show_res-conn1-s2c.bin")
    assert request.version == reply.version == version
    assert request.msg_type == MsgType.REQUEST_RESERVATION_INFO
    assert reply.msg_type == MsgType.RESPONSE_RESERVATION_INFO
    req = decode_body(request.msg_type, request.body, version)
    assert isinstance(req, ReservationInfoRequest) and encode_body(req, version) == request.body
    resp = decode_body(reply.msg_type, reply.body, version)
    assert isinstance(resp, ReservationInfoResponse)
    assert encode_body(resp, version) == reply.body
    shown = (d / "show_res.txt").read_text()
    by_name = {r.name: r for r in resp.records}
    assert sorted(by_name) == sorted(re.findall(r"ReservationName=(\S+)", shown))
    maint, cores = by_name["maint"], by_name["cores"]
    assert maint.comment == "disk swap" and "Comment=disk swap" in shown
    assert cores.comment is None
    assert (maint.users, maint.node_list, maint.core_cnt) == ("root", "compute-node-1", 4)
    assert cores.partition == "debug" and cores.core_spec == (CoreSpec("compute-node-1", "0-3"),)
    assert maint.resv_watts == 0  # 24.11 packs a placeholder (NO_VAL), 26.05 nothing: read as none
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        assert maint.qos is None and maint.allowed_parts is None


RECORD = ReservationRecord(
    name="r",
    resv_watts=7,
    accounts="a",
    burst_buffer="bb",
    core_cnt=2,
    end_time=200,
    flags=1,
    node_cnt=1,
    node_list="n1",
    start_time=100,
    users="root",
    node_bitmap=Bitmap(2, 1),
    comment="why",
    qos="normal",
    allowed_parts="debug",
)


@pytest.mark.parametrize(
    ("version", "kept"),
    [
        (SLURM_22_05_PROTOCOL_VERSION, {}),
        (SLURM_24_11_PROTOCOL_VERSION, {"comment": "why"}),
        (SLURM_26_05_PROTOCOL_VERSION, {"comment": "why", "qos": "normal", "allowed_parts": "debug"}),
    ],
)
def test_each_release_keeps_the_fields_it_has(version: int, kept: dict[str, str]) -> None:
    body = encode_body(ReservationInfoResponse(5, (RECORD,)), version)
    (back,) = decode_body(MsgType.RESPONSE_RESERVATION_INFO, body, version).records  # type: ignore[attr-defined]
    for name in ("comment", "qos", "allowed_parts"):
        assert getattr(back, name) == kept.get(name), name
    assert back.name == "r" and back.node_bitmap == Bitmap(2, 1) and back.users == "root"
    # 22.05 carries resv_watts as it is; 24.11 a NO_VAL placeholder; 26.05 nothing
    assert back.resv_watts == (RECORD.resv_watts if version == SLURM_22_05_PROTOCOL_VERSION else 0)

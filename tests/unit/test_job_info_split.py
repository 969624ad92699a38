"""Cutting RESPONSE_JOB_INFO bodies into records without decoding them (the mirror's fast path)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.protocol.constants import MsgType
from flurm.protocol.frame import FrameDecoder
from flurm.protocol.messages import decode_body
from flurm.protocol.messages.job_info import JobInfoResponse, decode_job_record, split_job_info
from flurm.protocol.wire import DecodeError

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "golden" / "captures"


def job_info_bodies() -> list[bytes]:
    if not CAPTURES.is_dir():
        raise RuntimeError(f"{CAPTURES} is missing: the golden captures belong to the repo")
    bodies = []
    for path in sorted(CAPTURES.glob("*/*-s2c.bin")):
        dec = FrameDecoder()
        dec.feed(path.read_bytes())
        while (frame := dec.next_frame()) is not None:
            if frame.msg_type == MsgType.RESPONSE_JOB_INFO:
                bodies.append(frame.body)
    return bodies


BODIES = job_info_bodies()


def test_captures_have_job_info_replies() -> None:
    assert len(BODIES) >= 5
    assert any(len(decode_body(MsgType.RESPONSE_JOB_INFO, b).records) >= 3 for b in BODIES)  # type: ignore[attr-defined]


@pytest.mark.parametrize("body", BODIES)
def test_split_matches_full_decode(body: bytes) -> None:
    full = decode_body(MsgType.RESPONSE_JOB_INFO, body)
    assert isinstance(full, JobInfoResponse)
    last_update, last_backfill, parts = split_job_info(body)
    assert (last_update, last_backfill) == (full.last_update, full.last_backfill)
    assert [job_id for job_id, _ in parts] == [r.job_id for r in full.records]
    assert [decode_job_record(raw) for _, raw in parts] == list(full.records)
    assert b"".join(raw for _, raw in parts) == body[20:]


@pytest.mark.parametrize("body", BODIES[:3])
def test_every_truncation_is_a_decode_error(body: bytes) -> None:
    for cut in range(len(body)):
        with pytest.raises(DecodeError):
            split_job_info(body[:cut])

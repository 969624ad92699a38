"""SRUN_REQUEST_SUSPEND 7008 carries suspend_msg_t, as REQUEST_SUSPEND 5014 does."""

from __future__ import annotations

from flurm.protocol.constants import PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.jobctl import SUSPEND_JOB, SuspendRequest


def test_srun_request_suspend_round_trip() -> None:
    body = SuspendRequest(SUSPEND_JOB, 7)
    raw = encode_body(body)
    assert raw[:6] == SUSPEND_JOB.to_bytes(2, "big") + (7).to_bytes(4, "big")
    assert decode_body(MsgType.SRUN_REQUEST_SUSPEND, raw, PROTOCOL_VERSION) == body

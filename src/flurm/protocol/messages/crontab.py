"""scrontab: REQUEST_CRONTAB 2200 (``scrontab -l``).

REQUEST_UPDATE_CRONTAB 2202 (the crontab text, a list of job descriptions, uid, gid) stays
undecoded: flurm refuses it whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import Reader, Writer


@register(MsgType.REQUEST_CRONTAB)
@dataclass(frozen=True, slots=True)
class CrontabRequest(Message):
    """2200: u32 uid (whose crontab)."""

    uid: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.uid)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32())

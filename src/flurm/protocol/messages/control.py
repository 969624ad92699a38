"""RESPONSE_CONTROL_STATUS 2054: which SlurmctldHost entry a controller is and since when it is in
charge (slurm_protocol_pack.c _pack_control_status_msg); a backup asks it of the primary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import Reader, Writer


@register(MsgType.RESPONSE_CONTROL_STATUS)
@dataclass(frozen=True, slots=True)
class ControlStatus(Message):
    """u16 index of this controller among the SlurmctldHost entries (0: primary), time it took control."""

    backup_inx: int = 0
    control_time: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.backup_inx)
        w.time(self.control_time)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16(), r.time())

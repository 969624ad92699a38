"""Event triggers (``strigger``): REQUEST_TRIGGER_SET/GET/CLEAR/PULL 2017-2019/2030 and
RESPONSE_TRIGGER_GET 2020 share one layout, trigger_info_msg_t."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import DecodeError, Reader, Writer

# trigger_info_t.res_type (slurm.h TRIGGER_RES_TYPE_*)
TRIGGER_RES_TYPE_JOB = 1
TRIGGER_RES_TYPE_NODE = 2
TRIGGER_RES_TYPE_SLURMCTLD = 3
TRIGGER_RES_TYPE_SLURMDBD = 4
TRIGGER_RES_TYPE_DATABASE = 5
_TRIGGER_MIN_SIZE = 2 + 4 + 2 + 4 + 4 + 4 + 2 + 4 + 4  # a record with NULL strings


@dataclass(frozen=True, slots=True)
class Trigger:
    """trigger_info_t: u16 flags, u32 trig_id, u16 res_type, str res_id, u32 trig_type,
    u32 control_inx, u16 offset, u32 user_id, str program."""

    flags: int = 0
    trig_id: int = 0
    res_type: int = 0
    res_id: str | None = None
    trig_type: int = 0
    control_inx: int = 0
    offset: int = 0
    user_id: int = NO_VAL
    program: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.flags)
        w.u32(self.trig_id)
        w.u16(self.res_type)
        w.string(self.res_id)
        w.u32(self.trig_type)
        w.u32(self.control_inx)
        w.u16(self.offset)
        w.u32(self.user_id)
        w.string(self.program)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16(), r.u32(), r.u16(), r.string(), r.u32(), r.u32(), r.u16(), r.u32(), r.string())


@register(
    MsgType.REQUEST_TRIGGER_SET,
    MsgType.REQUEST_TRIGGER_GET,
    MsgType.REQUEST_TRIGGER_CLEAR,
    MsgType.REQUEST_TRIGGER_PULL,
    MsgType.RESPONSE_TRIGGER_GET,
)
@dataclass(frozen=True, slots=True)
class TriggerMessage(Message):
    """trigger_info_msg_t: u32 record count, then the records (alike in 24.11 and 26.05)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    triggers: tuple[Trigger, ...] = ()

    def pack(self, w: Writer, version: int) -> None:
        w.u32(len(self.triggers))
        for t in self.triggers:
            t.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        count = r.u32()
        if count * _TRIGGER_MIN_SIZE > r.remaining:
            raise DecodeError(f"trigger message: {count} records do not fit in {r.remaining} bytes")
        return cls(tuple(Trigger.unpack(r, version) for _ in range(count)))

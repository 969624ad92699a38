"""scontrol setdebug, setschedloglevel and setdebugflags (slurm_protocol_pack.c _pack_set_debug_*_msg)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import Reader, Writer


@register(MsgType.REQUEST_SET_DEBUG_LEVEL, MsgType.REQUEST_SET_SCHEDLOG_LEVEL)
@dataclass(frozen=True, slots=True)
class SetDebugLevel(Message):
    """1010 / 1013: u32 level (SLURM's log_level_t: 0 quiet, 1 fatal, 2 error, 3 info, 4 verbose,
    5..10 debug..debug5)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in 24.11 and 26.05

    level: int = 3

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.level)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32())


@register(MsgType.REQUEST_SET_DEBUG_FLAGS)
@dataclass(frozen=True, slots=True)
class SetDebugFlags(Message):
    """1014: u64 flags to clear, u64 flags to set (DEBUG_FLAG_* bits)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)  # alike in 24.11 and 26.05

    minus: int = 0
    plus: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u64(self.minus)
        w.u64(self.plus)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u64(), r.u64())

"""Bodies shared by many RPCs: empty requests and return codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import Reader, Writer

# These bodies are the same in 24.11 and 26.05 (pack_msg: the empty requests, _pack_return_code_msg,
# _pack_return_code2_msg, _pack_shutdown_msg).
SAME_IN_NEWER: frozenset[int] = frozenset(NEWER)


@register(
    MsgType.REQUEST_PING,
    MsgType.REQUEST_FED_INFO,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_CONTROL,
    MsgType.REQUEST_RECONFIGURE,
    MsgType.REQUEST_TAKEOVER,
    MsgType.REQUEST_CONTROL_STATUS,
)
@dataclass(frozen=True, slots=True)
class Empty(Message):
    NEWER_LAYOUTS: ClassVar[frozenset[int]] = SAME_IN_NEWER

    def pack(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Opaque(Message):
    """The body of a request type flurm has no codec for, kept as it came: its handler (or the
    forwarder, which passes it to slurmctld unchanged) decides what to do with it."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = SAME_IN_NEWER

    raw: bytes = b""

    def pack(self, w: Writer, version: int) -> None:
        w.raw(self.raw)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.bytes(r.remaining))


@register(MsgType.RESPONSE_SLURM_RC, MsgType.RESPONSE_JOB_READY, MsgType.RESPONSE_PROLOG_EXECUTING)
@dataclass(frozen=True, slots=True)
class ReturnCode(Message):
    """8001 RESPONSE_SLURM_RC (and 4020/6019, same body): u32 return code."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = SAME_IN_NEWER

    rc: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.rc & 0xFFFFFFFF)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        v = r.u32()
        return cls(v - (1 << 32) if v >= 1 << 31 else v)


@register(MsgType.RESPONSE_SLURM_RC_MSG)
@dataclass(frozen=True, slots=True)
class ReturnCodeMsg(Message):
    """8002 RESPONSE_SLURM_RC_MSG: u32 return code, str message (printed by clients as `error: ...`)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = SAME_IN_NEWER

    rc: int = 0
    message: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.rc & 0xFFFFFFFF)
        w.string(self.message)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        v = r.u32()
        return cls(v - (1 << 32) if v >= 1 << 31 else v, r.string())


@register(MsgType.REQUEST_SHUTDOWN)
@dataclass(frozen=True, slots=True)
class ShutdownRequest(Message):
    """1005 REQUEST_SHUTDOWN: u16 options (0 all daemons, 1 slurmctld with a core, 2 slurmctld only)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = SAME_IN_NEWER

    options: int = 2

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.options)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16())

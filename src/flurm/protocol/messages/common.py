"""Bodies shared by many RPCs: empty requests and return codes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import Reader, Writer


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
    def pack(self, w: Writer, version: int) -> None:
        pass

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls()


@dataclass(frozen=True, slots=True)
class Opaque(Message):
    """The body of a request type flurm has no codec for, kept as it came: its handler (or the
    forwarder, which passes it to slurmctld unchanged) decides what to do with it."""

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

    options: int = 2

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.options)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16())

"""JWT requests: ``scontrol token`` asks the controller for a token (for slurmrestd-like services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import Reader, Writer


@register(MsgType.REQUEST_AUTH_TOKEN)
@dataclass(frozen=True, slots=True)
class TokenRequest(Message):
    """5039 REQUEST_AUTH_TOKEN: u32 lifespan (seconds, 0 for the default), str username (None: the caller)."""

    lifespan: int = 0
    username: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.lifespan & 0xFFFFFFFF)
        w.string(self.username)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32(), r.string())


@register(MsgType.RESPONSE_AUTH_TOKEN)
@dataclass(frozen=True, slots=True)
class TokenResponse(Message):
    """5040 RESPONSE_AUTH_TOKEN: str token (None when the controller cannot issue one)."""

    token: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.token)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())

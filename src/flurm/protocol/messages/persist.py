"""Persistent connections (slurm_persist_conn.c): REQUEST_PERSIST_INIT 6500 opens one, PERSIST_RC 1433
answers it.

The request is an ordinary message; its answer is not: on a persistent connection a message is its
u16 type and its body behind a u32 length, with no header and no credential
(slurm_persist_msg_pack and slurm_persist_send_msg), in the version the request named in its body.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self

from flurm.protocol.constants import SLURM_MIN_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import Body, Message, encode_body, register
from flurm.protocol.versions import DBD_NEWER
from flurm.protocol.wire import DecodeError, Reader, Writer

# persist_init_req_msg_t.persist_type (slurm_persist_conn.h)
PERSIST_TYPE_NONE = 0
PERSIST_TYPE_DBD = 1
PERSIST_TYPE_FED = 2
# 24.11 on: slurmdbd's connection to slurmctld's port for ACCOUNTING_UPDATE_MSG (22.05 sends each on a
# connection of its own)
PERSIST_TYPE_ACCT_UPDATE = 5


@register(MsgType.REQUEST_PERSIST_INIT)
@dataclass(frozen=True, slots=True)
class PersistInitRequest(Message):
    """6500: u16 version (always first), str cluster_name, u16 persist_type, u16 port. The body's
    version, not the header's, says which layout follows; one older than SLURM's oldest is refused."""

    NEWER_LAYOUTS = DBD_NEWER

    version: int
    cluster_name: str | None = None
    persist_type: int = PERSIST_TYPE_NONE
    port: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.version)
        w.string(self.cluster_name)
        w.u16(self.persist_type)
        w.u16(self.port)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        own_version = r.u16()
        if own_version < SLURM_MIN_PROTOCOL_VERSION:
            raise DecodeError(f"persistent connection of protocol version {own_version:#06x}")
        return cls(own_version, r.string(), r.u16(), r.u16())


@register(MsgType.PERSIST_RC)
@dataclass(frozen=True, slots=True)
class PersistRc(Message):
    """1433: str comment, u16 flags, u32 rc, u16 ret_info (the version, in answer to an init)."""

    NEWER_LAYOUTS = DBD_NEWER

    rc: int
    comment: str | None = None
    flags: int = 0
    ret_info: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.comment)
        w.u16(self.flags)
        w.u32(self.rc & 0xFFFFFFFF)
        w.u16(self.ret_info)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        comment, flags, rc = r.string(), r.u16(), r.u32()
        return cls(rc - (1 << 32) if rc >= 1 << 31 else rc, comment, flags, r.u16())


def persist_msg(msg_type: int, body: Body | bytes, version: int) -> bytes:
    """One message as a persistent connection carries it, its length not included (``body`` as an
    object, or already encoded in ``version``)."""
    raw = body if isinstance(body, bytes) else encode_body(body, version)
    return struct.pack(">H", msg_type) + raw


# what precedes a persistent message's body: its u32 length (type included) and u16 type
PERSIST_HEAD_SIZE = 6


def persist_head(head: bytes, body_limit: Callable[[int], int]) -> tuple[int, int]:
    """The message type and body length a persistent message's first :data:`PERSIST_HEAD_SIZE` bytes
    announce. DecodeError for a body larger than ``body_limit`` of its type (slurmctld closes a
    connection whose message is shorter than its type or larger than MAX_MSG_SIZE)."""
    if len(head) != PERSIST_HEAD_SIZE:
        raise DecodeError(f"persistent message head of {len(head)} bytes")
    length, msg_type = struct.unpack(">IH", head)
    if length < 2:
        raise DecodeError(f"persistent message of {length} bytes")
    if length - 2 > body_limit(msg_type):
        raise DecodeError(f"persistent message {msg_type} of {length - 2} bytes is larger than allowed")
    return msg_type, length - 2


def persist_frame(msg: bytes) -> bytes:
    """``msg`` behind its length, as it goes on the wire."""
    return struct.pack(">I", len(msg)) + msg

"""SLURM's message hash: the payload of the munge credential in every message header.

Since 22.05 (and 21.08.8 / 20.11.9) the sender puts a hash of the message body into the munge credential, so
that a credential cannot be lifted from one message and reused for another. The payload is one type byte and
the hash (slurm_protocol_api.c ``_compute_hash`` / ``_check_hash``, plugins/hash/k12):

* type 2 (K12): ``b"\\x02"`` + KangarooTwelve(body, customisation = msg_type as big-endian u16), 32 bytes.
  This is what 22.05 sends by default.
* type 1 (none): ``b"\\x01"`` + msg_type as big-endian u16 (3 bytes). Before 22.05 (protocol <= 21.08) the
  msg_type was sent in host order, so for those versions a receiver accepts either byte order, and a sender
  uses type 1 in host (little-endian) order.
* empty payload: accepted (older senders put nothing there).

The receiver recomputes the hash of the type named by the first byte. Type 0 (HASH_PLUGIN_DEFAULT) selects
K12 too, so ``b"\\x00"`` + K12 digest is accepted. Type 3 (SHA256) is declared but no plugin exists in 22.05,
so it and every other type are refused. ``CommunicationParameters=block_null_hash`` refuses the empty
payload, ``block_zero_hash`` refuses type 1.
"""

from __future__ import annotations

import struct
from enum import IntEnum

from Crypto.Hash import KangarooTwelve

from flurm.auth.errors import AuthError
from flurm.protocol.constants import PROTOCOL_VERSION, SlurmRC
from flurm.protocol.versions import hash_type1_little_endian

K12_DIGEST_SIZE = 32


class HashType(IntEnum):
    """enum hash_plugin_type (slurm.h)."""

    DEFAULT = 0
    NONE = 1
    K12 = 2
    SHA256 = 3


class HashError(AuthError):
    """The credential's hash does not match the message (SLURM: ESLURM_PROTOCOL_INCOMPLETE_PACKET)."""

    rc = SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET


def kangaroo_twelve(data: bytes, custom: bytes = b"", size: int = K12_DIGEST_SIZE) -> bytes:
    """KangarooTwelve (KT128) of ``data`` with customisation string ``custom``, ``size`` bytes."""
    return bytes(KangarooTwelve.new(data=data, custom=custom).read(size))


def k12_digest(msg_type: int, body: bytes) -> bytes:
    """The 32-byte K12 digest SLURM computes over a message body."""
    return kangaroo_twelve(body, struct.pack(">H", msg_type))


def compute_hash(
    msg_type: int,
    body: bytes,
    *,
    hash_type: HashType = HashType.K12,
    version: int = PROTOCOL_VERSION,
) -> bytes:
    """The munge payload a sender puts into the header credential of a message.

    For protocol versions up to 21.08 this is always type 1 with msg_type in host (little-endian) order,
    as SLURM does. ``hash_type`` DEFAULT means K12.
    """
    if hash_type1_little_endian(version):
        return bytes([HashType.NONE]) + struct.pack("<H", msg_type)
    if hash_type == HashType.NONE:
        return bytes([HashType.NONE]) + struct.pack(">H", msg_type)
    if hash_type in (HashType.K12, HashType.DEFAULT):
        return bytes([HashType.K12]) + k12_digest(msg_type, body)
    raise ValueError(f"SLURM 22.05 has no hash plugin of type {int(hash_type)}")


def check_hash(
    payload: bytes,
    msg_type: int,
    body: bytes,
    *,
    version: int = PROTOCOL_VERSION,
    block_null_hash: bool = False,
    block_zero_hash: bool = False,
) -> HashType:
    """Check the munge payload of a received message against its type and body.

    Returns the hash type the sender used (DEFAULT for an empty payload); SLURM answers a request with a hash
    of that same type (K12 for DEFAULT). Raises :class:`HashError` when the payload does not fit.
    """
    if not payload:
        if block_null_hash:
            raise HashError("credential carries no message hash (CommunicationParameters=block_null_hash)")
        return HashType.DEFAULT
    kind = payload[0]
    if kind == HashType.NONE:
        if block_zero_hash:
            raise HashError("credential carries a type-1 hash (CommunicationParameters=block_zero_hash)")
        if len(payload) != 3:
            raise HashError(f"type-1 hash must be 3 bytes, not {len(payload)}")
        if payload[1:] == struct.pack(">H", msg_type):
            return HashType.NONE
        if hash_type1_little_endian(version) and payload[1:] == struct.pack("<H", msg_type):
            return HashType.NONE
        raise HashError(f"type-1 hash names msg_type {payload[1:].hex()}, not {msg_type}")
    if kind in (HashType.K12, HashType.DEFAULT):
        if payload[1:] != k12_digest(msg_type, body):
            raise HashError(f"K12 hash of the body ({len(body)} bytes, msg_type {msg_type}) does not match")
        return HashType.K12
    raise HashError(f"hash type {kind} is not supported")

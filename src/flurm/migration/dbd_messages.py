"""slurmctld's unsent accounting records: ``StateSaveLocation/dbd.messages``.

slurmctld queues every record for slurmdbd in its agent (accounting_storage/slurmdbd's slurmdbd_agent.c).
When the agent stops (SIGTERM, ``scontrol shutdown``: the takeover's stop), whatever is still queued (all
of it while slurmdbd is away, else the records of the last instant) is written to this file; a slurmctld
that starts again reads it back and sends it before anything new. At a takeover flurm is that next start:
it queues these records first, so that they reach slurmdbd before its own.

The file is a run of records, each ``u32 size`` (host byte order), ``size`` bytes, ``u32 0xDEAD3219``
(host byte order). The first record is a packed string ``VER<protocol version>`` (the layout the rest is
packed in); each following one is a DBD message as it goes on the connection: ``u16 type`` (big-endian)
and its body. slurmctld never saves DBD_REGISTER_CTLD. It recreates the file, empty when nothing was
left, at each stop.
"""

from __future__ import annotations

import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from flurm.protocol.wire import DecodeError, Reader, Writer

DBD_MESSAGES_FILE = "dbd.messages"
TAKEN_SUFFIX = ".taken-by-flurm"  # what the file is renamed to once its records are flurm's
DBD_MAGIC = 0xDEAD3219
MAX_RECORD = 64 * 1024 * 1024  # a DBD_JOB_HEAVY carries a script and an environment; far below this
MAX_VERSION_STRING = 32
_ORDER = "<" if sys.byteorder == "little" else ">"
_U32 = struct.Struct(_ORDER + "I")


@dataclass(frozen=True, slots=True)
class DbdMessages:
    version: int  # the protocol version the records are packed in
    records: tuple[bytes, ...]  # each u16 DBD type + body, oldest first


def dbd_messages_path(state_dir: Path) -> Path:
    return state_dir / DBD_MESSAGES_FILE


def _records(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise DecodeError(f"dbd.messages: a record's size cut at byte {pos}")
        (size,) = _U32.unpack_from(data, pos)
        if size > MAX_RECORD:
            raise DecodeError(f"dbd.messages: a record of {size} bytes at byte {pos}")
        end = pos + 4 + size
        if len(data) < end + 4:
            raise DecodeError(f"dbd.messages: a record of {size} bytes cut at byte {pos}")
        (magic,) = _U32.unpack_from(data, end)
        if magic != DBD_MAGIC:
            raise DecodeError(f"dbd.messages: no record end mark at byte {end} ({magic:#x})")
        out.append(data[pos + 4 : end])
        pos = end + 4
    return out


def decode_dbd_messages(data: bytes) -> DbdMessages:
    """The file's records; an empty file has none (version 0). Anything malformed: DecodeError."""
    records = _records(data)
    if not records:
        return DbdMessages(0, ())
    head = Reader(records[0])
    ver = head.string()
    if ver is None or not ver.startswith("VER") or len(ver) > MAX_VERSION_STRING or not ver[3:].isdigit():
        raise DecodeError(f"dbd.messages: no version string first ({ver!r})")
    head.expect_end("dbd.messages' version string")
    messages = records[1:]
    for i, msg in enumerate(messages):
        if len(msg) < 2:
            raise DecodeError(f"dbd.messages: record {i + 1} has no message type")
    return DbdMessages(int(ver[3:]), tuple(messages))


def read_dbd_messages(state_dir: Path) -> DbdMessages | None:
    """slurmctld's saved records, or None when it left no file (blocking I/O)."""
    try:
        data = dbd_messages_path(state_dir).read_bytes()
    except FileNotFoundError:
        return None
    return decode_dbd_messages(data)


def encode_dbd_messages(version: int, records: list[bytes]) -> bytes:
    """The file as slurmctld writes it (for tests, and to put records back)."""
    ver = Writer()
    ver.string(f"VER{version}")
    out = bytearray()
    for rec in [ver.getvalue(), *records]:
        out += _U32.pack(len(rec)) + rec + _U32.pack(DBD_MAGIC)
    return bytes(out)


def mark_taken(state_dir: Path) -> Path | None:
    """Rename the file once flurm holds its records durably: a slurmctld started again on this
    StateSaveLocation must not send them a second time (it would, from the file). Blocking I/O."""
    path = dbd_messages_path(state_dir)
    taken = path.with_name(path.name + TAKEN_SUFFIX)
    try:
        path.replace(taken)
    except FileNotFoundError:
        return None
    return taken

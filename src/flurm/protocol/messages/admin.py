"""flurm's own administrative RPC: a JSON document each way, on the SLURM port, with MUNGE auth.

The ``flurm`` command uses it to drive a running controller (status, mode, takeover, rollback).
The message types lie far above SLURM's own numbers, so no SLURM component ever sends them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Self

from flurm.protocol.messages.base import Message, register
from flurm.protocol.wire import DecodeError, Reader, Writer

REQUEST_FLURM_ADMIN = 0xF000
RESPONSE_FLURM_ADMIN = 0xF001
MAX_ADMIN_DOCUMENT = 16 * 1024 * 1024
# Checked before json.loads, which would otherwise recurse once per level into a RecursionError
# (and CPython 3.11 is not always sound after one raised inside its C code).
MAX_ADMIN_NESTING = 64


def _nesting_exceeds(text: str, limit: int) -> bool:
    """Whether JSON ``text`` opens more than ``limit`` arrays/objects inside each other (one pass)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return True
        elif ch in "]}":
            depth -= 1
    return False


@dataclass(frozen=True, slots=True)
class AdminMessage(Message):
    """str: a JSON object."""

    document: dict[str, Any]

    def pack(self, w: Writer, version: int) -> None:
        w.string(json.dumps(self.document, separators=(",", ":"), sort_keys=True))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        text = r.string()
        if text is None or len(text) > MAX_ADMIN_DOCUMENT:
            raise DecodeError("admin message without a document")
        if _nesting_exceeds(text, MAX_ADMIN_NESTING):
            raise DecodeError(f"admin message nests deeper than {MAX_ADMIN_NESTING} levels")
        try:
            doc = json.loads(text)
        except ValueError:
            raise DecodeError("admin message is not JSON") from None
        if not isinstance(doc, dict):
            raise DecodeError("admin message is not a JSON object")
        return cls(doc)


register(REQUEST_FLURM_ADMIN, RESPONSE_FLURM_ADMIN)(AdminMessage)  # type: ignore[arg-type]

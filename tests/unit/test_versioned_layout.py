"""One layout table, one codec per release: fields by Span, defaults for what a release lacks, and the
body gate that refuses a release whose layout nobody checked."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.base import Message, decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.layout import STR, U16, U32, VersionedLayout, before, layout_at, since
from flurm.protocol.versions import VersionError, check_body
from flurm.protocol.wire import Reader, Writer

V22, V24, V26 = 0x2600, 0x2A00, 0x2D00


@dataclass(frozen=True, slots=True)
class Rec:
    a: int = 0
    b: str | None = None
    c: int = 7
    d: int = 9


TABLE = (
    ("a", U32),
    ("c", U16, since(V24)),  # new in 24.11
    ("b", STR),
    ("d", U32, before(V26)),  # gone in 26.05
)
CODEC = VersionedLayout(Rec, TABLE, (V22, V24, V26))


def test_each_release_packs_its_own_fields_in_order() -> None:
    rec = Rec(1, "x", 3, 4)
    assert CODEC.pack(rec, V22) == bytes.fromhex("00000001" "00000002" "7800" "00000004")
    assert CODEC.pack(rec, V24) == bytes.fromhex("00000001" "0003" "00000002" "7800" "00000004")
    assert CODEC.pack(rec, V26) == bytes.fromhex("00000001" "0003" "00000002" "7800")


def test_a_field_a_release_lacks_decodes_to_its_default() -> None:
    rec = Rec(1, "x", 3, 4)
    assert CODEC.unpack(Reader(CODEC.pack(rec, V22)), V22) == Rec(1, "x", 7, 4)
    assert CODEC.unpack(Reader(CODEC.pack(rec, V24)), V24) == rec
    assert CODEC.unpack(Reader(CODEC.pack(rec, V26)), V26) == Rec(1, "x", 3, 9)


def test_the_skipper_of_each_release_skips_exactly_one_record() -> None:
    rec = Rec(1, "hello", 3, 4)
    for v in (V22, V24, V26):
        data = CODEC.pack(rec, v) * 2
        assert CODEC.skipper(v, "Rec")(data, 0, len(data)) == len(data) // 2


def test_a_release_without_a_layout_is_refused() -> None:
    with pytest.raises(VersionError):
        CODEC.pack(Rec(), 0x2B00)
    with pytest.raises(VersionError):
        CODEC.unpack(Reader(b""), 0x2800)
    assert layout_at(TABLE, V26) == (("a", U32), ("c", U16), ("b", STR))


@dataclass(frozen=True, slots=True)
class Checked(Message):
    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset({V24})


def test_the_body_gate_admits_a_newer_release_only_where_the_class_says_so() -> None:
    check_body(Checked, V22)
    check_body(Checked, V24)
    with pytest.raises(VersionError, match=r"26\.05"):
        check_body(Checked, V26)
    # a body class nobody compared with 24.11's packer is refused, never guessed
    with pytest.raises(VersionError):
        encode_body(Unchecked(), V24)
    assert encode_body(Unchecked(), V22) == b"\x01"
    # the return codes are the same in every served release
    body = ReturnCode(-1)
    for v in (V22, V24, V26):
        assert decode_body(MsgType.RESPONSE_SLURM_RC, encode_body(body, v), v) == body


@dataclass(frozen=True, slots=True)
class Unchecked(Message):
    def pack(self, w: Writer, version: int) -> None:
        w.u8(1)

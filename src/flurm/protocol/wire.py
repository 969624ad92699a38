"""Pack primitives of the SLURM wire format: bounded reads and appending writes.

Every integer is big-endian. Strings are ``u32 length incl. NUL, bytes, NUL`` (NULL is a bare
``u32 0``). Every read is bounded by the region the reader was given; reading past it, or a
length that does not fit, raises :class:`DecodeError`, never ``struct.error`` or ``IndexError``.
"""

from __future__ import annotations

import builtins
import struct
from dataclasses import dataclass

from flurm.protocol.constants import NO_VAL, SlurmRC
from flurm.protocol.errors import FlurmError

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_F64 = struct.Struct(">d")
_U32U32 = struct.Struct(">II")
_U16_FROM = _U16.unpack_from
_U32_FROM = _U32.unpack_from
_U64_FROM = _U64.unpack_from
_I64_FROM = _I64.unpack_from

# packdouble sends value * FLOAT_MULT as an IEEE double (common/pack.c)
FLOAT_MULT = 1_000_000.0

# Upper bounds on element counts, so a hostile length cannot make us allocate gigabytes.
MAX_ARRAY_COUNT = 1_000_000
MAX_BITMAP_BITS = 1 << 24


class WireError(FlurmError):
    """Base of every codec error. ``rc`` is the SLURM return code a reply should carry."""

    rc: int = SlurmRC.SLURM_UNEXPECTED_MSG_ERROR


class DecodeError(WireError):
    """The peer sent bytes that do not follow the protocol."""

    rc = SlurmRC.SLURM_UNEXPECTED_MSG_ERROR  # slurmctld answers SLURM_PROTOCOL_... codes similarly


class EncodeError(WireError):
    """We were asked to encode a value that does not fit its wire type (our bug)."""


def _text(raw: bytes) -> str:
    # SLURM strings are bytes; surrogateescape keeps any byte sequence lossless both ways.
    return raw.decode("utf-8", "surrogateescape")


def _raw(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@dataclass(frozen=True, slots=True)
class Bitmap:
    """A SLURM bitstr: ``size`` bits, bit i of ``value`` is element i (node i, core i, task i)."""

    size: int
    value: int = 0

    @classmethod
    def from_indexes(cls, size: int, indexes: object) -> Bitmap:
        value = 0
        for i in indexes:  # type: ignore[attr-defined]
            value |= 1 << int(i)
        return cls(size, value)

    def indexes(self) -> list[int]:
        v, out, i = self.value, [], 0
        while v:
            if v & 1:
                out.append(i)
            v >>= 1
            i += 1
        return out

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and bool(self.value >> index & 1)

    def count(self) -> int:
        return self.value.bit_count()

    def hex(self) -> str:
        # bit_fmt_hexmask: ceil(size/4) upper-case digits; an empty bitmap is "0x0"
        digits = (self.size + 3) // 4
        return "0x" + (format(self.value, "X").rjust(digits, "0") if digits else "0")


class Reader:
    """Reads pack primitives from ``data[start:end]``; raises DecodeError past ``end``."""

    __slots__ = ("_data", "_end", "_pos")

    def __init__(self, data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None) -> None:
        self._data = bytes(data) if not isinstance(data, bytes) else data
        self._pos = start
        self._end = len(self._data) if end is None else end
        if not 0 <= start <= self._end <= len(self._data):
            raise DecodeError(f"bad region {start}:{end} of {len(self._data)} bytes")

    # -- position -----------------------------------------------------------------------------
    @property
    def pos(self) -> int:
        return self._pos

    @property
    def remaining(self) -> int:
        return self._end - self._pos

    def at_end(self) -> bool:
        return self._pos == self._end

    def expect_end(self, what: str = "message") -> None:
        if self._pos != self._end:
            raise DecodeError(f"{what}: {self._end - self._pos} unread bytes at offset {self._pos}")

    def _take(self, n: int, what: str) -> int:
        pos = self._pos
        if n < 0 or pos + n > self._end:
            raise DecodeError(f"{what}: need {n} bytes at offset {pos}, {self._end - pos} left")
        self._pos = pos + n
        return pos

    def bytes(self, n: int) -> bytes:
        pos = self._take(n, "bytes")
        return self._data[pos : pos + n]

    def view(self) -> tuple[builtins.bytes, int, int]:
        """``(data, pos, end)``: for a generated decoder that reads ``data[pos:end]`` itself
        (bounds-checking every step) and then moves this reader on with :meth:`seek`."""
        return self._data, self._pos, self._end

    def seek(self, pos: int) -> None:
        if not 0 <= pos <= self._end:
            raise DecodeError(f"seek to {pos} outside the region ending at {self._end}")
        self._pos = pos

    def sub(self, n: int) -> Reader:
        """A reader over the next ``n`` bytes; this reader moves past them."""
        pos = self._take(n, "region")
        return Reader(self._data, pos, pos + n)

    # -- integers -----------------------------------------------------------------------------
    # Inlined bounds checks: these run a million times to read 10,000 saved jobs.
    def _short(self, n: int, what: str) -> DecodeError:
        return DecodeError(f"{what}: need {n} bytes at offset {self._pos}, {self._end - self._pos} left")

    def u8(self) -> int:
        pos = self._pos
        if pos >= self._end:
            raise self._short(1, "u8")
        self._pos = pos + 1
        return self._data[pos]

    def u16(self) -> int:
        pos = self._pos
        if pos + 2 > self._end:
            raise self._short(2, "u16")
        self._pos = pos + 2
        value: int = _U16_FROM(self._data, pos)[0]
        return value

    def u32(self) -> int:
        pos = self._pos
        if pos + 4 > self._end:
            raise self._short(4, "u32")
        self._pos = pos + 4
        value: int = _U32_FROM(self._data, pos)[0]
        return value

    def u64(self) -> int:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._short(8, "u64")
        self._pos = pos + 8
        value: int = _U64_FROM(self._data, pos)[0]
        return value

    def time(self) -> int:
        pos = self._pos
        if pos + 8 > self._end:
            raise self._short(8, "time")
        self._pos = pos + 8
        value: int = _I64_FROM(self._data, pos)[0]
        return value

    def double(self) -> float:
        pos = self._take(8, "double")
        return float(_F64.unpack_from(self._data, pos)[0]) / FLOAT_MULT

    def bool(self) -> bool:
        return self.u8() != 0

    # -- strings ------------------------------------------------------------------------------
    def mem(self) -> builtins.bytes | None:
        """packmem: u32 length then that many bytes; length 0 is NULL."""
        n = self.u32()
        if n == 0:
            return None
        return self.bytes(n)

    def string(self) -> str | None:
        """packstr: u32 length including the NUL, the bytes, the NUL; length 0 is NULL."""
        pos = self._pos
        if pos + 4 > self._end:
            raise self._short(4, "string length")
        n: int = _U32_FROM(self._data, pos)[0]
        pos += 4
        if n == 0:
            self._pos = pos
            return None
        end = pos + n
        if end > self._end:
            self._pos = pos
            raise self._short(n, "string")
        self._pos = end
        data = self._data
        # unpackstr takes n bytes and trusts the last to be NUL; tolerate a missing one like SLURM does.
        return (data[pos : end - 1] if data[end - 1] == 0 else data[pos:end]).decode(
            "utf-8", "surrogateescape"
        )

    def string_array(self) -> list[str]:
        count = self._count("string array")
        out: list[str] = []
        for _ in range(count):
            s = self.string()
            out.append("" if s is None else s)
        return out

    # -- arrays -------------------------------------------------------------------------------
    def _count(self, what: str, elem_size: int = 4) -> int:
        n = self.u32()
        if n > MAX_ARRAY_COUNT or n * elem_size > self.remaining:
            raise DecodeError(f"{what}: count {n} does not fit in {self.remaining} bytes")
        return n

    def u16_array(self) -> list[int]:
        n = self._count("u16 array", 2)
        pos = self._take(2 * n, "u16 array")
        return list(struct.unpack_from(f">{n}H", self._data, pos))

    def u32_array(self) -> list[int]:
        n = self._count("u32 array", 4)
        pos = self._take(4 * n, "u32 array")
        return list(struct.unpack_from(f">{n}I", self._data, pos))

    def u64_array(self) -> list[int]:
        n = self._count("u64 array", 8)
        pos = self._take(8 * n, "u64 array")
        return list(struct.unpack_from(f">{n}Q", self._data, pos))

    # -- bitmaps ------------------------------------------------------------------------------
    def bitmap(self) -> Bitmap | None:
        """pack_bit_str_hex: u32 bit count (NO_VAL = NULL, nothing follows), then str "0x<hex>"."""
        size = self.u32()
        if size == NO_VAL:
            return None
        if size > MAX_BITMAP_BITS:
            raise DecodeError(f"bitmap of {size} bits is too large")
        text = self.string()
        if text is None or not text.startswith("0x"):
            raise DecodeError(f"bitmap string {text!r} is not a hex mask")
        digits = text[2:]
        try:
            value = int(digits, 16) if digits else 0
        except ValueError:
            raise DecodeError(f"bitmap string {text!r} is not a hex mask") from None
        if value >> size:
            raise DecodeError(f"bitmap {text} has bits beyond its size {size}")
        return Bitmap(size, value)


# The reader's position slot, for decoders generated by layout.py: they check every offset against
# the region's end themselves, so handing a nested block the reader skips seek's checks and calls.
READER_POS = Reader.__dict__["_pos"]


class Writer:
    """Appends pack primitives to a growing buffer."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def raw(self, data: bytes | bytearray | memoryview) -> None:
        self._buf += data

    def u8(self, v: int) -> None:
        if not 0 <= v <= 0xFF:
            raise EncodeError(f"u8 out of range: {v}")
        self._buf.append(v)

    def u16(self, v: int) -> None:
        try:
            self._buf += _U16.pack(v)
        except struct.error:
            raise EncodeError(f"u16 out of range: {v}") from None

    def u32(self, v: int) -> None:
        try:
            self._buf += _U32.pack(v)
        except struct.error:
            raise EncodeError(f"u32 out of range: {v}") from None

    def u32u32(self, a: int, b: int) -> None:
        self._buf += _U32U32.pack(a, b)

    def u64(self, v: int) -> None:
        try:
            self._buf += _U64.pack(v)
        except struct.error:
            raise EncodeError(f"u64 out of range: {v}") from None

    def time(self, v: int) -> None:
        try:
            self._buf += _I64.pack(v)
        except struct.error:
            raise EncodeError(f"time out of range: {v}") from None

    def double(self, v: float) -> None:
        self._buf += _F64.pack(v * FLOAT_MULT)

    def bool(self, v: bool) -> None:
        self._buf.append(1 if v else 0)

    def mem(self, v: bytes | None) -> None:
        if not v:
            self._buf += b"\0\0\0\0"
            return
        self._buf += _U32.pack(len(v))
        self._buf += v

    def string(self, v: str | None) -> None:
        if v is None:
            self._buf += b"\0\0\0\0"
            return
        raw = _raw(v)
        self._buf += _U32.pack(len(raw) + 1)
        self._buf += raw
        self._buf.append(0)

    def string_array(self, v: list[str] | tuple[str, ...] | None) -> None:
        items = v or ()
        self._buf += _U32.pack(len(items))
        for s in items:
            self.string(s)

    def u16_array(self, v: list[int] | tuple[int, ...]) -> None:
        self._buf += _U32.pack(len(v))
        self._buf += struct.pack(f">{len(v)}H", *v)

    def u32_array(self, v: list[int] | tuple[int, ...]) -> None:
        self._buf += _U32.pack(len(v))
        self._buf += struct.pack(f">{len(v)}I", *v)

    def u64_array(self, v: list[int] | tuple[int, ...]) -> None:
        self._buf += _U32.pack(len(v))
        self._buf += struct.pack(f">{len(v)}Q", *v)

    def bitmap(self, v: Bitmap | None) -> None:
        if v is None:
            self._buf += _U32.pack(NO_VAL)
            return
        self._buf += _U32.pack(v.size)
        self.string(v.hex())

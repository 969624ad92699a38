"""Compile a flat wire layout into fast pack/unpack functions.

A layout is an ordered table of ``(field name, kind)``: the order of the pack calls in SLURM's C
packer for that struct. The big bodies (job_desc_msg_t ~120 fields, one job record ~130 fields)
are described this way, so the table can be read side by side with the C source, and the codec
is generated once at import:

* runs of fixed-size fields become one precompiled :class:`struct.Struct` (one call per run),
* strings go through a small cache of already-encoded short strings (partition, cluster, node
  names and TRES strings repeat across thousands of job records),
* decoding reads the bytes of the reader's region in place (``Reader.view``), checking every step
  against the region's end, and hands nested blocks to the :class:`~flurm.protocol.wire.Reader`.

Kinds: :data:`U8` :data:`U16` :data:`U32` :data:`U64` :data:`TIME` (signed 64) :data:`DOUBLE`
(packdouble, value x 1e6 on the wire), :data:`STR` (packstr, ``None`` = NULL), :data:`STRS`
(packstr_array as a tuple; a NULL element is refused), :data:`BITS` (pack_bit_str_hex,
``Bitmap | None``), or a :class:`FieldCodec` object for anything else (nested blocks).

A name may appear twice: SLURM packs a few fields twice (the job record's ``container``). The
second occurrence packs the same value again, and decoding checks that both copies agree.

Releases differ as data: an entry may carry a third element, the :class:`Span` of protocol versions it is
on the wire in (``since(V)``, ``before(V)``), and :class:`VersionedLayout` compiles one codec per release
from the one table. A field a release does not carry decodes to its dataclass default.

Saved state (slurmctld's ``job_state``) is read-only and less regular than a wire body: :func:`compile_reader`
(per release: :class:`VersionedReader`) builds the decoder alone and adds kinds that read no bytes or only
some of the time: :class:`Derived` (a field computed from fields read before it), :class:`Const`,
:class:`When` (a field packed only if earlier fields say so), :class:`Absent` (a nested block decoded
from its empty marker without a call), :class:`Check` (a sanity test that raises DecodeError), counted
arrays (:data:`U16_ARRAY` ...), and nested readers ``fn(reader, version)``. Names that are not fields are
read and dropped.
"""

from __future__ import annotations

import inspect
import linecache
import string
import struct
import types
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any, Generic, Protocol, TypeVar

from flurm.protocol.versions import VersionError, release_name
from flurm.protocol.wire import (
    FLOAT_MULT,
    MAX_ARRAY_COUNT,
    READER_POS,
    Bitmap,
    DecodeError,
    EncodeError,
    Reader,
)

T = TypeVar("T")

U8 = "B"
U16 = "H"
U32 = "I"
U64 = "Q"
TIME = "q"
DOUBLE = "d"
STR = "str"
STRS = "strs"
BITS = "bits"

_FIXED = frozenset((U8, U16, U32, U64, TIME, DOUBLE))
_U32 = struct.Struct(">I")
NULL_STR = b"\0\0\0\0"


class FieldCodec(Protocol):
    """A field kind that is not a primitive: packs a value to bytes, reads it back bounded."""

    def pack(self, value: Any) -> bytes: ...

    def unpack(self, r: Reader) -> Any: ...


Kind = str | FieldCodec


class Unpacker(Protocol):
    def __call__(self, cls: type[T], r: Reader) -> T: ...


# -- primitive helpers shared with hand-written codecs -------------------------------------------

# Encoded packstr bytes of short strings seen before. Bounded: once full it stops growing.
_STR_CACHE: dict[str | None, bytes] = {None: NULL_STR}
_STR_CACHE_MAX = 8192
_STR_CACHE_LEN = 64


def _encode_str(v: str) -> bytes:
    raw = v.encode("utf-8", "surrogateescape")
    out = _U32.pack(len(raw) + 1) + raw + b"\0"
    if len(raw) <= _STR_CACHE_LEN and len(_STR_CACHE) < _STR_CACHE_MAX:
        _STR_CACHE[v] = out
    return out


_cache_get = _STR_CACHE.get


def pack_str(v: str | None) -> bytes:
    """packstr of ``v`` (``None`` = NULL)."""
    return _cache_get(v) or _encode_str(v)  # type: ignore[arg-type]


def pack_strs(v: Sequence[str]) -> bytes:
    """packstr_array: u32 count, then each string. ``None`` elements are refused."""
    if not v:
        return NULL_STR
    parts = [_U32.pack(len(v))]
    for s in v:
        if not isinstance(s, str):
            raise EncodeError(f"string array element {s!r} is not a str")
        parts.append(_cache_get(s) or _encode_str(s))
    return b"".join(parts)


def read_strs(r: Reader) -> tuple[str, ...]:
    """unpackstr_array into a tuple; a NULL element (which SLURM never packs) is a DecodeError."""
    n = r.u32()
    if n * 4 > r.remaining:
        raise DecodeError(f"string array: count {n} does not fit in {r.remaining} bytes")
    out = []
    for _ in range(n):
        s = r.string()
        if s is None:
            raise DecodeError("string array: NULL element")
        out.append(s)
    return tuple(out)


def _short(what: str, pos: int, need: int, end: int) -> DecodeError:
    return DecodeError(f"{what}: need {need} bytes at offset {pos}, {end - pos} left")


_U32_FROM = _U32.unpack_from


def pack_bits(v: Bitmap | None) -> bytes:
    """pack_bit_str_hex: u32 bit count + hex string; ``None`` is u32 NO_VAL alone."""
    if v is None:
        return b"\xff\xff\xff\xfe"
    if v.size < 0 or v.value < 0 or v.value >> v.size:
        raise EncodeError(f"bitmap {v!r} has bits beyond its size")
    return _U32.pack(v.size) + pack_str(v.hex())


def _str_read(var: str, what: str, indent: str = "    ") -> list[str]:
    """Lines reading one packstr at ``pos`` into ``var`` (NULL is None; a missing final NUL tolerated)."""
    return [
        f"{indent}if pos + 4 > end: raise short({what!r}, pos, 4, end)",
        f"{indent}n, = U32F(data, pos); pos += 4",
        f"{indent}if n:",
        f"{indent}    q = pos + n",
        f"{indent}    if q > end: raise short({what!r}, pos, n, end)",
        f"{indent}    {var} = (data[pos:q - 1] if data[q - 1] == 0 else data[pos:q]).decode(UTF8, SURR)",
        f"{indent}    pos = q",
        f"{indent}else:",
        f"{indent}    {var} = None",
    ]


def _seen_str_read(var: str, what: str, indent: str) -> list[str]:
    """Like :func:`_str_read`, through :data:`_SEEN` (one str object per distinct short value), and
    checking only the string's end: a length word past the region's end is caught at the record's."""
    return [
        f"{indent}n, = U32F(data, pos); pos += 4",
        f"{indent}if n:",
        f"{indent}    q = pos + n",
        f"{indent}    if q > end: raise short({what!r}, pos, n, end)",
        f"{indent}    raw = data[pos:q]",
        f"{indent}    {var} = SEEN(raw) or seen_str(raw)",
        f"{indent}    pos = q",
        f"{indent}else:",
        f"{indent}    {var} = None",
    ]


# Decoded saved-state strings by their packed bytes (NUL included). Partition, account, user, node,
# path and TRES strings repeat across thousands of job records: one object each, not one per job.
_SEEN: dict[bytes, str] = {}
_SEEN_MAX = 16384
_SEEN_LEN = 128  # at most a few MB, kept for the process's life


def _seen_str(raw: bytes) -> str:
    text = (raw[:-1] if raw[-1] == 0 else raw).decode("utf-8", "surrogateescape")
    if len(raw) <= _SEEN_LEN and len(_SEEN) < _SEEN_MAX:
        _SEEN[raw] = text
    return text


def _defaults(cls: type, var_of: dict[str, str], ns: dict[str, Any]) -> None:
    """Fields a layout does not carry take their default (a field without one is a TypeError)."""
    for f in fields(cls):
        if f.name in var_of:
            continue
        if f.default is not MISSING:
            var_of[f.name] = f"D_{f.name}"
            ns[var_of[f.name]] = f.default
        elif f.default_factory is not MISSING:
            var_of[f.name] = f"F_{f.name}()"
            ns[f"F_{f.name}"] = f.default_factory
        else:
            raise TypeError(f"{cls.__name__}.{f.name}: left out of a layout but has no default")


def _construct(cls: type, names: list[str], var_of: dict[str, str], ns: dict[str, Any]) -> list[str]:
    """The lines that build the object from the decoded variables and return it."""
    # A frozen dataclass's __init__ sets each field through object.__setattr__, which costs about
    # 0.2 us a field (25 us for a job record). A slotted class can be filled through its slot
    # descriptors directly instead: the same effect (every field set, nothing else run), 3x faster.
    slot_setters = {n: getattr(cls, n, None) for n in names}
    slotted = all(isinstance(d, types.MemberDescriptorType) for d in slot_setters.values())
    if slotted and not hasattr(cls, "__post_init__"):
        ns["new"] = object.__new__
        for i, n in enumerate(names):
            ns[f"set{i}"] = slot_setters[n].__set__  # type: ignore[union-attr]
        construct = ["    o = new(cls)"]
        construct += [f"    set{i}(o, {var_of[n]})" for i, n in enumerate(names)]
        construct.append("    return o")
        return construct
    return [f"    return cls({', '.join(var_of[n] for n in names)})"]


def _exec(text: str, filename: str, ns: dict[str, Any]) -> None:
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)  # readable tracebacks
    exec(compile(text, filename, "exec"), ns)


# -- the compiler --------------------------------------------------------------------------------


def _single_packer(kind: Kind) -> Callable[[Any], bytes]:
    if isinstance(kind, str):
        if kind in _FIXED:
            st = struct.Struct(">" + kind)
            if kind == DOUBLE:
                return lambda v: st.pack(v * FLOAT_MULT)
            return st.pack
        if kind == STR:
            return pack_str
        if kind == STRS:
            return pack_strs
        if kind == BITS:
            return pack_bits
        raise ValueError(f"unknown field kind {kind!r}")
    return kind.pack


_PACK_ERRORS = (struct.error, TypeError, AttributeError, UnicodeError, OverflowError, ValueError)


def compile_layout(
    cls: type[T], layout: Sequence[tuple[str, Kind]], *, partial: bool = False
) -> tuple[Callable[[T], bytes], Unpacker]:
    """Build ``pack(obj) -> bytes`` and ``unpack(cls, reader) -> obj`` for dataclass ``cls``.

    The first occurrences of the names in ``layout`` must be the dataclass fields, in order. Strings
    are decoded like :meth:`Reader.string` (NULL is None; a missing final NUL is tolerated, as
    SLURM does); doubles as :meth:`Reader.double`. With ``partial`` (one release's cut of a
    :class:`VersionedLayout`) the layout may leave fields out, in any order; those decode to their default.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    first: list[str] = []
    for name, _ in layout:
        if name not in first:
            first.append(name)
    if partial:
        if not set(first) <= set(names):
            raise TypeError(f"{cls.__name__}: layout names what is not a field: {set(first) - set(names)}")
    elif first != names:
        missing = set(names) ^ set(first)
        raise TypeError(f"{cls.__name__}: layout does not match the fields in order (diff: {missing})")

    ns: dict[str, Any] = {
        "DecodeError": DecodeError,
        "EncodeError": EncodeError,
        "cache_get": _cache_get,
        "encode_str": _encode_str,
        "pack_strs": pack_strs,
        "read_strs": read_strs,
        "pack_bits": pack_bits,
        "PACK_ERRORS": _PACK_ERRORS,
        "short": _short,
        "U32F": _U32_FROM,
        "UTF8": "utf-8",
        "SURR": "surrogateescape",
    }
    pack_parts: list[str] = []
    unpack_lines: list[str] = []
    var_of: dict[str, str] = {}
    run: list[tuple[str, str]] = []  # pending fixed fields (name, kind)
    counter = 0

    def new_var() -> str:
        nonlocal counter
        counter += 1
        return f"v{counter}"

    def same_check(tmp: str, var: str, name: str) -> str:
        label = f"{cls.__name__}.{name}: the two packed copies differ"
        return f"    if {tmp} != {var}: raise DecodeError({label!r})"

    def flush() -> None:
        if not run:
            return
        sname = f"S{len(ns)}"
        st = struct.Struct(">" + "".join(k for _, k in run))
        ns[sname] = st
        args = ", ".join(f"o.{n} * {FLOAT_MULT!r}" if k == DOUBLE else f"o.{n}" for n, k in run)
        pack_parts.append(f"{sname}.pack({args})")
        targets = []
        post = []
        for n, k in run:
            if n in var_of:  # a repeated fixed field: read it, compare after
                tmp = new_var()
                targets.append(tmp)
                post.append(same_check(tmp, var_of[n], n))
            else:
                var_of[n] = new_var()
                targets.append(var_of[n])
                if k == DOUBLE:
                    post.append(f"    {var_of[n]} = {var_of[n]} / {FLOAT_MULT!r}")
        what = f"{cls.__name__}.{run[0][0]}"
        unpack_lines.append(f"    if pos + {st.size} > end: raise short({what!r}, pos, {st.size}, end)")
        unpack_lines.append(f"    {', '.join(targets)}, = {sname}.unpack_from(data, pos)")
        unpack_lines.append(f"    pos += {st.size}")
        unpack_lines.extend(post)
        run.clear()

    for name, kind in layout:
        if isinstance(kind, str) and kind in _FIXED:
            run.append((name, kind))
            continue
        flush()
        # strings are read in place; everything else through the Reader, moved to ``pos`` first
        if kind == STR:
            pack_parts.append(f"(cache_get(o.{name}) or encode_str(o.{name}))")
            read = "\n".join(_str_read("{0}", f"{cls.__name__}.{name}")).lstrip()
        else:
            if kind == STRS:
                pack_parts.append(f"pack_strs(o.{name})")
                call = "read_strs(r)"
            elif kind == BITS:
                pack_parts.append(f"pack_bits(o.{name})")
                call = "r.bitmap()"
            elif isinstance(kind, str):
                raise ValueError(f"{cls.__name__}.{name}: unknown field kind {kind!r}")
            else:
                cname = f"C{len(ns)}"
                ns[cname] = kind
                pack_parts.append(f"{cname}.pack(o.{name})")
                call = f"{cname}.unpack(r)"
            read = "r.seek(pos); {} = " + call + "; pos = r.pos"
        if name in var_of:
            tmp = new_var()
            unpack_lines.append("    " + read.format(tmp))
            unpack_lines.append(same_check(tmp, var_of[name], name))
        else:
            var_of[name] = new_var()
            unpack_lines.append("    " + read.format(var_of[name]))
    flush()

    _defaults(cls, var_of, ns)

    construct = _construct(cls, names, var_of, ns)

    joined = ",\n            ".join(pack_parts)
    src = [
        "def pack(o):",
        "    try:",
        f"        return b''.join((\n            {joined},\n        ))",
        "    except PACK_ERRORS:",
        "        diagnose(o)",
        "        raise",
        "",
        "def unpack(cls, r):",
        "    data, pos, end = r.view()",
        *unpack_lines,
        "    r.seek(pos)",
        *construct,
    ]
    single = [(name, _single_packer(kind)) for name, kind in layout]

    def diagnose(o: object) -> None:
        for name, packer in single:
            value = getattr(o, name, None)
            try:
                packer(value)
            except _PACK_ERRORS as e:
                raise EncodeError(
                    f"{type(o).__name__}.{name} = {value!r} does not fit its wire type: {e}"
                ) from None

    ns["diagnose"] = diagnose
    text = "\n".join(src) + "\n"
    filename = f"<layout {cls.__module__}.{cls.__qualname__}>"
    _exec(text, filename, ns)
    return ns["pack"], ns["unpack"]


def compile_skipper(layout: Sequence[tuple[str, Kind]], what: str) -> Callable[[bytes, int, int], int]:
    """Build ``skip(data, pos, end) -> pos``: the offset just past one record, without building it.

    Used to cut a reply of thousands of records into each record's bytes cheaply (the mirror compares
    bytes and decodes only the records that changed). A length that points past ``end`` is caught
    once, at the end of the record (reading past the buffer raises struct.error, turned into
    DecodeError), which keeps the per-field cost to one unpack.
    """
    ns: dict[str, Any] = {"U32F": _U32_FROM, "Reader": Reader, "DecodeError": DecodeError, "struct": struct}
    body: list[str] = []
    fixed = 0

    def flush() -> None:
        nonlocal fixed
        if fixed:
            body.append(f"pos += {fixed}")
            fixed = 0

    for name, kind in layout:
        if isinstance(kind, str) and kind in _FIXED:
            fixed += struct.calcsize(">" + kind)
            continue
        flush()
        if kind == STR:
            body.append("pos += 4 + U32F(data, pos)[0]")
        elif kind == STRS:
            body.append("n, = U32F(data, pos); pos += 4")
            body.append("if n > end - pos: raise DecodeError(TOO_MANY)")
            body.append("for _ in range(n): pos += 4 + U32F(data, pos)[0]")
        elif kind == BITS:
            body.append("n, = U32F(data, pos); pos += 4")
            body.append("if n != 0xFFFFFFFE: pos += 4 + U32F(data, pos)[0]")
        elif isinstance(kind, str):
            raise ValueError(f"{what}.{name}: unknown field kind {kind!r}")
        else:
            cname = f"C{len(ns)}"
            ns[cname] = kind
            body.append("if pos > end: raise DecodeError(PAST)")
            if hasattr(kind, "skip"):
                body.append(f"pos = {cname}.skip(data, pos, end)")
            else:
                body.append(f"r = Reader(data, pos, end); {cname}.unpack(r); pos = r.pos")
    flush()
    ns["PAST"] = f"{what}: record runs past its end"
    ns["TOO_MANY"] = f"{what}: string array count does not fit"
    lines = ["def skip(data, pos, end):", "    try:"]
    lines += [f"        {line}" for line in body]
    lines += [
        "    except struct.error:",
        "        raise DecodeError(PAST) from None",
        "    if pos > end: raise DecodeError(PAST)",
        "    return pos",
    ]
    text = "\n".join(lines) + "\n"
    exec(compile(text, f"<skipper {what}>", "exec"), ns)
    skip: Callable[[bytes, int, int], int] = ns["skip"]
    return skip


# -- one table, one codec per release ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Span:
    """The protocol versions a field is on the wire in: ``lo <= version < hi``."""

    lo: int = 0
    hi: int = 0x10000

    def __contains__(self, version: object) -> bool:
        return isinstance(version, int) and self.lo <= version < self.hi


def since(version: int) -> Span:
    """A field first packed by the release of ``version``."""
    return Span(lo=version)


def before(version: int) -> Span:
    """A field the release of ``version`` no longer packs."""
    return Span(hi=version)


Entry = tuple[str, Kind] | tuple[str, Kind, Span]


def layout_at(table: Sequence[Entry], version: int) -> tuple[tuple[str, Kind], ...]:
    """The fields of ``table`` that ``version`` packs, in order."""
    return tuple((e[0], e[1]) for e in table if len(e) == 2 or version in e[2])


class VersionedLayout(Generic[T]):
    """The codecs of one record in each release of ``versions``, compiled from one table of entries.

    Releases whose cut of the table is the same share one compiled codec. A version not listed is a
    :class:`VersionError` (the record's layout in that release is not known).
    """

    def __init__(self, cls: type[T], table: Sequence[Entry], versions: Sequence[int]) -> None:
        self.cls = cls
        self.table = tuple(table)
        self.versions = tuple(versions)
        self.layouts: dict[int, tuple[tuple[str, Kind], ...]] = {}
        self._pack: dict[int, Callable[[T], bytes]] = {}
        self._unpack: dict[int, Unpacker] = {}
        self._skip: dict[int, Callable[[bytes, int, int], int]] = {}
        compiled: dict[tuple[tuple[str, Kind], ...], tuple[Callable[[T], bytes], Unpacker]] = {}
        for v in self.versions:
            cut = layout_at(self.table, v)
            if cut not in compiled:
                # the newest layout must name every field; older ones may leave some out
                compiled[cut] = compile_layout(cls, cut, partial=True)
            self.layouts[v] = cut
            self._pack[v], self._unpack[v] = compiled[cut]

    def _refuse(self, version: int) -> VersionError:
        return VersionError(
            f"{self.cls.__name__}: no layout for protocol version {version:#06x} ({release_name(version)})"
        )

    def packer(self, version: int) -> Callable[[T], bytes]:
        try:
            return self._pack[version]
        except KeyError:
            raise self._refuse(version) from None

    def unpacker(self, version: int) -> Unpacker:
        try:
            return self._unpack[version]
        except KeyError:
            raise self._refuse(version) from None

    def pack(self, obj: T, version: int) -> bytes:
        return self.packer(version)(obj)

    def unpack(self, r: Reader, version: int) -> T:
        return self.unpacker(version)(self.cls, r)

    def skipper(self, version: int, what: str) -> Callable[[bytes, int, int], int]:
        if version not in self._skip:
            if version not in self.layouts:
                raise self._refuse(version)
            self._skip[version] = compile_skipper(self.layouts[version], what)
        return self._skip[version]


# -- saved state: decoders alone, with kinds that depend on what was read before ------------------


class FieldReader(Protocol):
    """A nested block a reader layout hands to its codec: reads one value, bounded by the reader."""

    def unpack(self, r: Reader) -> Any: ...


NestedReader = Callable[[Reader, int], Any]


@dataclass(frozen=True, slots=True)
class Derived:
    """A field computed by ``fn`` from fields read before it (named by its parameters); reads no bytes."""

    fn: Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Const:
    """A field that has this value (one release does not pack it); reads no bytes."""

    value: Any


@dataclass(frozen=True, slots=True)
class When:
    """A field packed only if ``test`` (over fields read before it, named by its parameters) is true;
    otherwise it takes ``default``. ``test`` may raise DecodeError for a value that is neither."""

    test: Callable[..., Any]
    kind: ReadKind
    default: Any = None


@dataclass(frozen=True, slots=True)
class Absent:
    """A nested block that is only ``marker`` when empty (a NULL flag, a zero count): then it decodes to
    ``value`` without a call; anything else is read by ``kind``. Most saved jobs leave most blocks empty."""

    marker: bytes
    value: Any
    kind: ReadKind


@dataclass(frozen=True, slots=True)
class Check:
    """A sanity test: DecodeError(``message``, formatted with fields read so far) if ``bad`` is true."""

    bad: Callable[..., Any]
    message: str


ReadKind = str | FieldReader | NestedReader | Derived | Const | When | Absent | Check

# Counted arrays (pack16_array, pack32_array, pack64_array: u32 count, then the elements) as tuples.
U16_ARRAY = "u16s"
U32_ARRAY = "u32s"
U64_ARRAY = "u64s"
_ARRAYS = {U16_ARRAY: "H", U32_ARRAY: "I", U64_ARRAY: "Q"}


def _array(code: str) -> Callable[[bytes, int, int], tuple[int, ...]]:
    formats = [struct.Struct(f">{n}{code}") for n in range(64)]

    def unpack(data: bytes, pos: int, n: int) -> tuple[int, ...]:
        st = formats[n] if n < 64 else struct.Struct(f">{n}{code}")
        return st.unpack_from(data, pos)

    return unpack


ReadEntry = tuple[str, ReadKind] | tuple[str, ReadKind, Span]


def _params(fn: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(fn).parameters)


class CompiledReader(Generic[T]):
    """One compiled decoder; as a kind of another reader layout it is a nested block."""

    def __init__(self, unpack: Callable[[Reader], T]) -> None:
        self.unpack = unpack


def compile_reader(
    cls: type[T], layout: Sequence[tuple[str, ReadKind]], version: int = 0
) -> CompiledReader[T]:
    """Build a decoder of ``cls`` (``.unpack(reader)``) from the fields ``layout`` reads in order.

    Like :func:`compile_layout`'s decoder (struct runs, strings read in place), plus the kinds above.
    Bounds are checked where a length is used (a string's or an array's end against the region's) and
    once at the end of the record, as :func:`compile_skipper` does: fixed fields and length words read
    past the region's end are caught there, past the buffer's as struct.error, both as DecodeError;
    a nested block handed a position past the end raises from its Reader. A nested reader that is a
    plain function is called as ``fn(reader, version)``. Names that are not fields of ``cls`` are read
    (and available to later kinds) but not kept; fields the layout does not name take their default.
    """
    names = [f.name for f in fields(cls)]  # type: ignore[arg-type]
    ns: dict[str, Any] = {
        "DecodeError": DecodeError,
        "read_strs": read_strs,
        "short": _short,
        "U32F": _U32_FROM,
        "UTF8": "utf-8",
        "SURR": "surrogateescape",
        "cls": cls,
        "VERSION": version,
        "SETPOS": READER_POS.__set__,
        "GETPOS": READER_POS.__get__,
        "MAXN": MAX_ARRAY_COUNT,
        "SEEN": _SEEN.get,
        "STRUCT_ERROR": struct.error,
        "seen_str": _seen_str,
    }
    lines: list[str] = []
    var_of: dict[str, str] = {}
    run: list[tuple[str, str]] = []

    def new_name(prefix: str, value: Any) -> str:
        key = f"{prefix}{len(ns)}"
        ns[key] = value
        return key

    def args_of(fn: Callable[..., Any], name: str) -> list[str]:
        params = _params(fn)
        unknown = [p for p in params if p not in var_of]
        if unknown:
            raise TypeError(f"{cls.__name__}.{name}: {unknown} not read before it")
        return params

    def fixed_read(items: list[tuple[str, str]], targets: list[str], indent: str) -> None:
        st = struct.Struct(">" + "".join(k for _, k in items))
        sname = new_name("S", st)
        lines.append(f"{indent}{', '.join(targets)}, = {sname}.unpack_from(data, pos)")
        lines.append(f"{indent}pos += {st.size}")
        for (_, k), t in zip(items, targets, strict=True):
            if k == DOUBLE:
                lines.append(f"{indent}{t} = {t} / {FLOAT_MULT!r}")

    def read_one(name: str, kind: ReadKind, var: str, indent: str) -> None:
        """Lines that read one field of ``kind`` at ``pos`` into ``var``."""
        if isinstance(kind, str):
            if kind in _FIXED:
                fixed_read([(name, kind)], [var], indent)
            elif kind == STR:
                lines.extend(_seen_str_read(var, f"{cls.__name__}.{name}", indent))
            elif kind == STRS:
                lines.append(f"{indent}SETPOS(r, pos); {var} = read_strs(r); pos = GETPOS(r)")
            elif kind == BITS:
                lines.append(f"{indent}SETPOS(r, pos); {var} = r.bitmap(); pos = GETPOS(r)")
            elif kind in _ARRAYS:
                code = _ARRAYS[kind]
                size = struct.calcsize(">" + code)
                what = f"{cls.__name__}.{name}"
                aname = new_name("A", _array(code))
                lines.extend(
                    [
                        f"{indent}n, = U32F(data, pos); pos += 4",
                        f"{indent}if n:",
                        f"{indent}    q = pos + n * {size}",
                        f"{indent}    if n > MAXN or q > end: raise short({what!r}, pos, q - pos, end)",
                        f"{indent}    {var} = {aname}(data, pos, n); pos = q",
                        f"{indent}else:",
                        f"{indent}    {var} = ()",
                    ]
                )
            else:
                raise ValueError(f"{cls.__name__}.{name}: unknown field kind {kind!r}")
        elif isinstance(kind, Derived):
            args = args_of(kind.fn, name)
            fname = new_name("F", kind.fn)
            lines.append(f"{indent}{var} = {fname}({', '.join(var_of[a] for a in args)})")
        elif isinstance(kind, Const):
            lines.append(f"{indent}{var} = {new_name('K', kind.value)}")
        elif isinstance(kind, When):
            args = args_of(kind.test, name)
            tname = new_name("T", kind.test)
            lines.append(f"{indent}if {tname}({', '.join(var_of[a] for a in args)}):")
            read_one(name, kind.kind, var, indent + "    ")
            lines.append(f"{indent}else:")
            lines.append(f"{indent}    {var} = {new_name('K', kind.default)}")
        elif isinstance(kind, Absent):
            size = len(kind.marker)
            marker = new_name("B", kind.marker)
            lines.append(f"{indent}if pos + {size} <= end and data[pos:pos + {size}] == {marker}:")
            lines.append(f"{indent}    {var} = {new_name('K', kind.value)}; pos += {size}")
            lines.append(f"{indent}else:")
            read_one(name, kind.kind, var, indent + "    ")
        elif isinstance(kind, Check):
            raise TypeError(f"{cls.__name__}.{name}: a Check is an entry of its own")
        elif hasattr(kind, "unpack"):
            cname = new_name("C", kind.unpack)
            lines.append(f"{indent}SETPOS(r, pos); {var} = {cname}(r); pos = GETPOS(r)")
        elif callable(kind):
            cname = new_name("C", kind)
            lines.append(f"{indent}SETPOS(r, pos); {var} = {cname}(r, VERSION); pos = GETPOS(r)")
        else:
            raise ValueError(f"{cls.__name__}.{name}: unknown field kind {kind!r}")

    def flush() -> None:
        if run:
            targets = []
            for n, _ in run:
                var_of[n] = f"v{len(var_of)}"
                targets.append(var_of[n])
            fixed_read(run, targets, "    ")
            run.clear()

    for name, kind in layout:
        if name in var_of or any(n == name for n, _ in run):
            raise TypeError(f"{cls.__name__}.{name}: named twice in one release's reader")
        if isinstance(kind, str) and kind in _FIXED:
            run.append((name, kind))
            continue
        flush()
        if isinstance(kind, Check):
            args = args_of(kind.bad, name)
            # the message may name any field read so far
            named = {
                f.split(".")[0].split("[")[0] for _, f, _, _ in string.Formatter().parse(kind.message) if f
            }
            unknown = named - set(var_of)
            if unknown:
                raise TypeError(f"{cls.__name__}.{name}: message names {unknown}, not read before it")
            fmt = ", ".join(f"{a}={var_of[a]}" for a in sorted(named))
            lines.append(f"    if {new_name('T', kind.bad)}({', '.join(var_of[a] for a in args)}):")
            lines.append(f"        raise DecodeError({new_name('M', kind.message)}.format({fmt}))")
            continue
        var = f"v{len(var_of)}"
        read_one(name, kind, var, "    ")
        var_of[name] = var
    flush()

    _defaults(cls, var_of, ns)
    what = f"{cls.__name__}: record"
    src = ["def unpack(r):", "    data, pos, end = r.view()", "    start = pos", "    try:"]
    src += ["    " + line for line in lines]
    src += [
        "    except STRUCT_ERROR:",  # read past the whole buffer
        f"        raise short({what!r}, start, pos - start, end) from None",
        f"    if pos > end: raise short({what!r}, start, pos - start, end)",
        "    SETPOS(r, pos)",
    ]
    src += _construct(cls, names, var_of, ns)
    text = "\n".join(src) + "\n"
    _exec(text, f"<reader {cls.__module__}.{cls.__qualname__} {version:#06x}>", ns)
    unpack: Callable[[Reader], T] = ns["unpack"]
    return CompiledReader(unpack)


def reader_layout_at(table: Sequence[ReadEntry], version: int) -> tuple[tuple[str, ReadKind], ...]:
    """The entries of a reader ``table`` that ``version`` packs, in order."""
    return tuple((e[0], e[1]) for e in table if len(e) == 2 or version in e[2])


class VersionedReader(Generic[T]):
    """The decoders of one saved record in each release of ``versions``, compiled from one table."""

    def __init__(self, cls: type[T], table: Sequence[ReadEntry], versions: Sequence[int]) -> None:
        self.cls = cls
        self._readers = {v: compile_reader(cls, reader_layout_at(table, v), v) for v in versions}

    def unpacker(self, version: int) -> Callable[[Reader], T]:
        try:
            return self._readers[version].unpack
        except KeyError:
            name = release_name(version)
            raise VersionError(
                f"{self.cls.__name__}: no layout for protocol version {version:#06x} ({name})"
            ) from None

    def unpack(self, r: Reader, version: int) -> T:
        return self.unpacker(version)(r)

"""Framing of one SLURM message: length prefix, header, auth section, body.

::

    u32 length of what follows
    u16 version | u16 flags | u16 msg_type | u32 body_length
    u16 forward_cnt [str nodelist, u32 timeout, u16 tree_width]
    u16 ret_cnt     (replies only; flurm neither sends nor accepts forwarded replies)
    orig_addr       u16 family [AF_INET: u32 addr, u16 port | AF_INET6: mem(16), u16 port]
    u32 auth plugin id (101 = munge, 103 = auth/slurm) | str credential
    body            (body_length bytes)

Sans-IO: :class:`FrameDecoder` takes bytes as they arrive and yields :class:`Frame` objects (given a
body limit, it judges a frame's size from its header's fixed start, before the rest is read);
:func:`encode_frame` returns the bytes to send (:func:`encode_frame_head` those before the body).
Nothing here signs or verifies; ``auth/`` does. Which versions are accepted, and how their headers
differ, is ``versions``' rule.
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from flurm.protocol.constants import (
    AF_INET,
    AF_INET6,
    AF_UNSPEC,
    AUTH_PLUGIN_MUNGE,
    AUTH_PLUGIN_SLURM,
    PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SlurmRC,
)
from flurm.protocol.versions import VersionError as VersionError  # the header gate's error, re-exported
from flurm.protocol.versions import check_header, header_has_msg_index, knows_no_auth_flag
from flurm.protocol.wire import DecodeError, Reader, Writer

# slurmctld refuses messages above MAX_MSG_SIZE (1 GiB); a controller never needs more than this.
MAX_FRAME_SIZE = 256 * 1024 * 1024
# Header and auth section together: a forward nodelist (a compressed hostlist) and a credential of a
# few hundred bytes; anything near this is not a SLURM peer.
MAX_HEADER_SIZE = 64 * 1024
# The fixed start of a header (up to body_length) in every supported version: what a receiver reads
# first to learn the message type and body size before it reads, or allocates, anything else.
FRAME_PREFIX_SIZE = 12
# The smallest frame (header of 22.05 or later, no forward, AF_UNSPEC, no auth section, empty body):
# version, flags, msg_type, body_length, forward_cnt, ret_cnt, address family.
MIN_FRAME_LENGTH = 2 + 2 + 2 + 4 + 2 + 2 + 2
# Header flags (slurm_protocol_common.h) whose meaning changes the frame's layout.
SLURM_NO_AUTH_CRED = 0x0040  # from 23.11: no auth section follows the header (a reply, trusted connection)
SLURM_PACK_ADDRS = 0x0080  # from 23.11: a forward carries the nodes' addresses (net_cred)
NO_AUTH = 0  # Frame.auth_plugin of a frame without an auth section
# The auth plugins whose credential (one packstr) flurm can unpack; which of them a receiver accepts is
# its configuration's (AuthType, AuthAltTypes), judged in auth/.
AUTH_PLUGINS = frozenset({AUTH_PLUGIN_MUNGE, AUTH_PLUGIN_SLURM})
_U32 = struct.Struct(">I")
_PREFIX = struct.Struct(">HHHI")
_OLD_PREFIX = struct.Struct(">HHHHI")


class FrameTooLarge(DecodeError):
    """A frame announces a header or body larger than its message type may have; nothing of it was read."""

    rc = SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH

    def __init__(self, message: str, *, msg_type: int, version: int) -> None:
        super().__init__(message)
        self.msg_type = msg_type
        self.version = version


@dataclass(frozen=True, slots=True)
class FramePrefix:
    """What the first :data:`FRAME_PREFIX_SIZE` bytes after the length prefix say."""

    version: int
    msg_type: int
    body_length: int


def decode_frame_prefix(data: bytes) -> FramePrefix:
    """Version, message type and body length from the start of a frame (at least FRAME_PREFIX_SIZE
    bytes after the length prefix). Raises VersionError like :func:`decode_frame`."""
    if len(data) < FRAME_PREFIX_SIZE:
        raise DecodeError(f"frame shorter than its {FRAME_PREFIX_SIZE}-byte header prefix")
    version = int.from_bytes(data[:2], "big")
    check_header(version)
    if header_has_msg_index(version):
        _, _, _, msg_type, body_length = _OLD_PREFIX.unpack_from(data)
    else:
        _, _, msg_type, body_length = _PREFIX.unpack_from(data)
    return FramePrefix(version, msg_type, body_length)


def check_frame_size(length: int, prefix: FramePrefix, max_body: int) -> None:
    """Refuse a frame of ``length`` bytes (after the length prefix) whose header and auth section would
    exceed MAX_HEADER_SIZE or whose body exceeds ``max_body``: checked before the rest is read."""
    if prefix.body_length > length - MIN_FRAME_LENGTH:  # the smallest header must fit beside it
        raise DecodeError(
            f"body_length {prefix.body_length} does not fit in a frame of {length} bytes",
            rc=SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET,
        )
    if length - prefix.body_length > MAX_HEADER_SIZE:
        raise FrameTooLarge(
            f"header of {length - prefix.body_length} bytes exceeds {MAX_HEADER_SIZE}",
            msg_type=prefix.msg_type,
            version=prefix.version,
        )
    if prefix.body_length > max_body:
        raise FrameTooLarge(
            f"body of {prefix.body_length} bytes exceeds the {max_body} a message of type "
            f"{prefix.msg_type} may have",
            msg_type=prefix.msg_type,
            version=prefix.version,
        )


@dataclass(frozen=True, slots=True)
class Forward:
    """Forwarding request of the header (slurmctld fans messages out through slurmd trees)."""

    nodelist: str | None = None
    timeout: int = 0
    tree_width: int = 0
    count: int = 0
    net_cred: str | None = None  # 23.11+, with SLURM_PACK_ADDRS
    tree_depth: int = 0  # 24.11+


@dataclass(frozen=True, slots=True)
class Address:
    """slurm_addr_t as packed by slurm_pack_addr: host-order fields packed as network-order integers."""

    family: int = AF_UNSPEC
    addr: int | bytes = 0
    port: int = 0


@dataclass(frozen=True, slots=True)
class Header:
    msg_type: int
    version: int = PROTOCOL_VERSION
    flags: int = 0
    body_length: int = 0
    forward: Forward = field(default_factory=Forward)
    orig_addr: Address = field(default_factory=Address)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded message, auth still unverified."""

    header: Header
    auth_plugin: int  # NO_AUTH: the frame carried no auth section (SLURM_NO_AUTH_CRED)
    credential: bytes | None  # the "MUNGE:...:" text or the auth/slurm token, without its NUL
    body: bytes

    @property
    def msg_type(self) -> int:
        return self.header.msg_type

    @property
    def version(self) -> int:
        return self.header.version


def _read_address(r: Reader) -> Address:
    family = r.u16()
    if family == AF_INET:
        return Address(family, r.u32(), r.u16())
    if family == AF_INET6:
        raw = r.mem()
        if raw is None or len(raw) != 16:
            raise DecodeError("orig_addr: AF_INET6 address is not 16 bytes")
        return Address(family, raw, r.u16())
    return Address(family)


def _write_address(w: Writer, a: Address) -> None:
    w.u16(a.family)
    if a.family == AF_INET:
        assert isinstance(a.addr, int)
        w.u32(a.addr)
        w.u16(a.port)
    elif a.family == AF_INET6:
        assert isinstance(a.addr, bytes)
        w.mem(a.addr)
        w.u16(a.port)


def decode_frame(data: bytes) -> Frame:
    """Decode the bytes after the u32 length prefix."""
    r = Reader(data)
    version = r.u16()
    check_header(version)
    flags = r.u16()
    if header_has_msg_index(version):
        r.u16()  # msg_index, unused
    msg_type = r.u16()
    body_length = r.u32()
    fwd_cnt = r.u16()
    forward = Forward()
    if fwd_cnt:
        nodelist, timeout, width = r.string(), r.u32(), r.u16()
        net_cred = r.string() if knows_no_auth_flag(version) and flags & SLURM_PACK_ADDRS else None
        depth = r.u16() if version >= SLURM_24_11_PROTOCOL_VERSION else 0
        forward = Forward(nodelist, timeout, width, fwd_cnt, net_cred, depth)
    if r.u16():
        raise DecodeError("forwarded replies (ret_cnt > 0) are not accepted")
    orig_addr = _read_address(r)
    credential = None
    if knows_no_auth_flag(version) and flags & SLURM_NO_AUTH_CRED:
        auth_plugin = NO_AUTH  # whether that may be trusted is the receiver's decision (auth/)
    else:
        auth_plugin = r.u32()
        if auth_plugin not in AUTH_PLUGINS:
            raise DecodeError(f"auth plugin {auth_plugin} is not supported", rc=SlurmRC.ESLURM_AUTH_UNPACK)
        raw_cred = r.mem()
        if raw_cred is not None:
            credential = raw_cred[:-1] if raw_cred.endswith(b"\0") else raw_cred
    if body_length != r.remaining:
        raise DecodeError(
            f"body_length {body_length} does not match the {r.remaining} bytes that follow",
            rc=SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET,
        )
    header = Header(msg_type, version, flags, body_length, forward, orig_addr)
    return Frame(header, auth_plugin, credential, r.bytes(body_length))


def encode_frame_head(
    msg_type: int,
    body_length: int,
    credential: bytes | None,
    *,
    version: int = PROTOCOL_VERSION,
    flags: int = 0,
    forward: Forward | None = None,
    orig_addr: Address | None = None,
    auth_plugin: int = AUTH_PLUGIN_MUNGE,
) -> bytes:
    """Everything of a message before its body: length prefix, header, auth section.

    The body goes on the wire right after it; a large body can so be sent without copying it. A
    ``credential`` of None sends no auth section (SLURM_NO_AUTH_CRED: replies, from 23.11 on);
    ``auth_plugin`` is the id of the plugin that made it.
    """
    if credential is None:
        if not knows_no_auth_flag(version):
            raise ValueError(f"protocol version {version:#06x} has no messages without an auth section")
        flags |= SLURM_NO_AUTH_CRED
    w = Writer()
    w.u16(version)
    w.u16(flags)
    if header_has_msg_index(version):
        w.u16(0)  # msg_index
    w.u16(msg_type)
    w.u32(body_length)
    fwd = forward or Forward()
    w.u16(fwd.count)
    if fwd.count:
        w.string(fwd.nodelist)
        w.u32(fwd.timeout)
        w.u16(fwd.tree_width)
        if knows_no_auth_flag(version) and flags & SLURM_PACK_ADDRS:
            w.string(fwd.net_cred)
        if version >= SLURM_24_11_PROTOCOL_VERSION:
            w.u16(fwd.tree_depth)
    w.u16(0)  # ret_cnt
    _write_address(w, orig_addr or Address())
    if credential is not None:
        w.u32(auth_plugin)
        w.string(credential.decode("ascii"))
    head = w.getvalue()
    return _U32.pack(len(head) + body_length) + head


def encode_frame(
    msg_type: int,
    body: bytes,
    credential: bytes | None,
    *,
    version: int = PROTOCOL_VERSION,
    flags: int = 0,
    forward: Forward | None = None,
    orig_addr: Address | None = None,
    auth_plugin: int = AUTH_PLUGIN_MUNGE,
) -> bytes:
    """The full message, length prefix included."""
    head = encode_frame_head(
        msg_type,
        len(body),
        credential,
        version=version,
        flags=flags,
        forward=forward,
        orig_addr=orig_addr,
        auth_plugin=auth_plugin,
    )
    return head + body


class FrameDecoder:
    """Turns a byte stream into frames. Feed bytes with :meth:`feed`; take frames with :meth:`next_frame`.

    ``body_limit`` (a receiving server's): the largest body a message of a type may have. The frame's size
    is then judged from the first :data:`FRAME_PREFIX_SIZE` bytes of its header (version, type, body
    length): a header beyond MAX_HEADER_SIZE or a body beyond the limit raises :class:`FrameTooLarge`
    before more of it is needed. :meth:`needed` says how many bytes to read before the next decision, so
    a reader that reads that many never holds the body of a frame it refuses.
    """

    __slots__ = ("_body_limit", "_chunks", "_length", "_max", "_size", "_sized")

    def __init__(
        self, max_frame_size: int = MAX_FRAME_SIZE, *, body_limit: Callable[[int], int] | None = None
    ) -> None:
        self._chunks: deque[bytes] = deque()
        self._size = 0  # bytes in _chunks
        self._max = max_frame_size
        self._body_limit = body_limit
        self._length: int | None = None  # of the frame under way, once its length prefix is taken
        self._sized = False  # the frame under way passed the size checks of its header prefix

    def feed(self, data: bytes | bytearray | memoryview) -> None:
        if data:
            self._chunks.append(bytes(data))
            self._size += len(data)

    @property
    def at_frame_start(self) -> bool:
        """Nothing of a next frame has come yet."""
        return self._length is None and self._size == 0

    @property
    def in_length_prefix(self) -> bool:
        """Some but not all bytes of a length prefix have come."""
        return self._length is None and 0 < self._size < 4

    def needed(self) -> int:
        """How many more bytes until the next frame or the next check of it (4 when nothing is buffered)."""
        length = self._length
        if length is None:
            if self._size < 4:
                return 4 - self._size
            length = int(_U32.unpack(self._peek(4))[0])
            return max(0, 4 + (FRAME_PREFIX_SIZE if self._body_limit else length) - self._size)
        if self._body_limit is not None and not self._sized:
            return max(0, FRAME_PREFIX_SIZE - self._size)
        return max(0, length - self._size)

    def next_frame(self) -> Frame | None:
        """The next complete frame, or None if more bytes are needed. Raises DecodeError on a bad frame
        (VersionError, FrameTooLarge)."""
        if self._length is None:
            if self._size < 4:
                return None
            (length,) = _U32.unpack(self._take(4))
            if length > self._max or length < MIN_FRAME_LENGTH:
                raise DecodeError(
                    f"insane message length {length} (at most {self._max})",
                    rc=SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH,
                )
            self._length = length
        if self._body_limit is not None and not self._sized:
            if self._size < FRAME_PREFIX_SIZE:
                return None
            prefix = decode_frame_prefix(self._peek(FRAME_PREFIX_SIZE))
            check_frame_size(self._length, prefix, self._body_limit(prefix.msg_type))
            self._sized = True
        if self._size < self._length:
            return None
        data = self._take(self._length)
        self._length, self._sized = None, False
        return decode_frame(data)

    def _peek(self, n: int) -> bytes:
        """The first ``n`` buffered bytes (there are at least ``n``), left in the buffer."""
        if len(self._chunks[0]) < n:
            joined = b"".join(self._chunks)
            self._chunks.clear()
            self._chunks.append(joined)
        return self._chunks[0][:n]

    def _take(self, n: int) -> bytes:
        """The first ``n`` buffered bytes, taken out (a chunk that is exactly them is not copied)."""
        parts: list[bytes] = []
        want = n
        while want:
            chunk = self._chunks[0]
            if len(chunk) <= want:
                parts.append(self._chunks.popleft())
                want -= len(chunk)
            else:
                parts.append(chunk[:want])
                self._chunks[0] = chunk[want:]
                want = 0
        self._size -= n
        return parts[0] if len(parts) == 1 else b"".join(parts)

"""The sack socket ("Slurm's auth and cred kiosk"): where auth/slurm clients get their credentials.

A client never holds slurm.key, root's neither: libslurm (sack_api.c) connects to a unix socket served by a
daemon that does, which names the caller by the kernel's SO_PEERCRED and signs a token (context ``sack``)
for it. 24.11 clients try /run/slurm/sack.socket (sackd or slurmd), /run/slurmctld/sack.socket (slurmctld),
/run/slurmdbd/sack.socket in turn; 26.05's first try $SLURM_SACK_SOCKET (only that one when set) and
/run/slurm-<ClusterName>/sack.socket. slurmctld serves /run/slurmctld/sack.socket unless AuthInfo says
disable_sack; so does flurm in its place.

One request per connection (the same in both releases)::

    u16 version | u32 length (of what follows the version) | u32 rpc
    SACK_CREATE: u32 r_uid | packmem data      ->  packstr token (u32 length with the NUL, token, NUL)
    SACK_VERIFY: packstr token                  ->  u32 rc (0: verified for the caller's uid)

The codec is sans-IO (:func:`parse_request`, :func:`create_reply`, :func:`verify_reply`); :class:`SackServer`
is the asyncio server around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import stat
import struct
from dataclasses import dataclass

from flurm.auth.errors import AuthError
from flurm.auth.slurm_auth import AUTH_CONTEXTS, SackKeyError, SlurmAuthenticator
from flurm.protocol.wire import DecodeError, Reader

log = logging.getLogger(__name__)

SACK_CREATE = 64001
SACK_VERIFY = 64002
SACK_HEADER_LENGTH = 2 + 4 + 4
SLURMCTLD_SACK_SOCKET = "/run/slurmctld/sack.socket"
SLURM_ERROR = 0xFFFFFFFF  # -1 as the u32 rc of a refused verify
# A request carries a message hash (33 bytes) or a token (a few hundred bytes; a job credential's a few KiB).
MAX_REQUEST = 1024 * 1024
_HEADER = struct.Struct(">HII")
_U32 = struct.Struct(">I")
_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class SackRequest:
    version: int
    rpc: int
    r_uid: int = 0  # SACK_CREATE
    data: bytes = b""  # SACK_CREATE: the payload to sign (the message hash)
    token: bytes = b""  # SACK_VERIFY


def parse_header(head: bytes) -> tuple[int, int, int]:
    """(version, length, rpc) of the first SACK_HEADER_LENGTH bytes; the request is 2 + length bytes."""
    return _HEADER.unpack(head)


def parse_request(data: bytes) -> SackRequest:
    """A whole request (version, length, rpc and body). Raises DecodeError."""
    if len(data) < SACK_HEADER_LENGTH:
        raise DecodeError("sack request shorter than its header")
    version, length, rpc = parse_header(data[:SACK_HEADER_LENGTH])
    if len(data) != 2 + length:
        raise DecodeError(f"sack request of {len(data)} bytes, its length says {2 + length}")
    r = Reader(data[SACK_HEADER_LENGTH:])
    if rpc == SACK_CREATE:
        r_uid = r.u32()
        payload = r.mem() or b""
        return SackRequest(version, rpc, r_uid=r_uid, data=payload)
    if rpc == SACK_VERIFY:
        raw = r.mem() or b""
        return SackRequest(version, rpc, token=raw[:-1] if raw.endswith(b"\0") else raw)
    raise DecodeError(f"unexpected sack rpc={rpc}")


def create_request(r_uid: int, data: bytes, version: int) -> bytes:
    """What sack_create sends (for tests and tools)."""
    body = _U32.pack(SACK_CREATE) + _U32.pack(r_uid) + _U32.pack(len(data)) + data
    return struct.pack(">HI", version, 4 + len(body)) + body


def verify_request(token: bytes, version: int) -> bytes:
    """What sack_verify sends."""
    text = token + b"\0"
    body = _U32.pack(SACK_VERIFY) + _U32.pack(len(text)) + text
    return struct.pack(">HI", version, 4 + len(body)) + body


def create_reply(token: bytes) -> bytes:
    return _U32.pack(len(token) + 1) + token + b"\0"


def verify_reply(ok: bool) -> bytes:
    return _U32.pack(0 if ok else SLURM_ERROR)


def answer(auth: SlurmAuthenticator, request: SackRequest, uid: int, gid: int) -> bytes:
    """The reply to ``request`` from a process of ``uid``/``gid`` (as the kernel names it)."""
    if request.rpc == SACK_CREATE:
        token = auth.make_token(
            "sack", request.data, request.r_uid, uid=uid, gid=gid, version=request.version
        )
        return create_reply(token)
    try:
        claims = auth.read(request.token, decoder_uid=uid)
    except AuthError as exc:
        log.debug("sack: verify for uid %d refused: %s", uid, exc)
        return verify_reply(False)
    return verify_reply(claims.context in AUTH_CONTEXTS)


def prepare_run_dir(directory: str, slurm_user_uid: int) -> None:
    """sack.c ``_prepare_run_dir``: the socket's directory exists (made 0755 for SlurmUser), is a directory
    owned by SlurmUser (root: a warning), and holds no old socket. SackKeyError as SLURM's fatal()."""
    try:
        st = os.lstat(directory)
    except FileNotFoundError:
        try:
            os.mkdir(directory, 0o755)
            if os.getuid() != slurm_user_uid:
                os.chown(directory, slurm_user_uid, -1, follow_symlinks=False)
        except OSError as exc:
            raise SackKeyError(f"_prepare_run_dir: failed to create {directory}: {exc.strerror}") from None
        return
    if not stat.S_ISDIR(st.st_mode):
        raise SackKeyError(f"_prepare_run_dir: {directory} exists but is not a directory")
    if st.st_uid != slurm_user_uid:
        if st.st_uid:
            raise SackKeyError(f"_prepare_run_dir: {directory} exists but is owned by {st.st_uid}")
        log.warning("_prepare_run_dir: %s exists but is owned by root, not SlurmUser", directory)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, "sack.socket"))


class SackServer:
    """Serves the sack socket at ``path`` (its file name must be sack.socket, as SLURM's)."""

    def __init__(
        self, auth: SlurmAuthenticator, path: str = SLURMCTLD_SACK_SOCKET, *, slurm_user_uid: int = 0
    ):
        self.auth = auth
        self.path = path
        self.slurm_user_uid = slurm_user_uid
        self._server: asyncio.AbstractServer | None = None
        self.served = 0

    async def start(self) -> None:
        prepare_run_dir(os.path.dirname(self.path) or ".", self.slurm_user_uid)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
            sock.bind(self.path)
            os.chmod(self.path, 0o777)  # anyone may ask: the kernel says who asks (SLURM binds with umask 0)
        except OSError as exc:
            sock.close()
            raise SackKeyError(
                f"init_sack_conmgr: [{self.path}] Unable to bind UNIX socket: {exc.strerror}"
            ) from None
        self._server = await asyncio.start_unix_server(self._handle, sock=sock)
        log.info("sack socket at %s", self.path)

    async def close(self) -> None:
        # SLURM leaves the socket file: another daemon of this host may own the path by now
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            _pid, uid, gid = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
            head = await asyncio.wait_for(reader.readexactly(SACK_HEADER_LENGTH), 10)
            _version, length, _rpc = parse_header(head)
            if not 8 <= length <= MAX_REQUEST:
                raise DecodeError(f"sack request length {length}")
            rest = await asyncio.wait_for(reader.readexactly(length - 8), 10)
            request = parse_request(head + rest)
            writer.write(answer(self.auth, request, uid, gid))
            await writer.drain()
            self.served += 1
        except (DecodeError, OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            log.info("sack: dropping a connection: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

"""SLURM RPC over TCP, both directions, on asyncio.

Server side: one request per connection as SLURM does (a connection may carry more; we keep reading
until the peer closes). Each frame is read with a bound on its size and a deadline, its credential
verified (see :class:`Signer` for when that happens on the loop and when in a thread), its body decoded,
handed to the dispatcher, and the reply signed and written back. A bad frame closes that connection
only; nothing escapes to the server.

Client side: :func:`call` opens a connection, sends one signed request, and returns the verified
reply (or nothing, for messages that get none).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flurm.auth.authenticator import Authenticator, AuthError, Identity
from flurm.auth.errors import AuthServiceError
from flurm.errors import SlurmError
from flurm.protocol.constants import PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.frame import MAX_FRAME_SIZE, Frame, VersionError, decode_frame, encode_frame_head
from flurm.protocol.messages import Body, decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode, ReturnCodeMsg
from flurm.protocol.wire import WireError

log = logging.getLogger("flurm.rpc")
_U32 = struct.Struct(">I")
# bodies at least this big go to the socket as they are instead of being copied behind the header
_COPY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    msg_type: int
    body: Body
    identity: Identity
    frame: Frame
    peer: tuple[str, int]

    @property
    def uid(self) -> int:
        return self.identity.uid

    @property
    def gid(self) -> int:
        return self.identity.gid


@dataclass(frozen=True, slots=True)
class Reply:
    msg_type: int
    body: Body | None = None
    raw_body: bytes | None = None  # already-encoded body (cached records)

    def decoded(self) -> Body | None:
        """The reply's body as an object (decoding an already-encoded one)."""
        if self.body is not None:
            return self.body
        if self.raw_body is None:
            return None
        return decode_body(self.msg_type, self.raw_body)


Dispatcher = Callable[[Request], Awaitable[Reply | None]]


def rc_reply(rc: int, message: str | None = None) -> Reply:
    if message:
        return Reply(MsgType.RESPONSE_SLURM_RC_MSG, ReturnCodeMsg(rc, message))
    return Reply(MsgType.RESPONSE_SLURM_RC, ReturnCode(rc))


class Signer:
    """Signs and verifies credentials without stalling the event loop for long.

    A libmunge call is a round trip to munged over its unix socket (a fraction of a millisecond). Handing
    it to a worker thread costs more than that: two thread switches, GIL hand-overs and a wake-up of the
    loop, about a third of the CPU time of a small RPC. So a message whose body is smaller than
    ``inline_limit`` bytes is signed or verified on the loop itself, by an authenticator that does not
    retry (it fails at once when munged is unreachable). The thread pool takes larger bodies (hashing
    them takes milliseconds), and takes everything for ``cooldown`` seconds after an inline call failed
    on munged's side (:class:`AuthServiceError`; the call is then repeated in the pool, with retries) or
    took longer than ``slow_call`` seconds. ``inline_limit=0`` sends every call to the pool.
    """

    def __init__(
        self,
        auth: Authenticator,
        workers: int = 8,
        *,
        inline_limit: int = 64 * 1024,
        slow_call: float = 0.05,
        cooldown: float = 5.0,
    ) -> None:
        self.auth = auth
        self._quick = auth.without_retries()
        self.inline_limit = inline_limit
        self.slow_call = slow_call
        self.cooldown = cooldown
        self._pool_until = 0.0  # monotonic time until which every call goes to the pool
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="flurm-munge")

    def _inline(self, size: int) -> bool:
        return size < self.inline_limit and time.monotonic() >= self._pool_until

    def _use_pool_for_a_while(self, why: str) -> None:
        if time.monotonic() >= self._pool_until:
            log.warning("munge: %s; signing and verifying in worker threads for %.0f s", why, self.cooldown)
        self._pool_until = time.monotonic() + self.cooldown

    async def sign(self, msg_type: int, body: bytes, uid_restriction: int | None = None) -> bytes:
        if self._inline(len(body)):
            started = time.monotonic()
            try:
                return self._quick.sign(msg_type, body, uid_restriction=uid_restriction)
            except AuthServiceError as exc:
                self._use_pool_for_a_while(f"encode failed on the event loop ({exc})")
            finally:
                if time.monotonic() - started > self.slow_call:
                    self._use_pool_for_a_while("a call to munged was slow")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self.auth.sign(msg_type, body, uid_restriction=uid_restriction)
        )

    async def verify(self, msg_type: int, body: bytes, credential: bytes | None) -> Identity:
        if self._inline(len(body)):
            started = time.monotonic()
            try:
                return self._quick.verify(msg_type, body, credential)
            except AuthServiceError as exc:
                self._use_pool_for_a_while(f"decode failed on the event loop ({exc})")
            finally:
                if time.monotonic() - started > self.slow_call:
                    self._use_pool_for_a_while("a call to munged was slow")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.auth.verify, msg_type, body, credential)

    async def sign_payload(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.auth.sign_payload, payload, uid_restriction)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def read_frame(
    reader: asyncio.StreamReader, timeout: float, max_size: int = MAX_FRAME_SIZE
) -> Frame | None:
    """The next frame, or None at a clean end of stream. Raises WireError or TimeoutError.

    ``timeout`` bounds the whole frame (one timer, no extra task per read).
    """
    async with asyncio.timeout(timeout):
        try:
            head = await reader.readexactly(4)
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                return None
            raise WireError("connection closed inside a length prefix") from None
        (length,) = _U32.unpack(head)
        if length > max_size or length < 10:
            raise WireError(f"insane message length {length}", rc=SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH)
        try:
            data = await reader.readexactly(length)
        except asyncio.IncompleteReadError:
            raise WireError("connection closed inside a message") from None
    return decode_frame(data)


def write_frame(
    writer: asyncio.StreamWriter,
    msg_type: int,
    body: bytes,
    credential: bytes,
    version: int = PROTOCOL_VERSION,
) -> None:
    """Queue one message on ``writer``. A large body is written as it is, not copied behind its header."""
    head = encode_frame_head(msg_type, len(body), credential, version=version)
    if len(body) < _COPY_LIMIT:
        writer.write(head + body)
    else:
        writer.write(head)
        writer.write(body)


class RpcServer:
    """Serves SLURM RPCs on one TCP endpoint."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        signer: Signer,
        *,
        message_timeout: float = 10.0,
        name: str = "rpc",
    ) -> None:
        self.dispatcher = dispatcher
        self.signer = signer
        self.message_timeout = message_timeout
        self.name = name
        self._servers: list[asyncio.base_events.Server] = []
        self._conns: set[asyncio.Task[None]] = set()
        self.requests_served = 0
        self.on_request: Callable[[int, float, bool], None] | None = None  # msg_type, seconds, ok

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        server = await asyncio.start_server(
            self._accept, host, port, reuse_address=True, reuse_port=reuse_port, backlog=1024
        )
        self._servers.append(server)

    @property
    def ports(self) -> list[int]:
        out = []
        for s in self._servers:
            for sock in s.sockets:
                out.append(sock.getsockname()[1])
        return out

    async def close_listeners(self) -> None:
        for s in self._servers:
            s.close()
        for s in self._servers:
            with contextlib.suppress(Exception):
                await s.wait_closed()
        self._servers.clear()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, then let in-flight requests finish within ``grace`` seconds."""
        for s in self._servers:
            s.close()
        if self._conns:
            _, pending = await asyncio.wait(set(self._conns), timeout=grace)
            for t in pending:
                t.cancel()
        self._servers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        try:
            await self._serve(reader, writer)
        finally:
            self._conns.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = (str(peername[0]), int(peername[1]))
        loop = asyncio.get_running_loop()
        while True:
            try:
                frame = await read_frame(reader, self.message_timeout)
            except VersionError as exc:
                log.warning("%s: %s from %s", self.name, exc, peer)
                await self._send(writer, rc_reply(exc.rc), None)
                return
            except (WireError, TimeoutError, ConnectionError) as exc:
                log.info("%s: dropping connection from %s: %s", self.name, peer, exc)
                return
            if frame is None:
                return
            started = loop.time()
            try:
                identity = await self.signer.verify(frame.msg_type, frame.body, frame.credential)
            except AuthError as exc:
                # slurmctld closes the connection on an authentication failure (no reply).
                log.warning(
                    "%s: %s from %s: authentication failed: %s", self.name, _name(frame.msg_type), peer, exc
                )
                return
            try:
                body = decode_body(frame.msg_type, frame.body, frame.version)
            except WireError as exc:
                log.warning("%s: malformed %s from %s: %s", self.name, _name(frame.msg_type), peer, exc)
                return
            request = Request(frame.msg_type, body, identity, frame, peer)
            ok = True
            try:
                reply = await self.dispatcher(request)
            except SlurmError as exc:
                reply = rc_reply(exc.rc, exc.message)
                ok = False
            except Exception:
                log.exception("%s: handler for %s failed", self.name, _name(frame.msg_type))
                reply = rc_reply(SlurmRC.SLURM_ERROR)
                ok = False
            self.requests_served += 1
            if reply is not None:
                try:
                    await self._send(writer, reply, identity.uid, frame.version)
                except (ConnectionError, OSError) as exc:
                    log.info("%s: reply to %s lost: %s", self.name, peer, exc)
                    return
            if self.on_request is not None:
                self.on_request(frame.msg_type, loop.time() - started, ok)

    async def _send(
        self, writer: asyncio.StreamWriter, reply: Reply, uid: int | None, version: int = PROTOCOL_VERSION
    ) -> None:
        body = reply.raw_body if reply.raw_body is not None else encode_body(reply.body, version)  # type: ignore[arg-type]
        cred = await self.signer.sign(reply.msg_type, body, uid)
        write_frame(writer, reply.msg_type, body, cred, version)
        await writer.drain()


def _name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return str(msg_type)


_SMALL_REPLIES = frozenset({MsgType.RESPONSE_SLURM_RC, MsgType.RESPONSE_SLURM_RC_MSG})


@dataclass(frozen=True, slots=True)
class Response:
    msg_type: int
    body: Body | None
    identity: Identity
    raw: bytes = b""  # the body as it came on the wire


async def call(
    host: str,
    port: int,
    msg_type: int,
    body: Body | bytes,
    signer: Signer,
    *,
    timeout: float = 10.0,
    expect_reply: bool = True,
    uid_restriction: int | None = None,
    connect_timeout: float | None = None,
    decode: bool = True,
) -> Response | None:
    """Send one request and return the verified, decoded reply (None when none is expected).

    With ``decode=False`` the body of a reply of a big type is left as bytes (``Response.raw``) for the
    caller to cut up; small replies (return codes) are still decoded.
    """
    raw = body if isinstance(body, bytes) else encode_body(body)
    cred = await signer.sign(msg_type, raw, uid_restriction)
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), connect_timeout if connect_timeout is not None else timeout
    )
    try:
        write_frame(writer, msg_type, raw, cred)
        await writer.drain()
        if not expect_reply:
            return None
        frame = await read_frame(reader, timeout)
        if frame is None:
            raise ConnectionError(f"{host}:{port} closed the connection without a reply")
        identity = await signer.verify(frame.msg_type, frame.body, frame.credential)
        if not decode and frame.msg_type not in _SMALL_REPLIES:
            return Response(frame.msg_type, None, identity, frame.body)
        body = decode_body(frame.msg_type, frame.body, frame.version)
        return Response(frame.msg_type, body, identity, frame.body)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

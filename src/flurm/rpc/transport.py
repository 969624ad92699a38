"""SLURM RPC over TCP, both directions, on asyncio.

Server side: one request per connection as SLURM does (a connection may carry more; we keep reading
until the peer closes, or until a request gets no answer: slurmctld closes the connection then).
Connections beyond a total and a per-address cap are closed unread. Each frame
is read with a deadline, its header first: a body larger than its message type may have
(``protocol.limits``) is not read. Then its credential is verified (see :class:`Signer` for when that
happens on the loop and when in a thread), its body decoded, handed to the dispatcher, and the reply
signed and written back. A request that fails after its header was read is answered with the SLURM
return code :func:`error_rc` gives (slurmctld closes such connections without a word; an answer lets
the client say why), except an authentication failure, which closes the connection as slurmctld
does. Each failure closes that connection only; nothing escapes to the server, and a flood of them
logs a line per kind and interval (:class:`LogThrottle`).

A REQUEST_PERSIST_INIT the dispatcher accepts (:attr:`Reply.serves`: slurmdbd's, for accounting
updates) turns the connection persistent: from then on each message is a u32 length, a u16 type and a
body, with no header and no credential, dispatched in the init's name and answered the same way
(:meth:`RpcServer._serve_persistent`).

Client side: :func:`call` opens a connection, sends one signed request, and returns the verified
reply (or nothing, for messages that get none).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from flurm.auth.authenticator import CONNECTION_PEER, Authenticator, AuthError, Identity
from flurm.auth.errors import AuthServiceError
from flurm.errors import SlurmError, rc_of
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE, PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.frame import (
    MAX_FRAME_SIZE,
    NO_AUTH,
    Frame,
    FrameDecoder,
    FrameTooLarge,
    Header,
    VersionError,
    encode_frame_head,
)
from flurm.protocol.limits import BodyLimits
from flurm.protocol.messages import Body, body_class, decode_body, encode_body
from flurm.protocol.messages.common import Opaque, ReturnCode, ReturnCodeMsg
from flurm.protocol.messages.persist import (
    PERSIST_HEAD_SIZE,
    PersistRc,
    persist_frame,
    persist_head,
    persist_msg,
)
from flurm.protocol.versions import replies_without_auth
from flurm.protocol.wire import EncodeError, WireError

log = logging.getLogger("flurm.rpc")
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
    raw_version: int = PROTOCOL_VERSION  # the protocol version raw_body is encoded in
    # raw_body is a whole persistent-connection message (protocol.messages.persist): it goes out
    # behind its length alone, with no header and no credential, and the connection ends after it...
    persistent: bool = False
    # ...unless it accepted a persistent connection: then the connection carries persistent messages
    # of these types (in raw_version, from the requester's identity) until the peer closes it
    serves: frozenset[int] = frozenset()

    def decoded(self) -> Body | None:
        """The reply's body as an object (decoding an already-encoded one)."""
        if self.body is not None:
            return self.body
        if self.raw_body is None:
            return None
        return decode_body(self.msg_type, self.raw_body, self.raw_version)


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

    async def sign(
        self,
        msg_type: int,
        body: bytes,
        uid_restriction: int | None = None,
        version: int = PROTOCOL_VERSION,
        plugin: int | None = None,
    ) -> bytes:
        """A credential of auth plugin ``plugin`` (None: AuthType's; ``plugin_id`` says which that is)."""
        if self._inline(len(body)):
            started = time.monotonic()
            try:
                return self._quick.sign(
                    msg_type, body, uid_restriction=uid_restriction, version=version, plugin=plugin
                )
            except AuthServiceError as exc:
                self._use_pool_for_a_while(f"encode failed on the event loop ({exc})")
            finally:
                if time.monotonic() - started > self.slow_call:
                    self._use_pool_for_a_while("a call to munged was slow")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool,
            lambda: self.auth.sign(
                msg_type, body, uid_restriction=uid_restriction, version=version, plugin=plugin
            ),
        )

    async def verify(
        self,
        msg_type: int,
        body: bytes,
        credential: bytes | None,
        version: int = PROTOCOL_VERSION,
        plugin: int | None = None,
    ) -> Identity:
        if self._inline(len(body)):
            started = time.monotonic()
            try:
                return self._quick.verify(msg_type, body, credential, version=version, plugin=plugin)
            except AuthServiceError as exc:
                self._use_pool_for_a_while(f"decode failed on the event loop ({exc})")
            finally:
                if time.monotonic() - started > self.slow_call:
                    self._use_pool_for_a_while("a call to munged was slow")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, lambda: self.auth.verify(msg_type, body, credential, version=version, plugin=plugin)
        )

    def plugin_id(self, plugin: int | None = None) -> int:
        """The auth plugin id a credential signed for ``plugin`` travels under."""
        return self.auth.select(plugin).plugin_id

    async def sign_payload(
        self, payload: bytes, uid_restriction: int | None = None, auth: Authenticator | None = None
    ) -> bytes:
        """A credential over ``payload`` made by ``auth`` (None: the messages' authenticator), in the pool."""
        loop = asyncio.get_running_loop()
        signer = self.auth if auth is None else auth
        return await loop.run_in_executor(self._pool, signer.sign_payload, payload, uid_restriction)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def read_frame(
    reader: asyncio.StreamReader,
    timeout: float,
    max_size: int = MAX_FRAME_SIZE,
    body_limit: Callable[[int], int] | None = None,
) -> Frame | None:
    """The next frame, or None at a clean end of stream. Raises WireError or TimeoutError.

    ``timeout`` bounds the whole frame (one timer, no extra task per read). The bytes go through a
    :class:`FrameDecoder`, read as many at a time as it needs for its next step: with ``body_limit`` (the
    server), the header's fixed start first, so that a frame whose header or body is larger than allowed
    (``body_limit`` of its message type) raises :class:`FrameTooLarge` before anything more of it is read.
    """
    decoder = FrameDecoder(max_size, body_limit=body_limit)
    async with asyncio.timeout(timeout):
        while (frame := decoder.next_frame()) is None:
            try:
                decoder.feed(await reader.readexactly(decoder.needed()))
            except asyncio.IncompleteReadError as exc:
                if decoder.at_frame_start and not exc.partial:
                    return None
                if decoder.in_length_prefix or (decoder.at_frame_start and exc.partial):
                    raise WireError("connection closed inside a length prefix") from None
                raise WireError("connection closed inside a message") from None
    return frame


def write_frame(
    writer: asyncio.StreamWriter,
    msg_type: int,
    body: bytes,
    credential: bytes | None,
    version: int = PROTOCOL_VERSION,
    auth_plugin: int = AUTH_PLUGIN_MUNGE,
) -> None:
    """Queue one message on ``writer``. A large body is written as it is, not copied behind its header.
    A ``credential`` of None: no auth section (a reply from 24.11 on, versions.replies_without_auth)."""
    head = encode_frame_head(msg_type, len(body), credential, version=version, auth_plugin=auth_plugin)
    if len(body) < _COPY_LIMIT:
        writer.write(head + body)
    else:
        writer.write(head)
        writer.write(body)


# slurmctld's listen backlog (SLURM_DEFAULT_LISTEN_BACKLOG)
LISTEN_BACKLOG = 4096
# Connections served at once, in all and from one peer address. slurmctld serves 256 at a time and lets
# the rest wait in the backlog; flurm's connections are cheap, so it serves many more (thousands of
# nodes registering at once). A connection beyond a cap waits, unread, for a slot (a burst of clients
# from one login node is served, as slurmctld would, only later); it is closed unread when more than
# MAX_WAITING already wait, or when no slot comes within the message timeout.
MAX_CONNECTIONS = 4096
MAX_CONNECTIONS_PER_PEER = 256
MAX_WAITING = 4096
# A persistent connection (slurmdbd's, for accounting updates) may wait this long for its next message
# before flurm closes it (slurmctld waits forever; slurmdbd reopens a connection it finds closed).
PERSISTENT_IDLE_TIMEOUT = 3600.0


def error_rc(exc: BaseException, *, decoding: bool = False) -> int:
    """The SLURM return code a request that failed with ``exc`` is answered with.

    ``decoding``: the request's body could not be decoded; slurmctld records
    ESLURM_PROTOCOL_INCOMPLETE_PACKET for any unpack failure, SLURM_PROTOCOL_VERSION_ERROR for a
    version it cannot read. Otherwise a handler or the reply's encoder failed: a flurm error carries
    its code (:func:`rc_of`), anything else is SLURM_ERROR.
    """
    rc = rc_of(exc)
    if decoding and rc != SlurmRC.SLURM_PROTOCOL_VERSION_ERROR:
        return SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
    return rc


class LogThrottle:
    """At most one log line per ``interval`` seconds for one kind of event; the events in between are
    counted and the count goes with the next line logged (a flood of bad connections is a few lines)."""

    def __init__(
        self, logger: logging.Logger, interval: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self._quiet_until = float("-inf")
        self.suppressed = 0

    def log(self, level: int, msg: str, *args: object) -> bool:
        """Log this line unless one was logged less than ``interval`` ago; True if logged."""
        now = self.clock()
        if now < self._quiet_until:
            self.suppressed += 1
            return False
        if self.suppressed:
            msg += " (and %d more in the last %.0f s, not logged)"
            args = (*args, self.suppressed, self.interval)
        self.logger.log(level, msg, *args)
        self.suppressed = 0
        self._quiet_until = now + self.interval
        return True


class RpcServer:
    """Serves SLURM RPCs on one TCP endpoint."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        signer: Signer,
        *,
        message_timeout: float = 10.0,
        name: str = "rpc",
        limits: BodyLimits | None = None,
        max_connections: int = MAX_CONNECTIONS,
        max_connections_per_peer: int = MAX_CONNECTIONS_PER_PEER,
        max_waiting: int = MAX_WAITING,
        log_interval: float = 10.0,
        persistent_idle_timeout: float = PERSISTENT_IDLE_TIMEOUT,
        refuse_undecoded: Callable[[int, int], int | None] | None = None,
    ) -> None:
        self.dispatcher = dispatcher
        # (msg_type, uid) -> the rc to answer without decoding the body (a body only a privileged sender may
        # have decoded: a large one would otherwise cost its decoding before the handler's refusal), or None
        self.refuse_undecoded = refuse_undecoded
        self.persistent_idle_timeout = persistent_idle_timeout
        self.signer = signer
        self.message_timeout = message_timeout
        self.name = name
        self.limits = limits or BodyLimits()
        self.max_connections = max_connections
        self.max_connections_per_peer = max_connections_per_peer
        self.max_waiting = max_waiting
        self._waiting = 0
        self._slot_freed = asyncio.Event()  # set (and replaced) whenever a connection ends
        self._servers: list[asyncio.base_events.Server] = []
        self._conns: set[asyncio.Task[None]] = set()
        # connections waiting for their next request (not yet whole): closed at once on stop
        self._idle: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._stopping = False
        self._per_peer: dict[str, int] = {}
        self.refused_connections = 0
        self.log_interval = log_interval
        self._log_throttles: dict[str, LogThrottle] = {}
        self.requests_served = 0
        # after each request served: msg_type, uid, seconds, ok
        self.on_request: Callable[[int, int, float, bool], None] | None = None

    async def listen(self, host: str, port: int, *, reuse_port: bool = False) -> None:
        server = await asyncio.start_server(
            self._accept, host, port, reuse_address=True, reuse_port=reuse_port, backlog=LISTEN_BACKLOG
        )
        self._servers.append(server)

    @property
    def active_connections(self) -> int:
        """Connections being served now (sdiag's server thread count)."""
        return len(self._conns)

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
        """Stop accepting, close the connections that wait for a request (an idle client must not hold
        the shutdown up), and let the requests being served finish within ``grace`` seconds."""
        self._stopping = True
        self._slot_freed.set()  # connections waiting for a slot give up
        for s in self._servers:
            s.close()
        for writer in self._idle.values():
            writer.transport.abort()
        if self._conns:
            _, pending = await asyncio.wait(set(self._conns), timeout=grace)
            for t in pending:
                t.cancel()
        self._servers.clear()

    def _log(self, kind: str, level: int, msg: str, *args: object) -> None:
        """Log a failure of some kind: at most one line per ``log_interval`` seconds for each kind."""
        throttle = self._log_throttles.get(kind)
        if throttle is None:
            throttle = self._log_throttles[kind] = LogThrottle(log, self.log_interval)
        throttle.log(level, msg, *args)

    def _has_slot(self, host: str) -> bool:
        return (
            len(self._conns) < self.max_connections
            and self._per_peer.get(host, 0) < self.max_connections_per_peer
        )

    async def _admit(self, host: str) -> bool:
        """Count a new connection from ``host`` in once it is under both caps; False when it may not
        wait for that (too many wait already, no slot within the message timeout, or stopping)."""
        if not self._has_slot(host) and (
            self._waiting >= self.max_waiting or not await self._wait_for_slot(host)
        ):
            self.refused_connections += 1
            self._log(
                "over cap",
                logging.WARNING,
                "%s: refusing a connection from %s: %d connections open, %d from that address, "
                "%d waiting (caps %d, %d and %d)",
                self.name,
                host,
                len(self._conns),
                self._per_peer.get(host, 0),
                self._waiting,
                self.max_connections,
                self.max_connections_per_peer,
                self.max_waiting,
            )
            return False
        self._per_peer[host] = self._per_peer.get(host, 0) + 1
        return True

    async def _wait_for_slot(self, host: str) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.message_timeout
        self._waiting += 1
        try:
            while not self._has_slot(host):
                left = deadline - loop.time()
                if left <= 0 or self._stopping:
                    return False
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slot_freed.wait(), left)
            return not self._stopping
        finally:
            self._waiting -= 1

    def _release(self, host: str) -> None:
        left = self._per_peer[host] - 1
        if left:
            self._per_peer[host] = left
        else:
            del self._per_peer[host]
        if self._waiting:
            self._slot_freed.set()
            self._slot_freed = asyncio.Event()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername") or ("?", 0)
        peer = (str(peername[0]), int(peername[1]))
        task = asyncio.current_task()
        assert task is not None
        if not await self._admit(peer[0]):
            writer.transport.abort()  # closed, nothing read or answered
            return
        self._conns.add(task)
        try:
            await self._serve(reader, writer, peer)
        except Exception:  # a bug of ours: this connection ends, the server goes on
            log.exception("%s: connection from %s failed", self.name, peer)
        finally:
            self._conns.discard(task)
            self._release(peer[0])
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: tuple[str, int]
    ) -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        while not self._stopping:
            self._idle[task] = writer
            try:
                frame = await read_frame(reader, self.message_timeout, body_limit=self.limits.for_type)
            except VersionError as exc:
                self._log("version", logging.WARNING, "%s: %s from %s", self.name, exc, peer)
                await self._send_rc(writer, exc.rc, None, PROTOCOL_VERSION, peer)
                return
            except FrameTooLarge as exc:
                self._log(
                    "too large",
                    logging.WARNING,
                    "%s: refusing %s from %s: %s",
                    self.name,
                    _name(exc.msg_type),
                    peer,
                    exc,
                )
                await self._send_rc(writer, exc.rc, None, exc.version, peer)
                return
            except (WireError, TimeoutError, ConnectionError) as exc:
                self._log(
                    "dropped", logging.INFO, "%s: dropping connection from %s: %s", self.name, peer, exc
                )
                return
            finally:
                self._idle.pop(task, None)
            if frame is None:
                return
            started = loop.time()
            try:
                identity = await self.signer.verify(
                    frame.msg_type, frame.body, frame.credential, frame.version, frame.auth_plugin
                )
            except AuthError as exc:
                # slurmctld closes the connection on an authentication failure (no reply).
                self._log(
                    "auth",
                    logging.WARNING,
                    "%s: %s from %s: authentication failed: %s",
                    self.name,
                    _name(frame.msg_type),
                    peer,
                    exc,
                )
                return
            refused = self.refuse_undecoded(frame.msg_type, identity.uid) if self.refuse_undecoded else None
            if refused is not None:
                self._log(
                    "rights",
                    logging.WARNING,
                    "%s: %s from uid %d at %s refused before decoding",
                    self.name,
                    _name(frame.msg_type),
                    identity.uid,
                    peer,
                )
                await self._send_rc(writer, refused, identity.uid, frame.version, peer)
                return
            try:
                if body_class(frame.msg_type) is None:
                    body: Body = Opaque(frame.body)  # the dispatcher decides (answer, forward or refuse)
                else:
                    body = decode_body(frame.msg_type, frame.body, frame.version)
            except Exception as exc:  # whatever hostile bytes make a codec raise (RecursionError too)
                self._log(
                    "malformed",
                    logging.WARNING,
                    "%s: malformed %s from %s: %s",
                    self.name,
                    _name(frame.msg_type),
                    peer,
                    exc if isinstance(exc, WireError) else repr(exc),
                )
                rc = error_rc(exc, decoding=True)
                await self._send_rc(writer, rc, identity.uid, frame.version, peer)
                return
            request = Request(frame.msg_type, body, identity, frame, peer)
            reply = await self._dispatch(request, started)
            if reply is not None and not await self._answer(writer, reply, identity.uid, frame, peer):
                return
            # after a request it does not answer slurmctld closes the connection (so does flurm after
            # a persistent connection's answer, unless that accepted the connection)
            if reply is not None and reply.serves:
                await self._serve_persistent(reader, writer, peer, identity, reply)
            if reply is None or reply.persistent:
                return

    async def _dispatch(self, request: Request, started: float) -> Reply | None:
        """The dispatcher's reply to ``request``; a handler's failure becomes its return code."""
        ok = True
        try:
            reply = await self.dispatcher(request)
        except SlurmError as exc:
            reply = rc_reply(exc.rc, exc.message)
            ok = False
        except Exception as exc:
            log.exception("%s: handler for %s failed", self.name, _name(request.msg_type))
            reply = rc_reply(error_rc(exc))
            ok = False
        self.requests_served += 1
        if self.on_request is not None:
            self.on_request(request.msg_type, request.uid, asyncio.get_running_loop().time() - started, ok)
        return reply

    async def _serve_persistent(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: tuple[str, int],
        identity: Identity,
        accepted: Reply,
    ) -> None:
        """A persistent connection ``accepted`` opened (slurmctld's _process_persist_conn): each message
        is a u32 length, a u16 type and a body in the accepted version, with no header and no credential
        (its sender is the one the REQUEST_PERSIST_INIT's credential proved). A type it serves goes to
        the dispatcher like any request and its answer comes back in the same framing; another is
        answered EINVAL, a body that cannot be decoded a PERSIST_RC, as slurmctld answers them. Closed
        when the peer closes it, after a bad length, or after ``persistent_idle_timeout`` idle."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        version = accepted.raw_version
        while not self._stopping:
            self._idle[task] = writer
            try:
                async with asyncio.timeout(self.persistent_idle_timeout):
                    head = await reader.readexactly(PERSIST_HEAD_SIZE)
                msg_type, length = persist_head(head, self.limits.for_type)
                async with asyncio.timeout(self.message_timeout):
                    raw = await reader.readexactly(length)
            except (asyncio.IncompleteReadError, WireError, TimeoutError, ConnectionError) as exc:
                closed = isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
                why = "closed by the peer" if closed else (str(exc) or type(exc).__name__)
                self._log(
                    "persistent",
                    logging.INFO,
                    "%s: persistent connection from %s ends: %s",
                    self.name,
                    peer,
                    why,
                )
                return
            finally:
                self._idle.pop(task, None)
            started = loop.time()
            reply: Reply | None
            if msg_type not in accepted.serves:
                reply = rc_reply(errno.EINVAL)
            else:
                try:
                    body = decode_body(msg_type, raw, version)
                except Exception as exc:  # whatever hostile bytes make a codec raise
                    self._log(
                        "malformed",
                        logging.WARNING,
                        "%s: malformed %s from %s: %s",
                        self.name,
                        _name(msg_type),
                        peer,
                        exc,
                    )
                    failed = PersistRc(
                        SlurmRC.SLURM_ERROR, f"Failed to unpack {_name(msg_type)} message", ret_info=msg_type
                    )
                    reply = Reply(MsgType.PERSIST_RC, failed)
                else:
                    frame = Frame(Header(msg_type, version, body_length=length), NO_AUTH, None, raw)
                    reply = await self._dispatch(Request(msg_type, body, identity, frame, peer), started)
            if reply is None:
                return
            try:
                writer.write(
                    persist_frame(persist_msg(reply.msg_type, self._encode(reply, version), version))
                )
                await writer.drain()
            except Exception as exc:
                log.info("%s: reply to %s on its persistent connection lost: %s", self.name, peer, exc)
                return

    async def _answer(
        self, writer: asyncio.StreamWriter, reply: Reply, uid: int, frame: Frame, peer: tuple[str, int]
    ) -> bool:
        """Send ``reply``; if it cannot be encoded in the peer's version, the return code saying why.
        False when the connection is done for."""
        if reply.persistent:
            assert reply.raw_body is not None
            try:
                writer.write(persist_frame(reply.raw_body))
                await writer.drain()
            except (ConnectionError, OSError) as exc:
                log.info("%s: reply to %s lost: %s", self.name, peer, exc)
                return False
            return True
        try:
            body = self._encode(reply, frame.version)
        except Exception as exc:
            log.warning(
                "%s: reply %s to %s from %s cannot be sent: %s",
                self.name,
                _name(reply.msg_type),
                _name(frame.msg_type),
                peer,
                exc,
            )
            await self._send_rc(writer, error_rc(exc), uid, frame.version, peer)
            return False
        try:
            await self._send_encoded(writer, reply.msg_type, body, uid, frame.version, frame.auth_plugin)
        except (ConnectionError, OSError, AuthError) as exc:
            log.info("%s: reply to %s lost: %s", self.name, peer, exc)
            return False
        return True

    async def _send_rc(
        self, writer: asyncio.StreamWriter, rc: int, uid: int | None, version: int, peer: tuple[str, int]
    ) -> None:
        """Answer with a bare return code before closing (best effort: the peer may be gone)."""
        try:
            await self._send(writer, rc_reply(rc), uid, version)
        except (ConnectionError, OSError, AuthError) as exc:
            log.info("%s: error reply to %s lost: %s", self.name, peer, exc)

    @staticmethod
    def _encode(reply: Reply, version: int) -> bytes:
        """The reply's body in ``version``'s layout (an already-encoded body only in its raw_version)."""
        if reply.raw_body is not None:
            if version != reply.raw_version:
                raise EncodeError(
                    f"{_name(reply.msg_type)} is at hand in protocol version {reply.raw_version:#06x} only",
                    rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
                )
            return reply.raw_body
        assert reply.body is not None
        return encode_body(reply.body, version)

    async def _send_encoded(
        self,
        writer: asyncio.StreamWriter,
        msg_type: int,
        body: bytes,
        uid: int | None,
        version: int,
        plugin: int | None = None,
    ) -> None:
        # from 24.11 a reply goes without a credential, as slurmctld's: the peer opened the connection.
        # Before, it is made by the plugin of the request (SLURM's auth_index), else by AuthType's.
        if plugin == NO_AUTH:
            plugin = None
        if replies_without_auth(version):
            write_frame(writer, msg_type, body, None, version)
        else:
            cred = await self.signer.sign(msg_type, body, uid, version, plugin)
            write_frame(writer, msg_type, body, cred, version, self.signer.plugin_id(plugin))
        await writer.drain()

    async def _send(
        self, writer: asyncio.StreamWriter, reply: Reply, uid: int | None, version: int = PROTOCOL_VERSION
    ) -> None:
        await self._send_encoded(writer, reply.msg_type, self._encode(reply, version), uid, version)


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
    version: int = PROTOCOL_VERSION,
) -> Response | None:
    """Send one request in protocol ``version`` and return the verified, decoded reply (None when none is
    expected).

    With ``decode=False`` the body of a reply of a big type is left as bytes (``Response.raw``) for the
    caller to cut up; small replies (return codes) are still decoded. A reply without an auth section
    (24.11 on) is trusted as the connection flurm opened, as SLURM trusts it.
    """
    raw = body if isinstance(body, bytes) else encode_body(body, version)
    cred = await signer.sign(msg_type, raw, uid_restriction, version)  # AuthType's
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port), connect_timeout if connect_timeout is not None else timeout
    )
    try:
        write_frame(writer, msg_type, raw, cred, version, signer.plugin_id())
        await writer.drain()
        if not expect_reply:
            return None
        frame = await read_frame(reader, timeout)
        if frame is None:
            raise ConnectionError(f"{host}:{port} closed the connection without a reply")
        if frame.auth_plugin == NO_AUTH:
            identity = CONNECTION_PEER
        else:
            identity = await signer.verify(
                frame.msg_type, frame.body, frame.credential, frame.version, frame.auth_plugin
            )
        if not decode and frame.msg_type not in _SMALL_REPLIES:
            return Response(frame.msg_type, None, identity, frame.body)
        body = decode_body(frame.msg_type, frame.body, frame.version)
        return Response(frame.msg_type, body, identity, frame.body)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()

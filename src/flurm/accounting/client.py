"""The persistent connection to slurmdbd, as slurmctld's accounting_storage/slurmdbd keeps it.

Open: REQUEST_PERSIST_INIT (persist_type DBD) signed through the munge socket AccountingStoragePass names
(SLURM_GLOBAL_AUTH_KEY), answered by a PERSIST_RC whose ret_info is the version to speak (:meth:`_connect`
says how flurm finds the release slurmdbd takes). Then, as
slurmctld at start: DBD_REGISTER_CTLD with flurm's port, DBD_CLUSTER_TRES (an answer of
ACCOUNTING_FIRST_REG, NODES_CHANGE_DB or TRES_CHANGE_DB asks for what slurmdbd lacks: ``send_all``),
then the spool, oldest first: one record alone, several together in a DBD_SEND_MULT_MSG (1000 at most),
as slurmctld's agent does.

What an answer means (slurmdbd_agent.c): a record is done only when slurmdbd answered it with
SLURM_SUCCESS (PERSIST_RC or DBD_ID_RC); in a DBD_GOT_MULT_MSG the answers count in order up to the
first that is not a success. A record not done stays first in line and is sent again after
``retry`` seconds, on the same connection. A connection that fails (refused, closed, silent for
``timeout``) is opened again after a backoff. Nothing here blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from flurm.auth.authenticator import Authenticator, AuthError, MungeAuthenticator
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import SLURM_26_05_PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.errors import FlurmError
from flurm.protocol.messages.base import Body, encode_body
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    ClusterTres,
    RegisterCtld,
    persist_init_head,
    registered_cluster_id,
)
from flurm.protocol.messages.dbd_jobs import (
    DB_INDEX_PENDING,
    DBD_JOB_BODIES,
    DbdIdRc,
    DbdJobStart,
    DbdMultMsg,
    DbdStepComplete,
    DbdStepStart,
    decode_dbd_msg,
)
from flurm.protocol.messages.persist import (
    PERSIST_TYPE_DBD,
    PersistInitRequest,
    PersistRc,
    persist_frame,
    persist_msg,
)
from flurm.protocol.versions import DBD_SPOKEN, release_name
from flurm.protocol.wire import DecodeError, WireError
from flurm.rpc.transport import Signer
from flurm.state.store import StoreError

from .spool import Spool

log = logging.getLogger("flurm.accounting")

SLURMDBD_PORT = 6819
# The layout of the spool's records: the newest release's, which carries every field of the older ones, so
# a record is sent in the release slurmdbd took (:func:`in_version`) whatever it was when it was queued.
SPOOL_VERSION = DBD_SPOKEN[0]
MAX_ANSWER = 64 * 1024 * 1024  # an answer to records is a few bytes per record
MULT_MAX_RECORDS = 1000  # slurmctld's agent sends at most about this many per DBD_SEND_MULT_MSG
MULT_MAX_BYTES = 16 * 1024 * 1024
# CLUSTER_TRES answers asking the controller to send what slurmdbd lacks (acct_storage_p_send_all)
SEND_ALL_RCS = frozenset(
    {MsgType.ACCOUNTING_FIRST_REG, MsgType.ACCOUNTING_NODES_CHANGE_DB, MsgType.ACCOUNTING_TRES_CHANGE_DB}
)


class AssocLoader(Protocol):
    """The association queries slurmctld sends after registering, and where their answers go
    (enforcement.py)."""

    def queries(self, version: int) -> list[tuple[DbdMsgType, bytes]]: ...
    def answers(self, answers: Sequence[tuple[int, bytes]], version: int) -> None: ...


class DbdError(FlurmError):
    """slurmdbd refused the connection or answered what cannot be read: the connection is dropped."""

    rc = SlurmRC.ESLURM_DB_CONNECTION


@dataclass(frozen=True, slots=True)
class DbdSettings:
    host: str
    port: int
    cluster: str
    auth_info: str | None  # AccountingStoragePass: the munge socket to sign with (None: munged's default)
    timeout: float  # seconds to wait for an answer (slurmctld: MessageTimeout + 35)

    @classmethod
    def from_config(cls, config: SlurmConfig) -> DbdSettings:
        raw = config.raw
        port = raw.get("accountingstorageport") or ""
        return cls(
            host=raw.get("accountingstoragehost") or "localhost",
            port=int(port) if port.isdigit() and int(port) else SLURMDBD_PORT,
            cluster=config.cluster_name,
            auth_info=raw.get("accountingstoragepass") or None,
            timeout=float(config.message_timeout + 35),
        )

    def authenticator(self) -> Authenticator:
        """auth/munge with AccountingStoragePass as its AuthInfo (_global_auth_key)."""
        return MungeAuthenticator.from_slurm_conf(self.auth_info)


@dataclass
class DbdStats:
    connected: bool = False
    connects: int = 0
    sent: int = 0  # records slurmdbd took
    refused: int = 0  # answers that were not a success
    last_error: str | None = None


class DbdClient:
    """``register`` and ``cluster_tres`` build the start-up messages at each connection (the cluster as it
    is then); ``send_all(rc, event_time)`` queues what slurmdbd asked for; ``active`` (the mode's say)
    decides whether the connection is held at all.

    ``on_connect`` hooks run after the registration, before the cluster's TRES, as slurmctld loads its
    associations there (assoc_mgr_init); they and anyone else may :meth:`request` on the connection, one
    exchange at a time with the spool's. ``on_id_rc(record, answer)`` hears each DBD_ID_RC a record got
    (the db_index of a job start)."""

    def __init__(
        self,
        settings: DbdSettings,
        signer: Signer,
        spool: Spool,
        *,
        register: Callable[[], RegisterCtld],
        cluster_tres: Callable[[], ClusterTres],
        send_all: Callable[[int, int], None],
        assocs: AssocLoader | None = None,
        retry: float = 10.0,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.settings = settings
        self.signer = signer
        self.spool = spool
        self.register = register
        self.cluster_tres = cluster_tres
        self.send_all = send_all
        self.assocs = assocs
        self.on_connect: list[Callable[[DbdClient], Awaitable[None]]] = []
        self.on_id_rc: Callable[[bytes, DbdIdRc], None] | None = None
        self.retry = retry
        # set once a connection went through its start-up (associations loaded) or failed: what the
        # daemon waits for before it serves, as slurmctld loads its associations before it listens
        self.settled = asyncio.Event()
        self.backoff = backoff
        self.stats = DbdStats()
        self.version = DBD_SPOKEN[0]  # what slurmdbd took last (the next connection announces it first)
        self.cluster_id: int | None = None  # the cluster's id in slurmdbd, as it answered the registration
        self._active = asyncio.Event()
        self._inactive = asyncio.Event()
        self._inactive.set()
        self._stream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._turn = asyncio.Lock()  # one exchange at a time on the connection

    # -- mode -------------------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self._active.is_set()

    def set_active(self, active: bool) -> None:
        if active:
            self._inactive.clear()
            self._active.set()
        else:
            self._active.clear()
            self._inactive.set()

    # -- the loop ---------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Hold the connection while active, until ``stop``."""
        delay = self.backoff[0]
        while not stop.is_set():
            if not await _first(self._active.wait(), stop.wait()) or stop.is_set():
                continue
            try:
                await _first(self._session(), stop.wait(), self._inactive.wait())
                delay = self.backoff[0]
            except (OSError, TimeoutError, DbdError, WireError, AuthError, StoreError) as exc:
                self.settled.set()
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "slurmdbd %s:%s: %s (%d records wait; again in %.1f s)",
                    self.settings.host,
                    self.settings.port,
                    self.stats.last_error,
                    len(self.spool),
                    delay,
                )
                await _first(asyncio.sleep(delay), stop.wait())
                delay = min(delay * 2, self.backoff[1])

    async def _session(self) -> None:
        host, port = self.settings.host, self.settings.port
        reader, writer = await self._connect(self.settings.timeout)
        try:
            self._stream = (reader, writer)
            self.stats.connected = True
            self.stats.connects += 1
            log.info("connected to slurmdbd %s:%s (SLURM %s)", host, port, release_name(self.version))
            await self._start_up()
            self.settled.set()
            await self._send_spool()
        finally:
            self._stream = None
            self.stats.connected = False
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _connect(self, timeout: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection slurmdbd took, in the newest release both speak (``self.version``).

        slurmdbd reads a connection in the version its PERSIST_INIT announces (header and body alike, as
        slurmctld sends its own) and answers with that version in ret_info; a slurmdbd older than the
        release announced cannot read the header (SLURM_PROTOCOL_VERSION_ERROR, or it closes), a newer one
        takes its own and the three releases before. slurmctld never meets an older slurmdbd; flurm, which
        speaks several releases, announces the one slurmdbd took last, then each other it speaks, newest
        first, on a new connection each. A silent slurmdbd or a failed credential ends the search."""
        tried: list[str] = []
        for version in dict.fromkeys((self.version, *DBD_SPOKEN)):
            where = (self.settings.host, self.settings.port)
            reader, writer = await asyncio.wait_for(asyncio.open_connection(*where), timeout)
            try:
                await asyncio.wait_for(self._open(reader, writer, version), timeout)
            except (DbdError, ConnectionError, DecodeError) as exc:
                await _close(writer)
                tried.append(f"{release_name(version)}: {exc}")
                continue
            except BaseException:
                await _close(writer)
                raise
            if version != self.version:
                log.info("slurmdbd takes protocol version %#06x (SLURM %s)", version, release_name(version))
            self.version = version
            return reader, writer
        raise DbdError(f"slurmdbd took none of the releases flurm speaks ({'; '.join(tried)})")

    async def _open(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, version: int) -> None:
        init = PersistInitRequest(version, self.settings.cluster, PERSIST_TYPE_DBD, 0)
        body = encode_body(init, version)
        cred = await self.signer.sign(MsgType.REQUEST_PERSIST_INIT, body, None, version)
        writer.write(persist_init_head(body, cred, version, self.signer.plugin_id()) + body)
        await writer.drain()
        rc_msg = _answer(await self._read(reader), version)
        if not isinstance(rc_msg, PersistRc):
            raise DbdError(f"slurmdbd answered the connection with {type(rc_msg).__name__}")
        if rc_msg.rc != SlurmRC.SLURM_SUCCESS:
            raise DbdError(f"slurmdbd refused the connection: rc {rc_msg.rc} {rc_msg.comment or ''}".rstrip())
        if rc_msg.ret_info != version:
            raise DbdError(f"slurmdbd answered protocol version {rc_msg.ret_info:#06x} to {version:#06x}")

    async def _start_up(self) -> None:
        version = self.version
        reg = persist_msg(DbdMsgType.DBD_REGISTER_CTLD, self.register(), version)
        rc = answer_rc(await self.request(reg), version)
        if (cluster_id := registered_cluster_id(rc)) is not None:
            self.cluster_id, rc = cluster_id, SlurmRC.SLURM_SUCCESS
        if rc != SlurmRC.SLURM_SUCCESS:
            # slurmctld goes on (and dies only when it enforces associations: assocs decide that)
            log.error("slurmdbd did not register the cluster %s: rc %d", self.settings.cluster, rc)
        if self.assocs is not None:
            await self._load_assocs(self.assocs)
        for hook in self.on_connect:
            await hook(self)
        tres = self.cluster_tres()
        rc = answer_rc(await self.request(persist_msg(DbdMsgType.DBD_CLUSTER_TRES, tres, version)), version)
        if rc in SEND_ALL_RCS:
            self.send_all(rc, tres.event_time)
        elif rc != SlurmRC.SLURM_SUCCESS:
            log.error("slurmdbd refused the cluster's TRES: rc %d", rc)

    async def _load_assocs(self, assocs: AssocLoader) -> None:
        """DBD_GET_TRES, _QOS, _USERS, _ASSOCS and their answers, as slurmctld asks them at each connection
        (a refused query, or an answer that does not read, keeps what the cache had)."""
        answers = []
        try:
            queries = assocs.queries(self.version)
        except WireError as exc:  # a release whose association layouts flurm does not know
            log.error("slurmdbd's associations are not loaded: %s", exc)
            return
        for msg_type, body in queries:
            answer = await self.request(struct.pack(">H", msg_type) + body)
            answers.append((struct.unpack_from(">H", answer)[0], answer[2:]))
        try:
            assocs.answers(answers, self.version)
        except WireError as exc:
            log.error("slurmdbd's associations could not be read: %s", exc)

    async def _send_spool(self) -> None:
        spool = self.spool
        while True:
            await spool.changed.wait()
            await spool.durable()  # never send a record a crash could lose here and slurmdbd keep
            batch = spool.head(MULT_MAX_RECORDS, MULT_MAX_BYTES)
            if not batch:
                continue
            version = self.version
            sent = [in_version(record, SPOOL_VERSION, version) for record in batch]
            if len(batch) == 1:
                answer = await self.request(sent[0])
                self._heard(batch[0], answer)
                done = 1 if (rc := answer_rc(answer, version)) == SlurmRC.SLURM_SUCCESS else 0
            else:
                answer = await self.request(_mult_msg(sent, version))
                done, rc, answers = _mult_answer(answer, len(batch), version)
                for record, answer in zip(batch, answers, strict=False):
                    self._heard(record, answer)
            if done:
                spool.answered(done)
                self.stats.sent += done
                await spool.durable()
            if done < len(batch):
                self.stats.refused += 1
                log.warning(
                    "slurmdbd answered rc %d to a record (type %d); it is sent again in %.0f s",
                    rc,
                    struct.unpack_from(">H", batch[done])[0],
                    self.retry,
                )
                await asyncio.sleep(self.retry)

    def _heard(self, record: bytes, answer: bytes) -> None:
        if self.on_id_rc is None:
            return
        body = _answer(answer, self.version)
        if isinstance(body, DbdIdRc):
            self.on_id_rc(record, body)

    # -- one exchange -----------------------------------------------------------------------------
    async def request(self, msg: bytes) -> bytes:
        """Send one message (``u16 type + body``) on the connection and return slurmdbd's answer."""
        async with self._turn:
            if self._stream is None:
                raise DbdError("not connected to slurmdbd")
            reader, writer = self._stream
            writer.write(persist_frame(msg))
            await writer.drain()
            return await self._read(reader)

    async def _read(self, reader: asyncio.StreamReader) -> bytes:
        async def read() -> bytes:
            (length,) = struct.unpack(">I", await reader.readexactly(4))
            if not 2 <= length <= MAX_ANSWER:
                raise DecodeError(f"slurmdbd sent a message of {length} bytes")
            return await reader.readexactly(length)

        try:
            return await asyncio.wait_for(read(), self.settings.timeout)
        except asyncio.IncompleteReadError:
            raise ConnectionError("slurmdbd closed the connection") from None
        except TimeoutError:
            raise TimeoutError(f"no answer from slurmdbd in {self.settings.timeout:.0f} s") from None

    async def probe(self, timeout: float = 10.0) -> None:
        """One PERSIST_INIT handshake on a connection of its own, then closed (nothing registered or
        sent): whether slurmdbd takes flurm's credential and a release flurm speaks (``self.version``
        then names it; the takeover's pre-flight). Raises what a failed connection raises."""
        _, writer = await self._connect(timeout)
        await _close(writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()


# every record the spool holds (the sink's and slurmctld's, at a takeover)
RECORD_BODIES: dict[DbdMsgType, type[Body]] = {**DBD_CONN_BODIES, **DBD_JOB_BODIES}


def in_version(record: bytes, packed: int, version: int) -> bytes:
    """``record`` (u16 type + body, packed in ``packed``) as ``version`` packs it (a field the older
    release lacks is left out; before 26.05 a job's sluid is neither its db_index nor in its step ids:
    that slurmdbd gives the db_index). WireError when it does not read or ``version`` is not spoken."""
    if packed == version:
        return record
    msg_type, body = decode_dbd_msg(record, packed, RECORD_BODIES)
    if version < SLURM_26_05_PROTOCOL_VERSION:
        body = _without_sluid(body)
    return persist_msg(msg_type, body, version)


def _without_sluid(body: Body) -> Body:
    changes: dict[str, object] = {}
    db_index = getattr(body, "db_index", 0)
    if db_index >> 52 and db_index != DB_INDEX_PENDING:  # a sluid: the cluster's id in the top 12 bits
        changes["db_index"] = 0
    if isinstance(body, DbdStepStart | DbdStepComplete) and body.step_id.sluid:
        changes["step_id"] = dataclasses.replace(body.step_id, sluid=0)
    if isinstance(body, DbdJobStart):
        changes["sluid"] = 0
    return dataclasses.replace(body, **changes) if changes else body  # type: ignore[type-var]


# what slurmdbd answers the connection and the records with
_ANSWERS: dict[DbdMsgType, type[Body]] = {
    DbdMsgType(MsgType.PERSIST_RC): PersistRc,
    DbdMsgType.DBD_ID_RC: DbdIdRc,
    DbdMsgType.DBD_GOT_MULT_MSG: DbdMultMsg,
}


def _answer(msg: bytes, version: int) -> PersistRc | DbdIdRc | DbdMultMsg:
    _, body = decode_dbd_msg(msg, version, _ANSWERS)
    assert isinstance(body, PersistRc | DbdIdRc | DbdMultMsg)
    return body


def answer_rc(msg: bytes, version: int) -> int:
    """The return code of slurmdbd's answer to one message: a PERSIST_RC or a DBD_ID_RC."""
    body = _answer(msg, version)
    if isinstance(body, PersistRc):
        return body.rc
    if isinstance(body, DbdIdRc):
        return body.return_code - (1 << 32) if body.return_code >= 1 << 31 else body.return_code
    raise DecodeError("slurmdbd answered one record with DBD_GOT_MULT_MSG")


def _mult_msg(batch: list[bytes], version: int) -> bytes:
    return persist_msg(DbdMsgType.DBD_SEND_MULT_MSG, DbdMultMsg(tuple(batch)), version)


def _mult_answer(msg: bytes, sent: int, version: int) -> tuple[int, int, tuple[bytes, ...]]:
    """How many of the records sent together slurmdbd took (in order, up to the first that failed), the
    return code that stopped them (0 when all were taken), and the answers."""
    body = _answer(msg, version)
    if isinstance(body, PersistRc):  # the whole message failed
        return 0, body.rc, ()
    if not isinstance(body, DbdMultMsg):
        raise DecodeError("slurmdbd answered records sent together with DBD_ID_RC")
    answers = body.messages or ()
    if len(answers) > sent:
        raise DecodeError(f"slurmdbd answered {len(answers)} records of {sent}")
    done = 0
    for inner in answers:
        rc = answer_rc(inner, version)
        if rc != SlurmRC.SLURM_SUCCESS:
            return done, rc, answers
        done += 1
    return done, SlurmRC.SLURM_SUCCESS if done == sent else SlurmRC.SLURM_ERROR, answers


async def _first(*aws: object) -> bool:
    """Run the awaitables until the first ends (its error raised), cancel the others. True when the
    first one given ended first."""
    tasks = [asyncio.ensure_future(a) for a in aws]  # type: ignore[call-overload]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
    for t in done:
        t.result()
    return tasks[0] in done

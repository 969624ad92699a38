"""The slurmdbd connection and its spool against a fake slurmdbd that speaks the persistent-connection
protocol: start-up order, the spool's order, batching, durability across a restart, reconnection, and
what an answer that is not a success does."""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flurm.accounting.client import SPOOL_VERSION, DbdClient, DbdSettings, in_version
from flurm.accounting.spool import Spool
from flurm.auth.authenticator import FakeAuthenticator
from flurm.protocol.constants import MsgType
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.frame import decode_frame
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.dbd_conn import (
    DBD_CONN_BODIES,
    DBD_NODE_STATE_DOWN,
    ClusterTres,
    NodeState,
    RegisterCtld,
)
from flurm.protocol.messages.dbd_jobs import DbdIdRc, decode_dbd_msg
from flurm.protocol.messages.persist import PERSIST_TYPE_DBD, PersistInitRequest, PersistRc, persist_msg
from flurm.protocol.wire import Reader, Writer
from flurm.rpc.transport import Signer
from flurm.state.store import Store

V = SPOOL_VERSION  # the fake speaks the newest release unless told otherwise
V2205, V2411 = 0x2600, 0x2A00


def decode(msg: bytes, version: int) -> tuple[int, object]:
    return decode_dbd_msg(msg, version, DBD_CONN_BODIES)


def record(n: int) -> bytes:
    """A distinct DBD_NODE_STATE record."""
    return persist_msg(DbdMsgType.DBD_NODE_STATE, NodeState(f"n{n}", DBD_NODE_STATE_DOWN, 1000 + n, "r"), V)


UNPACK_FAILED = "Failed to unpack SLURM_PERSIST_INIT message"


def rc_msg(rc: int, ret_info: int) -> bytes:
    return persist_msg(MsgType.PERSIST_RC, PersistRc(rc, None, 0, ret_info), V)


@dataclass
class FakeDbd:
    """Answers as slurmdbd does; ``records`` holds every record it received, in order (a batch flattened).
    ``rc_for(record)`` says what it answers a record; ``hang_up_on`` a record it never answers (it closes)."""

    inits: list[PersistInitRequest] = field(default_factory=list)
    takes: frozenset[int] = frozenset({V})  # the header versions it reads (its release's window)
    announced: list[int] = field(default_factory=list)  # the header version of every PERSIST_INIT
    starts: list[int] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)
    batches: list[int] = field(default_factory=list)
    rc_for: Callable[[bytes], int] = lambda _m: 0
    hang_up_on: set[bytes] = field(default_factory=set)
    id_rc_for: set[bytes] = field(default_factory=set)  # records answered DBD_ID_RC (job starts)
    tres_rc: int = MsgType.ACCOUNTING_FIRST_REG
    got: asyncio.Event = field(default_factory=asyncio.Event)
    server: asyncio.Server | None = None
    port: int = 0
    conns: list[asyncio.StreamWriter] = field(default_factory=list)

    async def start(self, port: int = 0) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in self.conns:  # slurmdbd gone: its connections end too
            w.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.conns.append(writer)

        async def read() -> bytes:
            (n,) = struct.unpack(">I", await reader.readexactly(4))
            return await reader.readexactly(n)

        def send(msg: bytes) -> None:
            writer.write(struct.pack(">I", len(msg)) + msg)

        try:
            await self._exchange(read, send)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _exchange(self, read: Callable[[], Awaitable[bytes]], send: Callable[[bytes], None]) -> None:
        init = await read()
        assert struct.unpack_from(">H", init)[0] == MsgType.REQUEST_PERSIST_INIT
        frame = decode_frame(init[2:])
        assert frame.credential is not None and frame.credential.startswith(b"FAKE:")
        version = frame.header.version
        self.announced.append(version)
        if version not in self.takes:  # as slurmdbd answers a header it cannot read
            send(persist_msg(MsgType.PERSIST_RC, PersistRc(1005, UNPACK_FAILED, 0, 6500), V))
            return
        body = decode_body(MsgType.REQUEST_PERSIST_INIT, frame.body, version)
        assert isinstance(body, PersistInitRequest) and body.version == version
        self.inits.append(body)
        send(rc_msg(0, body.version))
        while True:
            msg = await read()
            t = struct.unpack_from(">H", msg)[0]
            if t == DbdMsgType.DBD_GET_TRES:  # a query of an on_connect hook
                self.starts.append(t)
                send(rc_msg(0, t))
            elif t in (DbdMsgType.DBD_REGISTER_CTLD, DbdMsgType.DBD_CLUSTER_TRES):
                self.starts.append(t)
                decode(msg, version)
                rc = 0
                if t == DbdMsgType.DBD_CLUSTER_TRES:
                    rc, self.tres_rc = self.tres_rc, 0
                send(rc_msg(rc, t))
            elif t == DbdMsgType.DBD_SEND_MULT_MSG:
                r = Reader(msg, 2)
                inner = [r.mem() or b"" for _ in range(r.u32())]
                self.batches.append(len(inner))
                w = Writer()
                w.u16(DbdMsgType.DBD_GOT_MULT_MSG)
                answers = []
                for m in inner:
                    if m in self.hang_up_on:
                        return
                    self.records.append(m)
                    rc = self.rc_for(m)
                    answers.append(self._answer(m, rc))
                    if rc:
                        break
                w.u32(len(answers))
                for a in answers:
                    w.mem(a)
                w.u32(0)
                send(w.getvalue())
            else:
                if msg in self.hang_up_on:
                    return
                self.batches.append(1)
                self.records.append(msg)
                send(self._answer(msg, self.rc_for(msg)))
            self.got.set()

    def _answer(self, record: bytes, rc: int) -> bytes:
        if record in self.id_rc_for:
            return persist_msg(DbdMsgType.DBD_ID_RC, DbdIdRc(7, 99, 0, rc), V)
        return rc_msg(rc, struct.unpack_from(">H", record)[0])


def settings(port: int) -> DbdSettings:
    return DbdSettings("127.0.0.1", port, "c1", None, timeout=5.0)


@contextlib.asynccontextmanager
async def running(
    tmp: Path, port: int, saved: bool = True, setup: Callable[[DbdClient], None] | None = None
) -> AsyncIterator[tuple[DbdClient, Spool, Store, list[tuple[int, int]]]]:
    store = Store(tmp / "flurm.sqlite")
    loaded = store.open()
    spool = Spool(store, loaded.dbd_spool if saved else None)
    asked: list[tuple[int, int]] = []
    client = DbdClient(
        settings(port),
        Signer(FakeAuthenticator(), workers=1),
        spool,
        register=lambda: RegisterCtld(6817, 1, 0x80, 109),
        cluster_tres=lambda: ClusterTres(2000, "n[1-2]", "1=2"),
        send_all=lambda rc, t: asked.append((rc, t)),
        retry=0.2,
        backoff=(0.05, 0.2),
    )
    if setup is not None:
        setup(client)  # before it connects
    client.set_active(True)
    stop = asyncio.Event()
    task = asyncio.create_task(client.run(stop))
    try:
        yield client, spool, store, asked
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        await asyncio.get_running_loop().run_in_executor(None, store.close)


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def test_start_up_then_the_spool_in_order_batched_when_several_wait(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd()
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, asked):
            for n in range(5):
                spool.append(record(n))  # queued before the connection is up: they go together
            await until(lambda: len(dbd.records) == 5)
            spool.append(record(5))
            await until(lambda: len(dbd.records) == 6)
            await until(lambda: len(spool) == 0)
            assert dbd.inits == [PersistInitRequest(V, "c1", PERSIST_TYPE_DBD, 0)]
            assert dbd.starts == [DbdMsgType.DBD_REGISTER_CTLD, DbdMsgType.DBD_CLUSTER_TRES]
            assert asked == [(MsgType.ACCOUNTING_FIRST_REG, 2000)]
            assert dbd.records == [record(n) for n in range(6)]
            assert dbd.batches[-1] == 1 and sum(dbd.batches) == 6 and max(dbd.batches) > 1
            assert client.stats.sent == 6
        await dbd.stop()

    asyncio.run(main())


def test_records_wait_for_slurmdbd_and_survive_a_restart_of_flurm(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd()
        await dbd.start()
        port = dbd.port
        await dbd.stop()  # slurmdbd away
        async with running(tmp_path, port) as (client, spool, store, _):
            for n in range(3):
                spool.append(record(n))
            await spool.durable()
            await until(lambda: client.stats.last_error is not None)
            assert len(spool) == 3
        # flurm restarts: the store still holds them, in order
        store = Store(tmp_path / "flurm.sqlite")
        assert [m for _, m in store.open().dbd_spool] == [record(n) for n in range(3)]
        store.close()
        dbd2 = FakeDbd()
        await dbd2.start(port)
        async with running(tmp_path, port) as (client, spool, _store, _):
            spool.append(record(3))
            await until(lambda: len(dbd2.records) == 4 and len(spool) == 0)
            assert dbd2.records == [record(n) for n in range(4)]
        store = Store(tmp_path / "flurm.sqlite")
        assert store.open().dbd_spool == []  # answered: gone from the store too
        store.close()
        await dbd2.stop()

    asyncio.run(main())


def test_an_answered_record_is_not_sent_again_after_a_reconnection(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd()
        await dbd.start()
        port = dbd.port
        async with running(tmp_path, port) as (client, spool, _store, _):
            spool.append(record(0))
            await until(lambda: dbd.records == [record(0)] and len(spool) == 0)
            await dbd.stop()  # slurmdbd restarts
            spool.append(record(1))
            spool.append(record(2))
            await asyncio.sleep(0.3)
            dbd2 = FakeDbd()
            await dbd2.start(port)
            await until(lambda: len(dbd2.records) == 2 and len(spool) == 0)
            assert dbd2.records == [record(1), record(2)]
            assert client.stats.connects == 2
        await dbd2.stop()

    asyncio.run(main())


def test_a_record_left_unanswered_is_sent_again_on_the_next_connection(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd(hang_up_on={record(1)})
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            spool.append(record(0))
            await until(lambda: len(spool) == 0)
            spool.append(record(1))
            await until(lambda: client.stats.connects >= 2)
            dbd.hang_up_on.clear()
            await until(lambda: len(spool) == 0)
            assert dbd.records == [record(0), record(1)]
        await dbd.stop()

    asyncio.run(main())


def test_a_refused_record_stays_first_and_the_ones_before_it_in_a_batch_are_done(tmp_path: Path) -> None:
    async def main() -> None:
        refuse = {record(2)}
        dbd = FakeDbd(rc_for=lambda m: 1 if m in refuse else 0)
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            for n in range(4):
                spool.append(record(n))
            await until(lambda: dbd.records.count(record(2)) >= 2)  # sent again after `retry`
            assert len(spool) == 2  # 0 and 1 were taken; 2 and 3 wait, in order
            refuse.clear()
            await until(lambda: len(spool) == 0)
            taken = [m for m in dbd.records if m != record(2)] + [record(2)]
            assert sorted(taken) == sorted([record(0), record(1), record(2), record(3)])
            assert dbd.records[-2:] == [record(2), record(3)]
            assert client.stats.refused >= 1
        await dbd.stop()

    asyncio.run(main())


def test_inactive_holds_no_connection(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd()
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            client.set_active(False)
            await asyncio.sleep(0.2)
            spool.append(record(0))
            await asyncio.sleep(0.3)
            # a connection made before set_active(False) ran is dropped: nothing was sent
            assert dbd.records == []
            client.set_active(True)
            await until(lambda: dbd.records == [record(0)])
        await dbd.stop()

    asyncio.run(main())


@pytest.mark.parametrize("cut", [0, 1, 5])
def test_encoded_records_decode(cut: int) -> None:
    msg = record(cut)
    assert decode(msg, V)[1] == NodeState(f"n{cut}", DBD_NODE_STATE_DOWN, 1000 + cut, "r")
    assert encode_body(NodeState(f"n{cut}", DBD_NODE_STATE_DOWN, 1000 + cut, "r"), V) == msg[2:]


def test_on_connect_hooks_query_between_registration_and_tres_and_job_starts_hear_their_db_index(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        dbd = FakeDbd(id_rc_for={record(1), record(3)})
        await dbd.start()
        heard: list[tuple[bytes, DbdIdRc]] = []
        answers: list[bytes] = []

        async def load(c: DbdClient) -> None:
            answers.append(await c.request(struct.pack(">H", DbdMsgType.DBD_GET_TRES)))

        def setup(client: DbdClient) -> None:
            client.on_connect.append(load)
            client.on_id_rc = lambda rec, ans: heard.append((rec, ans))

        async with running(tmp_path, dbd.port, setup=setup) as (_client, spool, _store, _):
            spool.append(record(0))
            spool.append(record(1))
            await until(lambda: len(spool) == 0)
            spool.append(record(3))
            await until(lambda: len(spool) == 0)
        assert dbd.starts[:3] == [
            DbdMsgType.DBD_REGISTER_CTLD,
            DbdMsgType.DBD_GET_TRES,
            DbdMsgType.DBD_CLUSTER_TRES,
        ]
        assert answers == [rc_msg(0, DbdMsgType.DBD_GET_TRES)]
        assert heard == [(record(1), DbdIdRc(7, 99)), (record(3), DbdIdRc(7, 99))]
        await dbd.stop()

    asyncio.run(main())


def test_an_older_slurmdbd_is_found_and_gets_the_records_in_its_release(tmp_path: Path) -> None:
    """A slurmdbd 22.05 refuses the newer headers (as the real one does); flurm steps down, speaks 22.05,
    repacks the spool's records in 22.05's layout, and announces 22.05 first on the next connection."""

    async def main() -> None:
        dbd = FakeDbd(takes=frozenset({V2205}))
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            for n in range(3):
                spool.append(record(n))
            await until(lambda: len(dbd.records) == 3 and len(spool) == 0)
            assert dbd.announced == [V, V2411, V2205]
            assert client.version == V2205
            assert [i.version for i in dbd.inits] == [V2205]
            old = [
                persist_msg(
                    DbdMsgType.DBD_NODE_STATE, NodeState(f"n{n}", DBD_NODE_STATE_DOWN, 1000 + n, "r"), V2205
                )
                for n in range(3)
            ]
            assert dbd.records == old == [in_version(record(n), V, V2205) for n in range(3)]
            await dbd.stop()
            dbd2 = FakeDbd(takes=frozenset({V2205}))
            await dbd2.start(dbd.port)
            spool.append(record(3))
            await until(lambda: len(dbd2.records) == 1 and len(spool) == 0)
            assert dbd2.announced == [V2205]  # the release taken last, first
        await dbd2.stop()

    asyncio.run(main())


def test_a_slurmdbd_that_reads_a_newer_release_too_is_spoken_the_newest(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd(takes=frozenset({V, V2411}))
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            spool.append(record(0))
            await until(lambda: dbd.records == [record(0)])
            assert dbd.announced == [V] and client.version == V
        await dbd.stop()

    asyncio.run(main())


def test_a_slurmdbd_that_takes_no_release_flurm_speaks_gets_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        dbd = FakeDbd(takes=frozenset({0x2700}))
        await dbd.start()
        async with running(tmp_path, dbd.port) as (client, spool, _store, _):
            spool.append(record(0))
            await until(lambda: "took none of the releases" in (client.stats.last_error or ""))
            assert dbd.announced[:3] == [V, V2411, V2205]
            assert UNPACK_FAILED in (client.stats.last_error or "")
            assert dbd.starts == [] and dbd.records == [] and len(spool) == 1
            assert not client.stats.connected
        await dbd.stop()

    asyncio.run(main())

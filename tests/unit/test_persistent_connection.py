"""slurmdbd's persistent connection to the controller (24.11 on): REQUEST_PERSIST_INIT of
PERSIST_TYPE_ACCT_UPDATE, as an ordinary signed message, then ACCOUNTING_UPDATE_MSG after
ACCOUNTING_UPDATE_MSG on the same connection, each a u32 length, a u16 type and a body, answered in the
same framing (slurmctld's _slurm_rpc_persist_init and _process_persist_conn). The real controller's
dispatch behind the real RPC server on 127.0.0.1, with the fake authenticator."""

from __future__ import annotations

import asyncio
import pwd
import struct
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flurm.auth import ROOT, FakeAuthenticator
from flurm.auth.authenticator import Identity
from flurm.config.slurmconf import parse_text
from flurm.controller.engine import Controller
from flurm.controller.ports import NoAccountingPolicy
from flurm.daemon import Daemon
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import encode_frame
from flurm.protocol.limits import BodyLimits
from flurm.protocol.messages import Body, decode_body, encode_body
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.dbd_assoc import AccountingUpdate, QosRec, UpdateObject, UpdateType
from flurm.protocol.messages.persist import (
    PERSIST_TYPE_ACCT_UPDATE,
    PERSIST_TYPE_FED,
    PersistInitRequest,
    PersistRc,
    persist_frame,
    persist_head,
    persist_msg,
)
from flurm.protocol.wire import DecodeError
from flurm.rpc.transport import RpcServer, Signer

AUTH = FakeAuthenticator(ROOT)
NOBODY = pwd.getpwnam("nobody").pw_uid
CONF = """
ClusterName=t
SlurmctldHost=localhost
NodeName=n1 NodeAddr=127.0.0.1 CPUs=2
PartitionName=debug Nodes=ALL Default=YES
"""
V2411 = SLURM_24_11_PROTOCOL_VERSION
T = TypeVar("T")


class Recorded(NoAccountingPolicy):
    def __init__(self) -> None:
        self.updates: list[AccountingUpdate] = []

    def accounting_update(self, update: AccountingUpdate) -> int:
        self.updates.append(update)
        return 0


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def serving(tmp_path: Path, **kw: Any) -> AsyncIterator[tuple[Controller, Recorded, int]]:
    ctl = Daemon(parse_text(CONF), AUTH, state_dir=tmp_path).controller
    ctl.cluster.restore(ctl.store.open())
    policy = Recorded()
    ctl.acct_policy = policy
    signer = Signer(AUTH)
    server = RpcServer(ctl.dispatch, signer, **kw)
    await server.listen("127.0.0.1", 0)
    try:
        yield ctl, policy, server.ports[0]
    finally:
        await server.stop(grace=1.0)
        signer.close()
        ctl.store.close()


def init_frame(persist_type: int, version: int = V2411, uid: int = 0) -> bytes:
    """slurm_persist_conn_open's REQUEST_PERSIST_INIT: a signed message in the version it announces."""
    body = encode_body(PersistInitRequest(version, "t", persist_type, 6819), version)
    who = FakeAuthenticator(Identity(uid, uid)) if uid else AUTH
    cred = who.sign(MsgType.REQUEST_PERSIST_INIT, body, version=version)
    return encode_frame(MsgType.REQUEST_PERSIST_INIT, body, cred, version=version)


async def read_persist(reader: asyncio.StreamReader, version: int = V2411) -> tuple[int, Body]:
    msg_type, length = persist_head(await reader.readexactly(6), BodyLimits().for_type)
    return msg_type, decode_body(msg_type, await reader.readexactly(length), version)


def update(name: str) -> AccountingUpdate:
    return AccountingUpdate((UpdateObject(UpdateType.SLURMDB_MODIFY_QOS, (QosRec(name=name, id=2),)),))


def test_slurmdbd_s_connection_carries_update_after_update_until_it_closes(tmp_path: Path) -> None:
    async def go() -> None:
        async with serving(tmp_path) as (_, policy, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(init_frame(PERSIST_TYPE_ACCT_UPDATE))
                assert await read_persist(reader) == (MsgType.PERSIST_RC, PersistRc(0, None, 0, V2411))
                for name in ("small", "big"):
                    writer.write(
                        persist_frame(persist_msg(MsgType.ACCOUNTING_UPDATE_MSG, update(name), V2411))
                    )
                    assert await read_persist(reader) == (MsgType.RESPONSE_SLURM_RC, ReturnCode(0))
                # anything else is refused EINVAL, the connection goes on (slurmctld: EINVAL)
                writer.write(persist_frame(persist_msg(MsgType.REQUEST_PING, b"", V2411)))
                assert await read_persist(reader) == (MsgType.RESPONSE_SLURM_RC, ReturnCode(22))
                # a body that cannot be decoded: a PERSIST_RC naming its type, the connection goes on
                writer.write(persist_frame(struct.pack(">HI", MsgType.ACCOUNTING_UPDATE_MSG, 5) + b"\x00"))
                msg_type, body = await read_persist(reader)
                assert msg_type == MsgType.PERSIST_RC and isinstance(body, PersistRc)
                assert (body.rc, body.ret_info) == (SlurmRC.SLURM_ERROR, MsgType.ACCOUNTING_UPDATE_MSG)
                writer.write(persist_frame(persist_msg(MsgType.ACCOUNTING_UPDATE_MSG, update("last"), V2411)))
                assert await read_persist(reader) == (MsgType.RESPONSE_SLURM_RC, ReturnCode(0))
                # a length shorter than a type: the connection ends, unanswered
                writer.write(struct.pack(">IH", 1, 0))
                assert await asyncio.wait_for(reader.read(), 10.0) == b""
            finally:
                writer.close()
            names = [u.updates[0].objects[0].name for u in policy.updates if u.updates[0].objects]
            assert names == ["small", "big", "last"]

    run(go())


@pytest.mark.parametrize("version", [SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION])
def test_the_connection_speaks_the_version_its_init_named(tmp_path: Path, version: int) -> None:
    async def go() -> None:
        async with serving(tmp_path) as (_, policy, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(init_frame(PERSIST_TYPE_ACCT_UPDATE, version))
                assert await read_persist(reader, version) == (
                    MsgType.PERSIST_RC,
                    PersistRc(0, None, 0, version),
                )
                writer.write(persist_frame(persist_msg(MsgType.ACCOUNTING_UPDATE_MSG, update("q"), version)))
                assert await read_persist(reader, version) == (MsgType.RESPONSE_SLURM_RC, ReturnCode(0))
            finally:
                writer.close()
            assert len(policy.updates) == 1

    run(go())


@pytest.mark.parametrize(
    ("persist_type", "uid", "rc"),
    [
        (PERSIST_TYPE_ACCT_UPDATE, NOBODY, SlurmRC.ESLURM_USER_ID_MISSING),  # not SlurmUser nor root
        (PERSIST_TYPE_FED, 0, SlurmRC.SLURM_ERROR),  # no federation
    ],
)
def test_a_refused_persistent_connection_is_answered_and_closed(
    tmp_path: Path, persist_type: int, uid: int, rc: int
) -> None:
    """slurmctld refuses a persistent connection from anyone but SlurmUser and root (ESLURM_USER_ID_MISSING);
    nothing sent after the refusal reaches the controller."""

    async def go() -> None:
        async with serving(tmp_path) as (_, policy, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(init_frame(persist_type, uid=uid))
                writer.write(persist_frame(persist_msg(MsgType.ACCOUNTING_UPDATE_MSG, update("x"), V2411)))
                msg_type, body = await read_persist(reader)
                assert msg_type == MsgType.PERSIST_RC and isinstance(body, PersistRc)
                assert (body.rc, body.ret_info) == (rc, V2411)
                assert await asyncio.wait_for(reader.read(), 10.0) == b""
            finally:
                writer.close()
            assert policy.updates == []

    run(go())


def test_an_idle_persistent_connection_is_closed(tmp_path: Path) -> None:
    async def go() -> None:
        async with serving(tmp_path, persistent_idle_timeout=0.2) as (_, _policy, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(init_frame(PERSIST_TYPE_ACCT_UPDATE))
                assert (await read_persist(reader))[0] == MsgType.PERSIST_RC
                assert await asyncio.wait_for(reader.read(), 10.0) == b""
            finally:
                writer.close()

    run(go())


def test_persist_head_bounds_what_is_read() -> None:
    limit = BodyLimits().for_type
    assert persist_head(struct.pack(">IH", 6, MsgType.ACCOUNTING_UPDATE_MSG), limit) == (
        MsgType.ACCOUNTING_UPDATE_MSG,
        4,
    )
    for bad in (struct.pack(">IH", 1, 0), struct.pack(">IH", 2**31, MsgType.REQUEST_PING), b"\0\0"):
        with pytest.raises(DecodeError):
            persist_head(bad, limit)


def test_a_22_05_init_is_still_answered_in_22_05() -> None:
    from flurm.protocol.versions import persist_version

    assert persist_version(SLURM_22_05_PROTOCOL_VERSION) == SLURM_22_05_PROTOCOL_VERSION
    assert persist_version(0x2700) == SLURM_22_05_PROTOCOL_VERSION  # 23.02: not served, brought down
    assert persist_version(0x2B00) == V2411
    assert persist_version(0x2E00) == SLURM_26_05_PROTOCOL_VERSION

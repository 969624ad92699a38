"""The RPC server's defences: per-type size limits checked before a body is read, connection caps,
a throttled log, and one mapping from exceptions to SLURM return codes, so that a bad request is
answered and the server goes on serving. The server runs on 127.0.0.1 with the fake authenticator."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flurm.auth import ROOT, FakeAuthenticator
from flurm.config.slurmconf import parse_text
from flurm.daemon import Daemon
from flurm.errors import SlurmError
from flurm.protocol.constants import PROTOCOL_VERSION, SLURM_21_08_PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.frame import (
    FRAME_PREFIX_SIZE,
    MAX_HEADER_SIZE,
    Forward,
    Frame,
    FramePrefix,
    FrameTooLarge,
    VersionError,
    check_frame_size,
    decode_frame,
    decode_frame_prefix,
    encode_frame,
    encode_frame_head,
)
from flurm.protocol.limits import (
    ENVIRONMENT_ALLOWANCE,
    JOB_DESC_FIELDS,
    SMALL_REQUEST,
    UNKNOWN_TYPE,
    BodyLimits,
)
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN, AdminMessage
from flurm.protocol.messages.common import ReturnCode
from flurm.protocol.messages.job_info import JobInfoRequest
from flurm.protocol.messages.nodes import NodeInfoRequest
from flurm.protocol.wire import DecodeError, EncodeError
from flurm.rpc.transport import (
    LogThrottle,
    Reply,
    Request,
    RpcServer,
    Signer,
    error_rc,
    rc_reply,
    read_frame,
)

AUTH = FakeAuthenticator(ROOT)
CONF = """
ClusterName=t
SlurmctldHost=localhost
NodeName=n[1-2] NodeAddr=127.0.0.1 CPUs=2
PartitionName=debug Nodes=ALL Default=YES
"""
T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def signed_frame(msg_type: int, body: bytes, *, version: int = PROTOCOL_VERSION) -> bytes:
    return encode_frame(msg_type, body, AUTH.sign(msg_type, body, version=version), version=version)


# -- the size table -----------------------------------------------------------------------------------


def test_a_batch_submission_may_carry_max_script_size_plus_environment_and_fields() -> None:
    limits = BodyLimits(max_script_size=1000)
    expected = 1000 + ENVIRONMENT_ALLOWANCE + JOB_DESC_FIELDS
    assert limits.for_type(MsgType.REQUEST_SUBMIT_BATCH_JOB) == expected
    assert BodyLimits().for_type(MsgType.REQUEST_SUBMIT_BATCH_JOB) == expected - 1000 + 4 * 1024 * 1024


def test_small_requests_admin_and_unknown_types_get_small_limits() -> None:
    limits = BodyLimits()
    assert limits.for_type(MsgType.REQUEST_PING) == SMALL_REQUEST
    assert limits.for_type(MsgType.REQUEST_JOB_INFO) == SMALL_REQUEST
    assert limits.for_type(REQUEST_FLURM_ADMIN) == SMALL_REQUEST
    assert limits.for_type(0xBEEF) == UNKNOWN_TYPE
    assert limits.for_type(MsgType.MESSAGE_NODE_REGISTRATION_STATUS) > SMALL_REQUEST


def test_the_controller_s_limits_follow_max_script_size(tmp_path: Path) -> None:
    ctl = Daemon(
        parse_text(CONF + "SchedulerParameters=max_script_size=1000\n"), AUTH, state_dir=tmp_path
    ).controller
    expected = 1000 + ENVIRONMENT_ALLOWANCE + JOB_DESC_FIELDS
    assert ctl.server.limits.for_type(MsgType.REQUEST_SUBMIT_BATCH_JOB) == expected


# -- the header prefix ----------------------------------------------------------------------------------


def test_the_prefix_gives_type_and_body_length_in_both_header_layouts() -> None:
    for version in (PROTOCOL_VERSION, SLURM_21_08_PROTOCOL_VERSION):
        frame = signed_frame(MsgType.REQUEST_PING, b"abc", version=version)
        prefix = decode_frame_prefix(frame[4 : 4 + FRAME_PREFIX_SIZE])
        assert (prefix.version, prefix.msg_type, prefix.body_length) == (version, MsgType.REQUEST_PING, 3)
        decoded = decode_frame(frame[4:])
        assert (decoded.version, decoded.msg_type, decoded.body) == (version, MsgType.REQUEST_PING, b"abc")


def test_versions_slurmctld_refuses_are_refused_at_the_prefix() -> None:
    frame = bytearray(signed_frame(MsgType.REQUEST_PING, b""))
    frame[4:6] = (0x2700).to_bytes(2, "big")
    with pytest.raises(VersionError):
        decode_frame_prefix(bytes(frame[4:]))


def test_check_frame_size_refuses_large_bodies_large_headers_and_lies() -> None:
    ping = FramePrefix(0x2600, MsgType.REQUEST_PING, 100)
    check_frame_size(100 + 500, ping, max_body=100)
    with pytest.raises(FrameTooLarge, match="body of 100 bytes"):
        check_frame_size(100 + 500, ping, max_body=99)
    with pytest.raises(FrameTooLarge, match="header of"):
        check_frame_size(100 + MAX_HEADER_SIZE + 1, ping, max_body=100)
    with pytest.raises(DecodeError, match="does not fit"):
        check_frame_size(110, ping, max_body=100)


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)  # no EOF: a reader that waited for more would hang until the deadline
    return reader


def test_an_oversized_body_is_refused_after_the_header_prefix_without_waiting_for_it() -> None:
    head = encode_frame_head(MsgType.REQUEST_PING, 200 * 1024 * 1024, AUTH.sign(MsgType.REQUEST_PING, b""))
    left: list[int] = []

    async def go() -> Frame | None:
        reader = _reader(head)
        try:
            return await read_frame(reader, 30.0, body_limit=BodyLimits().for_type)
        finally:
            left.append(len(reader._buffer))  # type: ignore[attr-defined]

    with pytest.raises(FrameTooLarge) as exc:
        run(go())
    assert exc.value.rc == SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH
    assert exc.value.msg_type == MsgType.REQUEST_PING
    assert left == [len(head) - 4 - FRAME_PREFIX_SIZE]  # the rest of the header was not read


def test_an_oversized_header_is_refused_before_it_is_read() -> None:
    forward = Forward("n" * (MAX_HEADER_SIZE + 10), 10, 1, 1)
    frame = encode_frame(MsgType.REQUEST_PING, b"", b"cred", forward=forward)

    async def go() -> Frame | None:
        return await read_frame(_reader(frame), 30.0, body_limit=BodyLimits().for_type)

    with pytest.raises(FrameTooLarge, match="header"):
        run(go())


# -- exceptions to return codes -------------------------------------------------------------------------


def test_error_rc_maps_each_failure_to_one_return_code() -> None:
    version = DecodeError("x", rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR)
    assert error_rc(DecodeError("short"), decoding=True) == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
    assert error_rc(RecursionError(), decoding=True) == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
    assert error_rc(version, decoding=True) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
    assert error_rc(EncodeError("x", rc=SlurmRC.SLURM_PROTOCOL_VERSION_ERROR)) == 1005
    assert error_rc(SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)) == SlurmRC.ESLURM_INVALID_JOB_ID
    assert error_rc(KeyError("bug")) == SlurmRC.SLURM_ERROR


# -- the throttled log ----------------------------------------------------------------------------------


def test_log_throttle_logs_one_line_per_interval_with_the_count(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    throttle = LogThrottle(logging.getLogger("flurm.test"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="flurm.test"):
        assert throttle.log(logging.WARNING, "refused %s", "a")
        for _ in range(500):
            assert not throttle.log(logging.WARNING, "refused %s", "b")
        now[0] += 10.0
        assert throttle.log(logging.WARNING, "refused %s", "c")
    assert [r.getMessage() for r in caplog.records] == [
        "refused a",
        "refused c (and 500 more in the last 10 s, not logged)",
    ]


# -- the server -----------------------------------------------------------------------------------------

Dispatch = Callable[[Request], Awaitable[Reply | None]]


async def _ping_only(req: Request) -> Reply | None:
    return rc_reply(SlurmRC.SLURM_SUCCESS)


@asynccontextmanager
async def serving(dispatcher: Dispatch = _ping_only, **kw: Any) -> AsyncIterator[tuple[RpcServer, int]]:
    signer = Signer(AUTH)
    server = RpcServer(dispatcher, signer, **kw)
    await server.listen("127.0.0.1", 0)
    try:
        yield server, server.ports[0]
    finally:
        await server.stop(grace=1.0)
        signer.close()


async def exchange(port: int, data: bytes, *, then_closed: bool = False) -> Frame | None:
    """Send ``data`` and read one frame; with ``then_closed``, also check that the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        frame = await read_frame(reader, 10.0)
        if then_closed:
            assert await asyncio.wait_for(reader.read(), 10.0) == b""
        return frame
    finally:
        writer.close()


async def refused(port: int) -> None:
    """A connection the server closes at once, without an answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(signed_frame(MsgType.REQUEST_PING, b""))
    with suppress(ConnectionResetError):  # closed with unread data: a reset
        assert await asyncio.wait_for(reader.read(), 10.0) == b""
    writer.close()


def rc_of(frame: Frame | None) -> int:
    assert frame is not None and frame.msg_type == MsgType.RESPONSE_SLURM_RC
    AUTH.verify(frame.msg_type, frame.body, frame.credential, version=frame.version)
    body = decode_body(frame.msg_type, frame.body)
    assert isinstance(body, ReturnCode)
    return body.rc


async def ping_works(port: int) -> bool:
    return rc_of(await exchange(port, signed_frame(MsgType.REQUEST_PING, b""))) == SlurmRC.SLURM_SUCCESS


def test_an_oversized_frame_is_answered_insane_length_and_closed() -> None:
    async def go() -> None:
        async with serving() as (_, port):
            head = encode_frame_head(
                MsgType.REQUEST_PING, 100 * 1024 * 1024, AUTH.sign(MsgType.REQUEST_PING, b"")
            )
            frame = await exchange(port, head, then_closed=True)
            assert rc_of(frame) == SlurmRC.SLURM_PROTOCOL_INSANE_MSG_LENGTH
            assert await ping_works(port)

    run(go())


def test_deeply_nested_admin_json_is_answered_and_the_server_goes_on() -> None:
    body = encode_body(_RawAdmin("[" * 20_000 + "]" * 20_000))

    async def go() -> None:
        async with serving() as (_, port):
            frame = await exchange(port, signed_frame(REQUEST_FLURM_ADMIN, body), then_closed=True)
            assert rc_of(frame) == SlurmRC.ESLURM_PROTOCOL_INCOMPLETE_PACKET
            assert await ping_works(port)

    run(go())


class _RawAdmin:
    """An admin message body with any text as its document."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pack(self, w: Any, version: int) -> None:
        w.string(self.text)

    @classmethod
    def unpack(cls, r: Any, version: int) -> _RawAdmin:
        raise NotImplementedError


def test_a_handler_s_unexpected_error_is_answered_slurm_error() -> None:
    async def broken(req: Request) -> Reply | None:
        raise KeyError("bug")

    async def go() -> None:
        async with serving(broken) as (_, port):
            frame = await exchange(port, signed_frame(MsgType.REQUEST_PING, b""))
            assert rc_of(frame) == SlurmRC.SLURM_ERROR

    run(go())


def test_a_request_that_gets_no_reply_ends_its_connection() -> None:
    """slurmctld closes the connection after a message it does not answer; the peer sees the end."""

    async def no_reply(req: Request) -> Reply | None:
        return None if req.msg_type == MsgType.ACCOUNTING_FIRST_REG else rc_reply(SlurmRC.SLURM_SUCCESS)

    async def go() -> None:
        async with serving(no_reply) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(signed_frame(MsgType.ACCOUNTING_FIRST_REG, b""))
                writer.write(signed_frame(MsgType.REQUEST_PING, b""))  # not read: the connection ends
                await writer.drain()
                assert await read_frame(reader, 10.0) is None
            finally:
                writer.close()
            assert await ping_works(port)

    run(go())


def test_a_persistent_connection_s_reply_goes_behind_its_length_alone_and_ends_the_connection() -> None:
    message = b"\x05\x99reply"

    async def persistent(req: Request) -> Reply | None:
        return Reply(MsgType.PERSIST_RC, raw_body=message, persistent=True)

    async def go() -> None:
        async with serving(persistent) as (_, port):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(signed_frame(MsgType.REQUEST_PING, b""))
                await writer.drain()
                got = await asyncio.wait_for(reader.read(), 10.0)  # all of it, up to the close
            finally:
                writer.close()
            assert got == len(message).to_bytes(4, "big") + message

    run(go())


@pytest.mark.parametrize("msg_type", [MsgType.REQUEST_NODE_INFO, MsgType.REQUEST_JOB_INFO])
def test_a_version_whose_reply_cannot_be_encoded_is_answered_version_error(
    tmp_path: Path, msg_type: MsgType
) -> None:
    """21.08 passes the header check (slurmctld accepts two versions back) but flurm's node and job
    records are 22.05 only: the controller answers SLURM_PROTOCOL_VERSION_ERROR in 21.08's header."""
    ctl = Daemon(parse_text(CONF), AUTH, state_dir=tmp_path).controller
    ctl.cluster.restore(ctl.store.open())
    raw = encode_body(NodeInfoRequest() if msg_type == MsgType.REQUEST_NODE_INFO else JobInfoRequest())

    async def go() -> None:
        async with serving(ctl.dispatch) as (_, port):
            request = signed_frame(msg_type, raw, version=SLURM_21_08_PROTOCOL_VERSION)
            frame = await exchange(port, request, then_closed=True)
            assert frame is not None and frame.version == SLURM_21_08_PROTOCOL_VERSION
            assert rc_of(frame) == SlurmRC.SLURM_PROTOCOL_VERSION_ERROR
            assert await ping_works(port)

    try:
        run(go())
    finally:
        ctl.store.close()


def test_connections_over_the_per_peer_cap_wait_for_a_slot_and_the_rest_are_closed_unread(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A burst from one address beyond its cap is served later, as slurmctld serves its backlog; beyond
    what may wait, connections are closed unread, and the refusals make one log line."""
    entered = 0
    both_in = asyncio.Event()
    release = asyncio.Event()

    async def slow(req: Request) -> Reply | None:
        nonlocal entered
        entered += 1
        if entered == 2:
            both_in.set()
        await release.wait()
        return rc_reply(SlurmRC.SLURM_SUCCESS)

    async def go() -> None:
        async with serving(slow, max_connections_per_peer=2, max_waiting=3) as (server, port):
            held = [
                asyncio.ensure_future(exchange(port, signed_frame(MsgType.REQUEST_PING, b""))) for _ in "ab"
            ]
            await both_in.wait()
            waiting = [
                asyncio.ensure_future(exchange(port, signed_frame(MsgType.REQUEST_PING, b""))) for _ in "cde"
            ]
            while server._waiting < 3:
                await asyncio.sleep(0.01)
            for _ in range(20):
                await refused(port)
            assert server.refused_connections == 20
            assert entered == 2  # the waiting ones were not read
            release.set()
            for task in held + waiting:
                assert rc_of(await task) == SlurmRC.SLURM_SUCCESS
            assert entered == 5
            assert await ping_works(port)  # below the cap again

    with caplog.at_level(logging.INFO, logger="flurm.rpc"):
        run(go())
    refusals = [r for r in caplog.records if "refusing a connection" in r.getMessage()]
    assert len(refusals) == 1


def test_a_connection_that_gets_no_slot_within_the_message_timeout_is_closed_unread() -> None:
    release = asyncio.Event()
    entered = asyncio.Event()

    async def slow(req: Request) -> Reply | None:
        entered.set()
        await release.wait()
        return rc_reply(SlurmRC.SLURM_SUCCESS)

    async def go() -> None:
        async with serving(slow, max_connections=1, message_timeout=0.2) as (server, port):
            held = asyncio.ensure_future(exchange(port, signed_frame(MsgType.REQUEST_PING, b"")))
            await entered.wait()
            await refused(port)  # waited for the one slot in vain
            assert server.refused_connections == 1
            release.set()
            assert rc_of(await held) == SlurmRC.SLURM_SUCCESS

    run(go())


def test_a_failed_essential_task_stops_the_controller_with_its_error(tmp_path: Path) -> None:
    """flurm run turns this into one fatal log line and exit status 1 (a supervisor restarts it)."""
    conf = parse_text(CONF + "SlurmdPort=1\n")
    daemon = Daemon(conf, AUTH, state_dir=tmp_path, port=0, listen_host="127.0.0.1")

    async def broken_ticker() -> None:
        raise ValueError("tick")

    daemon.controller.ticker = broken_ticker  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="ticker failed: ValueError: tick"):
        # the bound only turns a controller that runs on (the old behaviour) into a failure
        run(asyncio.wait_for(daemon.run(), 60.0))


def test_a_stop_request_drains_the_request_in_flight_and_cancels_the_parts_that_run_on(
    tmp_path: Path,
) -> None:
    """What SIGTERM does: run() returns normally once the request being served got its answer,
    and a long-lived part that does not end by itself is cancelled, not waited for."""
    conf = parse_text(CONF + "SlurmdPort=1\n")
    daemon = Daemon(conf, AUTH, state_dir=tmp_path, port=0, listen_host="127.0.0.1")
    ctl = daemon.controller
    started, entered = asyncio.Event(), asyncio.Event()
    part_cancelled = False

    async def until_stopping(req: Request) -> Reply | None:
        entered.set()
        await ctl.stopping.wait()  # answered only once the shutdown began,
        await asyncio.sleep(0.05)  # after some work (well within the grace)
        return rc_reply(SlurmRC.SLURM_SUCCESS)

    async def part_that_runs_on() -> None:
        nonlocal part_cancelled
        try:
            await asyncio.Event().wait()
        finally:
            part_cancelled = True

    ctl.ticker = part_that_runs_on  # type: ignore[method-assign]
    ctl.attached_handlers[REQUEST_FLURM_ADMIN] = until_stopping
    ctl.mode_listeners.append(lambda traits: started.set())  # the last step of the start

    async def go() -> None:
        running = asyncio.ensure_future(daemon.run())
        await started.wait()
        [port] = ctl.server.ports
        status = encode_body(AdminMessage({"op": "status"}))
        in_flight = asyncio.ensure_future(exchange(port, signed_frame(REQUEST_FLURM_ADMIN, status)))
        await entered.wait()
        daemon.request_stop()
        assert rc_of(await in_flight) == SlurmRC.SLURM_SUCCESS
        await asyncio.wait_for(running, 60.0)  # returns: no error

    run(asyncio.wait_for(go(), 60.0))  # the bound turns a shutdown that hangs into a failure
    assert part_cancelled
    assert not ctl.store.writable()  # flushed and closed

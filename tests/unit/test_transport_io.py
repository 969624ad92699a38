"""The RPC transport's pieces that need no daemon: Signer's choice between the loop and its threads,
frame reading with one deadline, and writing a frame's head and body apart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from flurm.auth import AuthError, CredentialError, FakeAuthenticator, Identity, MungeAuthenticator
from flurm.auth.authenticator import Decoded
from flurm.auth.errors import AuthServiceError
from flurm.auth.munge import MungeErr
from flurm.protocol.constants import MsgType
from flurm.protocol.frame import Frame, decode_frame, encode_frame, encode_frame_head
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Signer, read_frame, write_frame

ALICE = Identity(1000, 1000)
CRED = b"MUNGE:" + b"A" * 120 + b":"


class Recording(FakeAuthenticator):
    """A fake authenticator that notes the thread of each call and can be made to fail or be slow."""

    def __init__(self) -> None:
        super().__init__(ALICE)
        self.threads: list[str] = []
        self.fail: AuthError | None = None
        self.delay = 0.0

    def _called(self) -> None:
        self.threads.append(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail is not None:
            error, self.fail = self.fail, None  # fail once
            raise error

    def encode(self, payload: bytes, uid_restriction: int | None = None) -> bytes:
        self._called()
        return super().encode(payload, uid_restriction)

    def decode(self, credential: bytes) -> Decoded:
        self._called()
        return super().decode(credential)


T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def test_small_messages_are_signed_and_verified_on_the_loop() -> None:
    auth = Recording()
    signer = Signer(auth)

    async def go() -> Identity:
        cred = await signer.sign(MsgType.REQUEST_PING, b"small")
        return await signer.verify(MsgType.REQUEST_PING, b"small", cred)

    try:
        assert run(go()) == ALICE
        assert auth.threads == ["MainThread", "MainThread"]
    finally:
        signer.close()


def test_large_bodies_go_to_the_pool() -> None:
    auth = Recording()
    signer = Signer(auth, inline_limit=16)
    body = b"x" * 17

    async def go() -> Identity:
        cred = await signer.sign(MsgType.RESPONSE_JOB_INFO, body)
        return await signer.verify(MsgType.RESPONSE_JOB_INFO, body, cred)

    try:
        assert run(go()) == ALICE
        assert len(auth.threads) == 2
        assert all(name.startswith("flurm-munge") for name in auth.threads)
    finally:
        signer.close()


def test_a_munged_failure_on_the_loop_is_retried_in_the_pool_and_keeps_the_pool_for_a_while() -> None:
    auth = Recording()
    signer = Signer(auth, cooldown=60.0)
    auth.fail = AuthServiceError("munged is down", munge_code=MungeErr.SOCKET)

    async def go() -> tuple[bytes, bytes]:
        first = await signer.sign(MsgType.REQUEST_PING, b"body")
        second = await signer.sign(MsgType.REQUEST_PING, b"body")
        return first, second

    try:
        first, second = run(go())
        assert first == second == auth.sign(MsgType.REQUEST_PING, b"body")
        assert auth.threads[0] == "MainThread"  # the failed inline attempt
        assert auth.threads[1].startswith("flurm-munge")  # its repetition
        assert auth.threads[2].startswith("flurm-munge")  # the next call: still the pool
    finally:
        signer.close()


def test_a_bad_credential_is_the_peer_s_fault_and_changes_nothing() -> None:
    auth = Recording()
    signer = Signer(auth)

    async def go() -> None:
        with pytest.raises(CredentialError):
            await signer.verify(MsgType.REQUEST_PING, b"body", b"not a credential")
        await signer.sign(MsgType.REQUEST_PING, b"body")

    try:
        run(go())
        assert auth.threads == ["MainThread", "MainThread"]
    finally:
        signer.close()


def test_a_slow_call_on_the_loop_sends_the_next_calls_to_the_pool() -> None:
    auth = Recording()
    signer = Signer(auth, slow_call=0.01, cooldown=60.0)
    auth.delay = 0.02

    async def go() -> None:
        await signer.sign(MsgType.REQUEST_PING, b"body")
        await signer.sign(MsgType.REQUEST_PING, b"body")

    try:
        run(go())
        assert auth.threads[0] == "MainThread"
        assert auth.threads[1].startswith("flurm-munge")
    finally:
        signer.close()


def test_inline_limit_zero_keeps_every_call_off_the_loop() -> None:
    auth = Recording()
    signer = Signer(auth, inline_limit=0)
    try:
        run(signer.sign(MsgType.REQUEST_PING, b""))
        assert auth.threads[0].startswith("flurm-munge")
    finally:
        signer.close()


def test_munge_without_retries_keeps_the_settings_but_not_the_retries() -> None:
    auth = MungeAuthenticator("/nonexistent/munge.sock", ttl=60, block_zero_hash=True, socket_retries=20)
    quick = auth.without_retries()
    assert quick is not auth
    assert quick.context.socket_retries == 0
    assert auth.context.socket_retries == 20
    assert (quick.context.socket_path, quick.context.ttl) == ("/nonexistent/munge.sock", 60)
    assert quick.block_zero_hash and quick.allow_replay
    started = time.monotonic()
    with pytest.raises(AuthServiceError):
        quick.encode(b"payload")
    assert time.monotonic() - started < 1.0  # no 20 x 0.1 s of retries


def test_fake_without_retries_is_itself() -> None:
    auth = FakeAuthenticator(ALICE)
    assert auth.without_retries() is auth


# -- frames -----------------------------------------------------------------------------------------


def test_frame_head_plus_body_is_the_frame() -> None:
    body = bytes(range(256)) * 3
    head = encode_frame_head(MsgType.RESPONSE_JOB_INFO, len(body), CRED)
    frame = encode_frame(MsgType.RESPONSE_JOB_INFO, body, CRED)
    assert head + body == frame
    decoded = decode_frame(frame[4:])
    assert decoded.msg_type == MsgType.RESPONSE_JOB_INFO
    assert decoded.body == body
    assert decoded.credential == CRED


class _Sink:
    """Just enough of a StreamWriter for write_frame."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.writes.append(data)


@pytest.mark.parametrize("size", [0, 100, 64 * 1024 - 1, 64 * 1024, 300_000])
def test_write_frame_sends_the_same_bytes_at_any_size(size: int) -> None:
    body = bytes(i % 251 for i in range(size))
    sink = _Sink()
    write_frame(sink, MsgType.RESPONSE_JOB_INFO, body, CRED)  # type: ignore[arg-type]
    assert b"".join(sink.writes) == encode_frame(MsgType.RESPONSE_JOB_INFO, body, CRED)
    if size >= 64 * 1024:
        assert sink.writes[-1] is body  # not copied
    else:
        assert len(sink.writes) == 1


def _reader(data: bytes, eof: bool = True) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


def test_read_frame_reads_one_frame_then_sees_the_end() -> None:
    frame = encode_frame(MsgType.REQUEST_PING, b"", CRED)

    async def go() -> tuple[Frame | None, Frame | None]:
        reader = _reader(frame)
        return await read_frame(reader, 1.0), await read_frame(reader, 1.0)

    first, second = run(go())
    assert first is not None and first.msg_type == MsgType.REQUEST_PING
    assert second is None


def test_read_frame_refuses_truncated_and_insane_frames() -> None:
    frame = encode_frame(MsgType.REQUEST_PING, b"", CRED)

    async def go(data: bytes) -> object:
        return await read_frame(_reader(data), 1.0)

    with pytest.raises(WireError, match="inside a length prefix"):
        run(go(frame[:2]))
    with pytest.raises(WireError, match="inside a message"):
        run(go(frame[:-1]))
    with pytest.raises(WireError, match="insane"):
        run(go(b"\xff\xff\xff\xff"))


def test_read_frame_deadline_covers_the_whole_frame() -> None:
    frame = encode_frame(MsgType.REQUEST_PING, b"", CRED)

    async def go() -> object:
        reader = _reader(frame[:10], eof=False)  # the rest never comes
        return await read_frame(reader, 0.05)

    started = time.monotonic()
    with pytest.raises(TimeoutError):
        run(go())
    assert time.monotonic() - started < 1.0

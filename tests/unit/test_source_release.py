"""SourceClient learns the source slurmctld's release by pinging, and talks to it in that version.

Fake slurmctld servers on loopback answer a ping as each release's slurmctld was seen to (by hand,
against the real 22.05 on the host and 24.11/26.05 from their chroots): a version it accepts is answered
with success in that version; a newer one is closed unanswered by 22.05, and answered by 24.11 with
SLURM_PROTOCOL_AUTHENTICATION_ERROR in its own version; 26.05 answers a 22.05 header with an HTTP error.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from flurm.auth import FakeAuthenticator
from flurm.config import parse_text
from flurm.migration.source import (
    Endpoint,
    Probe,
    SourceClient,
    SourceUnreachable,
    UnsupportedSource,
    release_of,
)
from flurm.protocol.constants import (
    SLURM_20_11_PROTOCOL_VERSION,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
    SlurmRC,
)
from flurm.protocol.frame import decode_frame, encode_frame
from flurm.rpc.transport import Signer

T = TypeVar("T")
CONF = "ClusterName=t\nSlurmctldHost=ctl(127.0.0.1)\nNodeName=n1 CPUs=1\nPartitionName=p Nodes=ALL\n"
AUTH_ERROR = 1007  # SLURM_PROTOCOL_AUTHENTICATION_ERROR


@dataclass
class FakeSlurmctld:
    own: int
    oldest: int
    refuse: Callable[[int], str]  # how a version it does not take is refused: close | rc | http
    seen: list[tuple[int, int]] = field(default_factory=list)  # (version, msg_type) of each request
    auth: FakeAuthenticator = field(default_factory=FakeAuthenticator)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            (length,) = struct.unpack(">I", await reader.readexactly(4))
            data = await reader.readexactly(length)
            version = int.from_bytes(data[:2], "big")
            self.seen.append((version, int.from_bytes(data[4:6], "big")))
            if self.oldest <= version <= self.own:
                frame = decode_frame(data)
                self.auth.verify(frame.msg_type, frame.body, frame.credential, version=version)
                self._rc(writer, 0, version)
            else:
                how = self.refuse(version)
                if how == "rc":
                    self._rc(writer, AUTH_ERROR, self.own)
                elif how == "http":
                    writer.write(b"HTTP/1.1 400 BAD REQUEST\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    def _rc(self, writer: asyncio.StreamWriter, rc: int, version: int) -> None:
        body = struct.pack(">I", rc)  # a return code, packed alike by every release
        cred = (
            None
            if version >= SLURM_24_11_PROTOCOL_VERSION
            else self.auth.sign(MsgType.RESPONSE_SLURM_RC, body, version=version)
        )
        writer.write(encode_frame(MsgType.RESPONSE_SLURM_RC, body, cred, version=version))


def slurmctld_22_05() -> FakeSlurmctld:
    return FakeSlurmctld(SLURM_22_05_PROTOCOL_VERSION, SLURM_20_11_PROTOCOL_VERSION, lambda v: "close")


def slurmctld_24_11() -> FakeSlurmctld:
    return FakeSlurmctld(SLURM_24_11_PROTOCOL_VERSION, SLURM_23_02_PROTOCOL_VERSION, lambda v: "rc")


def slurmctld_26_05() -> FakeSlurmctld:
    return FakeSlurmctld(
        SLURM_26_05_PROTOCOL_VERSION,
        SLURM_24_11_PROTOCOL_VERSION,
        lambda v: "http" if v < SLURM_24_11_PROTOCOL_VERSION else "rc",
    )


def slurmctld_25_05() -> FakeSlurmctld:
    return FakeSlurmctld(SLURM_25_05_PROTOCOL_VERSION, SLURM_23_02_PROTOCOL_VERSION + 0x100, lambda v: "rc")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def against(fake: FakeSlurmctld | None, what: Callable[[SourceClient], Coroutine[Any, Any, T]]) -> T:
    server = await asyncio.start_server(fake.serve if fake else _refuse, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if fake is None:
        server.close()
        await server.wait_closed()
    client = SourceClient(parse_text(CONF), Signer(FakeAuthenticator(), workers=1), timeout=2.0)
    client.endpoints = [Endpoint("127.0.0.1", port)]
    try:
        return await what(client)
    finally:
        server.close()


async def _refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


@pytest.mark.parametrize(
    ("make", "release", "asked"),
    [
        (slurmctld_22_05, SLURM_22_05_PROTOCOL_VERSION, 3),  # 26.05 and 24.11 closed unanswered
        (slurmctld_24_11, SLURM_24_11_PROTOCOL_VERSION, 2),  # refused in 24.11, then a ping in it
        (slurmctld_26_05, SLURM_26_05_PROTOCOL_VERSION, 1),
    ],
)
def test_the_release_is_learned_once_and_every_request_goes_in_it(
    make: Callable[[], FakeSlurmctld], release: int, asked: int
) -> None:
    fake = make()

    async def go(client: SourceClient) -> tuple[int, bool, bool]:
        found = await client.release()
        return found, await client.ping(), await client.ping()

    found, first, second = run(against(fake, go))
    assert found == release and first and second
    # the probes, then two pings in the source's release (nothing more was probed)
    assert len(fake.seen) == asked + 2
    assert [v for v, _ in fake.seen[asked:]] == [release, release]
    assert all(t == MsgType.REQUEST_PING for _, t in fake.seen)


def test_a_release_flurm_does_not_serve_is_refused_by_name() -> None:
    async def go(client: SourceClient) -> str:
        with pytest.raises(UnsupportedSource) as err:
            await client.release()
        assert await client.ping()  # it answers, in a release the pre-flight names and refuses
        return str(err.value)

    message = run(against(slurmctld_25_05(), go))
    assert "SLURM 25.05" in message and "does not serve" in message


def test_an_absent_source_is_unreachable_not_unsupported() -> None:
    async def go(client: SourceClient) -> None:
        with pytest.raises(SourceUnreachable):
            await client.release()
        assert client.version is None

    run(against(None, go))


def test_what_one_ping_tells() -> None:
    v22, v24 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION
    assert release_of(v24, Probe(None)) is None  # closed unanswered
    assert release_of(v24, Probe(v24, SlurmRC.SLURM_SUCCESS)) == v24
    assert release_of(v24, Probe(v24, AUTH_ERROR)) is None  # refused for another reason
    assert release_of(v24, Probe(v22)) == v22  # a refusal in the source's own version

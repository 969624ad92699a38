"""A job's AllocNode: the client's address looked up in reverse, cut at the first dot (slurmctld's
auth_p_get_host); loopback is localhost; a failed lookup keeps the address; each address is looked up once."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from flurm.controller.peer_names import PeerNames


def test_loopback_is_localhost_without_a_lookup() -> None:
    names = PeerNames()
    assert names.known("127.0.0.1") == "localhost" == names.known("127.5.6.7") == names.known("::1")
    assert asyncio.run(names.name("127.0.0.1")) == "localhost"


def test_a_name_is_cut_at_the_first_dot_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[Any] = []

    async def fake(self: Any, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        asked.append((sockaddr, flags))
        return "login1.cluster.example.org", "0"

    monkeypatch.setattr(asyncio.BaseEventLoop, "getnameinfo", fake)
    names = PeerNames()
    assert names.known("10.1.2.3") == "10.1.2.3"  # not looked up yet
    assert asyncio.run(names.name("10.1.2.3")) == "login1"
    assert asyncio.run(names.name("10.1.2.3")) == "login1"
    assert asked == [(("10.1.2.3", 0), socket.NI_NAMEREQD)]
    assert names.known("10.1.2.3") == "login1"


def test_a_failed_lookup_keeps_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fails(self: Any, sockaddr: Any, flags: int = 0) -> tuple[str, str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.BaseEventLoop, "getnameinfo", fails)
    names = PeerNames(limit=1)
    assert asyncio.run(names.name("10.9.9.9")) == "10.9.9.9"
    assert asyncio.run(names.name("10.9.9.8")) == "10.9.9.8"  # past the limit: answered, not kept
    assert names.known("10.9.9.8") == "10.9.9.8"

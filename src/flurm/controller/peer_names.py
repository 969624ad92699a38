"""The host name a job records as its AllocNode: the submitting client's address looked up in reverse and
cut at the first dot, as slurmctld's auth_p_get_host does (an address under 127.0.0.0/8 is "localhost";
a failed lookup leaves the address itself). Lookups run off the event loop and are kept: clients come
from a few login nodes."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket

log = logging.getLogger(__name__)

LOOKUP_TIMEOUT = 2.0
MAX_KEPT = 4096


class PeerNames:
    def __init__(self, limit: int = MAX_KEPT) -> None:
        self._names: dict[str, str] = {}
        self._limit = limit

    @staticmethod
    def _local(addr: str) -> bool:
        try:
            return ipaddress.ip_address(addr).is_loopback
        except ValueError:
            return False

    def known(self, addr: str) -> str:
        """The name without waiting: one looked up before, else "localhost" or the address."""
        if self._local(addr):
            return "localhost"
        return self._names.get(addr, addr)

    async def name(self, addr: str) -> str:
        """The name of ``addr``, looked up once (bounded by LOOKUP_TIMEOUT)."""
        if self._local(addr):
            return "localhost"
        hit = self._names.get(addr)
        if hit is not None:
            return hit
        loop = asyncio.get_running_loop()
        try:
            host, _ = await asyncio.wait_for(loop.getnameinfo((addr, 0), socket.NI_NAMEREQD), LOOKUP_TIMEOUT)
            name = host.split(".", 1)[0] or addr
        except (OSError, TimeoutError) as exc:
            log.info("no name for %s: %s", addr, exc)
            name = addr
        if len(self._names) < self._limit:
            self._names[addr] = name
        return name


PEER_NAMES = PeerNames()

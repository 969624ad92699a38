"""The SLURM source: flurm's client of the running slurmctld, over the SLURM wire protocol, as SlurmUser.

Reads use ``last_update`` so that an unchanged state costs one tiny round trip (slurmctld answers
SLURM_NO_CHANGE_IN_DATA). No CLI output is parsed anywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TypeVar

from flurm.config.slurmconf import SlurmConfig
from flurm.errors import FlurmError, SlurmError
from flurm.protocol.constants import MsgType, ShowFlags, SlurmRC
from flurm.protocol.messages.base import Body
from flurm.protocol.messages.common import Empty, ReturnCode, ReturnCodeMsg, ShutdownRequest
from flurm.protocol.messages.job_info import JobInfoRequest, JobInfoResponse
from flurm.protocol.messages.nodes import NodeInfoRequest, NodeInfoResponse
from flurm.protocol.messages.partitions import PartitionInfoRequest, PartitionInfoResponse
from flurm.protocol.messages.reservations import ReservationInfoRequest, ReservationInfoResponse
from flurm.rpc.transport import Response, Signer, call

T = TypeVar("T")
SLURMCTLD_SHUTDOWN_CTLD = 2  # stop slurmctld only, not the slurmd daemons
ALL_DETAIL = ShowFlags.ALL | ShowFlags.DETAIL


class SourceUnreachable(FlurmError):
    """slurmctld did not answer."""

    rc = SlurmRC.SLURM_COMMUNICATIONS_CONNECTION_ERROR


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int


def source_endpoints(config: SlurmConfig) -> list[Endpoint]:
    """Where slurmctld listens, in the order clients try them."""
    return [Endpoint(h, p) for h, p in config.slurmctld_addresses()]


class SourceClient:
    def __init__(self, config: SlurmConfig, signer: Signer, *, timeout: float = 10.0) -> None:
        self.config = config
        self.signer = signer
        self.timeout = timeout
        self.endpoints = source_endpoints(config)

    async def request(
        self, msg_type: int, body: Body | bytes, *, timeout: float | None = None, decode: bool = True
    ) -> Response:
        last: Exception | None = None
        for ep in self.endpoints:
            try:
                resp = await call(
                    ep.host,
                    ep.port,
                    msg_type,
                    body,
                    self.signer,
                    timeout=timeout or self.timeout,
                    connect_timeout=min(2.0, timeout or self.timeout),
                    decode=decode,
                )
            except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
                last = exc
                continue
            assert resp is not None
            return resp
        raise SourceUnreachable(f"slurmctld is not reachable ({last})")

    @staticmethod
    def _rc_of(resp: Response) -> int | None:
        if isinstance(resp.body, ReturnCode | ReturnCodeMsg):
            return resp.body.rc
        return None

    async def ping(self) -> bool:
        try:
            resp = await self.request(MsgType.REQUEST_PING, Empty(), timeout=3.0)
        except SourceUnreachable:
            return False
        return self._rc_of(resp) == 0

    async def jobs(self, last_update: int = 0) -> JobInfoResponse | None:
        """All job records (with details), or None when nothing changed since ``last_update``."""
        resp = await self.request(MsgType.REQUEST_JOB_INFO, JobInfoRequest(last_update, ALL_DETAIL))
        return self._expect(resp, JobInfoResponse)

    async def jobs_raw(self, last_update: int = 0) -> bytes | None:
        """The RESPONSE_JOB_INFO body as it came (to be cut into records), or None when unchanged."""
        resp = await self.request(
            MsgType.REQUEST_JOB_INFO, JobInfoRequest(last_update, ALL_DETAIL), decode=False
        )
        if resp.msg_type == MsgType.RESPONSE_JOB_INFO:
            return resp.raw
        self._expect(resp, JobInfoResponse)
        return None

    async def nodes(self, last_update: int = 0) -> NodeInfoResponse | None:
        resp = await self.request(MsgType.REQUEST_NODE_INFO, NodeInfoRequest(last_update, ALL_DETAIL))
        return self._expect(resp, NodeInfoResponse)

    async def partitions(self, last_update: int = 0) -> PartitionInfoResponse | None:
        resp = await self.request(
            MsgType.REQUEST_PARTITION_INFO, PartitionInfoRequest(last_update, ShowFlags.ALL)
        )
        return self._expect(resp, PartitionInfoResponse)

    async def reservations(self, last_update: int = 0) -> ReservationInfoResponse | None:
        resp = await self.request(MsgType.REQUEST_RESERVATION_INFO, ReservationInfoRequest(last_update))
        return self._expect(resp, ReservationInfoResponse)

    def _expect(self, resp: Response, cls: type[T]) -> T | None:
        if isinstance(resp.body, cls):
            return resp.body
        rc = self._rc_of(resp)
        if rc == SlurmRC.SLURM_NO_CHANGE_IN_DATA:
            return None
        raise SlurmError(rc if rc is not None else SlurmRC.SLURM_UNEXPECTED_MSG_ERROR)

    async def forward(self, msg_type: int, body: bytes) -> Response:
        """Send a request body on to slurmctld as flurm (SlurmUser); return its reply as it came
        (undecoded: it goes back to the client unchanged, whatever its type)."""
        return await self.request(msg_type, body, decode=False)

    async def shutdown(self) -> int:
        """Ask slurmctld to save its state and exit (not the slurmd daemons)."""
        resp = await self.request(MsgType.REQUEST_SHUTDOWN, ShutdownRequest(SLURMCTLD_SHUTDOWN_CTLD))
        rc = self._rc_of(resp)
        return rc if rc is not None else 0

    async def wait_down(self, timeout: float = 30.0) -> bool:
        """Until no endpoint accepts connections (slurmctld has exited)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not await self.accepting():
                return True
            await asyncio.sleep(0.02)
        return False

    async def accepting(self) -> bool:
        for ep in self.endpoints:
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection(ep.host, ep.port), 1.0)
            except (OSError, TimeoutError):
                continue
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            return True
        return False

"""The SLURM source: flurm's client of the running slurmctld, over the SLURM wire protocol, as SlurmUser.

Reads use ``last_update`` so that an unchanged state costs one tiny round trip (slurmctld answers
SLURM_NO_CHANGE_IN_DATA). No CLI output is parsed anywhere.

The source's release is learned before anything else is asked (:meth:`SourceClient.release`), and every
request goes in its protocol version from then on. slurmctld says nothing of its release in a reply to
a request it accepted (the reply is in the request's version), so flurm pings in each release it serves,
newest first, and the first ping answered with success names it. Each served slurmctld takes pings of
its own release and of those up to three back (26.05: 24.11 on; 24.11: 23.02 on; 22.05: 20.11 on), and
refuses a newer one: 22.05 closes the connection unanswered, 24.11 and 26.05 answer an rc in their own
version, whose header names the release even when flurm does not serve it (a 25.05 source is refused
by name). 26.05 answers a 22.05 header with an HTTP error (it reads any unknown start as HTTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass
from typing import TypeVar

from flurm.config.slurmconf import SlurmConfig
from flurm.errors import FlurmError, SlurmError
from flurm.protocol import versions
from flurm.protocol.constants import MsgType, ShowFlags, SlurmRC
from flurm.protocol.frame import NO_AUTH, decode_frame
from flurm.protocol.messages.base import Body, decode_body
from flurm.protocol.messages.common import Empty, ReturnCode, ReturnCodeMsg, ShutdownRequest
from flurm.protocol.messages.job_info import JobInfoRequest, JobInfoResponse
from flurm.protocol.messages.nodes import NodeInfoRequest, NodeInfoResponse
from flurm.protocol.messages.partitions import PartitionInfoRequest, PartitionInfoResponse
from flurm.protocol.messages.reservations import ReservationInfoRequest, ReservationInfoResponse
from flurm.rpc.transport import Response, Signer, call, write_frame

T = TypeVar("T")
SLURMCTLD_SHUTDOWN_CTLD = 2  # stop slurmctld only, not the slurmd daemons
ALL_DETAIL = ShowFlags.ALL | ShowFlags.DETAIL


class SourceUnreachable(FlurmError):
    """slurmctld did not answer."""

    rc = SlurmRC.SLURM_COMMUNICATIONS_CONNECTION_ERROR


class UnsupportedSource(FlurmError):
    """slurmctld speaks a release flurm does not serve."""

    rc = SlurmRC.SLURM_PROTOCOL_VERSION_ERROR


# a ping's reply is a return code: anything longer is not a SLURM reply to it
_PROBE_REPLY_MAX = 64 * 1024


@dataclass(frozen=True, slots=True)
class Probe:
    """What a ping in one protocol version got: the version of the reply's header and its return code
    (None: not a return code flurm could read), or no reply at all (``version`` None)."""

    version: int | None
    rc: int | None = None


def release_of(asked: int, probe: Probe) -> int | None:
    """The source's protocol version as one ping in ``asked`` tells it, None when it tells nothing
    (no reply, or something that is not a SLURM reply)."""
    if probe.version is None:
        return None
    if probe.version != asked:
        return probe.version  # a refusal in the source's own version
    return asked if probe.rc == SlurmRC.SLURM_SUCCESS else None


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
        # the source's protocol version once learned (release()); forgotten when it stops answering
        self.version: int | None = None

    # -- the source's release ---------------------------------------------------------------------
    async def release(self, *, timeout: float = 3.0) -> int:
        """The protocol version the source speaks (learned once, see the module's comment). Raises
        :class:`SourceUnreachable`, or :class:`UnsupportedSource` naming a release flurm does not serve."""
        if self.version is not None:
            return self.version
        reached = False
        for ep in self.endpoints:
            for asked in versions.SERVED:
                try:
                    probe = await self._probe(ep, asked, timeout)
                except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError):
                    break  # this endpoint is not there: the next one
                reached = True
                found = release_of(asked, probe)
                if found is None:
                    continue
                if found not in versions.SERVED:
                    raise UnsupportedSource(
                        f"source slurmctld: SLURM {versions.release_name(found)}, which flurm does not "
                        f"serve (flurm serves {', '.join(map(versions.release_name, versions.SERVED))})"
                    )
                if found != asked:  # named by a refusal: a ping in it must now succeed
                    again = await self._probe(ep, found, timeout)
                    if release_of(found, again) != found:
                        continue
                self.version = found
                return found
        if reached:
            raise UnsupportedSource(
                "source slurmctld answers a ping in none of the releases flurm serves "
                f"({', '.join(map(versions.release_name, versions.SERVED))})"
            )
        raise SourceUnreachable("slurmctld is not reachable")

    @property
    def release_name(self) -> str | None:
        """The source's release ("24.11") once learned."""
        return versions.release_name(self.version) if self.version is not None else None

    async def _probe(self, ep: Endpoint, version: int, timeout: float) -> Probe:
        """One REQUEST_PING in ``version``; the reply is read by hand, since its header may be in a
        version flurm does not serve (which is the point of asking)."""
        cred = await self.signer.sign(MsgType.REQUEST_PING, b"", None, version)
        reader, writer = await asyncio.wait_for(asyncio.open_connection(ep.host, ep.port), timeout)
        try:
            write_frame(writer, MsgType.REQUEST_PING, b"", cred, version)
            await writer.drain()
            async with asyncio.timeout(timeout):
                try:
                    (length,) = struct.unpack(">I", await reader.readexactly(4))
                    if not 2 <= length <= _PROBE_REPLY_MAX:
                        return Probe(None)  # not a SLURM reply (26.05's HTTP error to an old header)
                    data = await reader.readexactly(length)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return Probe(None)  # closed unanswered: 22.05's refusal of a newer header
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        answered = int.from_bytes(data[:2], "big")
        if answered != version:
            return Probe(answered)
        try:
            frame = decode_frame(data)
            if frame.auth_plugin != NO_AUTH:
                await self.signer.verify(frame.msg_type, frame.body, frame.credential, frame.version)
            body = decode_body(frame.msg_type, frame.body, frame.version)
        except Exception:  # a reply flurm cannot read or verify tells nothing
            return Probe(answered)
        return Probe(answered, self._rc_of_body(body))

    # -- requests ---------------------------------------------------------------------------------
    async def request(
        self, msg_type: int, body: Body | bytes, *, timeout: float | None = None, decode: bool = True
    ) -> Response:
        """One request in the source's protocol version (a body given as bytes must be in it)."""
        version = await self.release()
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
                    version=version,
                )
            except (OSError, TimeoutError, ConnectionError, asyncio.IncompleteReadError) as exc:
                last = exc
                continue
            assert resp is not None
            return resp
        self.version = None  # a source that comes back may be another release (an upgrade)
        raise SourceUnreachable(f"slurmctld is not reachable ({last})")

    @staticmethod
    def _rc_of_body(body: Body | None) -> int | None:
        if isinstance(body, ReturnCode | ReturnCodeMsg):
            return body.rc
        return None

    @classmethod
    def _rc_of(cls, resp: Response) -> int | None:
        return cls._rc_of_body(resp.body)

    async def ping(self) -> bool:
        """slurmctld answers (a source of a release flurm does not serve answers too: the pre-flight's
        source_release check names it)."""
        try:
            resp = await self.request(MsgType.REQUEST_PING, Empty(), timeout=3.0)
        except SourceUnreachable:
            return False
        except UnsupportedSource:
            return True
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

"""Run simulated slurmd: one listening port per node of a slurm.conf, in one asyncio process.

Each node listens on its NodeAddr:Port and answers the controller as node.py says; what it sends of
its own (registrations, batch completions, epilog completions) goes to SlurmctldHost:SlurmctldPort on a
new connection per message, signed with MUNGE, as slurmd and slurmstepd do. At start every node
registers at once (the registration storm a cluster sees when its slurmd all start) and retries with
slurmd's backoff (1 s doubling to 128 s) until the controller answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import resource
import signal
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.fleet.node import CancelTimer, Effect, Register, Send, SimNode, StartTimer
from flurm.auth.configure import authenticator_from_config
from flurm.config.slurmconf import NodeConf, SlurmConfig
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Dispatcher, Reply, Request, RpcServer, Signer, call

log = logging.getLogger("fleet")

# slurmd's startup registration backoff (slurmd.c _registration_engine)
FIRST_BACKOFF, MAX_BACKOFF = 1.0, 128.0
# slurmstepd's pause between attempts to report a batch completion (mgr.c)
RETRY_PAUSE = 15.0
# replies that say the controller already has what was sent
_DONE_RCS = frozenset({0, SlurmRC.ESLURM_ALREADY_DONE, SlurmRC.ESLURM_INVALID_JOB_ID})


def raise_open_file_limit(wanted: int) -> int:
    """Raise the soft limit on open files towards ``wanted`` (a node holds a listening socket and
    the connections it serves); the limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass
class FleetStats:
    """What the fleet saw, written as JSON at exit (the benchmark reads it)."""

    started: float = field(default_factory=time.time)
    registrations_sent: int = 0
    registrations_failed: int = 0
    completions_sent: int = 0
    send_failures: int = 0

    def as_dict(self, nodes: Sequence[SimNode]) -> dict[str, object]:
        received: dict[str, int] = {}
        for node in nodes:
            for msg_type, count in node.requests.items():
                name = _type_name(msg_type)
                received[name] = received.get(name, 0) + count
        return {
            "nodes": len(nodes),
            "seconds": round(time.time() - self.started, 3),
            "registrations_sent": self.registrations_sent,
            "registrations_failed": self.registrations_failed,
            "completions_sent": self.completions_sent,
            "send_failures": self.send_failures,
            "received": dict(sorted(received.items())),
        }


def _type_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return str(msg_type)


class Fleet:
    def __init__(
        self,
        config: SlurmConfig,
        nodes: Sequence[NodeConf],
        *,
        version: int,
        release: str,
        default_seconds: float = 0.0,
        max_outgoing: int = 512,
        signer: Signer | None = None,
    ) -> None:
        self.config = config
        self.version = version
        self.signer = signer or Signer(authenticator_from_config(config))
        has_epilog = bool(config.epilog)
        self.nodes = [
            SimNode(
                conf=n,
                version=version,
                release=release,
                conf_hash=config.hash_val,
                slurm_user_uid=config.slurm_user_uid,
                has_epilog=has_epilog,
                default_seconds=default_seconds,
            )
            for n in nodes
        ]
        self.stats = FleetStats()
        self._servers: list[RpcServer] = []
        self._outgoing = asyncio.Semaphore(max_outgoing)
        self._timers: dict[tuple[str, int], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        hosts = [config.slurmctld_addr] if config.slurmctld_addr else [h.addr for h in config.control_hosts]
        self._controllers = hosts
        self._ports = config.slurmctld_ports

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        """Listen on every node's port, then let every node register (all at once)."""
        raise_open_file_limit(4 * len(self.nodes) + 4096)
        for node in self.nodes:
            server = RpcServer(
                self._dispatcher(node),
                self.signer,
                message_timeout=float(self.config.message_timeout),
                name=f"fleet {node.name}",
            )
            await server.listen(node.conf.addr, node.conf.port)
            self._servers.append(server)
        for node in self.nodes:
            self._spawn(self._startup_registration(node))

    async def stop(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()
        for server in self._servers:
            await server.close_listeners()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.signer.close()

    def _spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- requests from the controller ------------------------------------------------------------------
    def _dispatcher(self, node: SimNode) -> Dispatcher:
        async def dispatch(request: Request) -> Reply | None:
            reply, effects = node.handle(request.msg_type, request.body, request.uid)
            self._apply(node, effects)
            return None if reply is None else Reply(reply[0], reply[1])

        return dispatch

    def _apply(self, node: SimNode, effects: list[Effect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, Send):
                self._spawn(self._send(effect))
            elif isinstance(effect, StartTimer):
                key = (node.name, effect.job_id)
                self._timers[key] = loop.call_later(effect.seconds, self._batch_ended, node, effect.job_id)
            elif isinstance(effect, CancelTimer):
                handle = self._timers.pop((node.name, effect.job_id), None)
                if handle is not None:
                    handle.cancel()
            elif isinstance(effect, Register):
                self._spawn(self._register_once(node, effect.wants_response))

    def _batch_ended(self, node: SimNode, job_id: int) -> None:
        self._timers.pop((node.name, job_id), None)
        self._apply(node, node.batch_ended(job_id))

    # -- messages to the controller --------------------------------------------------------------------
    async def _call(self, msg_type: int, body: object, expect_reply: bool) -> int | None:
        """Send one message to the controller (each control host in turn, a port of SlurmctldPort's
        range at random); the reply's return code (None: no reply expected, or not a return code)."""
        last: Exception | None = None
        async with self._outgoing:
            for host in self._controllers:
                port = random.choice(self._ports)
                try:
                    response = await call(
                        host,
                        port,
                        msg_type,
                        body,  # type: ignore[arg-type]
                        self.signer,
                        timeout=float(self.config.message_timeout),
                        expect_reply=expect_reply,
                        version=self.version,
                    )
                except (OSError, TimeoutError, WireError, ConnectionError) as exc:
                    last = exc
                    continue
                if response is None:
                    return None
                return getattr(response.body, "rc", None)
        assert last is not None
        raise ConnectionError(f"no controller answered: {last}")

    async def _send(self, send: Send) -> None:
        for attempt in range(send.retries + 1):
            try:
                rc = await self._call(send.msg_type, send.body, send.expect_reply)
            except ConnectionError as exc:
                self.stats.send_failures += 1
                if attempt == send.retries:
                    log.warning("%s lost: %s", _type_name(send.msg_type), exc)
                    return
                await asyncio.sleep(RETRY_PAUSE)
                continue
            if send.msg_type == MsgType.REQUEST_COMPLETE_BATCH_SCRIPT:
                self.stats.completions_sent += 1
            if rc is not None and rc not in _DONE_RCS:
                log.info("%s answered %d", _type_name(send.msg_type), rc)
            return

    async def _register_once(self, node: SimNode, wants_response: bool) -> bool:
        try:
            await self._call(
                MsgType.MESSAGE_NODE_REGISTRATION_STATUS, node.registration(wants_response), expect_reply=True
            )
        except ConnectionError as exc:
            self.stats.registrations_failed += 1
            log.info("%s: registration failed: %s", node.name, exc)
            return False
        self.stats.registrations_sent += 1
        return True

    async def _startup_registration(self, node: SimNode) -> None:
        backoff = FIRST_BACKOFF
        while not await self._register_once(node, True):
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)


async def serve(fleet: Fleet, stats_path: Path | None, ready_path: Path | None = None) -> None:
    """Run ``fleet`` until SIGTERM or SIGINT; write its stats to ``stats_path`` then (and on SIGUSR1)."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def write_stats() -> None:
        if stats_path is not None:
            tmp = stats_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(fleet.stats.as_dict(fleet.nodes), indent=1) + "\n")
            tmp.replace(stats_path)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)
    loop.add_signal_handler(signal.SIGUSR1, write_stats)
    await fleet.start()
    if ready_path is not None:
        ready_path.write_text(f"{len(fleet.nodes)}\n")
    log.warning("fleet: %d nodes listening", len(fleet.nodes))
    await done.wait()
    write_stats()
    with contextlib.suppress(Exception):
        await fleet.stop()

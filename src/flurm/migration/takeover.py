"""The takeover: from shadow to owning the cluster, while jobs run and clients keep working.

Steps (each reported as it happens):
  1. pre-flight   slurmctld reachable and of a release flurm serves (named), mirror in sync, every
                  node's slurmd answers flurm, flurm can own slurmctld's endpoint (the address is on
                  this host), slurmctld's state is readable, slurmdbd takes flurm's connection
                  (with AccountingStorageType=accounting_storage/slurmdbd)
  2. freeze       mode switching: client writes to flurm wait; reads are served from the mirror
  3. final sync   one last mirror pass
  4. stop source  REQUEST_SHUTDOWN to slurmctld (slurmctld only: it saves its state and exits)
  5. endpoint     flurm listens on SlurmctldHost:SlurmctldPort, where slurmd and every running
                  slurmstepd send their messages (they never re-read slurm.conf)
  6. saved state  jobs from slurmctld's saved state that the mirror had not seen yet (accepted in the
                  last instant), the id sequence, and the scripts and environments of pending jobs;
                  reservations created, changed or deleted since the last pass, and the counter
                  their generated names take a number from; the accounting records slurmctld
                  could not send (dbd.messages), queued before flurm's own
  7. adopt        running jobs keep their nodes, cores, memory and GRES devices; job ids continue
                  above SLURM's
  8. persist      everything is written to flurm's store
  9. standalone   mode standalone: held writes proceed, slurmd daemons are asked to re-register,
                  pending jobs are scheduled by flurm
If anything fails before slurmctld stopped, flurm goes back to shadow and nothing has changed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flurm.auth.errors import AuthError
from flurm.errors import FlurmError
from flurm.migration import gres_import
from flurm.modes import Guard, Mode
from flurm.protocol.constants import MsgType, NodeState
from flurm.protocol.messages.common import Empty
from flurm.protocol.messages.slurmd import PingSlurmdResponse
from flurm.protocol.versions import SPOKEN, STATE_FILES, release_name
from flurm.rpc.slurmd import call_node
from flurm.state.support import unsupported_job_options, unsupported_settings

if TYPE_CHECKING:
    from flurm.auth.sack import SackServer
    from flurm.config.slurmconf import SlurmConfig
    from flurm.controller.ports import ControllerPort
    from flurm.migration.mirror import Mirror
    from flurm.migration.source import SourceClient

log = logging.getLogger("flurm.takeover")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Event:
    step: str
    status: str  # running | ok | failed | info
    detail: str
    at: float = field(default_factory=time.time)


@dataclass
class TakeoverResult:
    ok: bool
    dry_run: bool
    checks: list[Check]
    gap_seconds: float | None = None  # how long client writes were held
    endpoint_gap_seconds: float | None = None  # slurmctld's port closed until flurm listened on it
    adopted_running: int = 0
    pending: int = 0
    last_instant_jobs: int = 0
    next_job_id: int = 0
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AccountingPeer(Protocol):
    """slurmdbd as the takeover sees it (accounting/sink.py's DbdAccounting; daemon.py passes it when
    AccountingStorageType=accounting_storage/slurmdbd)."""

    @property
    def endpoint(self) -> str: ...  # host:port
    async def probe(self) -> str: ...  # a PERSIST_INIT handshake; raises when it fails
    def take_records(self, version: int, records: Sequence[bytes]) -> None: ...  # ValueError: refused
    def baseline_nodes(self) -> None: ...  # the nodes' states now are what slurmdbd already holds
    def take_unrecorded_jobs(self) -> int: ...  # slurmctld's jobs without a db_index: their job start


class TakeoverError(FlurmError):
    """A takeover step failed; the takeover stops where it is."""


def controller_endpoints(
    config: SlurmConfig,
) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    """SlurmctldHost endpoints split into the ones on this host, the others, and problems."""
    local: list[tuple[str, int]] = []
    remote: list[tuple[str, int]] = []
    problems: list[str] = []
    for host, port in config.slurmctld_addresses():
        try:
            addr = socket.gethostbyname(host)
        except OSError as exc:
            problems.append(f"{host}: {exc}")
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((addr, 0))
            except OSError:
                remote.append((host, port))
                continue
        if port < 1024 and os.geteuid() != 0:
            problems.append(f"port {port} needs root")
        local.append((host, port))
    return local, remote, problems


def _alive(pid: int) -> bool:
    """A live process, not a zombie waiting to be reaped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


async def _unix_socket_answers(path: str) -> bool:
    """Whether a process accepts connections on the unix socket ``path``."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


class Takeover:
    """``own_endpoint`` makes flurm listen where slurmctld listened (daemon.py's, which owns the
    listening sockets): the step after slurmctld stopped."""

    def __init__(
        self,
        ctl: ControllerPort,
        source: SourceClient,
        mirror: Mirror,
        own_endpoint: Callable[[], Awaitable[None]],
        sack_socket: Callable[[], SackServer | None] | None = None,
        accounting: AccountingPeer | None = None,
    ) -> None:
        self.ctl = ctl
        self.source = source
        self.mirror = mirror
        self.own_endpoint = own_endpoint
        # slurmctld's sack socket as flurm would serve it (daemon.py's; None: the site has no auth/slurm
        # or flurm serves one already)
        self.sack_socket = sack_socket
        self.accounting = accounting
        self.events: list[Event] = []
        self.running = False
        self.result: TakeoverResult | None = None
        self.listeners: list[Callable[[Event], None]] = []
        self._source_pid: int | None = None

    def _event(self, step: str, status: str, detail: str = "") -> None:
        ev = Event(step, status, detail)
        self.events.append(ev)
        (log.warning if status == "failed" else log.info)("takeover: %s %s %s", step, status, detail)
        for cb in self.listeners:
            cb(ev)

    # -- pre-flight -------------------------------------------------------------------------------
    async def preflight(self, allow_unsupported: bool = False) -> list[Check]:
        ctl = self.ctl
        checks: list[Check] = []
        source, mirror = self.source, self.mirror
        checks.append(Check("mode", ctl.mode == Mode.SHADOW, f"flurm is {ctl.mode}"))
        reachable = await source.ping()
        checks.append(
            Check(
                "source_reachable",
                reachable,
                "slurmctld answers" if reachable else "slurmctld does not answer",
            )
        )
        if reachable:
            checks.append(await self._check_release())
        if checks[-1].ok:
            try:
                await mirror.sync()
            except Exception as exc:
                checks.append(Check("mirror_in_sync", False, f"mirror pass failed: {exc}"))
            else:
                age = mirror.age() or 0.0
                checks.append(Check("mirror_in_sync", mirror.in_sync(2.0), f"last sync {age:.2f} s ago"))
        else:
            why = "a source in a release flurm cannot read" if reachable else "no source"
            checks.append(Check("mirror_in_sync", False, f"{why} to sync with"))
        checks.append(await self._check_nodes())
        checks.append(self._check_endpoint())
        checks.append(self._check_saved_state())
        if self.accounting is not None:
            checks.append(await self._check_slurmdbd(self.accounting))
        checks.append(self._check_supported(allow_unsupported))
        return checks

    async def _check_slurmdbd(self, accounting: AccountingPeer) -> Check:
        """flurm records into slurmdbd from the switch on: it must take flurm's connection now."""
        try:
            detail = await accounting.probe()
        except Exception as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return Check("slurmdbd_reachable", False, f"slurmdbd at {accounting.endpoint}: {why}")
        return Check("slurmdbd_reachable", True, detail)

    async def _check_release(self) -> Check:
        """The source's release: one flurm serves, and whose saved state flurm reads."""
        try:
            version = await self.source.release()
        except FlurmError as exc:  # unreachable, or a release flurm does not serve (named)
            return Check("source_release", False, str(exc))
        name = f"source slurmctld: SLURM {release_name(version)}"
        if not STATE_FILES.accepts(version):
            return Check("source_release", False, f"{name}, whose saved state flurm cannot read")
        return Check("source_release", True, name)

    def _check_supported(self, allow: bool) -> Check:
        """Every slurm.conf setting and live job option flurm would not act on (state/support.py)."""
        live = [j for j in self.ctl.cluster.jobs.values() if not j.is_finished()]
        # in the source's release: its defaults for what slurm.conf leaves unset (PriorityType)
        settings = unsupported_settings(self.ctl.config, self.source.version or SPOKEN)
        findings = settings + unsupported_job_options(live)
        if not findings:
            return Check("supported", True, "flurm supports every setting and live job option in use")
        listed = "; ".join(map(str, findings))
        if allow:
            return Check("supported", True, f"taken over anyway (allow_unsupported): {listed}")
        return Check(
            "supported", False, f"{listed} (to take over all the same: `flurm takeover --allow-unsupported`)"
        )

    async def _check_nodes(self) -> Check:
        nodes = [
            n for n in self.ctl.cluster.node_list if n.base_state not in (NodeState.DOWN, NodeState.FUTURE)
        ]

        async def ping(node: Any) -> str | None:
            try:
                # in the node's own release, as the node agent talks to it
                resp = await call_node(node, MsgType.REQUEST_PING, Empty(), self.ctl.signer, 5.0)
            except Exception as exc:
                return f"{node.name}: {exc}"
            if resp is None or not isinstance(resp.body, PingSlurmdResponse):
                return f"{node.name}: unexpected answer"
            return None

        failures = [f for f in await asyncio.gather(*(ping(n) for n in nodes)) if f]
        if failures:
            return Check("nodes_reachable", False, "; ".join(failures))
        return Check("nodes_reachable", True, f"{len(nodes)} slurmd answered")

    def _check_endpoint(self) -> Check:
        local, remote, problems = controller_endpoints(self.ctl.config)
        if problems:
            return Check("endpoint_bindable", False, "; ".join(problems))
        if not local:
            names = ", ".join(f"{h}:{p}" for h, p in remote)
            return Check(
                "endpoint_bindable",
                False,
                f"no SlurmctldHost address is on this host ({names}): move the address (or its name) "
                "here, or list this host as a backup SlurmctldHost",
            )
        detail = "flurm will listen on " + ", ".join(f"{h}:{p}" for h, p in local)
        if remote:
            detail += (
                "; slurmd will reach it there once " + ", ".join(f"{h}:{p}" for h, p in remote) + " refuses"
            )
        return Check("endpoint_bindable", True, detail)

    def _check_saved_state(self) -> Check:
        path = Path(self.ctl.config.state_save_location)
        if path.is_dir() and os.access(path, os.R_OK | os.X_OK):
            return Check("saved_state_readable", True, f"{path}")
        return Check("saved_state_readable", False, f"cannot read slurmctld's StateSaveLocation {path}")

    # -- the switch -------------------------------------------------------------------------------
    async def run(self, *, dry_run: bool = False, allow_unsupported: bool = False) -> TakeoverResult:
        if self.running:
            raise TakeoverError("a takeover is already running")
        self.running = True
        self.events.clear()
        try:
            result = await self._run(dry_run, allow_unsupported)
        finally:
            self.running = False
        self.result = result
        return result

    async def _run(self, dry_run: bool, allow_unsupported: bool) -> TakeoverResult:
        ctl = self.ctl
        self._event("preflight", "running")
        checks = await self.preflight(allow_unsupported)
        for c in checks:
            self._event(f"check {c.name}", "ok" if c.ok else "failed", c.detail)
        if not all(c.ok for c in checks):
            self._event("preflight", "failed", "takeover not started; nothing changed")
            return TakeoverResult(False, dry_run, checks, error="pre-flight failed")
        self._event("preflight", "ok")
        if dry_run:
            return TakeoverResult(True, True, checks)

        held_since = time.monotonic()
        await ctl.set_mode(Mode.SWITCHING, {Guard.PREFLIGHT_PASSED})
        self._event("freeze", "ok", "client writes now wait for the switch")
        try:
            await self.mirror.sync()
            self._event("final sync", "ok", f"{len(ctl.cluster.jobs)} jobs in the mirror")
            down_at = await self._stop_source()
        except Exception as exc:
            self._event("stop source", "failed", str(exc))
            if await self.source.ping():
                await ctl.set_mode(Mode.SHADOW, {Guard.SOURCE_RUNNING})
                self._event("abort", "ok", "slurmctld still runs; back in shadow, nothing changed")
            return TakeoverResult(False, False, checks, error=str(exc))

        bound_at = await self._own_endpoint()
        endpoint_gap = bound_at - down_at
        self._event(
            "endpoint", "ok", f"listening where slurmctld was; port closed for {endpoint_gap * 1000:.0f} ms"
        )
        await self._wait_source_exit()
        await self._take_sack_socket()

        last_instant = await self._merge_saved_state()
        taken_dbd = await self._take_dbd_messages()
        adopted, pending = self._adopt()
        if self.accounting is not None:
            self.accounting.baseline_nodes()  # slurmctld recorded them: no event again for a drain
            unrecorded = self.accounting.take_unrecorded_jobs()
            if unrecorded:
                self._event("accounting", "ok", f"{unrecorded} job(s) slurmctld had not recorded yet go next")
        await ctl.set_mode(Mode.STANDALONE, {Guard.SOURCE_STOPPED}, persist=False)
        gap = time.monotonic() - held_since
        self._event(
            "standalone",
            "ok",
            f"flurm owns the cluster; writes were held {gap * 1000:.0f} ms; nodes asked to re-register",
        )
        await self._persist()
        if taken_dbd:
            await self._mark_dbd_messages_taken()
        return TakeoverResult(
            True,
            False,
            checks,
            gap_seconds=gap,
            endpoint_gap_seconds=endpoint_gap,
            adopted_running=adopted,
            pending=pending,
            last_instant_jobs=last_instant,
            next_job_id=ctl.cluster.next_job_id,
        )

    async def _stop_source(self) -> float:
        """Shut slurmctld down (it saves its state); the monotonic time its port closed."""
        self._source_pid = self._slurmctld_pid()
        try:
            rc = await self.source.shutdown()
            self._event("stop source", "running", f"REQUEST_SHUTDOWN answered rc={rc}")
        except Exception as exc:
            rc = -1
            self._event("stop source", "running", f"REQUEST_SHUTDOWN failed ({exc}); trying SIGTERM")
        if rc != 0 and not self._sigterm_slurmctld():
            raise TakeoverError("slurmctld refused to shut down and its pid file is not usable")
        if not await self.source.wait_down(60.0):
            raise TakeoverError("slurmctld is still accepting connections after 60 s")
        down = time.monotonic()
        self._event("stop source", "ok", "slurmctld no longer accepts connections")
        return down

    def _slurmctld_pid(self) -> int | None:
        """slurmctld's pid from its pid file, if it runs on this host."""
        pidfile = self.ctl.config.slurmctld_pid_file
        if not pidfile:
            return None
        try:
            pid = int(Path(pidfile).read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    async def _wait_source_exit(self, timeout: float = 120.0) -> None:
        """slurmctld writes its state after it stopped accepting: wait until its process has gone."""
        pid = self._source_pid
        if pid is None:
            self._event("saved state", "info", "slurmctld's pid is unknown: waiting 5 s for its state save")
            await asyncio.sleep(5.0)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while _alive(pid):
            if loop.time() > deadline:
                # it no longer serves anything; go on with what the mirror and its last save hold
                self._event(
                    "stop source", "failed", f"slurmctld (pid {pid}) has not exited after {timeout:.0f} s"
                )
                return
            await asyncio.sleep(0.02)
        self._event("stop source", "ok", f"slurmctld (pid {pid}) saved its state and exited")

    def _sigterm_slurmctld(self) -> bool:
        pid = self._source_pid
        if pid is None:
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except OSError:
            return False
        return True

    async def _take_sack_socket(self) -> None:
        """auth/slurm: the clients of this host got their tokens from slurmctld's sack socket, gone with
        it; flurm serves it now, unless something still answers there."""
        sack = self.sack_socket() if self.sack_socket is not None else None
        if sack is None:
            return
        if await _unix_socket_answers(sack.path):
            self._event("sack socket", "failed", f"{sack.path} still answers; left to its owner")
            return
        try:
            await sack.start()
        except AuthError as exc:
            self._event("sack socket", "failed", str(exc))
            return
        self._event(
            "sack socket", "ok", f"auth/slurm clients get their credentials from flurm at {sack.path}"
        )

    async def _own_endpoint(self) -> float:
        await self.own_endpoint()
        return time.monotonic()

    async def _persist(self) -> None:
        """Every job into flurm's store, then the mode: a restart before the mode is on disk starts in
        shadow again (slurmctld's saved state still holds everything), never standalone and empty."""

        ctl = self.ctl
        for i, job in enumerate(list(ctl.cluster.jobs.values())):
            ctl.cluster.job_changed(job, by_flurm=False)
            if i % 256 == 255:
                await asyncio.sleep(0)  # keep serving clients while 10,000 jobs are written
        ctl.cluster.reservations_changed(everything=True)
        ctl.store.set_meta("mode", Mode.STANDALONE.value)
        await ctl.durable()
        self._event("persist", "ok", f"{len(ctl.cluster.jobs)} jobs written to flurm's store")
        ctl.spawn(self._fetch_scripts(), "fetch-scripts")

    async def _fetch_scripts(self) -> None:
        from flurm.migration import saved_state

        n = await saved_state.fetch_scripts(self.ctl)
        log.info("takeover: %d pending job scripts copied from slurmctld's saved state", n)

    async def _merge_saved_state(self) -> int:
        """Jobs slurmctld saved that the mirror had not seen; the saved id sequence. Returns how many."""
        from flurm.migration import saved_state

        loop = asyncio.get_running_loop()
        state_dir = Path(self.ctl.config.state_save_location)
        added = 0
        try:
            state = await loop.run_in_executor(None, saved_state.load, state_dir)
            added = saved_state.merge(self.ctl, state)
        except Exception as exc:
            self._event("saved state", "failed", f"could not read slurmctld's saved state: {exc}")
        else:
            self._event("saved state", "ok", f"{added} job(s) accepted by slurmctld after the last sync")
        await self._merge_saved_reservations()
        return added

    async def _take_dbd_messages(self) -> bool:
        """The records slurmctld could not send before it stopped (its dbd.messages) go to slurmdbd
        first, as a restarted slurmctld sends them. True when flurm took them."""
        from flurm.migration import dbd_messages

        if self.accounting is None:
            return False
        loop = asyncio.get_running_loop()
        state_dir = Path(self.ctl.config.state_save_location)
        try:
            saved = await loop.run_in_executor(None, dbd_messages.read_dbd_messages, state_dir)
        except Exception as exc:
            self._event("accounting", "failed", f"could not read slurmctld's dbd.messages: {exc}")
            return False
        if saved is None or not saved.records:
            self._event("accounting", "ok", "slurmctld left no unsent accounting records")
            return False
        try:
            self.accounting.take_records(saved.version, saved.records)
        except ValueError as exc:
            self._event(
                "accounting",
                "failed",
                f"{len(saved.records)} unsent records in slurmctld's dbd.messages left there: {exc}",
            )
            return False
        self._event(
            "accounting",
            "ok",
            f"{len(saved.records)} records slurmctld had not sent go to slurmdbd before flurm's own",
        )
        return True

    async def _mark_dbd_messages_taken(self) -> None:
        """Once flurm's store holds them: a slurmctld started again here must not send them twice."""
        from flurm.migration import dbd_messages

        loop = asyncio.get_running_loop()
        state_dir = Path(self.ctl.config.state_save_location)
        try:
            taken = await loop.run_in_executor(None, dbd_messages.mark_taken, state_dir)
        except OSError as exc:
            self._event("accounting", "failed", f"could not rename slurmctld's dbd.messages: {exc}")
            return
        if taken is not None:
            self._event("accounting", "info", f"slurmctld's dbd.messages renamed {taken.name}")

    async def _merge_saved_reservations(self) -> None:
        """Reservations slurmctld saved: those the mirror had not seen (or seen before a change or a
        deletion), and the name counter the wire does not carry."""
        from flurm.migration import saved_state

        loop = asyncio.get_running_loop()
        state_dir = Path(self.ctl.config.state_save_location)
        try:
            state = await loop.run_in_executor(None, saved_state.load_reservations, state_dir)
            if state is None:
                self._event("saved state", "info", "no resv_state saved; the mirror's reservations are kept")
                return
            new, changed, gone = saved_state.merge_reservations(self.ctl, state)
        except Exception as exc:
            self._event("saved state", "failed", f"could not read slurmctld's saved reservations: {exc}")
            return
        self._event(
            "saved state",
            "ok",
            f"reservations since the last sync: {new} created, {changed} changed, {gone} deleted; "
            f"the next generated name counts on from {state.top_suffix}",
        )

    def _adopt(self) -> tuple[int, int]:
        """Running jobs keep their allocations; pending ones become flurm's to schedule."""
        cluster = self.ctl.cluster
        for node in cluster.node_list:
            node.jobs.clear()
            node.alloc_cores.clear()
            node.alloc_cpus = 0
            node.alloc_mem = 0
            gres_import.clear_alloc(node.gres_inv)  # the running jobs claim their devices again
            node.registered = False  # until slurmd registers with flurm
            node.record_overrides = {}
        adopted = pending = 0
        for job in cluster.jobs.values():
            if job.is_running() or job.is_completing():
                job.adopted = job.is_running()
                adopted += 1 if job.is_running() else 0
                cluster._claim(job)
            elif job.is_pending():
                pending += 1
        for part in cluster.partitions.values():
            part.record_overrides = {}
        highest = max([*cluster.jobs.keys(), self.mirror.highest_job_id, 0])
        cluster.reserve_job_ids_above(highest)
        self._event(
            "adopt",
            "ok",
            f"{adopted} running job(s) adopted, {pending} pending job(s) to schedule, "
            f"new ids from {cluster.next_job_id}",
        )
        return adopted, pending

"""The takeover's steps and guards against a fake slurmctld, a fake mirror and a fake controller port
whose mode changes go through the real mode table (a step without its guard fails as it would)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from flurm.auth.sack import SackServer
from flurm.auth.slurm_auth import SackKey, SackKeys, SlurmAuthenticator
from flurm.config import parse_text
from flurm.migration.source import UnsupportedSource
from flurm.migration.takeover import Takeover, TakeoverError, _unix_socket_answers
from flurm.modes import Guard, Mode, check_transition
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    NodeState,
)
from flurm.protocol.versions import SERVED, release_name
from flurm.state.cluster import Cluster
from flurm.state.model import Job

NOW = 1_795_696_400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FakeSlurmctld:
    """Answers pings; REQUEST_SHUTDOWN ends the process standing for slurmctld (its pid file's)."""

    process: subprocess.Popen[bytes] | None = None
    answers: bool = True
    shutdown_fails: bool = False
    steps: list[str] = field(default_factory=list)
    version: int = SLURM_22_05_PROTOCOL_VERSION  # its release, as SourceClient.release learns it

    async def release(self) -> int:
        if self.version not in SERVED:
            raise UnsupportedSource(f"source slurmctld: SLURM {release_name(self.version)}, not served")
        return self.version

    async def ping(self) -> bool:
        self.steps.append("ping")
        return self.answers

    async def shutdown(self) -> int:
        self.steps.append("shutdown")
        if self.shutdown_fails:
            raise ConnectionResetError("connection reset by peer")
        if self.process is not None:
            self.process.terminate()
            self.process.wait()
        self.answers = False
        return 0

    async def wait_down(self, timeout: float = 30.0) -> bool:
        self.steps.append("wait_down")
        return not self.answers


@dataclass
class FakeMirror:
    steps: list[str]
    highest_job_id: int = 41

    async def sync(self, *, full: bool = False) -> None:
        self.steps.append("sync")

    def age(self) -> float:
        return 0.1

    def in_sync(self, max_age: float = 2.0) -> bool:
        return True


class FakePort:
    """The controller's port: mode changes checked by the mode table, steps recorded in order."""

    def __init__(self, tmp: Path, steps: list[str], pid_file: Path) -> None:
        state = tmp / "slurmctld-state"
        state.mkdir()
        self.config = parse_text(
            "ClusterName=test\n"
            f"SlurmctldHost=localhost(127.0.0.1)\nSlurmctldPort={_free_port()}\n"
            f"StateSaveLocation={state}\nSlurmctldPidFile={pid_file}\n"
            "NodeName=n1 CPUs=2\nPartitionName=debug Nodes=ALL Default=YES\n"
        )
        self.cluster = Cluster(self.config, None, lambda: NOW)
        for node in self.cluster.node_list:
            node.base_state = NodeState.DOWN  # no slurmd to ping in a unit test
        self.mode = Mode.SHADOW
        self.steps = steps
        self.meta: dict[str, Any] = {}
        self.store = self
        self.signer = None

    def now(self) -> int:
        return NOW

    async def set_mode(self, target: Mode, holding: set[Guard], *, persist: bool = True) -> None:
        check_transition(self.mode, target, holding)
        self.steps.append(f"mode {target.value}")
        self.mode = target

    def set_meta(self, key: str, value: Any) -> None:
        self.steps.append(f"meta {key}={value}")

    async def durable(self) -> None:
        self.steps.append("durable")

    def spawn(self, coro: Coroutine[Any, Any, None], name: str = "") -> None:
        self.steps.append(f"spawn {name}")
        coro.close()


class Setup:
    def __init__(self, tmp: Path, *, slurmctld_runs: bool = True) -> None:
        self.steps: list[str] = []
        pid_file = tmp / "slurmctld.pid"
        self.source = FakeSlurmctld(steps=self.steps)
        if slurmctld_runs:
            self.source.process = subprocess.Popen(["sleep", "120"])
            pid_file.write_text(f"{self.source.process.pid}\n")
        self.ctl = FakePort(tmp, self.steps, pid_file)
        self.mirror = FakeMirror(self.steps)
        self.takeover = Takeover(self.ctl, self.source, self.mirror, self._own_endpoint)  # type: ignore[arg-type]

    async def _own_endpoint(self) -> None:
        self.steps.append("listen on slurmctld's endpoint")

    def close(self) -> None:
        if self.source.process is not None and self.source.process.poll() is None:
            self.source.process.kill()
            self.source.process.wait()


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    s = Setup(tmp_path)
    yield s
    s.close()


def test_the_steps_run_in_order_each_with_its_guard(setup: Setup) -> None:
    result = asyncio.run(setup.takeover.run())
    assert result.ok, result
    assert setup.steps == [
        "ping",  # pre-flight: slurmctld answers
        "sync",  # pre-flight: the mirror is in sync
        "mode switching",  # freeze: writes wait
        "sync",  # final sync
        "shutdown",
        "wait_down",
        "listen on slurmctld's endpoint",  # only once slurmctld no longer accepts
        "mode standalone",  # held writes proceed (saved state merged, jobs adopted)
        "meta mode=standalone",  # the mode is written after every job...
        "durable",  # ...and waited for
        "spawn fetch-scripts",
    ]
    assert setup.ctl.mode == Mode.STANDALONE
    assert setup.ctl.cluster.next_job_id > setup.mirror.highest_job_id  # ids continue above SLURM's
    names = [e.step for e in setup.takeover.events if e.status != "running"]
    assert names.index("freeze") < names.index("final sync") < names.index("endpoint") < names.index("adopt")
    assert names[-1] == "persist"
    assert not setup.takeover.running and setup.takeover.result is result


def test_a_failure_before_slurmctld_stopped_returns_to_shadow(tmp_path: Path) -> None:
    s = Setup(tmp_path, slurmctld_runs=False)
    s.source.shutdown_fails = True  # and no pid to send SIGTERM to
    try:
        result = asyncio.run(s.takeover.run())
    finally:
        s.close()
    assert not result.ok and "refused to shut down" in (result.error or "")
    assert s.steps == ["ping", "sync", "mode switching", "sync", "shutdown", "ping", "mode shadow"]
    assert s.ctl.mode == Mode.SHADOW  # writes flow to slurmctld again; nothing of flurm's changed
    assert [e.step for e in s.takeover.events][-2:] == ["stop source", "abort"]


def test_a_failed_preflight_changes_nothing(setup: Setup) -> None:
    setup.source.answers = False
    result = asyncio.run(setup.takeover.run())
    assert not result.ok and result.error == "pre-flight failed"
    assert setup.steps == ["ping"]  # no mode change, no shutdown
    assert setup.ctl.mode == Mode.SHADOW
    failed = {c.name for c in result.checks if not c.ok}
    assert failed == {"source_reachable", "mirror_in_sync"}


def test_a_dry_run_stops_after_the_preflight(setup: Setup) -> None:
    result = asyncio.run(setup.takeover.run(dry_run=True))
    assert result.ok and result.dry_run
    assert setup.steps == ["ping", "sync"]
    assert setup.ctl.mode == Mode.SHADOW


def test_a_takeover_outside_shadow_fails_its_preflight(setup: Setup) -> None:
    setup.ctl.mode = Mode.ROLLED_BACK
    result = asyncio.run(setup.takeover.run())
    assert not result.ok
    assert [c.name for c in result.checks if not c.ok] == ["mode"]
    assert "mode switching" not in setup.steps


def test_one_takeover_at_a_time(setup: Setup) -> None:
    setup.takeover.running = True
    with pytest.raises(TakeoverError, match="already running"):
        asyncio.run(setup.takeover.run())
    assert setup.steps == []


def test_the_preflight_lists_what_flurm_does_not_support_and_refuses_unless_allowed(setup: Setup) -> None:
    setup.ctl.config = replace(
        setup.ctl.config,
        accounting_storage_type="accounting_storage/slurmdbd",
        raw={
            **setup.ctl.config.raw,
            "accountingstoreflags": "job_env",
            "burstbuffertype": "burst_buffer/datawarp",
        },
    )
    job = Job(job_id=7, name="gpu", user_id=0, group_id=0, partition="debug", tres_per_node="gres:gpu:1")
    setup.ctl.cluster.jobs[7] = job
    result = asyncio.run(setup.takeover.run(dry_run=True))
    assert not result.ok
    (check,) = [c for c in result.checks if not c.ok]
    assert check.name == "supported"
    assert "AccountingStoreFlags=job_env: job scripts and environments in accounting" in check.detail
    assert "AccountingStorageType" not in check.detail  # slurmdbd itself is fed
    assert "BurstBufferType=burst_buffer/datawarp: burst buffers" in check.detail
    assert "gres" not in check.detail  # a live GPU job is taken over (its devices adopted)
    assert "--allow-unsupported" in check.detail
    allowed = asyncio.run(setup.takeover.run(dry_run=True, allow_unsupported=True))
    assert allowed.ok
    assert "taken over anyway" in next(c.detail for c in allowed.checks if c.name == "supported")
    setup.ctl.config = replace(setup.ctl.config, accounting_storage_type="accounting_storage/none", raw={})
    assert asyncio.run(setup.takeover.run(dry_run=True)).ok


def test_the_preflight_names_the_source_release(setup: Setup) -> None:
    checks = {c.name: c for c in asyncio.run(setup.takeover.preflight())}
    assert checks["source_release"].ok
    assert checks["source_release"].detail == "source slurmctld: SLURM 22.05"


def test_a_source_of_a_release_flurm_does_not_serve_fails_the_preflight(setup: Setup) -> None:
    setup.source.version = SLURM_25_05_PROTOCOL_VERSION
    result = asyncio.run(setup.takeover.run())
    assert not result.ok and result.error == "pre-flight failed"
    failed = {c.name: c.detail for c in result.checks if not c.ok}
    assert set(failed) == {"source_release", "mirror_in_sync"} and "SLURM 25.05" in failed["source_release"]
    assert setup.steps == ["ping"]  # not even a mirror pass in a release flurm cannot read
    assert setup.ctl.mode == Mode.SHADOW


def test_a_served_source_whose_saved_state_flurm_cannot_read_fails_the_preflight(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flurm.migration import takeover

    monkeypatch.setattr(takeover, "STATE_FILES", replace(takeover.STATE_FILES, oldest=0x2600, newest=0x2600))
    setup.source.version = SLURM_24_11_PROTOCOL_VERSION
    checks = {c.name: c for c in asyncio.run(setup.takeover.preflight())}
    assert not checks["source_release"].ok
    assert (
        checks["source_release"].detail
        == "source slurmctld: SLURM 24.11, whose saved state flurm cannot read"
    )


def test_a_newer_source_running_multifactor_by_default_fails_the_preflight(setup: Setup) -> None:
    """From 24.11 slurmctld runs priority/multifactor where slurm.conf names no PriorityType."""
    assert "prioritytype" not in setup.ctl.config.given
    checks = {c.name: c for c in asyncio.run(setup.takeover.preflight())}
    assert checks["supported"].ok  # a 22.05 source: priority/basic
    setup.source.version = SLURM_24_11_PROTOCOL_VERSION
    checks = {c.name: c for c in asyncio.run(setup.takeover.preflight())}
    assert not checks["supported"].ok
    assert checks["supported"].detail.startswith(
        "PriorityType=priority/multifactor (SLURM 24.11's default: slurm.conf sets none)"
    )


def _sack_server(path: Path) -> SackServer:
    auth = SlurmAuthenticator(SackKeys(SackKey(b"k" * 64)), cluster_name="c")
    return SackServer(auth, str(path), slurm_user_uid=os.getuid())


def test_the_sack_socket_is_served_once_slurmctld_is_gone(setup: Setup, tmp_path: Path) -> None:
    """auth/slurm: slurmctld's sack socket went with it; flurm serves one there after the stop."""
    sack = _sack_server(tmp_path / "run" / "sack.socket")
    setup.takeover.sack_socket = lambda: sack

    async def run() -> bool:
        try:
            result = await setup.takeover.run()
            assert result.ok, result
            return await _unix_socket_answers(sack.path)
        finally:
            await sack.close()

    assert asyncio.run(run())
    events = [(e.step, e.status) for e in setup.takeover.events]
    assert events.index(("sack socket", "ok")) > events.index(("endpoint", "ok"))


def test_a_sack_socket_still_served_is_left_alone(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "sack.socket"
    other, ours = _sack_server(path), _sack_server(path)
    setup.takeover.sack_socket = lambda: ours

    async def run() -> None:
        await other.start()
        try:
            assert (await setup.takeover.run()).ok
        finally:
            await other.close()

    asyncio.run(run())
    assert ours._server is None  # never started: the path was taken
    assert ("sack socket", "failed") in [(e.step, e.status) for e in setup.takeover.events]


def test_no_sack_socket_without_auth_slurm(setup: Setup) -> None:
    setup.takeover.sack_socket = lambda: None
    assert asyncio.run(setup.takeover.run()).ok
    assert "sack socket" not in [e.step for e in setup.takeover.events]

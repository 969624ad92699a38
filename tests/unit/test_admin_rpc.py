"""flurm's administrative messages (REQUEST_FLURM_ADMIN): each operation decoded from the wire and
answered, against a fake controller port (mode changes through the real mode table) and fake
migration pieces; an operator-only request from a plain user is refused and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from flurm.auth.authenticator import Identity
from flurm.config import parse_text
from flurm.migration import admin_rpc
from flurm.migration.host import Migration
from flurm.migration.mirror import ImportCounts, SyncStats
from flurm.migration.takeover import Check, Event, TakeoverResult
from flurm.modes import Guard, Mode, check_transition
from flurm.protocol.constants import AUTH_PLUGIN_MUNGE
from flurm.protocol.frame import Frame, Header
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN, RESPONSE_FLURM_ADMIN, AdminMessage
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.rpc.transport import Request
from flurm.state.cluster import Cluster

ROOT, USER = 0, 1000
CONF = """ClusterName=adm
SlurmctldHost=ctl(127.0.0.1)
NodeName=n1 CPUs=2
PartitionName=debug Nodes=ALL Default=YES
"""


class FakePort:
    def __init__(self, mode: Mode = Mode.SHADOW) -> None:
        self.config = parse_text(CONF)
        self.cluster = Cluster(self.config, None, lambda: 0.0)
        self.mode = mode
        self.port = 6817
        self.started_at = 0.0
        self.guards_given: list[set[Guard]] = []
        self.spawned: list[str] = []

    def is_admin(self, uid: int) -> bool:
        return uid == ROOT

    def clock(self) -> float:
        return 10.0

    async def set_mode(self, target: Mode, holding: set[Guard], *, persist: bool = True) -> None:
        check_transition(self.mode, target, holding)
        self.guards_given.append(holding)
        self.mode = target

    def spawn(self, coro: Coroutine[Any, Any, None], name: str = "") -> None:
        self.spawned.append(name)
        coro.close()


@dataclass
class FakeMirror:
    stats: SyncStats = field(default_factory=lambda: SyncStats(passes=7, jobs_new=3))
    full_imports: int = 0

    def age(self) -> float:
        return 0.25

    def in_sync(self, max_age: float = 2.0) -> bool:
        return True

    async def sync(self, *, full: bool = False) -> ImportCounts:
        self.full_imports += full
        return ImportCounts(jobs=3, nodes=1, partitions=1, new=0, changed=0, vanished=0, seconds=0.01)


@dataclass
class FakeTakeover:
    running: bool = False
    result: TakeoverResult | None = None
    events: list[Event] = field(default_factory=list)
    runs: list[bool] = field(default_factory=list)  # dry_run of each run

    async def run(self, *, dry_run: bool = False, allow_unsupported: bool = False) -> TakeoverResult:
        self.runs.append(dry_run)
        self.events = [Event("preflight", "running", ""), Event("preflight", "ok", "")]
        self.result = TakeoverResult(True, dry_run, [Check("mode", True, "flurm is shadow")])
        return self.result


def migration(source_answers: bool = True) -> Any:
    async def ping() -> bool:
        return source_answers

    source = SimpleNamespace(ping=ping, release_name="24.11")  # the release SourceClient learned
    return Migration(source, FakeMirror(), None, FakeTakeover())  # type: ignore[arg-type]


def ask(ctl: FakePort, mig: Any, doc: dict[str, Any], uid: int = ROOT) -> dict[str, Any]:
    """The request as it arrives (encoded, then decoded) and the answer as the client reads it."""
    raw = encode_body(AdminMessage(doc))
    body = decode_body(REQUEST_FLURM_ADMIN, raw)
    frame = Frame(Header(REQUEST_FLURM_ADMIN, body_length=len(raw)), AUTH_PLUGIN_MUNGE, None, raw)
    req = Request(REQUEST_FLURM_ADMIN, body, Identity(uid, uid), frame, ("127.0.0.1", 4000))
    reply = asyncio.run(admin_rpc.handle(ctl, mig, req))  # type: ignore[arg-type]
    assert reply.msg_type == RESPONSE_FLURM_ADMIN and reply.body is not None
    answer = decode_body(RESPONSE_FLURM_ADMIN, encode_body(reply.body))
    assert isinstance(answer, AdminMessage)
    return answer.document


def test_status_reports_the_controller_and_the_mirror() -> None:
    ctl = FakePort()
    doc = ask(ctl, migration(), {"op": "status"})
    assert doc["ok"] and doc["mode"] == "shadow" and doc["cluster"] == "adm" and doc["port"] == 6817
    assert doc["source_release"] == "24.11"
    assert (doc["jobs"], doc["nodes"], doc["partitions"]) == (0, 1, 1)
    assert doc["mirror"]["passes"] == 7 and doc["mirror"]["jobs_new"] == 3 and doc["mirror"]["in_sync"]
    standalone = ask(FakePort(Mode.STANDALONE), None, {"op": "status"})
    assert standalone["ok"] and "mirror" not in standalone and "takeover" not in standalone


def test_mode_answers_the_mode_and_its_table() -> None:
    doc = ask(FakePort(), migration(), {"op": "mode"})
    assert doc["ok"] and doc["mode"] == "shadow" and doc["table"]


def test_rollback_goes_through_the_mode_table_with_the_source_guards() -> None:
    ctl = FakePort()
    doc = ask(ctl, migration(), {"op": "rollback"})
    assert doc["ok"] and doc["mode"] == "rolled_back" and ctl.mode == Mode.ROLLED_BACK
    assert ctl.guards_given == [{Guard.SOURCE_RUNNING, Guard.SOURCE_REACHABLE}]
    again = ask(ctl, migration(), {"op": "set_mode", "mode": "rolled_back"})  # the same, by set_mode
    assert not again["ok"] and ctl.mode == Mode.ROLLED_BACK
    unknown = ask(ctl, migration(), {"op": "set_mode", "mode": "sideways"})
    assert not unknown["ok"] and "unknown mode 'sideways'" in unknown["error"]


def test_takeover_starts_in_the_background_and_reports_its_events() -> None:
    ctl, mig = FakePort(), migration()
    doc = ask(ctl, mig, {"op": "takeover"})
    assert doc == {"ok": True, "started": True} and ctl.spawned == ["takeover"]
    mig.takeover.running = True
    busy = ask(ctl, mig, {"op": "takeover"})
    assert not busy["ok"] and "already running" in busy["error"]
    mig.takeover.running = False
    dry = ask(ctl, mig, {"op": "takeover", "dry_run": True})  # waited for: the pre-flight only
    assert dry["ok"] and dry["result"]["dry_run"] and mig.takeover.runs == [True]
    status = ask(ctl, mig, {"op": "takeover_status", "since": 1})
    assert status["ok"] and status["next"] == 2 and [e["status"] for e in status["events"]] == ["ok"]
    assert status["result"]["ok"] and status["mode"] == "shadow"


def test_without_a_slurmctld_there_is_nothing_to_import_or_take_over() -> None:
    ctl = FakePort(Mode.STANDALONE)
    for op in ("import", "takeover", "takeover_status"):
        doc = ask(ctl, None, {"op": op})
        assert not doc["ok"], op
    assert ctl.spawned == []


def test_import_is_a_full_pass() -> None:
    mig = migration()
    doc = ask(FakePort(), mig, {"op": "import"})
    assert doc["ok"] and doc["jobs"] == 3 and mig.mirror.full_imports == 1


def test_a_plain_user_is_refused_every_operation_and_nothing_changes() -> None:
    ctl, mig = FakePort(), migration()
    for doc in (
        {"op": "status"},
        {"op": "rollback"},
        {"op": "set_mode", "mode": "rolled_back"},
        {"op": "takeover"},
        {"op": "import"},
    ):
        answer = ask(ctl, mig, doc, uid=USER)
        assert answer == {"ok": False, "error": "Access/permission denied"}, doc
    assert ctl.mode == Mode.SHADOW and ctl.spawned == [] and mig.mirror.full_imports == 0


def test_an_unknown_operation_is_named_in_the_answer() -> None:
    doc = ask(FakePort(), migration(), {"op": "reboot"})
    assert doc == {"ok": False, "error": "unknown operation 'reboot'"}

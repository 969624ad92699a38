"""The mirror follows slurmctld: a fake source answers with scripted job, node and partition tables
(as slurmctld does: the whole table when it changed since ``last_update``, nothing otherwise), and the
cluster must show what the source shows after each pass."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest

from flurm.config import parse_text
from flurm.migration.mirror import Mirror
from flurm.migration.source import SourceUnreachable
from flurm.protocol.constants import SLURM_22_05_PROTOCOL_VERSION, JobState, NodeState, NodeStateFlag
from flurm.protocol.messages.job_info import JobRecord, encode_job_record, job_info_response_body
from flurm.protocol.messages.nodes import NodeInfoResponse, NodeRecord
from flurm.protocol.messages.partitions import PartitionInfoResponse, PartitionRecord
from flurm.protocol.messages.reservations import ReservationInfoResponse
from flurm.protocol.versions import SERVED, VersionError
from flurm.protocol.wire import EncodeError
from flurm.state.cluster import Cluster

CONF = """ClusterName=test
SlurmctldHost=ctl(127.0.0.1)
NodeName=n[1-2] CPUs=2 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES
"""
NOW = 1_795_696_400


def job(job_id: int, name: str, state: int = JobState.PENDING) -> JobRecord:
    return JobRecord(
        job_id=job_id,
        name=name,
        user_id=1000,
        group_id=1000,
        partition="debug",
        job_state=state,
        batch_flag=1,
    )


@dataclass
class FakeSource:
    """slurmctld's four tables; each change bumps that table's last_update (as slurmctld does)."""

    tables: dict[str, list[Any]] = field(
        default_factory=lambda: {"jobs": [], "nodes": [], "parts": [], "resvs": []}
    )
    updates: dict[str, int] = field(default_factory=lambda: {"jobs": 1, "nodes": 1, "parts": 1, "resvs": 1})
    asked: list[tuple[str, int]] = field(default_factory=list)  # (table, last_update the mirror sent)
    unreachable: bool = False
    version: int = SLURM_22_05_PROTOCOL_VERSION  # the source's release, its answers' layout

    async def release(self) -> int:
        if self.unreachable:
            raise SourceUnreachable("slurmctld is not reachable (connection refused)")
        return self.version

    def change(self, table: str, records: list[Any]) -> None:
        self.tables[table] = records
        self.updates[table] += 1

    def _ask(self, table: str, last_update: int) -> bool:
        """Whether the table is sent: it changed since what the mirror saw."""
        if self.unreachable:
            raise SourceUnreachable("slurmctld is not reachable (connection refused)")
        self.asked.append((table, last_update))
        return last_update < self.updates[table]

    async def partitions(self, last_update: int = 0) -> PartitionInfoResponse | None:
        if not self._ask("parts", last_update):
            return None
        return PartitionInfoResponse(self.updates["parts"], tuple(self.tables["parts"]))

    async def nodes(self, last_update: int = 0) -> NodeInfoResponse | None:
        if not self._ask("nodes", last_update):
            return None
        return NodeInfoResponse(self.updates["nodes"], tuple(self.tables["nodes"]))

    async def jobs_raw(self, last_update: int = 0) -> bytes | None:
        if not self._ask("jobs", last_update):
            return None
        return job_info_response_body([self._record(r) for r in self.tables["jobs"]], self.updates["jobs"])

    def _record(self, r: JobRecord) -> bytes:
        """The record in the source's layout; where flurm has no codec of that release, 22.05's bytes
        (which the mirror must then refuse to read as the source's)."""
        try:
            return encode_job_record(r, self.version)
        except (EncodeError, VersionError):
            return encode_job_record(r)

    async def reservations(self, last_update: int = 0) -> ReservationInfoResponse | None:
        if not self._ask("resvs", last_update):
            return None
        return ReservationInfoResponse(self.updates["resvs"], tuple(self.tables["resvs"]))


@pytest.fixture
def setup() -> tuple[Mirror, FakeSource, Cluster]:
    cluster = Cluster(parse_text(CONF), None, lambda: NOW)
    ctl: Any = SimpleNamespace(cluster=cluster, now=lambda: NOW, clock=lambda: float(NOW))
    source = FakeSource()
    return Mirror(ctl, source), source, cluster  # type: ignore[arg-type]


def test_jobs_new_changed_and_vanished_follow_the_source(setup: tuple[Mirror, FakeSource, Cluster]) -> None:
    mirror, source, cluster = setup
    source.change("jobs", [job(1, "a"), job(2, "b")])
    counts = asyncio.run(mirror.sync())
    assert (counts.new, counts.changed, counts.vanished) == (2, 0, 0)
    assert {j: cluster.jobs[j].name for j in cluster.jobs} == {1: "a", 2: "b"}

    # job 1 is gone (purged by slurmctld), job 2 was renamed, job 3 is new
    source.change("jobs", [job(3, "c"), job(2, "b2")])
    counts = asyncio.run(mirror.sync())
    assert (counts.new, counts.changed, counts.vanished) == (1, 1, 1)
    assert list(cluster.jobs) == [3, 2]  # slurmctld's record order, which scontrol prints in
    assert cluster.jobs[2].name == "b2" and cluster.jobs[3].name == "c"
    assert mirror.highest_job_id == 3
    stats = mirror.stats
    assert (stats.jobs_new, stats.jobs_changed, stats.jobs_vanished, stats.passes) == (3, 1, 1, 2)


def test_flurm_answers_in_the_order_slurmctld_listed_the_jobs(
    setup: tuple[Mirror, FakeSource, Cluster],
) -> None:
    """An array task split off after its meta record comes later in slurmctld's list than the meta
    record, though its job id is higher: flurm's answers (in list_seq order) keep slurmctld's order."""
    from flurm.controller.handlers.jobs import _list_order

    mirror, source, cluster = setup
    source.change("jobs", [job(10, "task 4"), job(4, "task 5"), job(7, "task 1")])
    asyncio.run(mirror.sync())
    assert [j.job_id for j in sorted(cluster.jobs.values(), key=_list_order)] == [10, 4, 7]
    source.change("jobs", [job(4, "task 5"), job(10, "task 4"), job(7, "task 1")])
    asyncio.run(mirror.sync())
    assert [j.job_id for j in sorted(cluster.jobs.values(), key=_list_order)] == [4, 10, 7]


def test_an_unchanged_record_is_not_converted_again(setup: tuple[Mirror, FakeSource, Cluster]) -> None:
    mirror, source, cluster = setup
    source.change("jobs", [job(1, "a"), job(2, "b")])
    asyncio.run(mirror.sync())
    first = cluster.jobs[1]
    source.change("jobs", [job(1, "a"), job(2, "b", JobState.CANCELLED)])
    counts = asyncio.run(mirror.sync())
    assert (counts.new, counts.changed, counts.vanished) == (0, 1, 0)
    assert cluster.jobs[1] is first  # the same bytes: the same flurm job
    assert cluster.jobs[2].base_state == JobState.CANCELLED


def test_each_pass_sends_the_last_update_of_the_previous_answer(
    setup: tuple[Mirror, FakeSource, Cluster],
) -> None:
    mirror, source, cluster = setup
    source.change("jobs", [job(1, "a")])
    asyncio.run(mirror.sync())
    source.asked.clear()
    counts = asyncio.run(mirror.sync())  # nothing changed: four small round trips, nothing applied
    assert sorted(source.asked) == [("jobs", 2), ("nodes", 1), ("parts", 1), ("resvs", 1)]
    assert (counts.new, counts.changed, counts.vanished) == (0, 0, 0)
    assert list(cluster.jobs) == [1]
    source.asked.clear()
    asyncio.run(mirror.sync(full=True))  # a full import asks for everything again
    assert sorted(source.asked) == [("jobs", 0), ("nodes", 0), ("parts", 0), ("resvs", 0)]


def test_nodes_follow_the_source_and_unknown_ones_are_ignored(
    setup: tuple[Mirror, FakeSource, Cluster],
) -> None:
    mirror, source, cluster = setup
    down = NodeState.DOWN | NodeStateFlag.NO_RESPOND
    source.change(
        "nodes",
        [
            NodeRecord(name="n1", node_state=NodeState.IDLE),
            NodeRecord(name="n2", node_state=down, reason="Not responding"),
            NodeRecord(name="n9", node_state=NodeState.IDLE),  # not in flurm's slurm.conf
        ],
    )
    asyncio.run(mirror.sync())
    n1, n2 = cluster.nodes["n1"], cluster.nodes["n2"]
    assert n1.base_state == NodeState.IDLE and n1.registered
    assert n2.base_state == NodeState.DOWN and n2.reason == "Not responding"
    assert "n9" not in cluster.nodes
    assert mirror.stats.nodes_changed == 2

    source.change(
        "nodes",
        [
            NodeRecord(name="n1", node_state=NodeState.IDLE),
            replace(source.tables["nodes"][1], node_state=NodeState.IDLE, reason=None),
        ],
    )
    asyncio.run(mirror.sync())
    assert n2.base_state == NodeState.IDLE and n2.reason is None
    assert mirror.stats.nodes_changed == 3  # n1's record was the same: not applied again


def test_partitions_new_and_changed_follow_the_source(setup: tuple[Mirror, FakeSource, Cluster]) -> None:
    mirror, source, cluster = setup
    source.change(
        "parts",
        [
            PartitionRecord(name="debug", nodes="n[1-2]", state_up=1, max_time=60),  # DOWN, 1 hour
            PartitionRecord(name="long", nodes="n2", flags=0x1, state_up=3),  # new, and the default
        ],
    )
    asyncio.run(mirror.sync())
    assert cluster.partitions["debug"].state_up == 1 and cluster.partitions["debug"].max_time == 60
    assert cluster.partitions["long"].nodes == ("n2",)
    assert cluster.default_partition == "long"


def test_an_unreachable_source_changes_nothing_and_is_reported(
    setup: tuple[Mirror, FakeSource, Cluster],
) -> None:
    mirror, source, cluster = setup
    source.change("jobs", [job(1, "a")])
    asyncio.run(mirror.sync())
    assert mirror.in_sync()
    source.unreachable = True
    with pytest.raises(SourceUnreachable):
        asyncio.run(mirror.sync())
    assert list(cluster.jobs) == [1]
    assert mirror.stats.errors == 1 and "not reachable" in (mirror.stats.last_error or "")
    assert not mirror.in_sync()


def test_reservations_follow_the_source_and_show_as_slurmctld_showed_them(
    setup: tuple[Mirror, FakeSource, Cluster],
) -> None:
    from flurm.controller.reservations import record
    from flurm.protocol.messages.reservations import ReservationRecord
    from flurm.protocol.wire import Bitmap

    mirror, source, cluster = setup
    resv = ReservationRecord(
        name="root_4",
        users="root",
        node_cnt=1,
        node_list="n2",
        core_cnt=2,
        start_time=NOW,
        end_time=NOW + 600,
        tres_fmt_str="cpu=2",
        node_bitmap=Bitmap(2, 0b10),
        partition="debug",
    )
    maint = replace(resv, name="mnt", node_list="n[1-2]", node_cnt=2, node_bitmap=Bitmap(2, 0b11))
    source.change("resvs", [resv, maint])
    asyncio.run(mirror.sync())
    book = cluster.reservations
    assert list(book.items) == ["root_4", "mnt"]
    assert book.items["root_4"].nodes == ("n2",) and book.items["root_4"].user_ids == (0,)
    assert book.top_suffix == 4  # the next generated name counts on from slurmctld's
    assert record(book.items["root_4"], cluster) == resv
    source.change("resvs", [maint])
    asyncio.run(mirror.sync())
    assert list(book.items) == ["mnt"]


def _speaks(version: int) -> bool:
    """flurm's job record codec has the layout of ``version``."""
    try:
        encode_job_record(job(1, "a"), version)
    except (EncodeError, VersionError):
        return False
    return True


@pytest.mark.parametrize("version", SERVED)
def test_the_job_table_is_read_in_the_source_release(
    setup: tuple[Mirror, FakeSource, Cluster], version: int
) -> None:
    """Where flurm's job codec speaks the source's release the mirror shows its jobs; where it does not
    yet, the pass fails with the version error naming it (never reads one release's bytes as another's)."""
    mirror, source, cluster = setup
    source.version = version
    source.change("jobs", [job(1, "a"), job(2, "b")])
    if _speaks(version):
        counts = asyncio.run(mirror.sync())
        assert counts.new == 2 and {j: cluster.jobs[j].name for j in cluster.jobs} == {1: "a", 2: "b"}
        assert mirror.version == version
    else:
        with pytest.raises(VersionError, match=f"{version:#06x}"):
            asyncio.run(mirror.sync())
        assert not cluster.jobs and mirror.stats.errors == 1
        assert f"{version:#06x}" in (mirror.stats.last_error or "")


def test_a_source_of_another_release_is_read_afresh(setup: tuple[Mirror, FakeSource, Cluster]) -> None:
    """An upgraded source (another release, same jobs) is read as new records, not matched bytewise
    against the old release's."""
    mirror, source, _ = setup
    source.change("jobs", [job(1, "a")])
    asyncio.run(mirror.sync())
    assert mirror.version == SLURM_22_05_PROTOCOL_VERSION and mirror._seen_jobs
    source.version = SERVED[0]
    with contextlib.suppress(VersionError):
        asyncio.run(mirror.sync())
    assert mirror.version == SERVED[0]
    if not _speaks(SERVED[0]):
        assert not mirror._seen_jobs  # what was seen in 22.05's layout is forgotten

"""The takeover's merge of slurmctld's saved reservations (migration/saved_state.py), on the golden
resv_state (tests/golden/resv_statefile: root_1, maint, acct1_4, root_5, cores; top_suffix 6, id 3 was
deleted) over what a mirror pass had imported before."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from flurm.config import parse_text
from flurm.migration import saved_state
from flurm.migration.importer import reservation_from_record
from flurm.migration.resv_statefile import ResvStateFile, read_resv_state
from flurm.protocol.constants import NO_VAL
from flurm.protocol.messages.reservations import ReservationDesc
from flurm.protocol.messages.reservations import ReserveFlag as F
from flurm.state.cluster import Cluster

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "resv_statefile" / "resv_state"
NOW = 1796197760


class Port:
    def __init__(self) -> None:
        config = parse_text(
            "ClusterName=test\nSlurmctldHost=localhost\n"
            "NodeName=compute-node-[1-2] CPUs=4\nPartitionName=debug Nodes=ALL Default=YES\n"
        )
        self.cluster = Cluster(config, None, lambda: NOW)

    def now(self) -> int:
        return NOW


@pytest.fixture(scope="module")
def saved() -> ResvStateFile:
    state = read_resv_state(GOLDEN)
    assert state is not None
    return state


def mirrored(port: Port, saved: ResvStateFile, *names: str) -> None:
    """What a mirror pass had imported: these reservations, as the wire showed them."""
    book = port.cluster.reservations
    book.replace_all((reservation_from_record(saved.reservation(n).record, port.cluster) for n in names), NOW)
    book.drain()


def test_created_changed_and_deleted_since_the_last_pass(saved: ResvStateFile) -> None:
    port = Port()
    mirrored(port, saved, "root_1", "maint")
    book = port.cluster.reservations
    # slurmctld changed maint after the pass; a reservation the mirror saw was deleted since
    book.items["maint"].flags &= ~F.IGN_JOBS
    book.items["maint"].end_time -= 600
    extra = replace(book.items["root_1"], name="old_9", resv_id=9, seq=0)
    book.replace_all([book.items["root_1"], book.items["maint"], extra], NOW)
    assert saved_state.merge_reservations(port, saved) == (3, 1, 1)  # type: ignore[arg-type]
    assert list(book.items) == ["root_1", "maint", "acct1_4", "root_5", "cores"]
    maint = book.items["maint"]
    assert maint.flags == F.MAINT | F.IGN_JOBS | F.SPEC_NODES | F.ALL_NODES
    assert maint.end_time == saved.reservation("maint").record.end_time
    assert maint.nodes == ("compute-node-1", "compute-node-2")
    root_5 = book.items["root_5"]
    assert (root_5.users, root_5.user_ids, root_5.user_not) == ("-root", (0,), True)
    assert (root_5.nodes, root_5.purge_comp_time) == (("compute-node-1",), 600)
    acct = book.items["acct1_4"]
    assert (acct.account_list, acct.flags & F.DAILY, acct.duration) == (("acct1",), F.DAILY, NO_VAL)
    # what the wire never shows: each one's id, and the counter
    assert [r.resv_id for r in book.items.values()] == [1, 2, 4, 5, 6]
    assert book.top_suffix == 6
    changed, removed = book.drain()
    assert {r.name for r in changed} >= {"maint", "acct1_4", "root_5", "cores"} and removed == ["old_9"]


def test_nothing_new_leaves_the_list_as_mirrored_with_the_real_ids(saved: ResvStateFile) -> None:
    port = Port()
    names = [r.name for r in saved.reservations]
    mirrored(port, saved, *names)
    book = port.cluster.reservations
    before = {n: replace(r, resv_id=0, duration=0, record_overrides={}) for n, r in book.items.items()}
    assert book.items["maint"].resv_id == 0  # a chosen name: the mirror cannot know its id
    assert saved_state.merge_reservations(port, saved) == (0, 0, 0)  # type: ignore[arg-type]
    assert {
        n: replace(r, resv_id=0, duration=0, record_overrides={}) for n, r in book.items.items()
    } == before
    assert book.items["maint"].resv_id == 2 and book.items["acct1_4"].duration == NO_VAL
    # a core reservation's TRES as slurmctld shows them (flurm counts whole nodes)
    assert book.items["cores"].record_overrides == {"tres_fmt_str": "cpu=2"}


def test_the_next_generated_name_continues_slurmctlds_counter(saved: ResvStateFile) -> None:
    port = Port()
    mirrored(port, saved, "root_1", "cores")
    book = port.cluster.reservations
    book.top_suffix = 40  # the mirror's estimate may be off either way; slurmctld's counter wins
    saved_state.merge_reservations(port, saved)  # type: ignore[arg-type]
    desc = ReservationDesc(users="root", start_time=NOW + 30 * 86400, duration=5, node_list="compute-node-1")
    assert book.create(desc, port.cluster, NOW).name == "root_7"


def test_an_empty_saved_list_deletes_every_mirrored_one(saved: ResvStateFile) -> None:
    port = Port()
    mirrored(port, saved, "root_1", "maint")
    empty = replace(saved, reservations=(), top_suffix=3)
    assert saved_state.merge_reservations(port, empty) == (0, 0, 2)  # type: ignore[arg-type]
    assert port.cluster.reservations.items == {} and port.cluster.reservations.top_suffix == 3

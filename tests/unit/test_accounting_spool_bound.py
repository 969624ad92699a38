"""The spool is bounded as slurmctld's agent queue (MaxDBDMsgs): when slurmdbd stays away, the step records go
first, then the job starts, then new records are dropped; the head a batch may be sending is never purged."""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

import pytest

from flurm.accounting import spool as spool_mod
from flurm.accounting.spool import Spool
from flurm.protocol.dbd_types import DbdMsgType
from flurm.state.store import Store

T = DbdMsgType


def rec(msg_type: int, n: int) -> bytes:
    return struct.pack(">HI", msg_type, n)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "s.sqlite")
    s.open()
    return s


def kinds(sp: Spool) -> list[int]:
    return [struct.unpack_from(">H", m)[0] for m in sp.head(10_000, 1 << 30)]


def test_steps_then_job_starts_are_purged_then_new_records_dropped(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_mod, "IN_FLIGHT", 2)
    sp = Spool(store, limit=8)
    sent = [
        rec(T.DBD_STEP_START, 1),  # in flight: kept whatever its kind
        rec(T.DBD_JOB_START, 2),  # in flight
        rec(T.DBD_STEP_START, 3),
        rec(T.DBD_JOB_START, 4),
        rec(T.DBD_STEP_COMPLETE, 5),
        rec(T.DBD_JOB_COMPLETE, 6),
        rec(T.DBD_NODE_STATE, 7),
    ]
    assert all(sp.append(m) for m in sent)
    assert len(sp) == 7  # the limit less one: the next append purges the steps
    assert sp.append(rec(T.DBD_JOB_COMPLETE, 8))
    assert kinds(sp) == [T.DBD_STEP_START, T.DBD_JOB_START, T.DBD_JOB_START, T.DBD_JOB_COMPLETE,
                         T.DBD_NODE_STATE, T.DBD_JOB_COMPLETE]  # fmt: skip
    assert sp.append(rec(T.DBD_JOB_COMPLETE, 9))
    assert len(sp) == 7  # the limit less one again: no step left, the job start past the head goes
    assert sp.append(rec(T.DBD_JOB_COMPLETE, 10))
    assert kinds(sp) == [T.DBD_STEP_START, T.DBD_JOB_START, T.DBD_JOB_COMPLETE, T.DBD_NODE_STATE,
                         T.DBD_JOB_COMPLETE, T.DBD_JOB_COMPLETE, T.DBD_JOB_COMPLETE]  # fmt: skip
    assert sp.append(rec(T.DBD_JOB_COMPLETE, 11))  # nothing left to purge, but it still fits
    assert len(sp) == 8
    assert not sp.append(rec(T.DBD_JOB_COMPLETE, 12))  # full: dropped
    assert len(sp) == 8


def test_what_is_purged_leaves_the_store_too(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(spool_mod, "IN_FLIGHT", 0)

    async def fill() -> None:
        sp = Spool(store, limit=3)
        for m in (rec(T.DBD_STEP_START, 1), rec(T.DBD_JOB_COMPLETE, 2), rec(T.DBD_JOB_COMPLETE, 3)):
            sp.append(m)
        assert kinds(sp) == [T.DBD_JOB_COMPLETE, T.DBD_JOB_COMPLETE]
        await sp.durable()

    asyncio.run(fill())
    store.close()
    again = Store(tmp_path / "s.sqlite")
    assert [m for _, m in again.open().dbd_spool] == [rec(T.DBD_JOB_COMPLETE, 2), rec(T.DBD_JOB_COMPLETE, 3)]
    again.close()


def test_unbounded_without_a_limit(store: Store) -> None:
    sp = Spool(store)
    assert all(sp.append(rec(T.DBD_STEP_START, n)) for n in range(50))
    assert len(sp) == 50

"""The SQLite store: what is committed comes back after a reopen (or a SIGKILL), writes queued while a
commit runs go into one transaction (group commit), and failures reach the waiters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from flurm.state.store import Store, StoreError


def _reopen(path: Path) -> Any:
    store = Store(path)
    loaded = store.open()
    store.close()
    return loaded


def test_commit_then_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def main() -> None:
        store = Store(path)
        assert store.open().jobs == []
        store.put_job(7, {"job_id": 7, "name": "a"})
        store.put_job(8, {"job_id": 8, "name": "b"})
        store.put_node("n1", {"drain": True, "reason": "x"})
        store.set_meta("next_job_id", 9)
        await store.commit()
        store.put_job(7, {"job_id": 7, "name": "a2"})  # the newest snapshot wins
        store.delete_job(8)
        await store.commit()
        store.close()

    asyncio.run(main())
    loaded = _reopen(path)
    assert loaded.jobs == [{"job_id": 7, "name": "a2"}]
    assert loaded.nodes == {"n1": {"drain": True, "reason": "x"}}
    assert loaded.meta == {"next_job_id": 9}


def test_close_flushes_what_is_queued(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.open()
    for i in range(50):
        store.put_job(i, {"job_id": i})
    store.set_meta("k", [1, 2])
    store.close()
    loaded = _reopen(path)
    assert [d["job_id"] for d in loaded.jobs] == list(range(50))
    assert loaded.meta == {"k": [1, 2]}


def test_writes_queued_during_a_commit_share_the_next_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()
    first_write_started = threading.Event()
    release = threading.Event()
    real_write = store._write
    transactions: list[int] = []

    def slow_write(
        jobs: dict[int, object],
        nodes: dict[str, object],
        meta: dict[str, object],
        resvs: dict[str, object] | None = None,
        spool: dict[int, object] | None = None,
        texts: dict[int, object] | None = None,
    ) -> None:
        transactions.append(len(jobs))
        if len(transactions) == 1:
            first_write_started.set()
            release.wait(5)
        real_write(jobs, nodes, meta, resvs, spool, texts)

    store._write = slow_write  # type: ignore[method-assign]

    async def main() -> None:
        store.put_job(0, {"job_id": 0})
        first = store.commit()
        await asyncio.get_running_loop().run_in_executor(None, first_write_started.wait, 5)
        waiters = []
        for i in range(1, 101):  # 100 submissions arrive while the first commit is on its way to disk
            store.put_job(i, {"job_id": i})
            waiters.append(store.commit())
        release.set()
        await first
        await asyncio.gather(*waiters)

    asyncio.run(main())
    store.close()
    assert transactions == [1, 100]
    assert store.commits == 2


def test_a_failed_write_reaches_the_waiters(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()

    async def main() -> None:
        store.put_job(1, {"job_id": 1, "bad": {1, 2}})  # a set is not JSON
        with pytest.raises(StoreError):
            await store.commit()

    asyncio.run(main())
    assert store.last_error is not None
    assert not store.writable()
    store.close()


def test_commit_after_close_is_refused(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    store.open()
    store.close()

    async def main() -> None:
        with pytest.raises(StoreError):
            await store.commit()

    asyncio.run(main())


def test_committed_survives_sigkill(tmp_path: Path) -> None:
    """A child commits, says so, and is killed with SIGKILL right away: the job is on disk."""
    path = tmp_path / "s.sqlite"
    child = textwrap.dedent(
        f"""
        import asyncio, os, signal, sys
        from pathlib import Path
        from flurm.state.store import Store

        async def main():
            store = Store(Path({str(path)!r}))
            store.open()
            for i in range(1, 201):
                store.put_job(i, {{"job_id": i}})
                store.set_meta("next_job_id", i + 1)
                if i % 50 == 0:
                    await store.commit()
                    print(i, flush=True)
            for i in range(201, 400):  # queued, never acknowledged
                store.put_job(i, {{"job_id": i}})
            os.kill(os.getpid(), signal.SIGKILL)

        asyncio.run(main())
        """
    )
    p = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60)
    assert p.returncode == -signal.SIGKILL, p.stderr
    acknowledged = [int(x) for x in p.stdout.split()]
    assert acknowledged == [50, 100, 150, 200]
    loaded = _reopen(path)
    ids = {d["job_id"] for d in loaded.jobs}
    assert set(range(1, 201)) <= ids
    assert loaded.meta["next_job_id"] >= 201
    assert os.path.exists(path)


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_state_is_private_whatever_the_umask(tmp_path: Path) -> None:
    state = tmp_path / "state"
    old = os.umask(0)
    try:

        async def main() -> None:
            store = Store(state / "flurm.sqlite")
            store.open()
            store.put_job(1, {"job_id": 1, "script": "#!/bin/sh\nsecret\n"})
            await store.commit()
            assert sorted(p.name for p in state.iterdir()) == [
                "flurm.sqlite",
                "flurm.sqlite-shm",
                "flurm.sqlite-wal",
            ]
            assert {p.name: _mode(p) for p in state.iterdir()} == dict.fromkeys(
                ("flurm.sqlite", "flurm.sqlite-shm", "flurm.sqlite-wal"), 0o600
            )
            store.close()

        asyncio.run(main())
    finally:
        os.umask(old)
    assert _mode(state) == 0o700


def test_an_existing_loose_state_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    _reopen(state / "flurm.sqlite")
    state.chmod(0o755)
    for name in ("flurm.sqlite", "flurm.sqlite-journal"):
        (state / name).touch()
        (state / name).chmod(0o644)
    _reopen(state / "flurm.sqlite")
    assert _mode(state) == 0o700
    assert {p.name: _mode(p) for p in state.iterdir()} == dict.fromkeys(
        [p.name for p in state.iterdir()], 0o600
    )
    assert "tightened" in caplog.text


def test_the_dbd_spool_keeps_its_messages_in_order_until_deleted(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    assert store.open().dbd_spool == []

    async def main() -> None:
        for seq in (3, 1, 2):
            store.spool_put(seq, bytes([seq]) * 3)
        store.spool_delete(1)
        store.spool_put(4, b"\x00\x01")
        store.spool_delete(4)  # queued in the same transaction as its put: never kept
        await store.commit()

    asyncio.run(main())
    store.close()
    again = Store(tmp_path / "s.sqlite")
    assert again.open().dbd_spool == [(2, b"\x02\x02\x02"), (3, b"\x03\x03\x03")]
    again.close()

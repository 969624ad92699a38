"""A job's script and environment are kept apart from its record: written once, not with each change."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import textwrap
from pathlib import Path

from flurm.config import parse_text
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.store import Store

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
NodeName=n1 CPUs=4 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def cluster(store: Store) -> Cluster:
    return Cluster(parse_text(textwrap.dedent(CONF)), store, clock=lambda: 1_000_000)


def job(job_id: int) -> Job:
    return Job(
        job_id=job_id,
        name="j",
        user_id=1000,
        group_id=1000,
        partition="debug",
        script="#!/bin/sh\nsleep 1\n",
        environment=("A=1", "B=2"),
    )


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        return list(conn.execute(sql))


def test_texts_written_once_and_restored(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"

    async def main() -> None:
        store = Store(path)
        store.open()
        c = cluster(store)
        j = job(5)
        c.add_job(j)
        await store.commit()
        store._write = _counting(store, written := [])  # type: ignore[method-assign]
        j.name = "renamed"
        c.job_changed(j)
        await store.commit()
        assert written == [0]  # the change wrote the record, not the texts again
        store.close()

    asyncio.run(main())
    (data,) = rows(path, "SELECT data FROM jobs")[0]
    assert "script" not in json.loads(str(data)) and "environment" not in json.loads(str(data))
    assert rows(path, "SELECT job_id, script, environment FROM job_texts") == [
        (5, "#!/bin/sh\nsleep 1\n", '["A=1","B=2"]')
    ]
    store = Store(path)
    c = cluster(store)
    c.restore(store.open())
    store.close()
    restored = c.jobs[5]
    assert (restored.name, restored.script, restored.environment) == ("renamed", "#!/bin/sh\nsleep 1\n", ())
    assert restored.environment_in_store  # read back at launch, not kept in memory
    store = Store(path)
    store.open()
    assert store.read_environment(5) == ("A=1", "B=2")
    assert store.read_environment(6) is None
    store.close()


def test_a_record_of_an_older_store_keeps_its_texts(tmp_path: Path) -> None:
    """Before the texts had a table of their own they were in the record: still read from there."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.open()
    store.put_job(3, job(3).to_dict())
    store.close()
    store = Store(path)
    c = cluster(store)
    c.restore(store.open())
    assert (c.jobs[3].script, c.jobs[3].environment) == ("#!/bin/sh\nsleep 1\n", ("A=1", "B=2"))
    assert not c.jobs[3].environment_in_store
    c.job_changed(c.jobs[3])  # its next change moves them to the table, the environment out of memory
    assert c.jobs[3].environment == () and c.jobs[3].environment_in_store
    store.close()
    assert rows(path, "SELECT job_id, environment FROM job_texts") == [(3, '["A=1","B=2"]')]


def test_deleting_a_job_deletes_its_texts(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.open()
    c = cluster(store)
    c.add_job(job(9))
    c.remove_job(9)
    store.close()
    assert rows(path, "SELECT * FROM job_texts") == [] and rows(path, "SELECT * FROM jobs") == []


def _counting(store: Store, written: list[int]):  # type: ignore[no-untyped-def]
    real = store._write

    def write(jobs, nodes, meta, resvs=None, spool=None, texts=None):  # type: ignore[no-untyped-def]
        written.append(len(texts or {}))
        real(jobs, nodes, meta, resvs, spool, texts)

    return write


def test_an_array_task_split_from_its_record_gets_texts_of_its_own(tmp_path: Path) -> None:
    """A task record is a copy of the array's record (JobOps._task_record): its texts are written
    under its own id, not taken as already saved."""
    from flurm.controller.jobs import JobOps

    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.open()
    c = cluster(store)
    meta = job(20)
    c.add_job(meta)

    class Ctl:
        cluster = c

        def now(self) -> int:
            return 1_000_000

    ops = JobOps.__new__(JobOps)
    ops.ctl = Ctl()  # type: ignore[assignment]
    ops.cluster = c
    ops._seq = None
    meta.array_job_id = 20
    c.job_changed(meta)
    assert meta.environment_in_store
    task = ops._task_record(meta, 3, starting=False)
    assert task.environment == () and task.environment_in_store
    c.add_job(task)
    store.close()
    assert task.job_id != 20
    assert sorted(rows(path, "SELECT job_id, environment FROM job_texts")) == sorted(
        [(20, '["A=1","B=2"]'), (task.job_id, '["A=1","B=2"]')]  # the task's copied from the record's
    )
    store = Store(path)
    store.open()
    assert store.read_environment(task.job_id, 20) == ("A=1", "B=2")
    store.close()

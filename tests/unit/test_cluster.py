"""Cluster bookkeeping: job ids (FirstJobId, MaxJobId, never reused, kept across restarts), node
allocations in step with running and completing jobs, MinJobAge, and a restore through the store."""

from __future__ import annotations

import asyncio
from pathlib import Path

from flurm.config import parse_text
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import JobState, JobStateFlag, NodeState, NodeStateFlag
from flurm.state.cluster import Allocation, Cluster
from flurm.state.model import Job
from flurm.state.store import Loaded, Store

CONF = """
ClusterName=t
SlurmctldHost=localhost
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
NodeName=n[1-2] CPUs=4 Sockets=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES
"""


def config(extra: str = "") -> SlurmConfig:
    return parse_text(CONF + extra)


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def job(cluster: Cluster, name: str = "j") -> Job:
    j = Job(
        job_id=cluster.allocate_job_id(),
        name=name,
        user_id=0,
        group_id=0,
        partition="debug",
        script="#!/bin/sh",
    )
    cluster.add_job(j)
    return j


def start(cluster: Cluster, j: Job, node: str, cores: tuple[int, ...], now: int) -> None:
    cluster.nodes[node].base_state = NodeState.IDLE
    cluster.start_job(j, Allocation((node,), (cores,), (len(cores),), (0,)), now)


def test_ids_start_at_first_job_id_and_are_not_reused_while_in_use() -> None:
    c = Cluster(config("FirstJobId=10\nMaxJobId=13\n"))
    assert [job(c).job_id for _ in range(3)] == [10, 11, 12]
    c.remove_job(11)
    # the counter goes on to MaxJobId, then wraps to FirstJobId and skips ids still in use
    assert [job(c).job_id for _ in range(2)] == [13, 11]


def test_restore_continues_the_id_sequence() -> None:
    cfg = config("FirstJobId=100\n")
    c = Cluster(cfg)
    c.restore(Loaded(jobs=[], nodes={}, meta={"next_job_id": 250}))
    assert c.allocate_job_id() == 250
    # a store without the counter: above the highest job
    c = Cluster(cfg)
    c.restore(
        Loaded(
            jobs=[Job(job_id=170, name="x", user_id=0, group_id=0, partition="debug").to_dict()],
            nodes={},
            meta={},
        )
    )
    assert c.allocate_job_id() == 171
    # a counter below a raised FirstJobId starts at FirstJobId
    c = Cluster(cfg)
    c.restore(Loaded(jobs=[], nodes={}, meta={"next_job_id": 5}))
    assert c.allocate_job_id() == 100


def test_allocation_follows_running_and_completing_jobs() -> None:
    clock = Clock()
    c = Cluster(config(), clock=clock)
    a, b = job(c), job(c)
    start(c, a, "n1", (0,), int(clock.now))
    start(c, b, "n1", (1, 2, 3), int(clock.now))
    n1 = c.nodes["n1"]
    assert (n1.alloc_cpus, n1.alloc_cores, n1.jobs) == (4, {0, 1, 2, 3}, {a.job_id, b.job_id})
    assert n1.base_state == NodeState.ALLOCATED
    a.state = JobState.COMPLETE
    c.mark_completing(a)
    assert a.is_completing() and n1.flags & NodeStateFlag.COMPLETING
    assert c.node_done_completing(a, "n1")
    assert not a.is_completing() and a.state == JobState.COMPLETE
    assert (n1.alloc_cpus, n1.alloc_cores) == (3, {1, 2, 3})
    assert not n1.flags & NodeStateFlag.COMPLETING
    c.release(b)
    assert (n1.alloc_cpus, n1.jobs, n1.base_state) == (0, set(), NodeState.IDLE)


def test_finished_jobs_vanish_after_min_job_age() -> None:
    clock = Clock()
    c = Cluster(config("MinJobAge=5\n"), clock=clock)
    now = int(clock.now)
    done, completing, running, pending = job(c), job(c), job(c), job(c)
    start(c, done, "n1", (0,), now)
    start(c, completing, "n1", (1,), now)
    start(c, running, "n1", (2,), now)
    done.state, done.end_time = JobState.COMPLETE, now
    c.release(done)
    completing.state, completing.end_time = JobState.CANCELLED | JobStateFlag.COMPLETING, now
    assert c.purge_finished(now + 4) == []
    assert c.purge_finished(now + 5) == [done.job_id]
    assert set(c.jobs) == {completing.job_id, running.job_id, pending.job_id}


def test_state_comes_back_through_the_store(tmp_path: Path) -> None:
    """Jobs, the id counter, allocations of running and completing jobs, node drain and reason."""
    clock = Clock()
    cfg = config("FirstJobId=1000\nMinJobAge=300\n")
    now = int(clock.now)

    async def first_run() -> tuple[int, int, int]:
        store = Store(tmp_path / "flurm.sqlite")
        c = Cluster(cfg, store, clock)
        c.restore(store.open())
        running, completing, pending = job(c), job(c), job(c)
        start(c, running, "n1", (0, 1), now)
        start(c, completing, "n2", (3,), now)
        completing.state = JobState.COMPLETE | JobStateFlag.COMPLETING
        c.mark_completing(completing)
        c.job_changed(completing)
        gone = job(c)
        c.remove_job(gone.job_id)
        n2 = c.nodes["n2"]
        n2.flags |= NodeStateFlag.DRAIN
        n2.reason = "maintenance"
        c.node_changed(n2)
        await store.commit()
        store.close()
        return running.job_id, completing.job_id, pending.job_id

    running_id, completing_id, pending_id = asyncio.run(first_run())
    store = Store(tmp_path / "flurm.sqlite")
    c = Cluster(cfg, store, clock)
    c.restore(store.open())
    store.close()
    assert sorted(c.jobs) == [running_id, completing_id, pending_id] == [1000, 1001, 1002]
    assert c.jobs[running_id].is_running() and c.jobs[completing_id].is_completing()
    assert c.jobs[pending_id].is_pending()
    n1, n2 = c.nodes["n1"], c.nodes["n2"]
    assert (n1.alloc_cpus, n1.alloc_cores, n1.jobs) == (2, {0, 1}, {running_id})
    assert (n2.alloc_cpus, n2.jobs) == (1, {completing_id})
    assert n2.flags & NodeStateFlag.DRAIN and n2.reason == "maintenance"
    # nodes come back UNKNOWN until their slurmd registers again
    assert n1.base_state == NodeState.UNKNOWN and not n1.registered
    # the removed job's id (1003) is not handed out again
    assert c.allocate_job_id() == 1004


def test_node_states_from_the_configuration() -> None:
    """State= as slurmctld's state_str2int: CLOUD is IDLE+CLOUD+POWERED_DOWN, DRAIN is
    UNKNOWN+DRAIN; a Reason has no time and the zeroed record's uid (root) until the node is up."""
    c = Cluster(
        config(
            "NodeName=f1 CPUs=1 State=FUTURE\n"
            "NodeName=c1 CPUs=1 State=CLOUD\n"
            'NodeName=d1 CPUs=1 State=DRAIN Reason="broken fan"\n'
            "NodeName=x1 CPUs=1 State=DOWN Reason=disk\n"
        )
    )
    n = c.nodes
    assert (n["f1"].base_state, n["f1"].flags) == (NodeState.FUTURE, 0)
    cloud = NodeStateFlag.CLOUD | NodeStateFlag.POWERED_DOWN
    assert (n["c1"].base_state, n["c1"].flags) == (NodeState.IDLE, cloud)
    assert (n["d1"].base_state, n["d1"].flags, n["d1"].reason) == (
        NodeState.UNKNOWN,
        NodeStateFlag.DRAIN,
        "broken fan",
    )
    assert (n["x1"].base_state, n["x1"].config_down, n["x1"].reason) == (NodeState.DOWN, True, "disk")
    assert (n["d1"].reason_time, n["d1"].reason_uid, n["n1"].reason_uid) == (0, 0, 0)


def test_memory_is_consumable_as_the_select_plugin_runs() -> None:
    base = "ClusterName=t\nSlurmctldHost=h\nNodeName=n1 CPUs=2\nPartitionName=p Nodes=ALL\n"

    def consumable(select: str) -> bool:
        return Cluster(parse_text(select + base), None, lambda: 0).memory_is_consumable

    # cons_res/cons_tres without SelectTypeParameters run with CR_Core_Memory (select_p_node_init)
    assert consumable("SelectType=select/cons_tres\n")
    assert consumable("SelectType=select/cons_res\n")
    assert not consumable("SelectType=select/cons_tres\nSelectTypeParameters=CR_Core\n")
    assert consumable("SelectType=select/cons_tres\nSelectTypeParameters=CR_CPU_Memory\n")
    assert not consumable("SelectType=select/linear\n")

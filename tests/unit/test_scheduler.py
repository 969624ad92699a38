"""The scheduler's cycles on an in-memory cluster: what starts, and the reason every other job shows.

The rules are slurmctld 22.05's (job_scheduler.c): priority order, Resources for the first job that
does not fit in a partition and Priority behind it, the limits of partitions, holds, dependencies,
array throttles, CPU and memory fit, and backfill on its own interval.
"""

from __future__ import annotations

import textwrap

from flurm.config import parse_text
from flurm.protocol.constants import (
    MEM_PER_CPU,
    NO_VAL,
    JobState,
    JobStateFlag,
    JobStateReason,
    NodeState,
    NodeStateFlag,
)
from flurm.scheduler import scheduler
from flurm.scheduler.scheduler import Plan, plan, request_pass
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.tasks import EMPTY, TaskSet

R = JobStateReason
T0 = 1_000_000

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
SelectTypeParameters={select}
SchedulerParameters=bf_interval=30
NodeName=n[1-2] CPUs=2 Sockets=1 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=short Nodes=n2 MaxTime=5 MaxNodes=1 State=UP
PartitionName=off Nodes=ALL State=DOWN
"""


def make_cluster(select: str = "CR_Core") -> Cluster:
    cluster = Cluster(parse_text(textwrap.dedent(CONF.format(select=select))), None, clock=lambda: T0)
    for node in cluster.node_list:
        node.registered = True
        node.base_state = NodeState.IDLE
    return cluster


def add(cluster: Cluster, *, prio: int | None = None, **kw: object) -> Job:
    """A pending job as submit would leave it (eligible, in submission order)."""
    jid = max(cluster.jobs, default=0) + 1
    fields: dict[str, object] = dict(
        job_id=jid,
        name=f"j{jid}",
        user_id=1000,
        group_id=1000,
        partition="debug",
        script="#!/bin/sh\n",
        submit_time=T0,
        eligible_time=T0,
        priority=prio if prio is not None else 100_000 - jid,
        list_seq=jid,
    )
    fields.update(kw)
    job = Job(**fields)  # type: ignore[arg-type]
    cluster.add_job(job)
    return job


def cycle(cluster: Cluster, now: int = T0) -> Plan:
    """One requested cycle, its starts applied the way the engine applies them."""
    request_pass(cluster)
    out = plan(cluster, now)
    for d in out.starts:
        job = d.job
        if job.is_array_meta():
            job = split(cluster, job)
        cluster.start_job(job, d.alloc, now)
    return out


def split(cluster: Cluster, meta: Job) -> Job:
    from dataclasses import replace

    task_id = meta.array_task_pending.first()
    rest = meta.array_task_pending.without(task_id)
    if not rest:
        meta.array_task_id, meta.array_task_pending = task_id, EMPTY
        return meta
    task = replace(
        meta, _cache={}, job_id=max(cluster.jobs) + 1, array_task_id=task_id, array_task_pending=EMPTY
    )
    meta.array_task_pending = rest
    if len(rest) == 1:
        meta.array_task_id, meta.array_task_pending = rest.first(), EMPTY
    cluster.add_job(task)
    return task


def finish(cluster: Cluster, job: Job, state: int = JobState.COMPLETE, exit_code: int = 0) -> None:
    job.state = state
    job.exit_code = exit_code
    cluster.release(job)


# -- priority order ---------------------------------------------------------------------------------


def test_priority_order_resources_then_priority() -> None:
    c = make_cluster()
    low = add(c, prio=10, num_tasks=4, tasks_set=True, min_cpus=4)
    high = add(c, prio=20, num_tasks=3, tasks_set=True, min_cpus=3)
    later = add(c, prio=5)
    out = cycle(c)
    assert [d.job for d in out.starts] == [high]
    # low needs 4 CPUs, 1 is left: the first job that does not fit blocks the partition
    assert low.state_reason == R.WAIT_RESOURCES
    assert later.state_reason == R.WAIT_PRIORITY
    assert later.is_pending()


def test_equal_priority_goes_by_submit_time_then_job_id() -> None:
    c = make_cluster()
    a = add(c, prio=7, submit_time=T0 + 1, num_tasks=4, tasks_set=True, min_cpus=4)
    b = add(c, prio=7, submit_time=T0, num_tasks=4, tasks_set=True, min_cpus=4)
    out = cycle(c)
    assert [d.job for d in out.starts] == [b]
    assert a.state_reason == R.WAIT_RESOURCES


def test_cycles_nobody_asked_for_do_nothing() -> None:
    c = make_cluster()
    job = add(c)
    assert plan(c, T0).starts  # the first cycle always runs
    job2 = add(c)
    assert plan(c, T0 + 1).starts == []  # not requested, nothing changed on the nodes
    assert job2.state_reason == 0
    assert plan(c, T0 + 61).starts  # slurmctld's full cycle, once a minute
    assert job.is_pending() and job2.is_pending()  # (plan only decides; nothing was applied)


def test_a_node_going_down_or_drained_runs_a_cycle_and_its_allocation_does_not() -> None:
    c = make_cluster()
    cycle(c)  # the first, requested
    job = add(c)
    n2 = c.nodes["n2"]
    n2.alloc_cores.add(0)  # an allocation changing: no cycle
    n2.alloc_cpus = 1
    n2.base_state = NodeState.MIXED
    assert plan(c, T0 + 1).cycles is None and job.state_reason == 0
    n2.flags |= NodeStateFlag.DRAIN  # drained: a cycle
    out = plan(c, T0 + 2)
    assert out.cycles is not None and out.cycles.main
    assert plan(c, T0 + 3).cycles is None  # (seen once)
    n2.flags &= ~NodeStateFlag.DRAIN  # resumed: a cycle
    assert plan(c, T0 + 4).cycles is not None
    n2.registered = False  # a node that must register again
    assert plan(c, T0 + 5).cycles is not None
    n2.registered = True
    n2.base_state = NodeState.DOWN
    assert plan(c, T0 + 6).cycles is not None


# -- partitions -------------------------------------------------------------------------------------


def test_partition_limits() -> None:
    c = make_cluster()
    nodes = add(c, min_nodes=3)
    cpus = add(c, min_cpus=5, num_tasks=5, tasks_set=True)
    node_limit = add(c, partition="short", min_nodes=2)
    time_limit = add(c, partition="short", time_limit=10)
    down = add(c, partition="off")
    cycle(c)
    assert nodes.state_reason == R.WAIT_PART_NODE_LIMIT
    assert cpus.state_reason == R.WAIT_PART_CONFIG
    assert node_limit.state_reason == R.WAIT_PART_NODE_LIMIT
    assert time_limit.state_reason == R.WAIT_PART_TIME_LIMIT
    assert down.state_reason == R.WAIT_PART_DOWN


def test_blocked_partition_takes_its_nodes_from_later_partitions() -> None:
    c = make_cluster()
    add(c, num_tasks=4, tasks_set=True, min_cpus=4)  # takes every CPU
    big = add(c, min_nodes=2, num_tasks=2, tasks_set=True, min_cpus=2)
    short = add(c, partition="short")
    cycle(c)
    assert big.state_reason == R.WAIT_RESOURCES
    # debug failed, so its nodes (n2 among them) are not available to later jobs of short
    assert short.state_reason == R.WAIT_RESOURCES
    assert short.state_desc == scheduler.NODES_UNAVAILABLE


# -- holds and dependencies -------------------------------------------------------------------------


def test_holds() -> None:
    c = make_cluster()
    user_held = add(c, prio=0, state_reason=R.WAIT_HELD_USER, hold_user=True)
    zero = add(c, prio=0)
    cycle(c)
    assert user_held.state_reason == R.WAIT_HELD_USER
    assert zero.state_reason == R.WAIT_HELD  # priority 0 without a hold reason: JobHeldAdmin
    assert user_held.is_pending() and zero.is_pending()


def test_dependency_waits_then_runs() -> None:
    c = make_cluster()
    first = add(c, num_tasks=4, tasks_set=True, min_cpus=4)
    cycle(c)
    assert first.is_running()
    dep = add(c, dependency=f"afterok:{first.job_id}", eligible_time=0)
    cycle(c, T0 + 1)
    assert dep.state_reason == R.WAIT_DEPENDENCY
    assert dep.dep_text == f"afterok:{first.job_id}(unfulfilled)"
    assert dep.eligible_time == 0
    # finished but still completing (epilog): slurmctld still waits
    first.state = JobState.COMPLETE | JobStateFlag.COMPLETING
    cycle(c, T0 + 2)
    assert dep.state_reason == R.WAIT_DEPENDENCY
    finish(c, first)
    out = cycle(c, T0 + 3)
    assert [d.job for d in out.starts] == [dep]
    assert dep.dependency is None and dep.dep_text is None
    assert dep.eligible_time == T0 + 3


def test_dependency_never_satisfied() -> None:
    c = make_cluster()
    failed = add(c, state=JobState.FAILED, exit_code=1 << 8)
    dep = add(c, dependency=f"afterok:{failed.job_id}", eligible_time=0)
    other = add(c, dependency=f"afternotok:{failed.job_id}", eligible_time=0)
    out = cycle(c)
    assert dep.state_reason == R.WAIT_DEP_INVALID
    assert dep.dep_text == f"afterok:{failed.job_id}(failed)"
    assert [d.job for d in out.starts] == [other]


def test_dependency_on_a_whole_array_reads_star() -> None:
    c = make_cluster()
    arr = add(c, array_job_id=1, array_task_pending=TaskSet.of((1, 2)), prio=0, state_reason=R.WAIT_HELD_USER)
    dep = add(c, dependency=f"afterany:{arr.job_id}")
    cycle(c)
    assert dep.dep_text == f"afterany:{arr.job_id}_*(unfulfilled)"


def test_accrue_time_comes_one_cycle_after_eligibility() -> None:
    c = make_cluster()
    add(c, num_tasks=4, tasks_set=True, min_cpus=4)
    held = add(c, eligible_time=0)
    cycle(c)
    assert held.eligible_time == T0 and held.accrue_time == 0
    cycle(c, T0 + 5)
    assert held.accrue_time == T0


# -- arrays -----------------------------------------------------------------------------------------


def test_array_throttle() -> None:
    c = make_cluster()
    meta = add(c, array_task_pending=TaskSet.of((1, 2, 3, 4)), array_max_tasks=2, eligible_time=0)
    meta.array_job_id = meta.job_id
    out = cycle(c)
    assert len(out.starts) == 2  # two tasks of the meta record, no more
    assert meta.is_array_meta() and meta.array_task_pending == TaskSet.of((3, 4))
    assert meta.state_reason == R.WAIT_ARRAY_TASK_LIMIT
    assert meta.eligible_time == 0  # a throttled array is not eligible
    tasks = sorted((j for j in c.jobs.values() if j is not meta), key=lambda j: j.array_task_id)
    assert [t.array_task_id for t in tasks] == [1, 2] and all(t.is_running() for t in tasks)
    finish(c, tasks[0])
    out = cycle(c, T0 + 1)
    assert len(out.starts) == 1
    assert not meta.array_task_pending and meta.array_task_id == 4  # the last pending task


def test_whole_array_starts_when_it_fits() -> None:
    c = make_cluster()
    meta = add(c, array_task_pending=TaskSet.of((0, 5, 10)))
    meta.array_job_id = meta.job_id
    out = cycle(c)
    assert len(out.starts) == 3
    assert sorted(j.array_task_id for j in c.jobs.values()) == [0, 5, 10]


# -- CPUs and memory --------------------------------------------------------------------------------


def test_cpus_per_task_take_whole_nodes() -> None:
    c = make_cluster()
    a = add(c, cpus_per_task=2, pn_min_cpus=2, min_cpus=2)
    b = add(c, cpus_per_task=2, pn_min_cpus=2, min_cpus=2)
    d = add(c)
    cycle(c)
    assert a.nodes == ("n1",) and b.nodes == ("n2",)
    assert d.state_reason == R.WAIT_RESOURCES


def test_memory_is_only_checked_with_cr_core() -> None:
    c = make_cluster("CR_Core")
    jobs = [add(c, pn_min_memory=600, mem_set=True) for _ in range(3)]
    cycle(c)
    assert all(j.is_running() for j in jobs)
    assert all(j.mem_alloc == (0,) for j in jobs)  # not allocated, not shown
    assert c.nodes["n1"].alloc_mem == 0


def test_memory_is_consumed_with_cr_core_memory() -> None:
    c = make_cluster("CR_Core_Memory")
    a, b, d = (add(c, pn_min_memory=600, mem_set=True) for _ in range(3))
    cycle(c)
    assert a.nodes == ("n1",) and b.nodes == ("n2",)
    assert a.mem_alloc == (600,)
    assert d.state_reason == R.WAIT_RESOURCES


def test_node_configuration_filter() -> None:
    c = make_cluster()
    nodes = c.partition_nodes(c.partitions["debug"])
    assert (
        scheduler.node_config_error(add(c, pn_min_cpus=4), nodes) == "CPU count per node can not be satisfied"
    )
    assert (
        scheduler.node_config_error(add(c, pn_min_memory=1001), nodes)
        == "Memory specification can not be satisfied"
    )
    # --mem-per-cpu: the per-CPU figure is what slurmctld compares with a node's memory
    assert scheduler.node_config_error(add(c, pn_min_memory=MEM_PER_CPU | 600, pn_min_cpus=2), nodes) is None


# -- backfill ---------------------------------------------------------------------------------------


def test_backfill_only_on_its_interval_and_only_if_it_delays_nobody() -> None:
    c = make_cluster()
    running = add(c, time_limit=10)  # n1, 1 CPU, ends at T0 + 600
    cycle(c)
    assert running.nodes == ("n1",)
    big = add(c, min_nodes=2, num_tasks=4, tasks_set=True, min_cpus=4, time_limit=60)
    short_job = add(c, time_limit=5)  # ends before the big job could start: may go first
    long_job = add(c, time_limit=60)  # would delay the big job
    out = cycle(c, T0 + 1)
    assert out.starts == []  # the main scheduler does not backfill
    assert big.state_reason == R.WAIT_RESOURCES and short_job.state_reason == R.WAIT_PRIORITY
    out = cycle(c, T0 + 31)  # bf_interval=30
    assert [d.job for d in out.starts] == [short_job]
    assert long_job.is_pending()


def test_time_limit_default_is_the_partition_max() -> None:
    c = make_cluster()
    job = add(c, partition="short", time_limit=NO_VAL)
    cycle(c)
    assert job.is_running()


# -- accounting limits (scheduler/limits.py) ------------------------------------------------------


class FakeLimits:
    """Holds the jobs named in ``before`` or ``after``; counts what the pass starts."""

    def __init__(self, before: dict[int, int] | None = None, after: dict[int, int] | None = None) -> None:
        self.held_before = before or {}
        self.held_after = after or {}
        self.asked_after: list[tuple[int, int, int]] = []
        self.started_jobs: list[int] = []

    def before(self, job: Job, part: object) -> tuple[int, str | None] | None:
        reason = self.held_before.get(job.job_id)
        return (reason, None) if reason else None

    def after(self, job: Job, part: object, cpus: int, nodes: int) -> tuple[int, str | None] | None:
        self.asked_after.append((job.job_id, cpus, nodes))
        reason = self.held_after.get(job.job_id)
        return (reason, "why") if reason else None

    def started(self, job: Job, part: object, cpus: int, nodes: int) -> None:
        self.started_jobs.append(job.job_id)


def test_accounting_limits_hold_jobs_without_blocking_the_partition() -> None:
    c = make_cluster()
    first = add(c)  # held before nodes are chosen
    second = add(c, num_tasks=2, tasks_set=True, min_cpus=2)  # held once nodes are found
    third = add(c, num_tasks=4, tasks_set=True, min_cpus=4)  # fits
    too_big = add(c)  # no CPU left: the limit still names it
    limits = FakeLimits(
        before={first.job_id: R.WAIT_ASSOC_MAX_JOBS},
        after={second.job_id: R.WAIT_ASSOC_GRP_CPU, too_big.job_id: R.WAIT_QOS_GRP_CPU},
    )
    request_pass(c)
    out = plan(c, T0, limits=limits)
    assert [d.job for d in out.starts] == [third]
    assert (first.state_reason, second.state_reason, second.state_desc) == (
        R.WAIT_ASSOC_MAX_JOBS,
        R.WAIT_ASSOC_GRP_CPU,
        "why",
    )
    assert too_big.state_reason == R.WAIT_QOS_GRP_CPU  # not Resources: select_nodes' order
    assert (too_big.job_id, 1, 1) in limits.asked_after  # the counts asked for
    assert limits.started_jobs == [third.job_id]


def test_will_run_takes_the_running_jobs_away_in_slurmctlds_batches() -> None:
    # the first end rounded up to 30 s, plus a window of 30 s doubling until it takes another job
    steps = scheduler._will_run_steps
    assert steps([]) == [0]
    assert steps([100]) == [0, 1]
    assert steps([100, 110, 130, 200, 1000]) == [0, 3, 4, 5]
    assert steps([90, 90, 300]) == [0, 2, 3]

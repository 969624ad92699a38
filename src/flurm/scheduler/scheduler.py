"""Priority scheduling with backfill over partitions, nodes, cores and memory.

:func:`plan` looks at the pending jobs in priority order (submit order within equal priority) and
decides which can start now. A job that cannot start gets a reservation at the earliest time the
running jobs' limits free enough resources; a lower-priority job may start before it only if it
leaves the reserved nodes alone or ends before the reservation begins (backfill). Pending jobs get
the reason slurmctld would show (Resources for the first job that waits for resources in its
partition, Priority for the ones behind it, Dependency, JobHeldUser, ...).

Pure logic: no I/O; the caller applies the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flurm.protocol.constants import NO_VAL, JobStateReason, NodeStateFlag
from flurm.scheduler import dependencies
from flurm.state.cluster import Allocation, Cluster
from flurm.state.model import Job, Node, Partition

R = JobStateReason
# never-ending running jobs still need an end for the reservation arithmetic
FOREVER = 1 << 62


@dataclass(slots=True)
class _Free:
    """Free resources of one node during a planning pass."""

    node: Node
    cores: set[int]
    mem: int
    idle: bool  # nothing allocated: an exclusive job may take it

    def copy(self) -> _Free:
        return _Free(self.node, set(self.cores), self.mem, self.idle)


@dataclass(slots=True)
class _Reservation:
    start: int
    nodes: set[str]


@dataclass(slots=True)
class Decision:
    job: Job
    partition: str
    alloc: Allocation


@dataclass(slots=True)
class Plan:
    starts: list[Decision] = field(default_factory=list)
    reasons_changed: list[Job] = field(default_factory=list)


def sort_key(job: Job) -> tuple[int, int]:
    return (-job.priority, job.job_id)


def job_partitions(job: Job, cluster: Cluster) -> list[Partition]:
    return [cluster.partitions[p] for p in job.partition.split(",") if p in cluster.partitions]


def static_reason(job: Job, part: Partition, cluster: Cluster) -> int:
    """Why the job can never run in this partition as configured (0 = it can)."""
    nodes = cluster.partition_nodes(part)
    if job.min_nodes > len(nodes):
        return R.WAIT_PART_CONFIG
    if part.max_nodes is not None and job.min_nodes > part.max_nodes:
        return R.WAIT_PART_NODE_LIMIT
    if job.min_nodes < part.min_nodes:
        return R.WAIT_PART_NODE_LIMIT
    if job.cpus_needed() > sum(n.cpus for n in nodes):
        return R.WAIT_PART_CONFIG
    if job.time_limit not in (NO_VAL,) and part.max_time is not None and job.time_limit > part.max_time:
        return R.WAIT_PART_TIME_LIMIT
    if part.state_up == 1:
        return R.WAIT_PART_DOWN
    if part.state_up == 0:
        return R.WAIT_PART_INACTIVE
    return 0


def _cpus_for_cores(node: Node, cores: int) -> int:
    return cores * node.threads_per_core


def _cores_for_cpus(node: Node, cpus: int) -> int:
    return -(-cpus // node.threads_per_core)


def _mem_need(job: Job, node: Node, cpus: int, consumable: bool) -> int:
    mem = job.mem_per_node_mib(cpus)
    if mem == 0:
        return node.real_memory
    return mem


def try_allocate(
    job: Job, part: Partition, free: dict[str, _Free], cluster: Cluster, exclude: Iterable[str] = ()
) -> Allocation | None:
    """Pick nodes, cores and memory for the job from ``free``, or None if it does not fit now."""
    excluded = set(exclude)
    if job.exc_nodes:
        excluded.update(_names(job.exc_nodes))
    required = _names(job.req_nodes) if job.req_nodes else []
    consumable = cluster.memory_is_consumable
    exclusive = job.shared == 0 or part.max_share == 0
    cpt = max(1, job.cpus_per_task)
    min_nodes = max(1, job.min_nodes, len(required))
    max_nodes = job.max_nodes or 0
    tasks = job.num_tasks if job.tasks_set else 0
    if job.ntasks_per_node and not job.tasks_set:
        tasks = min_nodes * job.ntasks_per_node
    if tasks:
        tasks = max(tasks, min_nodes)
        if not max_nodes:
            max_nodes = tasks
    else:
        max_nodes = max_nodes or min_nodes
    cpus_wanted = max(job.min_cpus, (tasks or min_nodes) * cpt)

    candidates = [cluster.nodes[n] for n in part.nodes if n in cluster.nodes]
    candidates.sort(key=lambda n: (n.name not in required, n.weight, n.index))
    chosen: list[tuple[Node, int]] = []  # node, tasks (or cpus when no task count)
    remaining = tasks if tasks else cpus_wanted
    for node in candidates:
        if len(chosen) >= max_nodes and remaining <= 0:
            break
        if len(chosen) >= max_nodes:
            break
        if node.name in excluded or not node.is_usable():
            continue
        f = free.get(node.name)
        if f is None:
            continue
        if exclusive and not f.idle:
            continue
        free_cpus = _cpus_for_cores(node, len(f.cores))
        if tasks:
            fit = free_cpus // cpt
            if job.ntasks_per_node:
                fit = min(fit, job.ntasks_per_node)
            still_needed_nodes = max(0, min_nodes - len(chosen) - 1)
            take = min(fit, remaining - still_needed_nodes)
            if take <= 0:
                continue
            cpus = take * cpt
        else:
            nodes_left = max(1, min_nodes - len(chosen))
            share = -(-remaining // nodes_left) if remaining > 0 else cpt
            cpus = max(cpt, min(free_cpus, share))
            if cpus > free_cpus:
                continue
            take = cpus
        if exclusive:
            cpus = node.cpus
        mem = _mem_need(job, node, cpus, consumable)
        if mem > node.real_memory or (consumable and mem > f.mem):
            continue
        chosen.append((node, take))
        remaining -= take
        if remaining <= 0 and len(chosen) >= min_nodes:
            break
    if remaining > 0 or len(chosen) < min_nodes:
        return None
    if any(r not in {n.name for n, _ in chosen} for r in required):
        return None
    names, cores, cpus_l, mems = [], [], [], []
    for node, take in chosen:
        f = free[node.name]
        cpus = node.cpus if exclusive else (take * cpt if tasks else take)
        ncores = len(f.cores) if exclusive else _cores_for_cpus(node, cpus)
        picked = tuple(sorted(f.cores)[:ncores])
        names.append(node.name)
        cores.append(picked)
        cpus_l.append(node.cpus if exclusive else _cpus_for_cores(node, ncores))
        mems.append(_mem_need(job, node, cpus, consumable))
    return Allocation(tuple(names), tuple(cores), tuple(cpus_l), tuple(mems))


def _names(expr: str) -> list[str]:
    import hostlist

    try:
        return list(hostlist.expand_hostlist(expr))
    except hostlist.BadHostlist:
        return [expr]


def _take(free: dict[str, _Free], alloc: Allocation, consumable: bool) -> None:
    for name, cores, mem in zip(alloc.nodes, alloc.cores, alloc.mem, strict=True):
        f = free[name]
        f.cores.difference_update(cores)
        if consumable:
            f.mem -= mem
        f.idle = False


def _free_now(cluster: Cluster) -> dict[str, _Free]:
    out = {}
    for node in cluster.node_list:
        cores = set(range(node.total_cores)) - node.alloc_cores
        mem = node.real_memory - node.alloc_mem
        out[node.name] = _Free(node, cores, mem, not node.jobs)
    return out


def _earliest_start(
    job: Job, part: Partition, cluster: Cluster, now: int, free: dict[str, _Free], running: list[Job]
) -> tuple[int, Allocation] | None:
    """When and where the job could start if the running jobs end at their limits."""
    sim = {k: v.copy() for k, v in free.items()}
    consumable = cluster.memory_is_consumable
    for r in running:
        if r.end_time >= FOREVER or r.end_time <= 0:
            break
        for i, name in enumerate(r.nodes):
            f = sim.get(name)
            if f is None:
                continue
            if i < len(r.cores_alloc):
                f.cores.update(r.cores_alloc[i])
            if consumable and i < len(r.mem_alloc):
                f.mem += r.mem_alloc[i]
            f.idle = len(f.cores) >= f.node.total_cores
        alloc = try_allocate(job, part, sim, cluster)
        if alloc is not None:
            return max(r.end_time, now), alloc
    return None


def plan(cluster: Cluster, now: int, *, max_reservations: int = 100) -> Plan:
    """Decide which pending jobs start now; update pending reasons."""
    out = Plan()
    pending = [j for j in cluster.jobs.values() if j.is_pending()]
    if not pending:
        return out
    pending.sort(key=sort_key)
    free = _free_now(cluster)
    consumable = cluster.memory_is_consumable
    running = sorted(
        (j for j in cluster.jobs.values() if j.nodes and (j.is_running() or j.is_completing())),
        key=lambda j: j.end_time if j.end_time else FOREVER,
    )
    reservations: list[_Reservation] = []
    blocked_parts: set[str] = set()
    array_running: dict[int, int] = {}
    for j in cluster.jobs.values():
        if j.array_job_id and j.is_running():
            array_running[j.array_job_id] = array_running.get(j.array_job_id, 0) + 1
    any_free = any(f.cores for f in free.values() if f.node.is_usable())

    for job in pending:
        reason = _wait_reason(job, cluster, now)
        if reason is None:
            parts = job_partitions(job, cluster)
            if not parts:
                reason = R.WAIT_PART_CONFIG
        if (
            reason is None
            and job.array_job_id
            and job.array_max_tasks
            and array_running.get(job.array_job_id, 0) >= job.array_max_tasks
        ):
            reason = R.WAIT_ARRAY_TASK_LIMIT
        started = False
        if reason is None:
            static = [static_reason(job, p, cluster) for p in parts]
            usable = [p for p, s in zip(parts, static, strict=True) if s == 0]
            if not usable:
                reason = static[0]
            else:
                reason = R.WAIT_RESOURCES
                for part in usable:
                    if part.name in blocked_parts and len(usable) == 1:
                        reason = R.WAIT_PRIORITY
                    if not any_free:
                        continue
                    limit = job.limit_seconds(part.max_time if part.max_time is not None else None)
                    if job.time_limit == NO_VAL and part.default_time is not None:
                        limit = part.default_time * 60
                    end = now + limit if limit is not None else FOREVER
                    exclude = {n for r in reservations if end > r.start for n in r.nodes}
                    alloc = try_allocate(job, part, free, cluster, exclude)
                    if alloc is not None:
                        _take(free, alloc, consumable)
                        out.starts.append(Decision(job, part.name, alloc))
                        if job.array_job_id:
                            array_running[job.array_job_id] = array_running.get(job.array_job_id, 0) + 1
                        started = True
                        break
                if not started:
                    for part in usable:
                        if part.name not in blocked_parts:
                            blocked_parts.add(part.name)
                            reason = R.WAIT_RESOURCES
                        if len(reservations) < max_reservations:
                            found = _earliest_start(job, part, cluster, now, free, running)
                            if found is not None:
                                reservations.append(_Reservation(found[0], set(found[1].nodes)))
                        break
        if started:
            continue
        if reason is not None and job.state_reason != reason:
            job.state_reason = int(reason)
            out.reasons_changed.append(job)
        if job.last_sched_eval != now:
            job.last_sched_eval = now
    return out


def _wait_reason(job: Job, cluster: Cluster, now: int) -> int | None:
    """A reason that keeps the job waiting regardless of resources, or None."""
    if job.priority == 0:
        return R.WAIT_HELD_USER if job.hold_user else R.WAIT_HELD
    if job.begin_time and job.begin_time > now:
        return R.WAIT_TIME
    if job.dependency:
        if job.dep_state == "failed":
            return R.WAIT_DEP_INVALID
        if job.dep_state == "waiting":
            return R.WAIT_DEPENDENCY
    return None


def refresh_dependencies(cluster: Cluster) -> list[Job]:
    """Re-evaluate every pending job's dependency; returns the jobs whose dependency text changed."""
    changed = []
    for job in cluster.jobs.values():
        if not job.is_pending() or not job.dependency:
            continue
        try:
            spec = dependencies.parse(job.dependency)
        except dependencies.DependencyError:
            continue
        state, each = dependencies.evaluate(spec, job, cluster.jobs)
        text = dependencies.describe(spec, each, cluster.jobs)
        if state == "satisfied":
            job.dependency = None
            job.dep_state = "none"
            job.dep_text = None
            changed.append(job)
        elif state != job.dep_state or text != job.dep_text:
            job.dep_state = state
            job.dep_text = text
            changed.append(job)
    return changed


def nodes_with_no_respond(cluster: Cluster) -> list[Node]:
    return [n for n in cluster.node_list if n.flags & NodeStateFlag.NO_RESPOND]

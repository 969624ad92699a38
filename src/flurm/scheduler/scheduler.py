"""Priority scheduling over partitions, nodes, cores and memory, pass by pass as slurmctld 22.05 does it.

One call of :func:`plan` is one scheduling cycle of slurmctld's main scheduler (job_scheduler.c
``schedule()`` followed by ``set_job_elig_time()``), so that every job ends up with the state,
reason, eligible and accrue times that slurmctld would show:

1. **Queue.** Every pending job, in job-list order (the order of ``scontrol show job``), is looked at:
   a held job gets ``JobHeldAdmin`` unless it already has a hold reason; a job waiting for a
   dependency, an array task limit or its begin time gets ``Dependency``, ``DependencyNeverSatisfied``,
   ``JobArrayTaskLimit`` or ``BeginTime``; a job outside its partition's limits gets
   ``PartitionNodeLimit``, ``PartitionTimeLimit``, ``PartitionConfig``, ``PartitionDown``...
   A job that passes becomes eligible (its eligible time is set) and joins the queue, once per
   partition it may use.
2. **Main loop.** The queue is sorted by partition tier, priority, submit time and job id. Each job
   either starts (an array's meta record starts as many tasks as fit), or waits: the first job that
   does not fit in a partition gets ``Resources`` and blocks that partition, every later job of the
   partition gets ``Priority``.
3. **Eligibility.** Jobs the loop did not start are checked once more for their dependencies.

slurmctld only runs a cycle when something asked for it (a submission, an update, the end of a
job's epilog, a node change: ``queue_job_scheduler()``) and at least once a minute; a cancelled
pending job, for one, leaves every other job's reason as it was. flurm's engine calls :func:`plan`
more often; a call nobody asked for (:func:`request_pass` not called, no node change, less than a
minute since the last cycle) does nothing, so that both show the same.

**Backfill** runs like slurmctld's backfill thread: every ``bf_interval`` seconds (SchedulerParameters,
30 by default). A lower-priority job may then start if it does not delay the reservation of any
higher-priority job that waits for resources (the earliest time the running jobs' limits free
enough of the cluster for it).

Pure logic: no I/O; the caller applies the decisions (starts) and records the changed jobs.
"""

from __future__ import annotations

import bisect
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field

from flurm.config import hostlists
from flurm.protocol.constants import (
    INFINITE,
    MEM_PER_CPU,
    NO_VAL,
    NO_VAL16,
    JobFlag,
    JobStateReason,
    NodeState,
    NodeStateFlag,
)
from flurm.scheduler import constraints, contiguous, dependencies, gres_fit
from flurm.scheduler.free import FreeMap, best_fit_node, empty_free, free_now, release, take
from flurm.scheduler.limits import Limits
from flurm.scheduler.reservations import MAY_BE_RESERVED, resv_first
from flurm.scheduler.reservations import fence as resv_fence
from flurm.state import gres, licenses, multicore
from flurm.state.cluster import Allocation, Cluster
from flurm.state.gres import NodeGres, NodeUses
from flurm.state.model import Job, Node, Partition

R = JobStateReason
# never-ending running jobs still need an end for the reservation arithmetic
FOREVER = 1 << 62
SCHED_INTERVAL = 60  # slurmctld runs a full cycle at least this often (seconds)
# A cycle triggered by an event tests at most this many queued jobs; the periodic one tests them all
# (slurmctld's SchedulerParameters default_queue_depth).
DEFAULT_QUEUE_DEPTH = 100

# Plain ints for the per-job flag arithmetic of a cycle (enum flag operators cost ~1 us each).
_DEPENDENT = int(JobFlag.JOB_DEPENDENT)
_CLEAR_DEPENDENT = ~_DEPENDENT
_BACKFILL_SCHED = int(JobFlag.BACKFILL_SCHED)
_CLEAR_BACKFILL_SCHED = ~_BACKFILL_SCHED
_WAS_RUNNING = int(JobFlag.JOB_WAS_RUNNING)
_CLEAR_NODE_COMPLETING = ~int(NodeStateFlag.COMPLETING)
DEFAULT_BF_INTERVAL = 30
NODES_UNAVAILABLE = (
    "Nodes required for job are DOWN, DRAINED or reserved for jobs in higher priority partitions"
)

# reasons a later cycle may clear when the partition limits no longer stop the job
_PART_POLICY_REASONS = frozenset(
    {R.WAIT_PART_DOWN, R.WAIT_PART_INACTIVE, R.WAIT_PART_NODE_LIMIT, R.WAIT_PART_TIME_LIMIT, R.WAIT_QOS_THRES}
)
# a held job keeps these reasons (any other becomes JobHeldAdmin)
_HELD_KEEPS = frozenset(
    {R.FAIL_BAD_CONSTRAINTS, R.WAIT_RESV_DELETED, R.WAIT_HELD, R.WAIT_HELD_USER, R.WAIT_MAX_REQUEUE}
)
# job_independent() gives up at once for these
_NOT_INDEPENDENT = frozenset({R.WAIT_HELD, R.WAIT_HELD_USER, R.WAIT_MAX_REQUEUE, R.WAIT_DEP_INVALID})


@dataclass(slots=True)
class _Reservation:
    start: int
    nodes: set[str]
    end: int = FOREVER


@dataclass(slots=True)
class Decision:
    """Start ``job`` (for an array's meta record: its next pending task) on ``alloc``."""

    job: Job
    partition: str
    alloc: Allocation


@dataclass(slots=True)
class Plan:
    starts: list[Decision] = field(default_factory=list)
    reasons_changed: list[Job] = field(default_factory=list)  # every job whose record changed
    cycles: CycleCounts | None = None  # what sdiag counts of this pass (None: no cycle ran)


@dataclass(slots=True)
class CycleCounts:
    """sdiag's view of one pass: whether the main and backfill cycles ran, their queues and depths."""

    main: bool = False
    queue_len: int = 0  # jobs (job, partition pairs) in the main cycle's queue
    depth: int = 0  # jobs the main cycle looked at
    backfill: bool = False
    bf_queue_len: int = 0
    bf_depth: int = 0
    backfilled: int = 0  # jobs the backfill cycle started


@dataclass(slots=True)
class _State:
    """What the scheduler remembers about a cluster between cycles."""

    requested: bool = True  # queue_job_scheduler(): the next cycle is a real one
    last_full: int = 0
    last_backfill: int = 0  # when the backfill interval was last started (its first: at the first cycle)
    backfill_ran: int = 0  # when a backfill cycle last ran (0: never), for RESPONSE_JOB_INFO
    nodes_seen: tuple[object, ...] = ()


_STATES: weakref.WeakKeyDictionary[Cluster, _State] = weakref.WeakKeyDictionary()


def _state(cluster: Cluster) -> _State:
    st = _STATES.get(cluster)
    if st is None:
        st = _STATES[cluster] = _State()
    return st


def request_pass(cluster: Cluster) -> None:
    """Something changed that slurmctld would schedule for (its ``queue_job_scheduler()``)."""
    _state(cluster).requested = True


def last_backfill(cluster: Cluster) -> int:
    """When the backfill scheduler last ran (0: not yet); clients show ``Backfill:*`` by it."""
    st = _STATES.get(cluster)
    return st.backfill_ran if st is not None else 0


def bf_interval(cluster: Cluster) -> int:
    """SchedulerParameters=bf_interval (seconds), 30 by default."""
    for item in (cluster.config.scheduler_parameters or "").split(","):
        key, _, value = item.strip().partition("=")
        if key.lower() == "bf_interval" and value.strip().lstrip("-").isdigit():
            return int(value)
    return DEFAULT_BF_INTERVAL


# -- job and partition tests ------------------------------------------------------------------------


def sort_key(job: Job) -> tuple[int, int, int, int]:
    """Priority order: higher priority, then earlier submission, then lower (array) job id."""
    return (-job.priority, job.submit_time, job.array_job_id or job.job_id, _task(job))


def _task(job: Job) -> int:
    return job.array_task_id if job.array_task_id != NO_VAL else -1


def job_partitions(job: Job, cluster: Cluster) -> list[Partition]:
    parts = cluster.partitions
    name = job.partition
    if "," not in name:
        part = parts.get(name)
        return [part] if part is not None else []
    return [parts[p] for p in name.split(",") if p in parts]


def _part_size(part: Partition, cluster: Cluster) -> tuple[int, int]:
    """(nodes, CPUs) of a partition, cached until its node list or the node table changes."""
    hit = _PART_SIZES.get(id(part))
    if hit is not None and hit[0] is part.nodes and hit[1] == len(cluster.node_list):
        return hit[2]
    nodes = cluster.partition_nodes(part)
    size = (len(nodes), sum(n.cpus for n in nodes))
    _PART_SIZES[id(part)] = (part.nodes, len(cluster.node_list), size)
    return size


_PART_SIZES: dict[int, tuple[tuple[str, ...], int, tuple[int, int]]] = {}


def limits_reason(job: Job, part: Partition, cluster: Cluster) -> int:
    """Why the partition's limits keep the job out (slurmctld's job_limits_check), 0 if they do not."""
    if part.state_up & 1:  # PARTITION_SCHED: the limits are checked for partitions that schedule
        node_count, total_cpus = _part_size(part, cluster)
        if job.min_cpus > total_cpus:
            return R.WAIT_PART_CONFIG
        if part.max_cpus_per_node is not None and job.min_cpus > part.max_cpus_per_node * node_count:
            return R.WAIT_PART_CONFIG
        if job.min_nodes > node_count:
            return R.WAIT_PART_NODE_LIMIT
        if job.min_nodes < part.min_nodes:
            return R.WAIT_PART_NODE_LIMIT
        if job.max_nodes and part.max_nodes is not None and job.max_nodes > part.max_nodes:
            return R.WAIT_PART_NODE_LIMIT
        if job.time_limit != NO_VAL and part.max_time is not None and job.time_limit > part.max_time:
            return R.WAIT_PART_TIME_LIMIT
    if part.state_up == 1:  # DOWN
        return R.WAIT_PART_DOWN
    if part.state_up == 0:  # INACTIVE
        return R.WAIT_PART_INACTIVE
    return 0


def static_reason(job: Job, part: Partition, cluster: Cluster) -> int:
    """Why the job cannot run in this partition as configured (0 = it may)."""
    return limits_reason(job, part, cluster)


def node_config_error(job: Job, nodes: Iterable[Node]) -> str | None:
    """Why no node of ``nodes`` could ever hold the job (slurmctld's node-set filter), or None.

    The CPUs per node, the memory figure (with --mem-per-cpu the per-CPU value itself, as
    slurmctld), the temporary disk and the sockets, cores and threads are compared.
    """
    msg = None
    for node in nodes:
        cpus_ok = job.pn_min_cpus <= node.cpus
        mem_ok = (job.pn_min_memory & ~MEM_PER_CPU) <= node.real_memory
        disk_ok = job.pn_min_tmp_disk <= node.tmp_disk
        shape_ok = multicore.shape_fits(job, node)
        if cpus_ok and mem_ok and disk_ok and shape_ok:
            return None
        if not cpus_ok:
            msg = "CPU count per node can not be satisfied"
        elif not mem_ok:
            msg = "Memory specification can not be satisfied"
        elif not disk_ok:
            msg = "Temporary disk specification can not be satisfied"
        else:
            msg = multicore.SHAPE_ERROR
    return msg


def array_limit_reached(job: Job, running: dict[int, int]) -> bool:
    """The array's ``%N`` throttle holds: as many of its tasks run as it allows."""
    if not job.array_job_id or not job.array_max_tasks:
        return False
    return running.get(job.array_job_id, 0) >= job.array_max_tasks


def job_independent(job: Job, cluster: Cluster, now: int, running: dict[int, int]) -> bool:
    """May the job start as far as holds, dependencies, the array throttle and its begin time go?

    Like slurmctld's job_independent(): sets the reason (Dependency, DependencyNeverSatisfied,
    JobArrayTaskLimit, BeginTime), clears a Dependency reason once the dependency holds, and makes
    the job eligible (eligible time = now) when nothing stops it; a job that waits for a dependency
    or the throttle loses its eligible time.
    """
    if job.state_reason in _NOT_INDEPENDENT:
        return False
    dep = _test_dependency(job, cluster)
    if dep == "waiting":
        if job.eligible_time < now:
            job.eligible_time = 0
        job.state_reason = R.WAIT_DEPENDENCY
        job.state_desc = None
        return False
    if dep == "failed":
        job.state_reason = R.WAIT_DEP_INVALID
        job.state_desc = None
        return False
    if job.state_reason == R.WAIT_DEPENDENCY:
        job.state_reason = 0
        job.state_desc = None
    if array_limit_reached(job, running):
        if job.eligible_time <= now:
            job.eligible_time = 0
        job.state_reason = R.WAIT_ARRAY_TASK_LIMIT
        job.state_desc = None
        return False
    if job.begin_time > now:
        job.state_reason = R.WAIT_TIME
        job.state_desc = None
        return False
    if job.eligible_time == 0 and job.priority != 0:
        job.eligible_time = now
    elif job.state_reason == R.WAIT_TIME:
        job.state_reason = 0
        job.state_desc = None
    return True


def _test_dependency(job: Job, cluster: Cluster) -> str:
    """'none' (no dependency left), 'waiting' or 'failed'; updates the shown dependency text."""
    if not job.dependency:
        job.bitflags &= _CLEAR_DEPENDENT
        return "none"
    try:
        spec = dependencies.parse(job.dependency)
    except dependencies.DependencyError:
        return "failed"
    state, each = dependencies.evaluate(spec, job, cluster.jobs)
    if state == "satisfied":
        job.dependency = None
        job.dep_state = "none"
        job.dep_text = None
        job.bitflags &= _CLEAR_DEPENDENT
        return "none"
    job.dep_state = state
    job.dep_text = dependencies.describe(spec, each, cluster.jobs)
    job.bitflags |= _DEPENDENT
    return state


def _runnable(job: Job, cluster: Cluster, now: int, running: dict[int, int]) -> bool:
    """slurmctld's _job_runnable_test1: holds and independence."""
    if job.priority == 0:
        if job.state_reason not in _HELD_KEEPS:
            job.state_reason = R.WAIT_HELD
            job.state_desc = None
        return False
    independent = job_independent(job, cluster, now, running)
    if not independent and job.state_reason in (R.WAIT_HELD, R.WAIT_HELD_USER):
        job.state_reason = R.WAIT_DEPENDENCY  # released behind an active dependency
        job.state_desc = None
    return independent


# -- resources --------------------------------------------------------------------------------------


def _cpus_for_cores(node: Node, cores: int) -> int:
    return cores * node.threads_per_core


def _mem_need(job: Job, cpus: int) -> int:
    """Memory the job holds on a node with ``cpus`` of its CPUs (0 = none asked)."""
    return job.mem_per_node_mib(cpus)


def try_allocate(
    job: Job, part: Partition, free: FreeMap, cluster: Cluster, exclude: Iterable[str] = ()
) -> Allocation | None:
    """Pick nodes, cores and memory for the job from ``free``, or None if it does not fit now.

    Memory is allocated (and shown) only when it is a consumable resource (CR_*_Memory); otherwise
    a node only has to be configured with enough of it. A job with a constraint is placed on the
    nodes its features match (scheduler/constraints.py), a contiguous one on adjacent nodes.
    """
    if not job.features and not job.contiguous:
        return _allocate(job, part, free, cluster, exclude, ())
    nodes = cluster.partition_nodes(part)

    def attempt(out: set[str], required: tuple[str, ...]) -> Allocation | None:
        if not job.contiguous:
            return _allocate(job, part, free, cluster, out, required)
        return contiguous.place(
            nodes, out, job.min_nodes, lambda outside: _allocate(job, part, free, cluster, outside, required)
        )

    if not job.features:
        return attempt(set(exclude), ())
    return constraints.place(
        job.features,
        nodes,
        set(exclude),
        lambda n: n.is_usable() and n.name in free and bool(free[n.name].cores),
        attempt,
    )


def _allocate(
    job: Job,
    part: Partition,
    free: FreeMap,
    cluster: Cluster,
    exclude: Iterable[str],
    require: tuple[str, ...],
) -> Allocation | None:
    excluded = set(exclude)
    if job.exc_nodes:
        excluded.update(_names(job.exc_nodes))
    required = _names(job.req_nodes) if job.req_nodes else []
    required += [n for n in require if n not in required]
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
    reqs = gres_fit.requests_of(job)
    per_job_left = [r.per_job for r in reqs]
    if not tasks:
        # a count of GRES per job spreads over as many nodes as it needs (cons_tres)
        max_nodes = max_nodes or (len(part.nodes) if any(per_job_left) else min_nodes)
    cpus_wanted = max(job.min_cpus, (tasks or min_nodes) * cpt)
    sockets = job.sockets_per_node if job.sockets_per_node not in (0, NO_VAL16) else 0

    if required:
        candidates = [cluster.nodes[n] for n in part.nodes if n in cluster.nodes]
        candidates.sort(key=lambda n: (n.name not in required, n.weight, n.index))
    else:
        candidates = _candidates(part, cluster)
    if not required and min_nodes == 1:
        best = best_fit_node(job, part, candidates, free, excluded, exclusive, cpus_wanted, reqs)
        if best is not None:
            candidates.remove(best)
            candidates.insert(0, best)
    chosen: list[tuple[Node, int]] = []  # node, tasks (or cpus when no task count)
    chosen_gres: list[list[int]] = []  # per chosen node: how much of each GRES request
    remaining = tasks if tasks else cpus_wanted
    for node in candidates:
        if len(chosen) >= max_nodes:
            break
        if node.name in excluded or not node.is_usable():
            continue
        f = free.get(node.name)
        if f is None:
            continue
        if exclusive and not f.idle:
            continue
        if job.pn_min_cpus > node.cpus or (job.pn_min_memory & ~MEM_PER_CPU) > node.real_memory:
            continue
        if job.pn_min_tmp_disk > node.tmp_disk:
            continue
        free_cpus = multicore.free_cpus(job, node, f.cores)
        if free_cpus < job.pn_min_cpus:
            continue  # (MinCPUsNode: e.g. raised to fit the job's memory within MaxMemPerCPU)
        inv = f.gres_inv if reqs else None
        if tasks:
            fit = free_cpus // cpt
            if job.ntasks_per_node:
                fit = min(fit, job.ntasks_per_node)
            if inv is not None:
                cap = gres_fit.task_cap(reqs, inv)
                if cap is not None:
                    fit = min(fit, cap)
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
        counts = _NO_COUNTS
        if inv is not None:
            found = gres_fit.node_counts(
                reqs, inv, take if tasks else 1, sockets, per_job_left, node.cores_per_socket
            )
            if found is None:
                continue
            counts = found
            gres_cpus = _gres_cpus(reqs, counts)
            if gres_cpus > free_cpus:
                continue
            if not tasks:
                take = max(take, gres_cpus)
            cpus = max(cpus, gres_cpus)
        cpus = max(cpus, job.pn_min_cpus)
        if exclusive:
            cpus = node.cpus
        else:  # memory per CPU is held for the CPUs of whole cores
            cpus = multicore.counted_cpus(job, node, -(-cpus // multicore.cpus_per_core(job, node)))
        if consumable and _node_mem(job, cpus, reqs, counts) > f.mem:
            continue
        chosen.append((node, take))
        chosen_gres.append(counts)
        remaining -= take
        if counts:
            for i, n in enumerate(counts):
                per_job_left[i] -= n
            if remaining <= 0 and len(chosen) >= min_nodes and all(x <= 0 for x in per_job_left):
                break
        elif remaining <= 0 and len(chosen) >= min_nodes:
            break
    if remaining > 0 or len(chosen) < min_nodes or (reqs and any(x > 0 for x in per_job_left)):
        return None
    if any(r not in {n.name for n, _ in chosen} for r in required):
        return None
    names, cores, cpus_l, mems = [], [], [], []
    uses: list[NodeUses] = []
    for (node, take), counts in zip(chosen, chosen_gres, strict=True):
        f = free[node.name]
        cpus = node.cpus if exclusive else max(take * cpt if tasks else take, job.pn_min_cpus)
        if counts:
            cpus = max(cpus, _gres_cpus(reqs, counts))
        held: NodeUses = ()
        if exclusive:  # a whole node: all its GRES but the shared ones (22.05's whole-node allocation)
            held = gres_fit.whole_node(f.gres_inv) if node.gres_inv else ()
        elif reqs:  # the devices first (those with free cores close by), then the cores close to them
            got = _pick_gres(reqs, counts, f.gres_inv, f.cores)
            if got is None:
                return None
            held = got
        uses.append(held)
        if exclusive:
            picked = tuple(sorted(f.cores))
        elif held:
            picked = _cores_near(job, node, f.cores, cpus, gres_fit.near_cores(f.gres_inv, held))
        else:
            picked = multicore.pick_cores(job, node, f.cores, cpus)
        names.append(node.name)
        cores.append(picked)
        cpus_l.append(node.cpus if exclusive else _cpus_for_cores(node, len(picked)))
        counted = cpus if exclusive else multicore.counted_cpus(job, node, len(picked))
        mems.append(_node_mem(job, counted, reqs, counts) if consumable else 0)
    if not any(uses):
        uses = []
    return Allocation(tuple(names), tuple(cores), tuple(cpus_l), tuple(mems), tuple(uses))


def _cores_near(job: Job, node: Node, free: set[int], cpus: int, near: set[int] | None) -> tuple[int, ...]:
    """The job's cores on a node where it holds devices: those close to the devices first (gres.conf
    Cores=; select/cons_tres restricts the cores to the GRES' sockets when it can), then any."""
    if near is None:
        return multicore.pick_cores(job, node, free, cpus)
    close = free & near
    first = multicore.pick_cores(job, node, close, min(cpus, multicore.free_cpus(job, node, close)))
    got = multicore.counted_cpus(job, node, len(first))
    if got >= cpus:
        return first
    rest = multicore.pick_cores(job, node, free - set(first), cpus - got)
    return tuple(sorted(first + rest))


_NO_COUNTS: list[int] = []  # (a job without GRES: shared, never changed)


def _gres_cpus(reqs: tuple[gres.GresRequest, ...], counts: list[int]) -> int:
    """The CPUs --cpus-per-gpu asks for on a node with ``counts`` of the job's GRES."""
    return max((r.cpus_per_gres * n for r, n in zip(reqs, counts, strict=True) if r.cpus_per_gres), default=0)


def _node_mem(job: Job, cpus: int, reqs: tuple[gres.GresRequest, ...], counts: list[int]) -> int:
    """Memory the job holds on a node: --mem-per-gpu times its GPUs there, else the job's memory."""
    per_gres = sum(r.mem_per_gres * n for r, n in zip(reqs, counts, strict=False) if r.mem_per_gres)
    return per_gres if per_gres else _mem_need(job, cpus)


def _pick_gres(
    reqs: tuple[gres.GresRequest, ...], counts: list[int], inv: dict[str, NodeGres], cores: set[int]
) -> NodeUses | None:
    """The devices of each request on one node: those with free cores close by first (gres.conf
    Cores=), then the lowest free."""
    work = gres.copy_inventory({r.name: inv[r.name] for r in reqs if r.name in inv})
    for name, mine in work.items():  # devices shared and held whole exclude each other
        for b in gres_fit.blocked(inv, name):
            mine.bit_alloc[b] = max(mine.bit_alloc.get(b, 0), mine.configured or 1)
    out: list[gres.GresUse] = []
    for r, n in zip(reqs, counts, strict=True):
        g = work.get(r.name)
        if n <= 0:
            continue
        if g is None:
            return None
        got = gres.take(g, r.type, n, cores)
        if got is None:
            return None
        gres.claim(work, got)
        out.extend(got)
    return tuple(out)


def _names(expr: str) -> list[str]:
    try:
        return hostlists.expand(expr)
    except hostlists.HostlistError:
        return [expr]


def _by_weight(node: Node) -> tuple[int, int]:
    return node.weight, node.index


# id(partition) -> (the partition, its node list, the node table, the weights' generation, its nodes by
# weight then index)
_CANDIDATES: dict[int, tuple[Partition, object, object, int, list[Node]]] = {}


def _candidates(part: Partition, cluster: Cluster) -> list[Node]:
    """A fresh list of the partition's nodes in the order _allocate tries them (none required):
    sorted once per node list, not for each job."""
    hit = _CANDIDATES.get(id(part))
    if (
        hit is not None
        and hit[0] is part
        and hit[1] is part.nodes
        and hit[2] is cluster.node_list
        and hit[3] == cluster.weight_generation
    ):
        return list(hit[4])
    nodes = sorted(cluster.partition_nodes(part), key=_by_weight)
    if len(_CANDIDATES) > 1024:  # partitions come and go (tests build many clusters)
        _CANDIDATES.clear()
    _CANDIDATES[id(part)] = (part, part.nodes, cluster.node_list, cluster.weight_generation, nodes)
    return list(nodes)


@dataclass(frozen=True, slots=True)
class _Held:
    """What a running job (or one the backfill cycle starts) holds until ``end``, its time limit."""

    end: int
    alloc: Allocation

    @classmethod
    def of(cls, job: Job) -> _Held:
        return cls(
            job.end_time or FOREVER,
            Allocation(job.nodes, job.cores_alloc, job.cpus_alloc, job.mem_alloc, job.gres_alloc),
        )


def _running(cluster: Cluster) -> list[_Held]:
    """What the running (and completing) jobs hold, the first to end first."""
    jobs = (j for j in cluster.jobs.values() if j.nodes and (j.is_running() or j.is_completing()))
    return sorted((_Held.of(j) for j in jobs), key=lambda h: h.end)


def _will_run_steps(ends: list[int]) -> list[int]:
    """How many of the jobs ending at ``ends`` (sorted) slurmctld's will-run test has taken away at
    each of its tries: none, then those ending by the first end rounded up to 30 s plus a window of
    30 s, the window doubling each try until it takes another; at last all of them."""
    out = [0]
    if ends:
        first = ends[0] + 30 - ends[0] % 30
        window = 30
        k = 0
        while k < len(ends):
            while ends[k] > first + window:
                window *= 2
            while k < len(ends) and ends[k] <= first + window:
                k += 1
            out.append(k)
    return out


def _earliest_start(
    job: Job,
    part: Partition,
    cluster: Cluster,
    now: int,
    free: FreeMap,
    running: list[_Held],
    reservations: Iterable[_Reservation] = (),
) -> tuple[int, Allocation] | None:
    """When and where the job could start if the running jobs end at their limits and the nodes
    reserved for jobs ahead of it stay theirs while their reservations last.

    The time is the first at which it fits; the nodes are those slurmctld's will-run test gives
    it (select/cons_tres _will_run_test): the running jobs on nodes it may use are taken away, the
    first to end first (in slurmctld's batches, _will_run_steps), until it fits, so it goes where
    the fewest and earliest ends make room."""
    consumable = cluster.memory_is_consumable
    reserved = list(reservations)
    limit = _limit_seconds(job, part)
    ends = {r.end for r in running if 0 < r.end < FOREVER}
    ends.update(res.end for res in reserved if res.end < FOREVER)
    ends.update(r.end_time for r in cluster.reservations.items.values())
    ends.update(r.start_time for r in cluster.reservations.items.values() if job.reservation)
    for t in sorted(e for e in ends if e > now):
        end = t + limit if limit is not None else FOREVER
        exclude = {n for res in reserved if res.start < end and res.end > t for n in res.nodes}
        fence = resv_fence(job, part, cluster, t, end)
        if fence.reason:
            continue
        exclude.update(fence.exclude)
        usable = set(part.nodes) - exclude
        gone = [r for r in running if 0 < r.end <= t and usable.intersection(r.alloc.nodes)]

        def after(k: int, gone: list[_Held] = gone) -> FreeMap:
            sim = free.copy()
            for r in gone[:k]:
                release(sim, r.alloc, consumable)
            return sim

        alloc = try_allocate(job, part, after(len(gone)), cluster, exclude)
        if alloc is None:
            continue
        # the fewest first ends that make room (room only grows as jobs end: halve the range)
        steps = _will_run_steps([r.end for r in gone])
        lo, hi = 0, len(steps) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            got = try_allocate(job, part, after(steps[mid]), cluster, exclude)
            if got is None:
                lo = mid + 1
            else:
                hi, alloc = mid, got
        return t, alloc
    return None


def _limit_seconds(job: Job, part: Partition) -> int | None:
    limit = job.time_limit
    if limit == NO_VAL:
        limit = part.default_time if part.default_time is not None else (part.max_time or INFINITE)
    return None if limit == INFINITE else limit * 60


# -- the cycle --------------------------------------------------------------------------------------


def _snapshot(job: Job) -> tuple[object, ...]:
    return (
        job.state,
        job.start_time,
        job.sched_nodes,
        job.state_reason,
        job.state_desc,
        job.eligible_time,
        job.accrue_time,
        job.last_sched_eval,
        job.dep_text,
        job.dependency,
        job.bitflags,
        job.priority,
    )


def _node_states(cluster: Cluster) -> tuple[object, ...]:
    """What of the nodes makes slurmctld schedule when it changes: a node registering, going down,
    being drained or resumed. A node's allocation (idle, mixed, allocated, completing) does not:
    the end of a job schedules through its epilog's completion. Only the nodes that are not plainly
    up are listed (with the size of the node table), so that the common case builds nothing per node:
    a tuple for each of 5,000 nodes in every pass was 9% of a high-throughput run (py-spy)."""
    up = _UP_STATES
    clear = _CLEAR_NODE_COMPLETING
    nodes = cluster.node_list
    odd = tuple(
        (n.name, -1 if n.base_state in up else n.base_state, n.flags & clear, n.registered)
        for n in nodes
        if n.flags & clear or not n.registered or n.base_state not in up
    )
    return (len(nodes), odd)


_UP_STATES = frozenset({NodeState.IDLE, NodeState.ALLOCATED, NodeState.MIXED})


def array_running(cluster: Cluster) -> dict[int, int]:
    """Running tasks per array job id (what the ``%N`` throttle counts)."""
    out: dict[int, int] = {}
    for j in cluster.jobs.values():
        if j.array_job_id and j.is_running():
            out[j.array_job_id] = out.get(j.array_job_id, 0) + 1
    return out


def plan(cluster: Cluster, now: int, *, max_reservations: int = 100, limits: Limits | None = None) -> Plan:
    """One scheduling cycle: which pending jobs start now, and every pending job's reason.
    ``limits``: accounting's limits for this pass (None: AccountingStorageEnforce is not set)."""
    st = _state(cluster)
    if st.last_backfill == 0:
        st.last_backfill = now
    nodes = _node_states(cluster)
    periodic = now - st.last_full >= SCHED_INTERVAL
    real = st.requested or nodes != st.nodes_seen or periodic
    backfill = now - st.last_backfill >= bf_interval(cluster)
    out = Plan()
    if not real and not backfill:
        return out  # slurmctld would not run a cycle now
    if real:
        st.requested = False
        st.nodes_seen = nodes
        st.last_full = now
    if backfill:
        st.last_backfill = now
    out.cycles = counts = CycleCounts(main=real)
    jobs = cluster.jobs
    pending = sorted(
        (jobs[i] for i in cluster.schedulable if i in jobs and jobs[i].is_pending()), key=lambda j: j.list_seq
    )
    if not pending:
        return out
    before = {j.job_id: _snapshot(j) for j in pending}
    running = array_running(cluster)

    # 1. the queue (build_job_queue)
    queue: list[tuple[Job, Partition]] = []
    independent: set[int] = set()
    for job in pending:
        job.bitflags &= _CLEAR_BACKFILL_SCHED
        if job.accrue_time == 0:
            job.accrue_time = job.eligible_time
        if not _runnable(job, cluster, now, running):
            continue
        independent.add(job.job_id)
        for part in job_partitions(job, cluster):
            reason = limits_reason(job, part, cluster)
            if reason != job.state_reason and (reason != 0 or job.state_reason in _PART_POLICY_REASONS):
                job.state_reason = reason
                job.state_desc = None
            if reason == 0:
                queue.append((job, part))
    queue.sort(key=lambda jp: (resv_first(jp[0]), -jp[1].priority_tier, *sort_key(jp[0])))

    # 2. the main loop (schedule)
    free = free_now(cluster)
    started: set[int] = set()  # job ids started (an array meta record: once all its tasks started)
    planned_tasks: dict[int, int] = {}  # meta record id -> tasks started from it in this cycle
    counts.queue_len = len(queue)
    if real:
        depth = None if periodic else DEFAULT_QUEUE_DEPTH
        counts.depth = _main_loop(
            cluster, now, queue, free, started, planned_tasks, running, out, depth, limits
        )

    # 3. backfill, on its own interval (slurmctld's backfill thread builds the same queue)
    if backfill:
        st.backfill_ran = now
        main_starts = len(out.starts)
        counts.backfill, counts.bf_queue_len = True, len(queue)
        counts.bf_depth = _backfill(
            cluster, now, pending, queue, free, started, planned_tasks, running, out, max_reservations, limits
        )
        counts.backfilled = len(out.starts) - main_starts

    # 4. eligibility (set_job_elig_time, after each main cycle). A job already found independent while
    # the queue was built only needs it again if it is an array's (tasks started since may throttle it).
    if real:
        for job in pending:
            if job.job_id in started or not job.is_pending():
                continue
            if job.job_id in independent and not job.array_job_id:
                continue
            _eligibility(job, cluster, now, running)

    out.reasons_changed = [j for j in pending if _snapshot(j) != before[j.job_id]]
    return out


def _eligibility(job: Job, cluster: Cluster, now: int, running: dict[int, int]) -> None:
    parts = job_partitions(job, cluster)
    if not parts:
        return
    part = parts[0]
    if job.begin_time > now or not part.state_up & 1:
        return
    if job.time_limit != NO_VAL and part.max_time is not None and job.time_limit > part.max_time:
        return
    if job.max_nodes and (
        job.max_nodes < part.min_nodes or (part.max_nodes is not None and job.min_nodes > part.max_nodes)
    ):
        return
    job_independent(job, cluster, now, running)


def _main_loop(
    cluster: Cluster,
    now: int,
    queue: list[tuple[Job, Partition]],
    free: FreeMap,
    started: set[int],
    planned_tasks: dict[int, int],
    running: dict[int, int],
    out: Plan,
    depth: int | None = None,
    limits: Limits | None = None,
) -> int:
    """slurmctld's schedule(): start what fits in priority order; Resources, then Priority.

    ``depth``: a cycle triggered by an event stops after testing that many jobs (None: all of them).
    Returns how many jobs it tested.
    """
    consumable = cluster.memory_is_consumable
    pool = _license_pool(cluster, out)
    tested = 0
    avail = _Open(cluster)
    failed_parts: set[str] = set()
    failed_resvs: set[str] = set()
    reject: tuple[int, str] | None = None
    reject_job: Job | None = None
    for job, part in queue:
        if job.job_id in started:
            continue
        tested += 1
        if depth is not None and tested > depth + 1:
            break
        job.last_sched_eval = now
        while True:
            if job.array_job_id:
                if reject is not None and reject == (job.array_job_id, part.name):
                    break
                reject, reject_job = (job.array_job_id, part.name), job
                if array_limit_reached(job, running):
                    if job.eligible_time <= now:
                        job.eligible_time = 0
                    job.state_reason = R.WAIT_ARRAY_TASK_LIMIT
                    job.state_desc = None
                    break
            if job.reservation and job.reservation in failed_resvs:
                job.state_reason = R.WAIT_PRIORITY
                job.state_desc = None
                break
            if part.name in failed_parts and not job.reservation:
                if job.state_reason in (0, R.WAIT_RESOURCES):
                    job.state_reason = R.WAIT_PRIORITY
                    job.state_desc = None
                break
            held = limits.before(job, part) if limits is not None else None
            if held is not None:  # select_nodes: acct_policy pre_select, part_policy_valid_qos/acct
                job.state_reason, job.state_desc = held
                break
            limit = _limit_seconds(job, part)
            fence = resv_fence(job, part, cluster, now, now + (limit if limit is not None else FOREVER))
            if fence.reason:
                job.state_reason = fence.reason
                job.state_desc = fence.desc
                break
            usable, closed = avail.view(part)
            if job.min_nodes > usable:
                job.state_reason = R.WAIT_RESOURCES
                job.state_desc = NODES_UNAVAILABLE
                failed_parts.add(part.name)
                avail.close(part.nodes)
                break
            if not pool.fits(job):
                job.state_reason = R.WAIT_LICENSES
                job.state_desc = None
                break
            exclude = closed
            if fence.exclude:
                exclude = closed + [n for n in part.nodes if n in fence.exclude and n in avail.names]
            alloc = try_allocate(job, part, free, cluster, exclude)
            if alloc is None and limits is not None:
                # select_nodes tests the TRES limits with the counts asked for even when no nodes were
                # found: an accounting limit replaces Resources, and the partition stays open
                held = limits.after(job, part, job.min_cpus, job.min_nodes)
                if held is not None:
                    job.state_reason, job.state_desc = held
                    break
            if alloc is None:
                unavailable = node_not_avail(job, part, cluster)
                if unavailable is not None:  # (ESLURM_NODE_NOT_AVAIL: the partition stays open)
                    job.state_reason = R.WAIT_NODE_NOT_AVAIL
                    job.state_desc = unavailable
                    break
                if fence.overlap and not _fits_outside(job, part, cluster, fence.exclude):
                    # the nodes it needs are reserved: skip it, the partition stays open
                    job.state_reason = R.WAIT_NODE_NOT_AVAIL
                    job.state_desc = MAY_BE_RESERVED
                    break
                job.state_reason = R.WAIT_RESOURCES
                job.state_desc = None
                required = _names(job.req_nodes) if job.req_nodes else []
                if len(set(required)) >= job.min_nodes:
                    # it names all its nodes: later jobs may not use them, the rest of the partition
                    # stays open (slurmctld's schedule())
                    avail.close(required)
                    break
                if fence.resv is not None:
                    failed_resvs.add(fence.resv)  # other jobs of the partition may still start
                    break
                failed_parts.add(part.name)
                avail.close(part.nodes)
                break
            if limits is not None:  # acct_policy_job_runnable_post_select: the partition stays open
                held = limits.after(job, part, sum(alloc.cpus), len(alloc.nodes))
                if held is not None:
                    job.state_reason, job.state_desc = held
                    break
                limits.started(job, part, sum(alloc.cpus), len(alloc.nodes))
            take(free, alloc, consumable)
            pool.take(job)
            _note_start(job, out, Decision(job, part.name, alloc))
            reject, reject_job = None, None
            if job.array_job_id:
                running[job.array_job_id] = running.get(job.array_job_id, 0) + 1
            if job.is_array_meta():
                n = planned_tasks[job.job_id] = planned_tasks.get(job.job_id, 0) + 1
                if n < len(job.array_task_pending):
                    continue  # try the array's next task
                job.bitflags |= _WAS_RUNNING  # the record itself runs as the last task
            started.add(job.job_id)
            break
        if reject_job is not None and job is not reject_job and job.array_job_id == reject_job.array_job_id:
            job.state_reason = reject_job.state_reason
            job.state_desc = reject_job.state_desc
    return min(tested, depth + 1) if depth is not None else tested


class _Open:
    """The nodes the main loop may still give jobs: usable, and not closed by a job that waits for
    them. Each partition's view of them (how many are open, which are closed) is kept until they
    change: computing it for every job tested was half of a pass at 5,000 nodes (cProfile)."""

    def __init__(self, cluster: Cluster) -> None:
        self.names = {n.name for n in cluster.node_list if n.is_usable()}
        self._views: dict[int, tuple[object, int, list[str]]] = {}

    def close(self, names: Iterable[str]) -> None:
        self.names.difference_update(names)
        self._views.clear()

    def view(self, part: Partition) -> tuple[int, list[str]]:
        hit = self._views.get(id(part))
        if hit is None or hit[0] is not part.nodes:
            closed = [n for n in part.nodes if n not in self.names]
            hit = self._views[id(part)] = (part.nodes, len(part.nodes) - len(closed), closed)
        return hit[1], hit[2]


def _license_pool(cluster: Cluster, out: Plan) -> licenses.Pool:
    """The licenses this cycle may still hand out (those of the starts it decided are gone)."""
    configured = licenses.configured(cluster.config.licenses)
    return licenses.Pool(configured, cluster.jobs.values(), (d.job for d in out.starts))


def _fits_outside(job: Job, part: Partition, cluster: Cluster, reserved: Iterable[str]) -> bool:
    """Could the job run on the partition's nodes left out of reservations, were they all free?"""
    has_gres = bool(gres_fit.requests_of(job))
    empty = FreeMap((n.name, empty_free(n, has_gres)) for n in cluster.node_list if n.name in part.nodes)
    return try_allocate(job, part, empty, cluster, reserved) is not None


def node_not_avail(job: Job, part: Partition, cluster: Cluster) -> str | None:
    """slurmctld's ESLURM_NODE_NOT_AVAIL for a GRES job: its GRES could never fit the partition's
    available nodes but would fit all of them (a type only a drained or down node has). The reason
    ReqNodeNotAvail's text names the partition's unavailable nodes (of those it requires, if any)."""
    if not gres_fit.requests_of(job):
        return None
    nodes = cluster.partition_nodes(part)
    usable = [n for n in nodes if n.is_usable()]
    if len(usable) == len(nodes) or not gres_fit.never_fits(job, usable) or gres_fit.never_fits(job, nodes):
        return None
    down = [n.name for n in nodes if not n.is_usable()]
    if job.req_nodes:
        required = set(_names(job.req_nodes))
        down = [n for n in down if n in required]
    listed = hostlists.compress(down)
    return f"ReqNodeNotAvail, UnavailableNodes:{listed}" if listed else "ReqNodeNotAvail"


def node_guess(job: Job, cluster: Cluster) -> int:
    """The nodes a new job would take were its partition's usable nodes free (job_allocate's
    test-only selection, kept as node_cnt_wag and shown as a pending job's NumNodes); 0: none.

    The answer depends on the job's shape and on which nodes are usable, not on what runs: for a
    plain job (no constraint, node list, GRES or socket/core options) it is remembered per shape
    until a node's usability or the node table changes. Testing every node of the partition at each
    submit was a seventh of flurm's CPU in a high-throughput run."""
    shape = _plain_shape(job)
    if shape is None:
        return _node_guess(job, cluster)
    memo = _GUESSES.get(cluster)
    stamp = (cluster.node_list, cluster.usability_generation)
    if memo is None or memo[0][0] is not stamp[0] or memo[0][1] != stamp[1] or len(memo[1]) > _MAX_SHAPES:
        memo = (stamp, {})
        _GUESSES[cluster] = memo
    parts = job_partitions(job, cluster)
    key = (shape, tuple((p.name, id(p.nodes), p.max_share) for p in parts))
    hit = memo[1].get(key)
    if hit is not None and all(p.nodes is n for p, n in zip(parts, hit[0], strict=True)):
        return hit[1]
    guess = _node_guess(job, cluster)
    memo[1][key] = (tuple(p.nodes for p in parts), guess)
    return guess


# per cluster: ((node list, usability generation), {(shape, partitions): (their node lists, guess)})
_GUESSES: weakref.WeakKeyDictionary[
    Cluster, tuple[tuple[list[Node], int], dict[object, tuple[tuple[object, ...], int]]]
] = weakref.WeakKeyDictionary()
_MAX_SHAPES = 4096  # distinct shapes remembered at once (a submitter choosing shapes costs no memory)


def _plain_shape(job: Job) -> tuple[object, ...] | None:
    """What a job without constraints, node lists, GRES or socket/core options asks for in all that
    the node selection reads; None for any other job."""
    if (
        job.features
        or job.contiguous
        or job.req_nodes
        or job.exc_nodes
        or multicore.has_options(job)
        or gres_fit.requests_of(job)
    ):
        return None
    return (
        job.min_nodes,
        job.max_nodes,
        job.num_tasks,
        job.tasks_set,
        job.ntasks_per_node,
        job.cpus_per_task,
        job.min_cpus,
        job.pn_min_cpus,
        job.pn_min_memory,
        job.pn_min_tmp_disk,
        job.shared,
        job.time_limit,
    )


def _node_guess(job: Job, cluster: Cluster) -> int:
    has_gres = bool(gres_fit.requests_of(job))
    for part in job_partitions(job, cluster):
        usable = (n for n in cluster.node_list if n.name in part.nodes and n.is_usable())
        empty = FreeMap((n.name, empty_free(n, has_gres)) for n in usable)
        exclude = [n for n in part.nodes if n not in empty]
        test = try_allocate(job, part, empty, cluster, exclude)
        if test is not None:
            return len(test.nodes)
    return 0


def _note_start(job: Job, out: Plan, decision: Decision) -> None:
    """A start. A job record that is not an array's meta record is flagged JOB_WAS_RUNNING (a task
    split from a meta record is flagged when it is split out). The accrue time is not touched: a
    job that starts in the cycle that made it eligible never accrued (AccrueTime=Unknown)."""
    if not job.is_array_meta():
        job.bitflags |= _WAS_RUNNING
    out.starts.append(decision)


def _backfill(
    cluster: Cluster,
    now: int,
    pending: list[Job],
    queue: list[tuple[Job, Partition]],
    free: FreeMap,
    started: set[int],
    planned_tasks: dict[int, int],
    running_tasks: dict[int, int],
    out: Plan,
    max_reservations: int,
    limits: Limits | None = None,
) -> int:
    """slurmctld's backfill cycle: every queued job is looked at in priority order (flagged
    BACKFILL_SCHED, "Scheduler=Backfill"); one that fits now without delaying the reservation of a
    job ahead of it starts; any other gets a reservation at its earliest start, which it shows as
    its expected StartTime and SchedNodeList."""
    consumable = cluster.memory_is_consumable
    pool = _license_pool(cluster, out)
    for job in pending:
        if job.job_id not in started:
            job.start_time = 0
            job.end_time = 0
            job.sched_nodes = None
    running = _running(cluster)
    reservations: list[_Reservation] = []
    seen: set[int] = set()
    for job, part in queue:
        if job.job_id in started or job.job_id in seen or not job.is_pending():
            continue
        seen.add(job.job_id)
        job.bitflags |= _BACKFILL_SCHED
        job.last_sched_eval = now
        if array_limit_reached(job, running_tasks) or not pool.fits(job):
            continue
        held = limits.before(job, part) if limits is not None else None
        if held is not None:  # held by a limit: no start, no reservation
            job.state_reason, job.state_desc = held
            continue
        limit = _limit_seconds(job, part)
        end = now + limit if limit is not None else FOREVER
        exclude = {n for r in reservations if end > r.start and r.end > now for n in r.nodes}
        fence = resv_fence(job, part, cluster, now, end)
        if fence.reason:
            job.state_reason = fence.reason
            job.state_desc = fence.desc
        exclude.update(fence.exclude)
        alloc = None if fence.reason else try_allocate(job, part, free, cluster, exclude)
        if limits is not None and not fence.reason:  # (with the counts asked for when nothing fits)
            cpus, nodes = (
                (sum(alloc.cpus), len(alloc.nodes)) if alloc is not None else (job.min_cpus, job.min_nodes)
            )
            held = limits.after(job, part, cpus, nodes)
            if held is not None:
                job.state_reason, job.state_desc = held
                continue
            if alloc is not None:
                limits.started(job, part, cpus, nodes)
        if alloc is not None:
            take(free, alloc, consumable)
            bisect.insort(running, _Held(end, alloc), key=lambda h: h.end)  # (its end frees it again)
            pool.take(job)
            _note_start(job, out, Decision(job, part.name, alloc))
            if job.array_job_id:
                running_tasks[job.array_job_id] = running_tasks.get(job.array_job_id, 0) + 1
            planned_tasks[job.job_id] = planned_tasks.get(job.job_id, 0) + 1
            if not job.is_array_meta() or planned_tasks[job.job_id] >= len(job.array_task_pending):
                job.bitflags |= _WAS_RUNNING
                started.add(job.job_id)
            continue
        if len(reservations) < max_reservations:
            found = _earliest_start(job, part, cluster, now, free, running, reservations)
            if found is not None:
                start, planned = found
                job.start_time = start
                job.sched_nodes = hostlists.compress(planned.nodes)
                res_end = start + limit if limit is not None else FOREVER
                reservations.append(_Reservation(start, set(planned.nodes), res_end))
    return len(seen)


def nodes_with_no_respond(cluster: Cluster) -> list[Node]:
    return [n for n in cluster.node_list if n.flags & NodeStateFlag.NO_RESPOND]

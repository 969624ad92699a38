"""A job's socket, core and thread options (-B, --sockets-per-node, --cores-per-socket,
--threads-per-core, --ntasks-per-core and the --hint that sbatch/srun turn into them), as
select/cons_tres 22.05 honours them with CR_Core.

* A node is eligible only if it has at least the sockets, cores per socket and threads per core the
  job asks for (node_scheduler.c's node filter).
* A job uses at most ``cpus_per_core`` CPUs of each core it gets (common_cpus_per_core: the node's
  threads, bounded by --threads-per-core and by --ntasks-per-core x --cpus-per-task), yet holds whole
  cores: with ThreadsPerCore=2 a --hint=nomultithread job of 2 tasks gets 2 cores, 4 CPUs.
* Of a node's free cores, a job takes them one socket after the other, one core per socket in turn
  (the default cyclic socket distribution of dist_tasks.c); a job of several CPUs per task first
  fills each socket with whole tasks.
* Sockets with fewer free cores than --cores-per-socket are not used, and a node with fewer such
  sockets than --sockets-per-node does not fit (_allocate_sc).

Pure logic over node shapes and core indexes (socket-major, as Job.cores_alloc).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flurm.protocol.constants import INFINITE16, NO_VAL16
from flurm.protocol.messages.job_info import MultiCore
from flurm.state.model import Job, Node

SHAPE_ERROR = "Socket, core and/or thread specification can not be satisfied"


def _given(value: int) -> bool:
    return value not in (NO_VAL16, INFINITE16, 0)


_NOT_GIVEN = frozenset({NO_VAL16, INFINITE16, 0})


def has_options(job: Job) -> bool:
    # asked for every node of every job the scheduler looks at: written out, no generator
    return not (
        job.sockets_per_node in _NOT_GIVEN
        and job.cores_per_socket in _NOT_GIVEN
        and job.threads_per_core in _NOT_GIVEN
        and job.ntasks_per_core in _NOT_GIVEN
    )


def shape_fits(job: Job, node: Node) -> bool:
    """The node has the sockets, cores per socket and threads per core the job asks for."""
    return not (
        (_given(job.sockets_per_node) and job.sockets_per_node > node.sockets)
        or (_given(job.cores_per_socket) and job.cores_per_socket > node.cores_per_socket)
        or (_given(job.threads_per_core) and job.threads_per_core > node.threads_per_core)
    )


def cpus_per_core(job: Job, node: Node) -> int:
    """CPUs of each allocated core the job may use on ``node``."""
    usable = node.threads_per_core
    if _given(job.ntasks_per_core):
        usable = min(usable, job.ntasks_per_core * max(1, job.cpus_per_task))
    if _given(job.threads_per_core):
        usable = min(usable, job.threads_per_core)
    return max(1, usable)


def _by_socket(node: Node, cores: Iterable[int]) -> list[list[int]]:
    per = max(1, node.cores_per_socket)
    sockets: list[list[int]] = [[] for _ in range(max(1, node.sockets))]
    for c in sorted(cores):
        sockets[min(c // per, len(sockets) - 1)].append(c)
    return sockets


def usable_cores(job: Job, node: Node, free: Iterable[int]) -> list[int]:
    """The free cores the job may use: those of sockets with at least --cores-per-socket of them;
    none if fewer than --sockets-per-node such sockets are left."""
    sockets = _by_socket(node, free)
    need = job.cores_per_socket if _given(job.cores_per_socket) else 1
    kept = [s for s in sockets if len(s) >= need]
    if _given(job.sockets_per_node) and len(kept) < job.sockets_per_node:
        return []
    return [c for s in kept for c in s]


def free_cpus(job: Job, node: Node, free: set[int]) -> int:
    """The CPUs the job may use of a node's free cores."""
    if not has_options(job):
        return len(free) * node.threads_per_core
    if not shape_fits(job, node):
        return 0
    return len(usable_cores(job, node, free)) * cpus_per_core(job, node)


def pick_cores(job: Job, node: Node, free: Iterable[int], cpus: int) -> tuple[int, ...]:
    """The cores giving the job ``cpus`` usable CPUs on ``node`` (dist_tasks.c's cyclic core sync)."""
    vpus = cpus_per_core(job, node)
    sockets = _by_socket(node, usable_cores(job, node, free))
    taken: list[int] = []
    cpt = max(1, job.cpus_per_task)
    if cpt > 1:
        # whole tasks on one socket first
        for s in sockets:
            room = len(s) * vpus
            room -= room % cpt
            while s and room > 0 and cpus > 0:
                taken.append(s.pop(0))
                room -= vpus
                cpus -= vpus
    while cpus > 0 and any(sockets):
        for s in sockets:
            if cpus <= 0:
                break
            if s:
                taken.append(s.pop(0))
                cpus -= vpus
    return tuple(sorted(taken))


def counted_cpus(job: Job, node: Node, cores: int) -> int:
    """The CPUs ``cores`` of the node count for the job's tasks and its memory per CPU: each core's
    threads, or as many as --threads-per-core asked for."""
    tpc = node.threads_per_core
    if _given(job.threads_per_core):
        tpc = min(tpc, job.threads_per_core)
    return cores * tpc


def step_cpus_per_core(step_threads_per_core: int, job: Job, node: Node) -> int:
    """CPUs a step uses of each core it takes: its own --threads-per-core (or --hint), else its job's,
    else all the node's threads (step_mgr.c when it picks a step's cores)."""
    tpc = node.threads_per_core
    if _given(step_threads_per_core):
        tpc = min(tpc, step_threads_per_core)
    elif _given(job.threads_per_core):
        tpc = min(tpc, job.threads_per_core)
    return max(1, tpc)


def cpu_array(job: Job, nodes: Mapping[str, Node]) -> tuple[int, ...]:
    """The job's CPUs per node as its tasks count them (job_resources' cpu_array, the launch's and
    SLURM_JOB_CPUS_PER_NODE): with --threads-per-core below a node's threads, its cores times the
    threads it asked for; NumCPUs still counts whole cores."""
    tpc = job.threads_per_core
    if not _given(tpc):
        return job.cpus_alloc
    out = list(job.cpus_alloc)
    for i, name in enumerate(job.nodes[: len(out)]):
        node = nodes.get(name)
        if node is not None and tpc < node.threads_per_core and i < len(job.cores_alloc):
            out[i] = counted_cpus(job, node, len(job.cores_alloc[i]))
    return tuple(out)


def take_saved(job: Job, mc: MultiCore | None, pn_min_tmp_disk: int) -> None:
    """The options of a job slurmctld kept (its record or its saved state), for a job imported."""
    if mc is not None:
        job.sockets_per_node, job.cores_per_socket = mc.sockets_per_node, mc.cores_per_socket
        job.threads_per_core, job.ntasks_per_core = mc.threads_per_core, mc.ntasks_per_core
    job.pn_min_tmp_disk = pn_min_tmp_disk

"""When and where a job would start (``sbatch --test-only``), as slurmctld's job_start_data.

Only the running jobs count, each ending at its time limit (select_g_job_test in WILL_RUN mode);
then the pending jobs of the partition whose priority is at least the job's push the estimate
back by the CPU-minutes they ask for, spread over the partition's CPUs (_delayed_job_start_time).
"""

from __future__ import annotations

from dataclasses import dataclass

from flurm.protocol.constants import NO_VAL
from flurm.scheduler.free import free_now
from flurm.scheduler.scheduler import _earliest_start, _running, job_partitions, try_allocate
from flurm.state.cluster import Allocation, Cluster
from flurm.state.model import Job, Partition


@dataclass(frozen=True, slots=True)
class WillRun:
    start_time: int
    partition: str
    alloc: Allocation


def will_run(job: Job, cluster: Cluster, now: int) -> WillRun | None:
    """The first of the job's partitions where it could run, or None if none could hold it."""
    running = _running(cluster)
    for part in job_partitions(job, cluster):
        free = free_now(cluster)
        start_res = max(job.begin_time, now)
        alloc = try_allocate(job, part, free, cluster)
        start = now
        if alloc is None:
            later = _earliest_start(job, part, cluster, now, free, running)
            if later is None:
                continue
            start, alloc = later
        start += _delay_for_pending(job, part, cluster)
        return WillRun(max(start, start_res), part.name, alloc)
    return None


def _delay_for_pending(job: Job, part: Partition, cluster: Cluster) -> int:
    nodes = [cluster.nodes[n] for n in part.nodes if n in cluster.nodes]
    part_cpus = sum(n.cpus for n in nodes)
    if not nodes or not part_cpus:
        return 0
    cpus_per_node = part_cpus // len(nodes) if part_cpus > len(nodes) else 1
    part_max = part.max_time if part.max_time is not None else 0xFFFFFFFE
    space = 0
    for other in cluster.jobs.values():
        if (
            not other.is_pending()
            or other is job
            or other.partition != part.name
            or other.priority < job.priority
        ):
            continue
        size = max(other.min_cpus, other.min_nodes * cpus_per_node)
        minutes = part_max if other.time_limit == NO_VAL else other.time_limit
        space += size * minutes
    return space // part_cpus * 60

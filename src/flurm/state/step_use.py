"""What a job's running steps use of its CPUs (step_mgr.c _step_alloc_lps, stepmgr.c from 24.11).

Per step node slurmctld gives a step CPUs and counts them against its job:

- a step without ``--exact`` (srun sets SSF_WHOLE then: 22.05's default srun, and from 24.11 one
  without -c or --cpus-per-gpu) gets all the job's CPUs on the node;
- otherwise its tasks there times its CPUs per task, or (from 24.11) what its --cpus-per-gpu give:
  cpus_per_gres times the GRES it got on the node, at least one per task. 22.05 ignores
  --cpus-per-gpu here;
- a step asking fewer threads per core than the node has pays whole cores for its CPUs.

The step's CPU count (``scontrol show step`` CPUs=, its TRES cpu=) is the sum over its nodes. The
job's ``cpus_used`` adds them up per node (from 24.11 rounded up to whole cores), ``--overlap=force``
steps not counted; its ``core_bitmap_used`` marks the cores the steps picked, but for a step that asked
exactly the job's CPU count without --overcommit: slurmctld gives it the job's core bitmap as it is and
marks nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flurm.protocol.constants import INFINITE16, NO_VAL16, SLURM_24_11_PROTOCOL_VERSION
from flurm.protocol.messages.steps import SSF_OVERLAP_FORCE
from flurm.state.model import Job, Node


def _given(value: int) -> bool:
    return value not in (NO_VAL16, INFINITE16, 0)


@dataclass(frozen=True, slots=True)
class NodeCpus:
    """A step's CPUs on one node: what it was given and what counts against its job there."""

    alloc: int
    used: int


def node_cpus(
    *,
    whole: bool,
    overlap_force: bool,
    job_cpus: int,
    tasks: int,
    cpus_per_task: int,
    gres_cpus: int,
    cpus_per_tres: bool,
    step_threads_per_core: int,
    job_threads_per_core: int,
    node_threads: int,
    version: int,
) -> NodeCpus:
    """The CPUs of one step node (_step_alloc_lps). ``gres_cpus``: cpus_per_gres times the GRES the
    step got on the node; ``cpus_per_tres``: the step asked --cpus-per-gpu (its CPUs per task are then
    0 from 24.11)."""
    newer = version >= SLURM_24_11_PROTOCOL_VERSION
    if whole:
        alloc = job_cpus
    else:
        cpt = 0 if (newer and cpus_per_tres) else cpus_per_task
        alloc = tasks * cpt
        if newer and gres_cpus:
            alloc = max(gres_cpus, tasks)
        req_tpc = step_threads_per_core if _given(step_threads_per_core) else job_threads_per_core
        if _given(req_tpc) and req_tpc < node_threads:
            alloc = -(-alloc // req_tpc) * node_threads
    if overlap_force:
        used = 0
    elif newer:
        used = -(-alloc // node_threads) * node_threads if node_threads > 1 else alloc
    else:
        used = alloc
    return NodeCpus(alloc, used)


def marks_cores(*, cpu_count: int, overcommit: bool, job_cpus: int, overlap_force: bool) -> bool:
    """Whether the step's cores go in its job's core_bitmap_used: not when it asked (cpu_count as srun
    sent it) all the job's CPUs without --overcommit (it then holds the job's bitmap as it is), nor
    for --overlap=force."""
    if overlap_force:
        return False
    return overcommit or cpu_count != job_cpus


def job_use(job: Job, nodes: Mapping[str, Node]) -> tuple[tuple[int, ...], tuple[tuple[int, ...], ...]]:
    """(cpus_used, cores used) per job node from the job's running steps (``Job.steps`` as saved:
    each step's nodes, cores, flags, cpus_used and marks_cores)."""
    index = {name: i for i, name in enumerate(job.nodes)}
    used = [0] * len(job.nodes)
    cores: list[set[int]] = [set() for _ in job.nodes]
    steps: Sequence[Any] = (job.steps or {}).get("steps", [])
    for s in steps:
        if not isinstance(s, dict) or int(s.get("flags", 0)) & SSF_OVERLAP_FORCE:
            continue
        step_nodes = list(s.get("nodes", []))
        step_cores = list(s.get("cores", []))
        counted = s.get("cpus_used")
        for k, name in enumerate(step_nodes):
            i = index.get(name)
            if i is None:
                continue
            mine = [int(c) for c in step_cores[k]] if k < len(step_cores) else []
            if counted is not None:
                used[i] += int(counted[k]) if k < len(counted) else 0
            else:
                # a step saved before its CPUs were kept: its cores' threads
                node = nodes.get(name)
                used[i] += len(mine) * (node.threads_per_core if node is not None else 1)
            if s.get("marks_cores", True):
                cores[i].update(mine)
    return tuple(used), tuple(tuple(sorted(c)) for c in cores)


__all__ = ["NodeCpus", "job_use", "marks_cores", "node_cpus"]

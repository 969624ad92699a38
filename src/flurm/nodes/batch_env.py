"""What the controller writes into a batch job's launch, per release of the slurmd it goes to.

From 24.11 slurmctld sets, at launch, variables that 22.05's sbatch set itself (job_scheduler.c
_set_job_env): SLURM_JOB_NAME, SLURM_OPEN_MODE, SLURM_JOB_DEPENDENCY. 26.05 adds
SLURM_JOB_OVERSUBSCRIBE, SLURM_JOB_EXCLUSIVE and SLURM_TASKS_PER_NODE (its slurmstepd no longer
computes that one), and expects a standard output path: a job that names none gets the default
(slurm-%j.out, slurm-%A_%a.out for an array task) as 26.05's slurmctld stores it at submit; its
slurmstepd fails a batch step without one. flurm talks to each slurmd as that release's slurmctld
does; to a 22.05 slurmd the launch is as before.
"""

from __future__ import annotations

from collections.abc import Sequence

from flurm.controller.job_env import cpus_per_node_text
from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
from flurm.state.model import Job

OPEN_MODE_APPEND = 1
SHARED_FORCE = 0x8000
DEFAULT_STDOUT = "slurm-%j.out"
DEFAULT_ARRAY_STDOUT = "slurm-%A_%a.out"


def std_out(job: Job, version: int) -> str | None:
    """The launch's standard output path (26.05's slurmstepd needs one)."""
    if job.std_out or version < SLURM_26_05_PROTOCOL_VERSION:
        return job.std_out
    return DEFAULT_ARRAY_STDOUT if job.array_task_id != NO_VAL else DEFAULT_STDOUT


def oversubscribe(job: Job, max_share: int) -> str:
    """get_job_oversubscribe_value as job_oversubscribe_string prints it."""
    if job.shared == 1:
        return "YES"
    if job.shared == NO_VAL16 and (max_share & ~SHARED_FORCE > 1 or max_share & SHARED_FORCE):
        return "OK"
    return "NO"


def exclusive(job: Job, max_share: int) -> str:
    """get_job_exclusive_display_value as job_exclusive_display_string prints it."""
    if job.shared == 1:
        return "NO"
    if job.shared == 0 or max_share == 0:
        return "NODE"
    return "NO"


def tasks_per_node(job: Job, cpus: Sequence[int]) -> str:
    """The batch allocation's tasks per node, block-distributed as slurm_step_layout_create does:
    -n tasks (else one per CPUs-per-task share of each node), one on each node first, then each
    node filled up to its CPUs, the rest round the nodes."""
    cpt = max(1, job.cpus_per_task)
    room = [max(1, c // cpt) for c in cpus]
    total = job.num_tasks if job.tasks_set else sum(room)
    tasks = [0] * len(cpus)
    left = total
    for i in range(len(cpus)):
        if left:
            tasks[i], left = 1, left - 1
    for i in range(len(cpus)):
        more = min(left, room[i] - tasks[i])
        if more > 0:
            tasks[i], left = tasks[i] + more, left - more
    i = 0
    while left and cpus:
        tasks[i % len(cpus)] += 1
        left, i = left - 1, i + 1
    return cpus_per_node_text(tuple(tasks))


def launch_environment(
    job: Job, cpus: Sequence[int], max_share: int, version: int, stored: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The job's environment as the slurmctld of ``version`` sends it (env_array_overwrite: a
    variable already there keeps its place); ``stored``: the environment read back from the store
    (Job.environment_in_store)."""
    env = list(job.environment if stored is None else stored)
    if version < SLURM_24_11_PROTOCOL_VERSION:
        return tuple(env)
    added: list[tuple[str, str]] = []
    if job.name:
        added.append(("SLURM_JOB_NAME", job.name))
    if version >= SLURM_26_05_PROTOCOL_VERSION:
        added += [
            ("SLURM_JOB_OVERSUBSCRIBE", oversubscribe(job, max_share)),
            ("SLURM_JOB_EXCLUSIVE", exclusive(job, max_share)),
        ]
    if job.open_mode:
        added.append(("SLURM_OPEN_MODE", "a" if job.open_mode == OPEN_MODE_APPEND else "t"))
    if job.dependency:
        added.append(("SLURM_JOB_DEPENDENCY", job.dependency))
    if version >= SLURM_26_05_PROTOCOL_VERSION and cpus:
        added.append(("SLURM_TASKS_PER_NODE", tasks_per_node(job, cpus)))
    for name, value in added:
        item = f"{name}={value}"
        at = next((i for i, e in enumerate(env) if e.startswith(f"{name}=")), None)
        if at is None:
            env.append(item)
        else:
            env[at] = item
    return tuple(env)

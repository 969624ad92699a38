"""scontrol suspend/resume (REQUEST_SUSPEND 5014) as slurmctld 22.05 (job_suspend2, _job_suspend_op).

Operators only. A running job is stopped on its nodes (REQUEST_SUSPEND_INT to each slurmd),
becomes SUSPENDED with priority 0 (so that nothing resumes it but an operator), and its run so far
is kept in SecsPreSuspend; its time limit does not run while it is suspended. Resumed, it gets a
new priority and its end time moves to now + its limit - the time it has already run.

As select/cons_tres, a suspended job's cores (not its memory) are free for other jobs meanwhile;
resumed, it takes them again, even if another job started on them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flurm.errors import SlurmError
from flurm.protocol.constants import INFINITE, NO_VAL, JobState, MsgType, SlurmRC
from flurm.protocol.messages.job_control import JobArrayError
from flurm.protocol.messages.jobctl import RESUME_JOB, SUSPEND_JOB, SuspendInt, SuspendRequest
from flurm.state.jobids import parse_job_id
from flurm.state.model import Job
from flurm.state.tasks import TaskSet

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def suspend_request(
    ctl: Controller, op: int, job_id: int, job_id_str: str | None, uid: int
) -> tuple[int, list[JobArrayError] | None]:
    """REQUEST_SUSPEND: (rc, per-task results for a whole array or tasks, else None)."""
    if not ctl.is_admin(uid):
        return SlurmRC.ESLURM_ACCESS_DENIED, None
    if not job_id_str:
        job = ctl.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID, None
        return suspend_job(ctl, job, op), None
    if "+" in job_id_str:
        return SlurmRC.ESLURM_NOT_WHOLE_HET_JOB, None
    try:
        target = parse_job_id(job_id_str, ctl.config.max_array_size)
    except SlurmError as exc:
        return exc.rc, None
    jobs = ctl.cluster.jobs
    if target.tasks is None:
        job = jobs.get(target.job_id)
        if job is not None and (job.array_job_id == 0 or job.array_job_id != target.job_id):
            return suspend_job(ctl, job, op), None
        records = [j for j in jobs.values() if j.array_job_id == target.job_id]
        if not records:
            return SlurmRC.ESLURM_INVALID_JOB_ID, None
        records.sort(key=lambda j: (j.job_id != target.job_id, -j.job_id))
        answered = [(_tasks_of(j), suspend_job(ctl, j, op)) for j in records]
        return 0, _group(target.job_id, answered)
    answered = []
    for task_id in target.tasks:
        found = next(
            (j for j in jobs.values() if j.array_job_id == target.job_id and task_id in _tasks_of(j)), None
        )
        rc = SlurmRC.ESLURM_INVALID_JOB_ID if found is None else suspend_job(ctl, found, op)
        answered.append((TaskSet.of((task_id,)), rc))
    return 0, _group(target.job_id, answered)


def names_no_job(ctl: Controller, job_id: int, job_id_str: str | None) -> bool:
    """No record has the job id the request starts with (what slurmctld looks up first)."""
    if job_id == NO_VAL and job_id_str:
        digits = re.match(r"\s*[+-]?\d+", job_id_str)
        job_id = int(digits.group()) if digits else 0
    return job_id not in ctl.cluster.jobs


def suspend_job(ctl: Controller, job: Job, op: int) -> int:
    """One job record (slurmctld's _job_suspend: the salloc or srun owning the job hears of the
    operation whatever comes of it, then _job_suspend_op for a suspension by an operator)."""
    _tell_owner(ctl, job, op)
    if job.is_pending():
        return SlurmRC.ESLURM_JOB_PENDING
    if job.is_finished():
        return SlurmRC.ESLURM_ALREADY_DONE
    now = ctl.now()
    if op == SUSPEND_JOB:
        if job.base_state == JobState.SUSPENDED:
            job.priority = 0
            ctl.cluster.job_changed(job)
            return 0
        if not job.is_running():
            return SlurmRC.ESLURM_JOB_NOT_RUNNING
        _tell_nodes(ctl, job, op)
        _lend_cores(ctl, job, release=True)
        job.state = JobState.SUSPENDED | (job.state & ~0xFF)
        job.priority = 0
        job.pre_sus_time += now - (job.suspend_time or job.start_time)
    elif op == RESUME_JOB:
        if job.base_state != JobState.SUSPENDED:
            return SlurmRC.ESLURM_JOB_NOT_SUSPENDED
        _tell_nodes(ctl, job, op)
        _lend_cores(ctl, job, release=False)
        if job.priority == 0:
            ctl.priority.set_job_prio(job)
        job.state = JobState.RUNNING | (job.state & ~0xFF)
        part = ctl.cluster.partitions.get(job.partition)
        limit = job.limit_seconds(part.max_time if part else None)
        if limit is not None and job.time_limit != INFINITE:
            job.end_time = now + limit - job.pre_sus_time
    else:
        return SlurmRC.ESLURM_NOT_SUPPORTED
    job.suspend_time = now
    ctl.cluster.job_changed(job)
    ctl.accounting.job_suspended(job)  # _job_suspend_op: both ways
    if op == SUSPEND_JOB:
        ctl.jobs.wake()
    return 0


def _lend_cores(ctl: Controller, job: Job, *, release: bool) -> None:
    """select/cons_tres's suspend/resume of a job: its cores (not its memory) are given back to its
    nodes for other jobs, or taken again (even if another job uses them meanwhile)."""
    if job.cores_released != release:
        for i, name in enumerate(job.nodes):
            node = ctl.cluster.nodes.get(name)
            if node is None:
                continue
            if release:
                cores, cpus = ctl.cluster.cores_to_free(node, job, i)
                node.alloc_cores.difference_update(cores)
                node.alloc_cpus = max(0, node.alloc_cpus - cpus)
            else:
                # (cores another job took meanwhile are shared, counted once)
                mine = set(job.cores_alloc[i]) if i < len(job.cores_alloc) else set()
                cpus = job.cpus_alloc[i] if i < len(job.cpus_alloc) else 0
                new = mine - node.alloc_cores
                node.alloc_cores.update(new)
                node.alloc_cpus += cpus * len(new) // len(mine) if mine else cpus
            node.refresh_base_state()
        job.cores_released = release
        ctl.cluster.last_node_update = ctl.now()


def _tell_nodes(ctl: Controller, job: Job, op: int) -> None:
    """REQUEST_SUSPEND_INT to every node of the job, not resent (slurmctld's _suspend_job)."""
    for name in job.nodes:
        ctl.agent.send_to_node(name, MsgType.REQUEST_SUSPEND_INT, SuspendInt(job.job_id, op))


def _tell_owner(ctl: Controller, job: Job, op: int) -> None:
    """SRUN_REQUEST_SUSPEND to the srun/salloc that owns the allocation (srun_job_suspend); salloc
    says "job has been suspended" (or resumed) with -v, srun says nothing."""
    table = ctl.steps.table(job) if job.steps else None
    if table is None or not table.resp_host or not table.other_port:
        return
    body = SuspendRequest(op, job.job_id)
    ctl.spawn(
        ctl.steps._tell_srun(job, table.resp_host, table.other_port, MsgType.SRUN_REQUEST_SUSPEND, body)
    )


def _tasks_of(job: Job) -> TaskSet:
    return job.array_task_pending if job.is_array_meta() else TaskSet.of((job.array_task_id,))


def _group(array_id: int, answered: list[tuple[TaskSet, int]]) -> list[JobArrayError]:
    from flurm.controller.jobs import _array_errors

    return _array_errors(array_id, answered)

"""Job control with slurmctld 22.05's rules: the batch script, ``scontrol top``, ``scontrol notify``.

Each function returns what the handler answers: a body or the return code slurmctld refuses with.
"""

from __future__ import annotations

import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from flurm.protocol.constants import NICE_OFFSET, NO_VAL, MsgType, SlurmRC
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.jobctl import JobNotify, SrunUserMsg
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

_TOP_ID = re.compile(r"^(\d+)(?:_(\*|\d+))?$")


def batch_script(ctl: Controller, job_id: int, uid: int) -> str | int:
    """REQUEST_BATCH_SCRIPT (_slurm_rpc_dump_batch_script): the owner's or an operator's."""
    job = ctl.cluster.jobs.get(job_id)
    if job is None:
        return SlurmRC.ESLURM_INVALID_JOB_ID
    if job.user_id != uid and not ctl.is_admin(uid):
        return SlurmRC.ESLURM_USER_ID_MISSING
    if not job.script:  # an allocation (srun/salloc), or an imported job's script not fetched
        return SlurmRC.ESLURM_JOB_SCRIPT_MISSING
    return job.script


def top(ctl: Controller, job_id_str: str | None, uid: int) -> int:
    """REQUEST_TOP_JOB (job_set_top, _set_top): the named pending jobs take the highest priorities
    among their owner's pending jobs of the same partition, in the order named; the others give up
    as much through their nice values. Users may only with SchedulerParameters=enable_user_top."""
    admin = ctl.is_admin(uid)
    params = ctl.config.scheduler_parameters or ""
    if not admin and "enable_user_top" not in params.lower():
        return SlurmRC.ESLURM_ACCESS_DENIED
    named: list[Job] = []
    for token in (job_id_str or "").split(","):
        m = _TOP_ID.match(token)
        if m is None or int(m.group(1)) == 0:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        found = _find(ctl, int(m.group(1)), m.group(2))
        if found is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        named.append(found)
    if not named:
        return SlurmRC.ESLURM_INVALID_JOB_ID
    tops: list[Job] = []
    soft_rc = 0
    for job in named:
        if job.user_id != uid and not admin:
            return SlurmRC.ESLURM_ACCESS_DENIED
        if not job.is_pending():
            soft_rc = SlurmRC.ESLURM_JOB_NOT_PENDING
            continue
        if "," in job.partition:
            return SlurmRC.ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
        if job.priority == 0:
            soft_rc = SlurmRC.ESLURM_JOB_HELD
            continue
        if job not in tops:
            tops.append(job)
    if not tops:
        return soft_rc
    first = tops[0]
    others = [
        j
        for j in sorted(ctl.cluster.jobs.values(), key=lambda j: (j.list_seq, j.job_id))
        if j not in tops
        and j.priority > 1
        and j.is_pending()
        and "," not in j.partition
        and j.partition == first.partition
        and j.user_id == first.user_id
        and j.qos == first.qos
        and j.account == first.account
    ]
    priorities = sorted((j.priority for j in [*tops, *others]), reverse=True)
    last = NO_VAL
    total_delta = 0
    for job, prio in zip(tops, priorities, strict=False):
        if last != NO_VAL and prio == last and last > 2:
            prio = last - 1  # never below 1: a priority of 0 would be a hold
        last = prio
        delta_prio = prio - job.priority
        delta_nice = min(job.nice + NICE_OFFSET, delta_prio)
        total_delta += delta_nice
        job.priority = prio
        job.nice -= delta_nice
        ctl.cluster.job_changed(job)
    count = len(others)
    for job in others:
        delta_prio = int(total_delta / count)  # C's integer division truncates toward zero
        prio = job.priority - delta_prio
        if prio >= last:
            prio = last - 1
            delta_prio = job.priority - prio
        job.priority = prio
        job.nice += delta_prio
        ctl.cluster.job_changed(job)
        total_delta -= delta_prio
        count -= 1
        if count == 0:
            break
    ctl.jobs.wake()
    return soft_rc


def _find(ctl: Controller, job_id: int, task: str | None) -> Job | None:
    jobs = ctl.cluster.jobs
    if task is None or task == "*":
        return jobs.get(job_id)
    task_id = int(task)
    for job in jobs.values():
        if job.array_job_id != job_id:
            continue
        if job.array_task_id == task_id or (job.is_array_meta() and task_id in job.array_task_pending):
            return job
    return None


def tell_srun(ctl: Controller, job: Job, message: str | None) -> Coroutine[Any, Any, None] | None:
    """SRUN_USER_MSG to the srun/salloc that owns the job (to be awaited or spawned), or None if none."""
    table = ctl.steps.table(job) if job.steps else None
    if table is None or not table.resp_host or not table.other_port:
        return None
    to_srun = SrunUserMsg(job.job_id, message)
    return ctl.steps._tell_srun(job, table.resp_host, table.other_port, MsgType.SRUN_USER_MSG, to_srun)


def notify(ctl: Controller, job_id: int, message: str | None, uid: int) -> int:
    """REQUEST_JOB_NOTIFY (srun_user_message): to the srun/salloc that owns the job, or, for a
    running batch job, to its first node, whose slurmd writes it to the job's output."""
    job = ctl.cluster.jobs.get(job_id)
    if job is None:
        return SlurmRC.ESLURM_INVALID_JOB_ID
    if job.user_id != uid and not ctl.is_admin(uid):
        return SlurmRC.ESLURM_USER_ID_MISSING
    if not job.is_pending() and not job.is_running():
        return SlurmRC.ESLURM_ALREADY_DONE
    told = tell_srun(ctl, job, message)
    if told is not None:
        ctl.spawn(told)
        return 0
    if job.script is not None and job.is_running() and job.nodes:
        body = JobNotify(StepId(job.job_id, NO_VAL, NO_VAL), message)
        ctl.agent.send_to_node(job.nodes[0], MsgType.REQUEST_JOB_NOTIFY, body)
        return 0
    return SlurmRC.ESLURM_DISABLED

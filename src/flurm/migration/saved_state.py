"""Merging slurmctld's saved state into flurm at the takeover.

After slurmctld has shut down, its StateSaveLocation holds everything it acknowledged: the job table
(job_state), its job id sequence, and each job's script and environment (hash.N/job.ID/). flurm takes
from it what the mirror could not have: jobs accepted after the last mirror pass, jobs whose state
moved on since, and the scripts and environments that pending jobs need to be launched by flurm.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import hostlist

from flurm.migration import statefile
from flurm.protocol.constants import (
    INFINITE,
    MEM_PER_CPU,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    JobFlag,
    JobStateReason,
)
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.tasks import EMPTY, TaskSet

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort

log = logging.getLogger("flurm.takeover")


def _expand(nodes: str | None) -> tuple[str, ...]:
    if not nodes:
        return ()
    try:
        return tuple(hostlist.expand_hostlist(nodes))
    except hostlist.BadHostlist:
        return (nodes,)


def job_from_saved(saved: statefile.SavedJob, cluster: Cluster) -> Job:
    """A flurm job from slurmctld's saved record of it."""
    d = saved.details
    nodes = _expand(saved.nodes)
    cores: tuple[tuple[int, ...], ...] = ()
    cpus: tuple[int, ...] = ()
    mem: tuple[int, ...] = ()
    res = saved.job_resources
    if res is not None and nodes:
        cores = res.cores_by_node()
        cpus = tuple(res.cpus)
        mem = tuple(res.memory_allocated)
    pending_tasks = EMPTY
    size_hint = 0
    max_run = 0
    if saved.array is not None:
        if saved.array.task_id_bitmap is not None:
            pending_tasks = TaskSet(saved.array.task_id_bitmap.value)
            size_hint = saved.array.task_id_bitmap.size
        max_run = saved.array.max_run_tasks
    cpt = d.cpus_per_task_value if d else 1
    flags = saved.bit_flags
    job = Job(
        job_id=saved.job_id,
        name=saved.name or "",
        user_id=saved.user_id,
        group_id=saved.group_id,
        partition=saved.partition,
        argv=tuple(d.argv) if d else (),
        spank_job_env=tuple(saved.spank_job_env),
        work_dir=(d.work_dir if d and d.work_dir else "/"),
        std_in=d.std_in if d else None,
        std_out=d.std_out if d else None,
        std_err=d.std_err if d else None,
        open_mode=d.open_mode if d else 0,
        min_nodes=max(1, d.min_nodes) if d else 1,
        max_nodes=d.max_nodes if d else 0,
        num_tasks=(d.num_tasks if d and d.num_tasks else max(1, d.min_nodes if d else 1)),
        tasks_set=bool(flags & JobFlag.JOB_NTASKS_SET),
        cpus_per_task=cpt,
        cpus_set=bool(d and d.cpus_per_task != NO_VAL16),
        ntasks_per_node=(d.ntasks_per_node if d and d.ntasks_per_node != NO_VAL16 else 0),
        min_cpus=max(1, d.min_cpus) if d else 1,
        pn_min_cpus=d.pn_min_cpus if d else 1,
        pn_min_memory=(d.pn_min_memory if d and d.pn_min_memory not in (NO_VAL,) else 0),
        mem_set=bool(flags & JobFlag.JOB_MEM_SET),
        time_limit=saved.time_limit,
        time_min=saved.time_min,
        shared=(d.share_res if d and d.share_res in (0, 1) else NO_VAL16),
        contiguous=d.contiguous if d else 0,
        requeue=d.requeue if d else 1,
        features=d.features if d else None,
        req_nodes=d.req_nodes if d else None,
        exc_nodes=d.exc_nodes if d else None,
        account=saved.account,
        comment=saved.comment,
        reservation=saved.resv_name,
        licenses=saved.licenses,
        mail_type=saved.mail_type,
        mail_user=saved.mail_user,
        begin_time=d.begin_time if d else 0,
        deadline=saved.deadline,
        nice=(d.nice - NICE_OFFSET) if d else 0,
        dependency=(d.dependency.split("(")[0] if d and d.dependency else None),
        dep_state="waiting" if d and d.dependency else "none",
        dep_text=d.dependency if d else None,
        submit_line=d.submit_line if d else None,
        alloc_node=saved.alloc_node,
        alloc_sid=saved.alloc_sid,
        bitflags=flags,
        cpus_per_tres=saved.cpus_per_tres,
        mem_per_tres=saved.mem_per_tres,
        tres_per_job=saved.tres_per_job,
        tres_per_node=saved.tres_per_node,
        tres_per_socket=saved.tres_per_socket,
        tres_per_task=saved.tres_per_task,
        array_job_id=saved.array_job_id,
        array_task_id=saved.array_task_id,
        array_task_pending=pending_tasks if saved.array_task_id == NO_VAL else EMPTY,
        array_max_tasks=max_run,
        array_size_hint=size_hint,
        state=saved.job_state,
        state_reason=saved.state_reason,
        state_desc=saved.state_desc,
        priority=saved.priority,
        hold_user=saved.priority == 0 and saved.state_reason == JobStateReason.WAIT_HELD_USER,
        submit_time=d.submit_time if d else 0,
        eligible_time=d.begin_time if d else 0,
        accrue_time=d.accrue_time if d else 0,
        start_time=saved.start_time,
        end_time=saved.end_time,
        last_sched_eval=saved.last_sched_eval,
        suspend_time=saved.suspend_time,
        pre_sus_time=saved.pre_sus_time,
        exit_code=saved.exit_code,
        derived_ec=saved.derived_ec,
        restart_cnt=saved.restart_cnt,
        nodes=nodes,
        cpus_alloc=cpus,
        mem_alloc=mem,
        cores_alloc=cores,
        batch_host=saved.batch_host,
        completing_nodes=_expand(saved.nodes_completing) if saved.is_completing() else (),
    )
    if job.time_limit == INFINITE:
        job.time_limit = INFINITE
    if job.pn_min_memory and not job.mem_set and not job.pn_min_memory & MEM_PER_CPU:
        job.mem_set = True
    return job


def _same_state(job: Job, saved: statefile.SavedJob) -> bool:
    return (
        job.state == saved.job_state and job.nodes == _expand(saved.nodes) and job.priority == saved.priority
    )


def load(state_dir: Path) -> statefile.JobStateFile:
    """Read slurmctld's job table (blocking: run it in a worker thread)."""
    return statefile.read_job_state(state_dir)


def script_of(state_dir: Path, job: Job) -> tuple[str | None, tuple[str, ...] | None]:
    """A pending imported batch job's script and environment, from the files slurmctld kept for it
    (array tasks share the array's). Blocking I/O."""
    script_id = job.array_job_id or job.job_id
    script = statefile.read_job_script(state_dir, script_id)
    env = statefile.read_job_environment(state_dir, script_id)
    if env is not None and job.array_job_id and job.array_task_id != NO_VAL:
        # what slurmctld adds for each task (details.env_sup)
        env = (*env, f"SLURM_ARRAY_JOB_ID={job.array_job_id}", f"SLURM_ARRAY_TASK_ID={job.array_task_id}")
    return script, env


def merge(ctl: ControllerPort, saved_file: statefile.JobStateFile) -> int:
    """Bring flurm's jobs in line with slurmctld's saved state; returns how many jobs were new to flurm.

    Scripts are not read here (10,000 pending jobs would be 20,000 files while client writes wait):
    a pending batch job keeps ``script == ""`` until flurm fetches it (see :func:`fetch_scripts`).
    """
    cluster = ctl.cluster
    added = 0
    for saved in saved_file.jobs:
        job = cluster.jobs.get(saved.job_id)
        if job is None or not _same_state(job, saved):
            new = job_from_saved(saved, cluster)
            if job is None:
                added += 1
                log.info("job %s was accepted by slurmctld after the last mirror pass", saved.job_id)
            cluster.jobs[saved.job_id] = new
        if saved.batch_flag and not cluster.jobs[saved.job_id].script:
            cluster.jobs[saved.job_id].script = ""  # a batch job whose script is still in slurmctld's files
    cluster.reserve_job_ids_above(max(saved_file.job_id_sequence - 1, max(cluster.jobs, default=0)))
    return added


def needs_script(job: Job) -> bool:
    return job.is_pending() and job.script == ""


async def fetch_script(ctl: ControllerPort, job: Job) -> bool:
    """Read one job's script and environment from slurmctld's files (off the event loop)."""
    loop = asyncio.get_running_loop()
    state_dir = Path(ctl.config.state_save_location)
    script, env = await loop.run_in_executor(None, script_of, state_dir, job)
    if script is None:
        log.warning("job %s: slurmctld saved no batch script for it; it cannot be launched", job.job_id)
        return False
    job.script = script
    if env is not None:
        job.environment = env
    ctl.cluster.job_changed(job, by_flurm=False)
    return True


async def fetch_scripts(ctl: ControllerPort) -> int:
    """After the takeover: copy every pending imported job's script into flurm's own store, a few at a
    time, so that flurm stops depending on slurmctld's StateSaveLocation."""
    done = 0
    for job in [j for j in ctl.cluster.jobs.values() if needs_script(j)]:
        if needs_script(job) and await fetch_script(ctl, job):
            done += 1
    return done

"""Merging slurmctld's saved state into flurm at the takeover.

After slurmctld has shut down, its StateSaveLocation holds everything it acknowledged: the job table
(job_state), its job id sequence, and each job's script and environment (hash.N/job.ID/), and the
reservation list (resv_state) with its name counter. flurm takes from it what the mirror could not
have: jobs accepted after the last mirror pass, jobs whose state moved on since, the scripts and
environments that pending jobs need to be launched by flurm, reservations created, changed or
deleted since the last pass, and the ids and counter the wire never shows.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from flurm.migration import gres_import, resv_statefile, statefile
from flurm.migration.importer import reservation_from_record
from flurm.protocol.constants import (
    JOB_STATE_BASE,
    MEM_PER_CPU,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    SLURM_INTERACTIVE_STEP,
    JobFlag,
    JobState,
)
from flurm.protocol.wire import Bitmap
from flurm.state import multicore
from flurm.state.cluster import Cluster
from flurm.state.job_builder import JobSpec, expand_nodes, job_from_spec
from flurm.state.model import Job
from flurm.state.reservations import Reservation
from flurm.state.tasks import EMPTY, TaskSet

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort

log = logging.getLogger("flurm.takeover")


def job_from_saved(saved: statefile.SavedJob, cluster: Cluster) -> Job:
    """A flurm job from slurmctld's saved record of it.

    The saved details hold the user's own values (NO_VAL16 where a count was not given), not what
    slurmctld showed, and the file names the nodes still completing; a wire record has neither.
    """
    d = saved.details
    pending_tasks = EMPTY
    size_hint = 0
    max_run = 0
    if saved.array is not None:
        if saved.array.task_id_bitmap is not None:
            pending_tasks = TaskSet(saved.array.task_id_bitmap.value)
            size_hint = saved.array.task_id_bitmap.size
        max_run = saved.array.max_run_tasks
    flags = saved.bit_flags
    nodes = expand_nodes(saved.nodes)
    spec = JobSpec(
        job_id=saved.job_id,
        name=saved.name,
        user_id=saved.user_id,
        group_id=saved.group_id,
        partition=saved.partition,
        spank_job_env=saved.spank_job_env,
        tasks_set=bool(flags & JobFlag.JOB_NTASKS_SET),
        mem_set=bool(flags & JobFlag.JOB_MEM_SET),
        time_limit=saved.time_limit,
        time_min=saved.time_min,
        account=saved.account,
        comment=saved.comment,
        reservation=saved.resv_name,
        licenses=saved.licenses,
        mail_type=saved.mail_type,
        mail_user=saved.mail_user,
        deadline=saved.deadline,
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
        array_task_pending=pending_tasks,
        array_max_tasks=max_run,
        array_size_hint=size_hint,
        state=saved.job_state,
        state_reason=saved.state_reason,
        state_desc=saved.state_desc,
        priority=saved.priority,
        start_time=saved.start_time,
        end_time=saved.end_time,
        last_sched_eval=saved.last_sched_eval,
        suspend_time=saved.suspend_time,
        pre_sus_time=saved.pre_sus_time,
        exit_code=saved.exit_code,
        derived_ec=saved.derived_ec,
        restart_cnt=saved.restart_cnt,
        nodes=nodes,
        job_resources=saved.job_resources,
        batch_host=saved.batch_host,
        completing_nodes=expand_nodes(saved.nodes_completing) if saved.is_completing() else (),
        kill_on_node_fail=saved.kill_on_node_fail,
        resize_time=saved.resize_time,
        batch_flag=saved.batch_flag,
    )
    if d is not None:
        # what was asked; a job without details keeps SLURM's "not given" for all of it
        spec = replace(
            spec,
            argv=d.argv,
            work_dir=d.work_dir,
            std_in=d.std_in,
            std_out=d.std_out,
            std_err=d.std_err,
            open_mode=d.open_mode,
            min_nodes=max(1, d.min_nodes),
            max_nodes=d.max_nodes,
            num_tasks=d.num_tasks or max(1, d.min_nodes),  # 0: not given
            cpus_per_task=d.cpus_per_task,
            cpus_set=d.cpus_per_task != NO_VAL16,
            ntasks_per_node=d.ntasks_per_node,
            min_cpus=max(1, d.min_cpus),
            pn_min_cpus=d.pn_min_cpus,
            pn_min_memory=d.pn_min_memory,
            shared=d.share_res if d.share_res in (0, 1) else NO_VAL16,  # a u8 here, NO_VAL8 = not given
            contiguous=d.contiguous,
            requeue=d.requeue,
            features=d.features,
            req_nodes=d.req_nodes,
            exc_nodes=d.exc_nodes,
            begin_time=d.begin_time,
            nice=d.nice,
            dependency=d.dependency,
            dependency_shown=True,
            submit_line=d.submit_line,
            submit_time=d.submit_time,
            eligible_time=d.begin_time,
            accrue_time=d.accrue_time,
        )
    job = job_from_spec(spec)
    take_accounting(job, saved)
    take_gres(job, saved, cluster)
    if d is not None:
        multicore.take_saved(job, d.multi_core, d.pn_min_tmp_disk)
    if job.pn_min_memory and not job.mem_set and not job.pn_min_memory & MEM_PER_CPU:
        job.mem_set = True  # a memory per node in the details was asked for, whatever the flag says
    return job


def gres_names(cluster: Cluster) -> dict[int, str]:
    """plugin id -> name of every GRES the cluster knows (the saved records name a GRES by its id)."""
    return gres_import.known_names((n.gres_inv for n in cluster.node_list), cluster.config.gres_types)


def take_gres(job: Job, saved: statefile.SavedJob, cluster: Cluster) -> None:
    """The GRES (and devices) the job holds on each of its nodes, from its saved ``gres_list_alloc``: the
    takeover claims them on the nodes, so no job of flurm's gets those devices while it runs."""
    if not job.nodes or not gres_import.holds_resources(job):
        return
    uses = gres_import.uses_from_job_states(saved.gres_list_alloc, len(job.nodes), gres_names(cluster))
    if uses or saved.gres_list_alloc:
        job.gres_alloc = uses


def take_accounting(job: Job, saved: statefile.SavedJob) -> None:
    """What slurmdbd knows the job by and what only slurmctld's file holds of its accounting: its row
    (db_index), its last recorded pending reason and the energy its steps reported (TRES 3 of its
    allocated TRES, absent once known to be 0)."""
    job.db_index = saved.db_index
    job.state_reason_prev_db = saved.state_reason_prev_db
    job.acct_energy = NO_VAL64
    if saved.tres_alloc_str and saved.job_state & JOB_STATE_BASE != JobState.PENDING:
        job.acct_energy = 0
        for item in saved.tres_alloc_str.split(","):
            tres_id, _, count = item.partition("=")
            if tres_id == "3" and count.isdigit():
                job.acct_energy = int(count)


def _step_cores(
    saved: statefile.SavedJob, step: statefile.SavedStep, nodes: tuple[str, ...]
) -> tuple[tuple[int, ...], ...]:
    """The node-local cores a saved step holds on each of its nodes: its bitmap spans the job's
    allocation (job_resources: each allocated node's cores, node after node). None known: ()."""
    res, bitmap = saved.job_resources, step.core_bitmap_job
    none: tuple[tuple[int, ...], ...] = ((),) * len(nodes)
    if res is None or bitmap is None or res.nodes is None:
        return none
    counts = res.cores_per_node()
    job_nodes = expand_nodes(res.nodes)
    if sum(counts) != bitmap.size or len(counts) != len(job_nodes):
        return none
    offsets = {name: (sum(counts[:i]), counts[i]) for i, name in enumerate(job_nodes)}
    out: list[tuple[int, ...]] = []
    for name in nodes:
        if name not in offsets:
            return none
        offset, n = offsets[name]
        out.append(tuple(Bitmap(n, bitmap.value >> offset & ((1 << n) - 1)).indexes()))
    return tuple(out)


def take_steps(job: Job, saved: statefile.SavedJob, cluster: Cluster | None = None) -> int:
    """The srun steps running under slurmctld, into the job's step table: their slurmstepd report their
    end to flurm (REQUEST_STEP_COMPLETE), which then records them (DBD_STEP_COMPLETE) as slurmctld would
    have. The batch and extern steps are not kept in that table. Returns how many steps were taken."""
    from flurm.controller.steps import JobSteps, Step

    if job.base_state not in (JobState.RUNNING, JobState.SUSPENDED):
        return 0
    table = JobSteps.of(job)
    table.next_step_id = max(table.next_step_id, saved.next_step_id)
    with_gres = cluster is not None and any(st.gres_list_alloc for st in saved.steps)
    names = gres_names(cluster) if cluster is not None and with_gres else {}
    taken = 0
    for st in saved.steps:
        if st.step_id >= SLURM_INTERACTIVE_STEP or st.layout is None or st.step_id in table.steps:
            continue
        nodes = expand_nodes(st.layout.node_list)
        if len(nodes) != len(st.layout.tids):
            log.warning(
                "job %s step %s: its layout does not match its nodes; not taken", job.job_id, st.step_id
            )
            continue
        mem = st.memory_allocated if len(st.memory_allocated) == len(nodes) else (0,) * len(nodes)
        step_gres = (
            gres_import.uses_from_step_states(st.gres_list_alloc, job.nodes, nodes, job.gres_alloc, names)
            if st.gres_list_alloc
            else ()
        )
        table.steps[st.step_id] = Step(
            step_id=st.step_id,
            nodes=nodes,
            tids=st.layout.tids,
            task_dist=st.layout.task_dist,
            cores=_step_cores(saved, st, nodes),
            cpu_count=st.cpu_count,
            cpus_per_task=st.cpus_per_task,
            mem=mem,
            flags=st.flags,
            start_time=st.start_time,
            time_limit=st.time_limit,
            name=st.name,
            host=st.host,
            addr=st.host,
            port=st.port,
            srun_pid=st.srun_pid,
            submit_line=st.submit_line,
            tres_per_step=st.tres_per_step,
            tres_per_node=st.tres_per_node,
            tres_per_socket=st.tres_per_socket,
            tres_per_task=st.tres_per_task,
            protocol_version=st.start_protocol_ver,
            gres_alloc=step_gres,
        )
        taken += 1
    if taken:
        job.steps = table.to_dict()
    return taken


def _same_state(job: Job, saved: statefile.SavedJob) -> bool:
    return (
        job.state == saved.job_state
        and job.nodes == expand_nodes(saved.nodes)
        and job.priority == saved.priority
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
        else:
            take_accounting(job, saved)  # the wire record the mirror took has none of it
            take_gres(job, saved, cluster)  # each device exactly (the wire shows no count-only GRES)
        # whether an operator set its priority: the plugin recomputes every other pending job's at
        # the takeover, as slurmctld's does when it starts (the wire never shows this)
        cluster.jobs[saved.job_id].direct_prio = bool(saved.direct_set_prio)
        take_steps(cluster.jobs[saved.job_id], saved, cluster)
        if saved.batch_flag and not cluster.jobs[saved.job_id].script:
            cluster.jobs[saved.job_id].script = ""  # a batch job whose script is still in slurmctld's files
    cluster.reserve_job_ids_above(max(saved_file.job_id_sequence - 1, max(cluster.jobs, default=0)))
    return added


def reservation_from_saved(saved: resv_statefile.SavedReservation, cluster: Cluster) -> Reservation:
    """A flurm reservation from slurmctld's saved record: as the mirror imports it from the wire, with
    what only the file has (its id, and the duration as asked: NO_VAL when an end time was given)."""
    resv = reservation_from_record(saved.record, cluster)
    resv.resv_id = saved.resv_id
    resv.duration = saved.duration
    return resv


def _same_reservation(a: Reservation, b: Reservation) -> bool:
    """Equal in what the wire shows (the mirror cannot know the id or the duration as asked; what
    flurm shows as slurmctld showed it is presentation, not a change)."""

    def shown(r: Reservation) -> Reservation:
        return replace(r, resv_id=0, duration=0, seq=0, record_overrides={})

    return shown(a) == shown(b)


def load_reservations(state_dir: Path) -> resv_statefile.ResvStateFile | None:
    """Read slurmctld's reservation list (blocking: run it in a worker thread); None if it saved none."""
    return resv_statefile.read_resv_state(state_dir)


def merge_reservations(ctl: ControllerPort, saved_file: resv_statefile.ResvStateFile) -> tuple[int, int, int]:
    """Make flurm's reservation list slurmctld's saved one, and take its name counter: the next
    generated name is the one slurmctld would have given. Returns how many reservations were new to
    flurm, changed since the last mirror pass, and gone since."""
    cluster = ctl.cluster
    book = cluster.reservations
    saved = [reservation_from_saved(s, cluster) for s in saved_file.reservations]
    names = {r.name for r in saved}
    new = changed = 0
    for resv in saved:
        old = book.items.get(resv.name)
        if old is None:
            new += 1
            log.info("reservation %s was created at slurmctld after the last mirror pass", resv.name)
        elif not _same_reservation(old, resv):
            changed += 1
            log.info("reservation %s was changed at slurmctld after the last mirror pass", resv.name)
    gone = [name for name in book.items if name not in names]
    for name in gone:
        log.info("reservation %s was deleted at slurmctld after the last mirror pass", name)
    book.replace_all(saved, ctl.now())
    book.top_suffix = saved_file.top_suffix  # slurmctld's own, not the mirror's estimate from names
    return new, changed, len(gone)


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

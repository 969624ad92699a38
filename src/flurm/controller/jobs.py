"""Job operations with SLURM's rules: submit, cancel/signal, hold/release/update, completion.

Each operation changes the cluster (which persists the change), wakes the scheduler, and asks the
node agent to act on the nodes. Refusals raise :class:`SlurmError` with SLURM's return code.
"""

from __future__ import annotations

import errno
import signal as signals
from dataclasses import replace
from typing import TYPE_CHECKING

from flurm.controller import job_update, mail, node_loss, prep, requeue, warn
from flurm.controller.rights import Caller, update_refusal
from flurm.controller.submit import (
    ALLOC_SID_USER_HOLD,
    RefusedJob,
    build_job,
    check_features,
    node_config_rejection,
    reject_as_failed,
    waits_for_partition_config,
)
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    INFINITE,
    INFINITE16,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    PROTOCOL_VERSION,
    JobFlag,
    JobState,
    JobStateFlag,
    JobStateReason,
    SlurmRC,
)
from flurm.protocol.messages.job_control import JobArrayError
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.slurmd import JobAcctInfo
from flurm.scheduler import dependencies, scheduler
from flurm.scheduler.scheduler import array_running, job_independent, job_partitions, limits_reason
from flurm.state.jobids import Target, parse_job_id
from flurm.state.model import NOT_SAVED, Job
from flurm.state.reasons import failed_reason, signalled
from flurm.state.tasks import EMPTY, TaskSet

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

R = JobStateReason


class JobOps:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.cluster = ctl.cluster
        self._seq: int | None = None

    # -- submit -----------------------------------------------------------------------------------
    async def submit(
        self, desc: JobDesc, uid: int, gid: int, alloc_host: str, version: int = PROTOCOL_VERSION
    ) -> tuple[int, int]:
        """Create a job; returns (job_id, error_code) once the job is durable.

        The order is slurmctld's (job_allocate): validation refuses without using a job id; then the
        job gets its id, its first eligibility test (not for arrays or held jobs), its priority,
        and a test of the node configuration, which may still refuse it but keeps the id used and
        a FAILED record with reason BadConstraints. ``version``: the client's protocol version, whose
        slurmctld's rules of the node configuration apply.
        """
        try:
            job, error_code = self.create(desc, uid, gid, alloc_host, version=version)
        except SlurmError:
            await self.ctl.durable()  # a job refused for its node configuration keeps its record
            raise
        await self.ctl.durable()
        self.wake()
        return job.job_id, error_code

    # (steps) submit's synchronous part, shared with interactive allocations (controller/steps.py):
    # srun/salloc's 4001 must try to start its job before anything else runs on the loop.
    def create(
        self,
        desc: JobDesc,
        uid: int,
        gid: int,
        alloc_host: str,
        *,
        interactive: bool = False,
        version: int = PROTOCOL_VERSION,
    ) -> tuple[Job, int]:
        """Validate, number and add a job (not yet durable, no scheduling pass asked for).

        ``interactive``: an allocation for srun/salloc, which has no script; ``version``: the
        client's protocol version. The error code returned is what the client hears with the job
        id: 2042 for a held job, ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE for one that release's
        slurmctld queued untested (waits_for_partition_config).
        """
        now = self.ctl.now()
        is_admin = self.ctl.is_admin(uid)
        job, array, error_code = build_job(
            desc, uid, gid, is_admin, self.cluster, alloc_host, now, interactive=interactive
        )
        # _job_create: the association, the account and QOS defaults, the submit limits (no job id spent)
        self.ctl.acct_policy.check_submit(job, self.cluster)
        cluster = self.cluster
        count = len(array.task_ids) if array is not None else 1  # slurmctld counts every task
        if len(cluster.jobs) + count >= self.ctl.config.max_job_count:
            raise SlurmError(errno.EAGAIN)  # slurmctld answers EAGAIN at MaxJobCount; sbatch retries
        job.job_id = cluster.allocate_job_id()
        check_features(job, cluster)  # build_feature_list: the job id is spent
        resv_rc = cluster.reservations.job_access(job)  # validate_job_resv: the job id is spent
        if resv_rc:
            raise SlurmError(resv_rc)
        job.list_seq = self.next_list_seq()
        if array is None and job.priority != 0:
            job_independent(job, cluster, now, array_running(cluster))
            mail.dependency_checked(self.ctl, job)  # a dependency that already failed
        if job.priority not in (0, NO_VAL):
            job.direct_prio = True  # an operator's --priority
        if job.priority == NO_VAL:
            self.ctl.priority.set_job_prio(job)
        if array is not None:
            # even an array of one task keeps its record of pending tasks until that task starts
            job.array_job_id = job.job_id
            job.array_size_hint = array.size
        rejection = node_config_rejection(job, cluster, version)
        if rejection is not None:
            reject_as_failed(job, now)
            cluster.add_job(job)
            raise RefusedJob(job, SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE, rejection)
        reasons = [limits_reason(job, p, cluster) for p in job_partitions(job, cluster)]
        if reasons and all(reasons) and job.priority != 0:
            job.state_reason = R.WAIT_PART_CONFIG
        elif job.priority != 0 and not job.state_reason:
            for part in job_partitions(job, cluster):  # select_nodes' test at submit: ESLURM_NODE_NOT_AVAIL
                unavailable = scheduler.node_not_avail(job, part, cluster)
                if unavailable is not None:
                    job.state_reason, job.state_desc = R.WAIT_NODE_NOT_AVAIL, unavailable
                    break
        if not error_code and job.priority != 0 and waits_for_partition_config(job, cluster, version):
            error_code = SlurmRC.ESLURM_REQUESTED_PART_CONFIG_UNAVAILABLE
        if job.priority != 0:
            job.sched_node_count = scheduler.node_guess(job, cluster)  # (a held job is not tested)
        cluster.add_job(job)
        self.ctl.accounting.job_eligible(job)  # its record from submission on (_set_db_inx_thread)
        self.ctl.diag.count("submitted", count)
        return job, error_code

    def next_list_seq(self) -> int:
        """The next position at the end of the job list."""
        if self._seq is None:
            self._seq = max((j.list_seq for j in self.cluster.jobs.values()), default=0)
        self._seq += 1
        return self._seq

    def wake(self) -> None:
        """Ask for a scheduling cycle (what slurmctld's queue_job_scheduler() does)."""
        scheduler.request_pass(self.cluster)
        self.ctl.schedule_soon()

    # -- lookup -----------------------------------------------------------------------------------
    def records_for(self, target: Target) -> list[Job]:
        """The job records a target names (every record of an array for a whole-array id)."""
        jobs = self.cluster.jobs
        job = jobs.get(target.job_id)
        if target.tasks is None:
            if job is not None and job.array_job_id == 0:
                return [job]
            members = [j for j in jobs.values() if j.array_job_id == target.job_id]
            if members:
                return sorted(members, key=_task_order)
            if job is not None:
                return [job]
            return []
        out = []
        for j in jobs.values():
            if j.array_job_id != target.job_id:
                continue
            if j.array_task_id in target.tasks or not target.tasks.isdisjoint(j.array_task_pending):
                out.append(j)
        return sorted(out, key=_task_order)

    def _may_touch(self, job: Job, uid: int) -> bool:
        return job.user_id == uid or self.ctl.is_admin(uid)

    def split_task(self, meta: Job, task_id: int, *, starting: bool = True) -> Job:
        """Take one pending task out of an array's meta record as a job record of its own.

        As slurmctld's job_array_split: the task gets the next job id and keeps the meta record's
        place in the job list, while the meta record (which keeps the array's job id) moves to the
        end of the list. When one task is left pending, the meta record becomes that task.
        ``starting``: the task is split out to start now (JOB_WAS_RUNNING is set on it).
        """
        rest = meta.array_task_pending.without(task_id)
        if not rest:
            meta.array_task_id = task_id
            meta.array_task_pending = EMPTY
            if starting:
                meta.bitflags |= JobFlag.JOB_WAS_RUNNING
            self.cluster.job_changed(meta)
            return meta
        task = self._task_record(meta, task_id, starting)
        self._keep_pending(meta, rest)
        return task

    def split_tasks(self, meta: Job, tasks: TaskSet) -> None:
        """split_task (not starting) for each of ``tasks`` in task order, some but not all of the
        meta record's pending tasks, with one change of its task set for them all."""
        rest = meta.array_task_pending - tasks
        for task_id in tasks:
            self._task_record(meta, task_id, starting=False)
        self._keep_pending(meta, rest)

    def _task_record(self, meta: Job, task_id: int, starting: bool) -> Job:
        """A new record for one task of the meta record, in the meta record's place in the list."""
        task = replace(meta, _cache={}, record_overrides={}, _script_saved=NOT_SAVED)  # texts of its own
        task.job_id = self.cluster.allocate_job_id()
        task.array_task_id = task_id
        task.array_task_pending = EMPTY
        task.sluid = 0  # a record of its own: add_job gives it its own
        if starting:
            task.bitflags |= JobFlag.JOB_WAS_RUNNING
            # eligible when it started, whatever the array's throttle did to the rest since
            task.eligible_time = task.eligible_time or self.ctl.now()
        meta.list_seq = self.next_list_seq()
        self.cluster.add_job(task)
        return task

    def _keep_pending(self, meta: Job, rest: TaskSet) -> None:
        meta.array_task_pending = rest
        if len(rest) == 1:
            # the last pending task: the meta record simply becomes that task
            meta.array_task_id = rest.first()
            meta.array_task_pending = EMPTY
        self.cluster.job_changed(meta)

    # -- cancel / signal --------------------------------------------------------------------------
    def kill(self, sjob_id: str | None, job_id: int, signal: int, flags: int, uid: int) -> int:
        """REQUEST_KILL_JOB: returns the rc slurmctld would answer (job_str_signal).

        ``N`` is a job, or a whole array: its pending record first, then every task. ``N_T``
        names tasks: the ones still pending in the array's record are simply dropped from it
        (when none is left the record itself ends CANCELLED), the others are signalled one by one.
        """
        text = sjob_id if sjob_id else (str(job_id) if job_id != NO_VAL else "")
        target = parse_job_id(text, self.ctl.config.max_array_size)
        jobs = self.cluster.jobs
        admin = self.ctl.is_admin(uid)
        rc = 0
        if target.tasks is None:
            job = jobs.get(target.job_id)
            if job is not None and job.user_id != uid and not admin:
                return SlurmRC.ESLURM_ACCESS_DENIED
            if job is not None and job.array_job_id == 0:
                return self._signal_one(job, signal, flags, uid)
            # an array (a task named by its own job id is not: slurmctld looks for an array of
            # that id, finds none, and answers "Invalid job id", which scancel does not print)
            signalled = done = 0
            meta = job if job is not None and job.is_array_meta() else None
            if meta is not None:
                rc = self._signal_one(meta, signal, flags, uid)
                signalled += 1
                if rc == SlurmRC.ESLURM_ALREADY_DONE:
                    done, rc = done + 1, 0
            tasks = [j for j in jobs.values() if j.array_job_id == target.job_id and j is not meta]
            if not tasks and meta is None:
                return SlurmRC.ESLURM_INVALID_JOB_ID
            for task in sorted(tasks, key=lambda j: j.job_id, reverse=True):
                rc2 = self._signal_one(task, signal, flags, uid)
                signalled += 1
                if rc2 == SlurmRC.ESLURM_ALREADY_DONE:
                    done += 1
                else:
                    rc = max(rc, rc2)
            if rc == 0 and done == signalled:
                return SlurmRC.ESLURM_ALREADY_DONE
            return rc
        # some tasks of an array
        members = [j for j in jobs.values() if j.array_job_id == target.job_id]
        first = jobs.get(target.job_id) or (min(members, key=lambda j: j.job_id) if members else None)
        if first is None or first.array_job_id == 0:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if first.user_id != uid and not admin:
            return SlurmRC.ESLURM_ACCESS_DENIED
        wanted = target.tasks
        meta = jobs.get(target.job_id)
        if meta is not None and meta.is_array_meta() and meta.is_pending():
            in_meta = wanted & meta.array_task_pending
            if in_meta:
                if signal == signals.SIGKILL:
                    rest = meta.array_task_pending - in_meta
                    meta.array_task_pending = rest
                    if rest:
                        self.cluster.job_changed(meta)
                    else:
                        meta.requid = uid
                        self.cancel(meta)
                else:
                    rc = SlurmRC.ESLURM_TRANSITION_STATE_NO_UPDATE
                wanted -= in_meta
        # the split-out tasks named, in task order; any other id names no record
        found = sorted(
            (j for j in members if not j.is_array_meta() and j.array_task_id in wanted), key=_task_order
        )
        for job in found:
            rc = max(rc, self._signal_one(job, signal, flags, uid))
        if len(found) < len(wanted):
            rc = max(rc, SlurmRC.ESLURM_INVALID_JOB_ID)
        return rc

    def _signal_one(self, job: Job, signal: int, flags: int, uid: int) -> int:
        if job.is_finished() or job.is_completing():
            return SlurmRC.ESLURM_ALREADY_DONE
        if signal == signals.SIGKILL:
            job.requid = uid  # who cancelled it: accounting shows "CANCELLED by <uid>"
            self.cancel(job)
            return 0
        if job.is_pending():
            return SlurmRC.ESLURM_TRANSITION_STATE_NO_UPDATE
        self.ctl.agent.signal_job(job, signal, flags)
        return 0

    def cancel(self, job: Job, reason_state: int = JobState.CANCELLED) -> None:
        now = self.ctl.now()
        if job.is_pending():
            job.state = reason_state
            job.start_time = now  # slurmctld: a pending job cancelled "starts" and ends now
            job.end_time = now
            self.cluster.job_changed(job)
            self.ctl.steps.job_ended(job)  # (steps) an srun waiting for this allocation is told
            mail.job_ended(self.ctl, job)
            self.ctl.accounting.job_completed(job)  # job_completion_logger
            return
        job.state = reason_state | JobStateFlag.COMPLETING
        job.end_time = now
        self.cluster.mark_completing(job)
        self._ended(job)
        self.cluster.job_changed(job)
        self.ctl.agent.terminate_job(job, reason_state)

    # -- hold / release / update ------------------------------------------------------------------
    def update(self, desc: JobDesc, uid: int) -> tuple[int, list[JobArrayError] | None]:
        """REQUEST_UPDATE_JOB (update_job_str). Returns (rc, per-task results or None).

        ``N`` updates a job, or every record of an array (results per task). ``N_T`` updates
        tasks; tasks still pending in the array's record are split out to records of their own
        first, unless they are all of its tasks.
        """
        text = desc.job_id_str if desc.job_id_str else (str(desc.job_id) if desc.job_id != NO_VAL else "")
        target = parse_job_id(text, self.ctl.config.max_array_size)
        jobs = self.cluster.jobs
        results: list[tuple[Job, int]] = []
        refused: list[tuple[TaskSet, int]] = []  # tasks answered without touching their record
        missing = EMPTY
        if target.tasks is None:
            job = jobs.get(target.job_id)
            if job is not None and (job.array_job_id == 0 or job.array_job_id != target.job_id):
                rc = self._update_one(job, desc, uid)
                self.wake()
                return rc, None
            if job is not None and job.is_array_meta():
                results.append((job, self._update_one(job, desc, uid)))
            tasks = [j for j in jobs.values() if j.array_job_id == target.job_id and j is not job]
            if job is None and not tasks:
                raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
            for task in sorted(tasks, key=lambda j: j.job_id, reverse=True):
                results.append((task, self._update_one(task, desc, uid)))
        else:
            wanted = target.tasks
            meta = jobs.get(target.job_id)
            if meta is not None and meta.is_array_meta() and meta.is_pending():
                in_meta = wanted & meta.array_task_pending
                if not in_meta:
                    pass
                elif in_meta == meta.array_task_pending:
                    results.append((meta, self._update_one(meta, desc, uid)))
                    wanted -= in_meta
                elif not self._may_touch(meta, uid):
                    # slurmctld splits the tasks out before _update_job refuses each of them; the
                    # same refusal here leaves another user's array as it was
                    refused.append((in_meta, SlurmRC.ESLURM_USER_ID_MISSING))
                    wanted -= in_meta
                else:
                    self.split_tasks(meta, in_meta)
            found = sorted(
                (
                    j
                    for j in jobs.values()
                    if j.array_job_id == target.job_id and not j.is_array_meta() and j.array_task_id in wanted
                ),
                key=_task_order,
            )
            for job in found:
                results.append((job, self._update_one(job, desc, uid)))
            missing = wanted - TaskSet.of(j.array_task_id for j in found)
        self.wake()
        if not results and not refused and not missing:
            raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
        answered = [(_tasks_of(job), rc) for job, rc in results] + refused
        if missing:
            answered.append((missing, SlurmRC.ESLURM_INVALID_JOB_ID))
        return 0, _array_errors(target.job_id, answered)

    def _set_reservation(self, job: Job, name: str) -> int:
        """ReservationName= of a pending or running job (_update_job: validate_job_resv)."""
        if not job.is_pending() and not job.is_running():
            return SlurmRC.ESLURM_JOB_NOT_PENDING_NOR_RUNNING
        rc = self.cluster.reservations.access(name, job.user_id, job.account)
        if rc == 0:
            job.reservation = name or None
        return rc

    def _update_one(self, job: Job, desc: JobDesc, uid: int) -> int:
        """One record, with slurmctld's rules (_update_job): owners and operators only; a user
        may shorten a time limit and lower a priority (which slurmctld then reports as "not
        persistent"), hold, and release his own hold; an operator may do anything."""
        admin = self.ctl.is_admin(uid)
        now = self.ctl.now()
        refusal = update_refusal(job, desc, Caller(uid, NO_VAL, admin), self.cluster.partitions, now)
        if refusal:
            return refusal
        refusal = job_update.refusal(job, desc)  # a field flurm would not apply
        if refusal:
            return refusal
        details = job_update.DetailUpdate(job, desc, self.cluster, admin, now)
        error = details.before_limits()
        if details.changed:  # (kept whatever follows: slurmctld's goto fini keeps it too)
            self.cluster.job_changed(job)
        if error:
            return error
        changed = False
        if desc.time_limit != NO_VAL:
            new = desc.time_limit
            part = self.cluster.partitions.get(job.partition.split(",")[0])
            part_max = INFINITE if part is None or part.max_time is None else part.max_time
            if job.is_finished():
                error = SlurmRC.ESLURM_JOB_FINISHED
            elif job.time_limit == new:
                pass
            elif admin or job.time_limit > new:
                time_min = desc.time_min if desc.time_min != NO_VAL else job.time_min
                if new < time_min:
                    return SlurmRC.ESLURM_INVALID_TIME_MIN_LIMIT
                old = job.time_limit if job.time_limit not in (INFINITE, NO_VAL) else 365 * 24 * 60
                job.time_limit = new
                if job.is_running():
                    if new == INFINITE:
                        job.end_time = now + 365 * 24 * 3600
                    else:
                        job.end_time = max(job.end_time + (new - old) * 60, now)
                changed = True
            elif job.is_pending() and part_max >= new:
                job.time_limit = new  # a user may raise a pending job's limit up to the partition's
                changed = True
            else:
                error = SlurmRC.ESLURM_ACCESS_DENIED
        if error:
            return error
        if desc.priority != NO_VAL:
            prio = desc.priority
            if job.is_finished():
                error = SlurmRC.ESLURM_JOB_FINISHED
            elif job.priority == prio:
                if prio == 0 and admin:
                    job.hold_user = desc.alloc_sid == ALLOC_SID_USER_HOLD
                    job.state_reason = R.WAIT_HELD_USER if job.hold_user else R.WAIT_HELD
                    changed = True
            elif job.priority == 0 and prio == INFINITE and (admin or job.state_reason == R.WAIT_HELD_USER):
                self._release(job, now)
                changed = True
            elif job.priority == 0 and prio != INFINITE:
                error = SlurmRC.ESLURM_JOB_HELD
            elif admin or job.priority > prio:
                if prio != 0:
                    job.nice = 0
                if prio == INFINITE:
                    job.direct_prio = False
                    self.ctl.priority.set_job_prio(job)
                elif prio == 0:
                    self._hold(job, now)
                else:
                    if not admin:
                        error = SlurmRC.ESLURM_PRIO_RESET_FAIL
                    else:
                        job.direct_prio = True  # only an operator's priority stays
                    job.priority = prio
                if job.priority == 0:
                    job.hold_user = not admin or desc.alloc_sid == ALLOC_SID_USER_HOLD
                    job.state_reason = R.WAIT_HELD_USER if job.hold_user else R.WAIT_HELD
                    job.state_desc = None
                changed = True
            elif prio != INFINITE:
                error = SlurmRC.ESLURM_ACCESS_DENIED
        if desc.nice != NO_VAL and not job.is_finished():
            nice = desc.nice - NICE_OFFSET
            if nice < 0 and not admin:
                error = SlurmRC.ESLURM_ACCESS_DENIED
            else:
                if job.priority != 0:
                    job.priority += job.nice - nice
                job.nice = nice
                changed = True
        if desc.name is not None:
            job.name = desc.name
            changed = True
        if desc.comment is not None:
            job.comment = desc.comment
            changed = True
        if desc.reservation is not None and desc.reservation != (job.reservation or ""):
            resv_rc = self._set_reservation(job, desc.reservation)
            if resv_rc:
                return resv_rc
            changed = True
        if desc.dependency is not None:
            if not job.is_pending():
                error = SlurmRC.ESLURM_JOB_NOT_PENDING
            elif desc.dependency == "":
                job.dependency = None
                job.dep_state = "none"
                job.dep_text = None
                changed = True
            else:
                try:
                    dependencies.parse(desc.dependency)
                except dependencies.DependencyError:
                    return SlurmRC.ESLURM_DEPENDENCY
                job.dependency = desc.dependency
                job.dep_state = "waiting"
                changed = True
        if desc.begin_time:
            if not job.is_pending():
                error = SlurmRC.ESLURM_JOB_NOT_PENDING
            else:
                job.begin_time = desc.begin_time
                changed = True
        if desc.partition is not None:
            if not job.is_pending():
                error = SlurmRC.ESLURM_JOB_NOT_PENDING
            elif any(p not in self.cluster.partitions for p in desc.partition.split(",")):
                error = SlurmRC.ESLURM_INVALID_PARTITION_NAME
            else:
                job.partition = desc.partition
                changed = True
        if desc.min_nodes != NO_VAL and job.is_pending():
            job.min_nodes = desc.min_nodes
            changed = True
        if desc.requeue != NO_VAL16:
            job.requeue = min(desc.requeue, 1)
            changed = True
        if not error:
            error = details.after_limits(job_update.max_switch_wait(self.ctl.config.scheduler_parameters))
        if not error:
            error, placement_changed = job_update.apply_placement(job, desc, self.cluster)
            changed = changed or placement_changed
        if not error:
            details.finish()
        if job.priority != 0 and self.ctl.priority.multifactor:
            # any update may change a factor: slurmctld recomputes, successful or not
            old = job.priority
            self.ctl.priority.set_job_prio(job)
            changed = changed or job.priority != old
        if changed or details.changed:
            self.cluster.job_changed(job)
        return error

    def _hold(self, job: Job, now: int) -> None:
        """slurmctld's _hold_job_rec: priority 0; a job already eligible is no longer."""
        job.priority = 0
        job.direct_prio = True
        if job.eligible_time < now:
            job.eligible_time = 0

    def _release(self, job: Job, now: int) -> None:
        """slurmctld's _release_job_rec: a new priority, no reason, eligible anew."""
        if job.eligible_time < now:
            job.eligible_time = 0
        self.ctl.priority.release(job)
        job.hold_user = False
        job.state_reason = 0
        job.state_desc = None
        job.exit_code = 0

    # -- completion -------------------------------------------------------------------------------
    def batch_complete(
        self,
        job_id: int,
        job_rc: int,
        slurm_rc: int,
        node_name: str | None,
        jobacct: JobAcctInfo | None = None,
    ) -> int:
        """REQUEST_COMPLETE_BATCH_SCRIPT from slurmstepd."""
        job = self.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        now = self.ctl.now()
        if job.start_time and job.script is not None:
            # the batch step's record goes first (_slurm_rpc_complete_batch_script), also after a cancel
            self.ctl.accounting.batch_step_completed(job, job_rc, jobacct)
        if job.is_running():
            job.exit_code = job_rc
            if slurm_rc:
                job.state = JobState.FAILED
                job.state_reason = R.FAIL_LAUNCH
            elif job_rc == 0:
                job.state = JobState.COMPLETE
            else:
                job.state = JobState.FAILED
                job.state_reason = failed_reason(job_rc)  # a signal: JobLaunchFailure, as 22.05
            job.end_time = now
            job.state |= JobStateFlag.COMPLETING
            self.cluster.mark_completing(job)
            self._ended(job)
            self.cluster.job_changed(job)
            self.ctl.agent.terminate_job(job, job.base_state)
            self.ctl.diag.count("completed")
            return 0
        if job.is_finished() and job.exit_code == 0 and job_rc:
            # cancelled or timed out: the script's end still tells its exit status; slurmctld answers 2021
            job.exit_code = job_rc
            self.cluster.job_changed(job)
        return SlurmRC.ESLURM_ALREADY_DONE

    # (steps) the end of an interactive allocation: srun/salloc's REQUEST_COMPLETE_JOB_ALLOCATION
    def allocation_complete(self, job_id: int, job_rc: int, uid: int) -> int:
        """REQUEST_COMPLETE_JOB_ALLOCATION 5017 (slurmctld's job_complete): returns its rc.

        ``job_rc`` is the wait status srun/salloc report; NO_VAL means they were cancelled. A
        pending job is cancelled; a running one ends COMPLETED, FAILED (NonZeroExitCode for an
        exit code, launch failure for a signal) or CANCELLED (NO_VAL) and its nodes run the
        epilog. A finished job keeps its state (2021), taking the exit status if it had none.
        """
        job = self.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID
        if job.user_id != uid and not self.ctl.is_admin(uid):
            return SlurmRC.ESLURM_USER_ID_MISSING
        if job.is_finished():
            if job.exit_code == 0 and job_rc != NO_VAL:
                job.exit_code = job_rc
                self.cluster.job_changed(job)
            return SlurmRC.ESLURM_ALREADY_DONE
        if job.is_completing():
            return 0
        if job.is_pending():
            self.cancel(job)
            return 0
        now = self.ctl.now()
        if job_rc == NO_VAL:
            job.state = JobState.CANCELLED
            job.requid = uid
        elif job_rc & 0x7F == 0 and job_rc >> 8 & 0xFF:  # WIFEXITED with a non-zero code
            job.state = JobState.FAILED
            job.exit_code = job_rc
            job.state_reason = failed_reason(job_rc)
            job.state_desc = None
        elif signalled(job_rc):
            job.state = JobState.FAILED
            job.exit_code = job_rc
            job.state_reason = failed_reason(job_rc)
        else:
            job.state = JobState.COMPLETE
            job.exit_code = job_rc
        job.end_time = now
        job.state |= JobStateFlag.COMPLETING
        self.cluster.mark_completing(job)
        _logged_end(job)  # not self._ended: the srun that owns the allocation ended it itself
        mail.job_ended(self.ctl, job)
        self.ctl.accounting.job_completed(job)
        prep.epilog_start(self.ctl, job)
        # slurmctld marks the TRES final when the job's last step record ends after the job (the
        # batch step of a batch job): here only if an srun step outlives it (controller/steps.py)
        job.bitflags &= ~JobFlag.TRES_STR_CALC
        self.cluster.job_changed(job)
        self.ctl.agent.terminate_job(job, job.base_state)
        self.ctl.diag.count("completed")
        return 0

    # (steps) srun -I: an allocation that cannot start at once fails (job_allocate with immediate)
    def fail_immediate(self, job: Job) -> None:
        now = self.ctl.now()
        job.state = JobState.FAILED
        job.exit_code = 1
        job.state_reason = R.FAIL_BAD_CONSTRAINTS
        job.state_desc = None
        job.start_time = job.end_time = now
        job.accrue_time = 0  # it never waited in a queue
        self.cluster.job_changed(job)

    # (steps) every end of a job passes here: slurmctld's job_completion_logger, which also tells
    # the job's sruns (srun_job_complete)
    def _ended(self, job: Job) -> None:
        _logged_end(job)
        self.ctl.steps.job_ended(job)
        mail.job_ended(self.ctl, job)
        self.ctl.accounting.job_completed(job)
        prep.epilog_start(self.ctl, job)

    def node_epilog_done(self, job_id: int, node_name: str) -> None:
        job = self.cluster.jobs.get(job_id)
        if job is None or not job.is_completing():
            return
        if prep.holds_completion(self.ctl, job, node_name):
            return  # EpilogSlurmctld still runs
        if self.cluster.node_done_completing(job, node_name):
            if job.is_pending():
                requeue.finish(self.ctl, job)  # a requeued job's last node is done
            self.wake()

    def time_limits(self, now: int) -> None:
        """Running jobs past their end time and the OverTimeLimit get TIMEOUT and are killed.

        slurmctld finds them in its check of limits every 30 s, so its kill comes after the
        second the job ends but in one check out of 30: salloc tells "Job N has exceeded its time
        limit and its allocation has been revoked." only when the end it heard of (SRUN_TIMEOUT)
        is past when it hears that the job is over. flurm kills in the first second after.
        """
        for job in list(self.cluster.running_jobs()):
            warn.send_due(self.ctl, job, now)  # --signal: before the end
            mail.time_limit_due(self.ctl, job, now)  # --mail-type=TIME_LIMIT_*
            if not job.end_time or job.is_completing():
                continue
            over = self._over_time(job)
            if over is not None and now > job.end_time + over:
                self.timed_out(job, now, R.FAIL_TIMEOUT)

    def _over_time(self, job: Job) -> int | None:
        """How long past its end a job may run, in seconds (OverTimeLimit of its partition, else
        of the cluster); None: for ever (UNLIMITED)."""
        minutes = self.ctl.config.over_time_limit_min
        try:
            own = self.ctl.config.partition(job.partition.split(",")[0]).over_time_limit_min
        except KeyError:
            own = None  # (a partition created at run time has the cluster's)
        minutes = own if own is not None else minutes
        return None if minutes == INFINITE16 else minutes * 60

    def timed_out(self, job: Job, now: int, reason: int) -> None:
        """End a running job with TIMEOUT (slurmctld's _job_timed_out): its time limit, or its
        srun's InactiveLimit (steps.py). Its sruns hear the end time first (srun_timeout)."""
        self.ctl.steps.timeout_reached(job)
        job.state = JobState.TIMEOUT | JobStateFlag.COMPLETING
        job.state_reason = reason
        job.end_time = now
        self.cluster.mark_completing(job)
        self._ended(job)
        self.cluster.job_changed(job)
        self.ctl.agent.kill_timelimit(job)

    def node_failed(self, job: Job, node_name: str, *, node_down: bool = True) -> None:
        """A node of a running or suspended job went DOWN (slurmctld: kill_running_job_by_node_name).

        A ``--no-kill`` job runs on without it (node_loss.py); a batch job that may be requeued is
        (requeue.py); any other job ends with NODE_FAIL. ``node_down`` False: the node is up but
        lost the job's batch script, which ends the job whatever its ``--no-kill``.
        """
        if node_down and node_loss.runs_on_without(self.ctl, job, node_name):
            return
        if requeue.requeue_on_node_failure(self.ctl, job, node_name):
            return
        suspended = job.base_state == JobState.SUSPENDED
        job.state = JobState.NODE_FAIL | JobStateFlag.COMPLETING
        job.state_reason = R.FAIL_DOWN_NODE
        job.state_desc = None
        job.end_time = job.suspend_time if suspended else self.ctl.now()
        self.cluster.mark_completing(job)
        self._ended(job)
        self.cluster.job_changed(job)
        self.ctl.agent.terminate_on_down_node(job, JobState.NODE_FAIL, node_name)
        self.node_epilog_done(job.job_id, node_name)
        others = [n for n in job.completing_nodes if n != node_name]
        if others:
            self.ctl.agent.terminate_job(job, JobState.NODE_FAIL)

    def launch_unanswered(self, job: Job) -> None:
        """The batch launch got no answer from the node: the job is requeued (requeue.py)."""
        requeue.requeue_on_launch_failure(self.ctl, job)

    def fail_launch(self, job: Job, rc: int) -> None:
        self.ctl.diag.count("failed")
        job.state = JobState.FAILED | JobStateFlag.COMPLETING
        job.state_reason = R.FAIL_LAUNCH
        job.end_time = self.ctl.now()
        job.exit_code = 1
        self.cluster.mark_completing(job)
        self._ended(job)
        self.cluster.job_changed(job)
        self.ctl.agent.terminate_job(job, JobState.FAILED)


def _logged_end(job: Job) -> None:
    """The job ended (slurmctld's job_completion_logger): it no longer counts as running, and the
    TRES it was allocated are final."""
    job.bitflags &= ~JobFlag.JOB_WAS_RUNNING
    if job.nodes:
        job.bitflags |= JobFlag.TRES_STR_CALC


def _task_order(job: Job) -> tuple[int, int]:
    return (job.array_task_id if job.array_task_id != NO_VAL else -1, job.job_id)


def _tasks_of(job: Job) -> TaskSet:
    return TaskSet.of((job.array_task_id,)) if job.array_task_id != NO_VAL else job.array_task_pending


def _array_errors(array_id: int, answered: list[tuple[TaskSet, int]]) -> list[JobArrayError]:
    """Per-task results grouped by return code, the group with the lowest task first
    (slurmctld's _resp_array_xlate): "7_1-2,4" rc 0, "7_3" rc 2017 ..."""
    by_rc: dict[int, TaskSet] = {}
    for tasks, rc in answered:
        by_rc[rc] = by_rc.get(rc, EMPTY) | tasks
    groups = sorted(by_rc.items(), key=lambda kv: kv[1].first() if kv[1] else -1)
    return [JobArrayError(rc, f"{array_id}_{tasks.ranges()}") for rc, tasks in groups]

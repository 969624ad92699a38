"""Requeue of batch jobs (REQUEST_JOB_REQUEUE 5023) with slurmctld 22.05's rules.

``scontrol requeue`` and ``requeuehold`` send it, and so does slurmd when it could not launch a
batch job (flags JOB_REQUEUE_HOLD|JOB_LAUNCH_FAILED). As slurmctld's _job_requeue_op: the owner or
an operator may requeue a batch job that allows it (``--requeue``, JobRequeue= in slurm.conf) and is
not pending; a running job's processes are killed on its nodes and it waits, PENDING|COMPLETING,
until every node ran its epilog; then (batch_requeue_fini) it looks like a new job: no nodes, a new
submit time, and a begin time past the expiry of its first run's credentials. Restarts counts runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.config.slurmconf import SlurmConfig
from flurm.controller import mail, prep
from flurm.controller.warn import WARN_SENT
from flurm.errors import SlurmError
from flurm.protocol.constants import JOB_STATE_BASE, JobFlag, JobState, JobStateFlag, JobStateReason, SlurmRC
from flurm.protocol.messages.job_control import JobArrayError
from flurm.state.jobids import parse_job_id
from flurm.state.model import Job
from flurm.state.tasks import TaskSet

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

HELD_TEXT = "job requeued in held state"
LAUNCH_FAILED_TEXT = "launch failed requeued held"
SPECIAL_EXIT_TEXT = "job requeued in special exit state"
# batch launches that may go unanswered before the job is held (slurmctld.h MAX_BATCH_REQUEUE)
MAX_BATCH_REQUEUE = 5


def default_requeue(config: SlurmConfig) -> int:
    """A job's requeue flag when its request gives none: JobRequeue= (1 unless set to 0)."""
    text = config.raw.get("jobrequeue")
    try:
        return 0 if text is not None and int(text) == 0 else 1
    except ValueError:
        return 1


def requeue_request(
    ctl: Controller, job_id: int, job_id_str: str | None, flags: int, uid: int
) -> tuple[int, list[JobArrayError] | None]:
    """REQUEST_JOB_REQUEUE: (rc, per-task results for an array or None), as job_requeue/job_requeue2."""
    if not job_id_str:
        job = ctl.cluster.jobs.get(job_id)
        if job is None:
            return SlurmRC.ESLURM_INVALID_JOB_ID, None
        return requeue_job(ctl, job, uid, flags), None
    try:
        target = parse_job_id(job_id_str, ctl.config.max_array_size)
    except SlurmError as exc:
        return exc.rc, None
    jobs = ctl.cluster.jobs
    if target.tasks is None:
        job = jobs.get(target.job_id)
        if job is not None and (job.array_job_id == 0 or job.array_job_id != target.job_id):
            return requeue_job(ctl, job, uid, flags), None
        records = [j for j in jobs.values() if j.array_job_id == target.job_id]
        if not records:
            return SlurmRC.ESLURM_INVALID_JOB_ID, None
        # the array's own record first, then its tasks as slurmctld's array hash lists them
        records.sort(key=lambda j: (j.job_id != target.job_id, -j.job_id))
        answered = [(_tasks_of(j), requeue_job(ctl, j, uid, flags)) for j in records]
        return 0, _group(target.job_id, answered)
    answered = []
    for task_id in target.tasks:
        found = _task_record(ctl, target.job_id, task_id)
        rc = SlurmRC.ESLURM_INVALID_JOB_ID if found is None else requeue_job(ctl, found, uid, flags)
        answered.append((TaskSet.of((task_id,)), rc))
    return 0, _group(target.job_id, answered)


def requeue_job(ctl: Controller, job: Job, uid: int, flags: int) -> int:
    """One job record (slurmctld's _job_requeue_op): 0 or the rc of the refusal."""
    if job.user_id != uid and not ctl.is_admin(uid):
        return SlurmRC.ESLURM_ACCESS_DENIED
    if flags & JOB_STATE_BASE == JobState.RUNNING and not job.is_running():
        return 0  # "requeue if still running": it no longer is
    if not job.requeue:
        return SlurmRC.ESLURM_DISABLED
    if job.script is None:
        return SlurmRC.ESLURM_BATCH_ONLY
    if job.is_pending():
        return SlurmRC.ESLURM_JOB_PENDING
    _requeue(ctl, job, flags, ended_as=JobState.PENDING)
    return 0


def requeue_on_node_failure(ctl: Controller, job: Job, node_name: str) -> bool:
    """A node of the running (or suspended) job went DOWN: a batch job that may be requeued is,
    as kill_running_job_by_node_name does (its run ends NODE_FAIL, Restarts counts it, the DOWN
    node is given back at once and the others run their epilog). False: it may not be."""
    if not job.requeue or job.script is None:
        return False
    _requeue(ctl, job, 0, ended_as=JobState.NODE_FAIL, failed_node=node_name)
    return True


def requeue_on_launch_failure(ctl: Controller, job: Job) -> None:
    """The batch launch got no answer from the node (agent.c: job_complete with requeue): the job
    is requeued whatever its ``--requeue`` (its run ends NODE_FAIL, BatchFlag counts the failed
    launches); the sixth in a row holds it (JobHoldMaxRequeue)."""
    if not job.is_running() or job.script is None:
        return
    job.launch_requeues += 1
    if 1 + job.launch_requeues > MAX_BATCH_REQUEUE:
        job.launch_requeues = 0
        job.priority = 0
        job.state_reason = JobStateReason.WAIT_MAX_REQUEUE
        _requeue(ctl, job, JobStateFlag.REQUEUE_HOLD, ended_as=JobState.NODE_FAIL, hold_text=None)
        return
    _requeue(ctl, job, 0, ended_as=JobState.NODE_FAIL)


def _requeue(
    ctl: Controller,
    job: Job,
    flags: int,
    *,
    ended_as: int,
    failed_node: str | None = None,
    hold_text: str | None = HELD_TEXT,
) -> None:
    """Requeue a job that may be: ``ended_as`` is the state its run ends in for the mails (a
    requeue shows PENDING, a node failure NODE_FAIL); ``failed_node`` is done at once.
    ``hold_text``: what a REQUEUE_HOLD shows (None: the job is held with its reason as set)."""
    cluster = ctl.cluster
    now = ctl.now()
    completing = job.is_completing()
    running = job.is_running() or job.base_state == JobState.SUSPENDED
    if job.base_state == JobState.SUSPENDED:
        job.end_time = job.suspend_time
    elif not completing:
        job.end_time = now
    if running:
        from flurm.controller.jobs import _logged_end

        _logged_end(job)  # the run ends here (job_completion_logger): its sruns are told
        ctl.steps.job_ended(job)
    if not completing:
        # the mails go out with the job shown as it ended (JOB_REQUEUE is PENDING) and this run's count
        shown, job.state = job.state, ended_as
        mail.job_ended(ctl, job, requeue=True)
        ctl.accounting.job_completed(job, requeue=True)  # job_completion_logger(job, requeue=true)
        job.state = shown
    # its batch step ends with the job pending: the TRES of the run are not final
    job.bitflags &= ~JobFlag.TRES_STR_CALC
    if job.cpus_alloc:
        job.requeued_cpus = sum(job.cpus_alloc)
        job.requeued_nodes = len(job.nodes)
    job.restart_cnt += 1
    job.sluid = cluster.new_sluid()  # each run its own (26.05 _job_requeue_op)
    if completing:
        job.state = JobState.PENDING | (job.state & ~JOB_STATE_BASE)
    elif running:
        job.state = JobState.PENDING | JobStateFlag.COMPLETING
        cluster.mark_completing(job)
    else:
        job.state = JobState.PENDING
    if running:
        prep.epilog_start(ctl, job)  # the nodes are given back (deallocate_nodes)
    job.pre_sus_time = 0
    job.suspend_time = 0
    job.warn_flags &= ~WARN_SENT  # the next run is warned again
    if flags & JobStateFlag.SPECIAL_EXIT:
        job.state |= JobStateFlag.SPECIAL_EXIT
        _hold(job, SPECIAL_EXIT_TEXT)
    if flags & JobStateFlag.REQUEUE_HOLD:
        if hold_text is None:
            job.state |= JobStateFlag.REQUEUE_HOLD
        else:
            _hold(job, LAUNCH_FAILED_TEXT if flags & JobStateFlag.LAUNCH_FAILED else hold_text)
    cluster.job_changed(job)
    if running and failed_node is not None:
        # deallocate_nodes gives a DOWN node back without waiting for it; its last node done,
        # the job is requeued (batch_requeue_fini)
        ctl.agent.terminate_on_down_node(job, JobState.NODE_FAIL, failed_node)
        ctl.jobs.node_epilog_done(job.job_id, failed_node)
        if job.completing_nodes:
            ctl.agent.terminate_job(job, JobState.NODE_FAIL)
        return
    if running:
        ctl.agent.terminate_job(job, JobStateFlag.REQUEUE)
    if not job.is_completing():
        finish(ctl, job)


def _hold(job: Job, why: str) -> None:
    job.priority = 0
    job.hold_user = True
    job.state_reason = JobStateReason.WAIT_HELD_USER
    job.state_desc = why


def finish(ctl: Controller, job: Job) -> None:
    """The requeued job's last node is done (slurmctld's batch_requeue_fini): it becomes a new job."""
    if job.is_completing() or not job.is_pending() or job.script is None:
        return
    now = ctl.now()
    ctl.cluster.release(job)
    job.start_time = 0
    job.end_time = 0
    job.pre_sus_time = 0
    job.suspend_time = 0
    job.nodes = ()
    job.cores_alloc = ()
    job.cpus_alloc = ()
    job.mem_alloc = ()
    job.batch_host = None
    job.completing_nodes = ()
    job.cores_released = False
    # a new launch credential must be newer than the revocation of the old one
    if job.begin_time <= now:
        job.begin_time = now + ctl.config.cred_expire + 1
    job.submit_time = now + 1 if now == job.submit_time else now
    job.accrue_time = 0
    job.eligible_time = job.begin_time
    ctl.cluster.job_changed(job)
    ctl.jobs.wake()


def _task_record(ctl: Controller, array_job_id: int, task_id: int) -> Job | None:
    """The record of one task: its own, or the array's pending record that still holds it."""
    for job in ctl.cluster.jobs.values():
        if job.array_job_id == array_job_id and task_id in _tasks_of(job):
            return job
    return None


def _tasks_of(job: Job) -> TaskSet:
    return job.array_task_pending if job.is_array_meta() else TaskSet.of((job.array_task_id,))


def _group(array_id: int, answered: list[tuple[TaskSet, int]]) -> list[JobArrayError]:
    from flurm.controller.jobs import _array_errors

    return _array_errors(array_id, answered)

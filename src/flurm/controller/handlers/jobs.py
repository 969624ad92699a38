"""Job RPCs: submit, information, cancel, update (hold/release), readiness."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from flurm.controller import prep
from flurm.controller.peer_names import PEER_NAMES
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    NO_VAL,
    PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    JobStateReason,
    MsgType,
    ShowFlags,
    SlurmRC,
    slurm_strerror,
)
from flurm.protocol.messages.common import ReturnCode, ReturnCodeMsg
from flurm.protocol.messages.job_control import (
    JobArrayErrors,
    JobStepKill,
    KillJobResult,
    KillJobs,
    KillJobsResponse,
    SubmitBatchJobResponse,
)
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest, JobInfoRequest, JobUserInfoRequest
from flurm.protocol.versions import SERVED
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.scheduler import scheduler
from flurm.state.model import Job
from flurm.state.records import job_info_body

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


async def _alloc_host(req: Request) -> str:
    """The job's AllocNode: the client's host name (controller/peer_names.py)."""
    return await PEER_NAMES.name(req.peer[0])


async def submit_batch(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobDesc)
    version = records_version(req)
    job_id, error_code = await ctl.jobs.submit(req.body, req.uid, req.gid, await _alloc_host(req), version)
    return Reply(MsgType.RESPONSE_SUBMIT_BATCH_JOB, SubmitBatchJobResponse(job_id, error_code=error_code))


def records_version(req: Request) -> int:
    """The layout to encode job records in: the asker's release; a release flurm does not serve gets
    22.05's, which the transport then refuses to send it (SLURM_PROTOCOL_VERSION_ERROR)."""
    version = req.frame.version
    return version if version in SERVED else PROTOCOL_VERSION


def _list_order(job: Job) -> tuple[int, int]:
    return (job.list_seq, job.job_id)


def _visible(ctl: Controller, jobs: list[Job], show_flags: int, uid: int) -> list[Job]:
    """What slurmctld shows a user: everything to an operator or with SHOW_ALL; otherwise not the
    jobs whose partition is hidden (a job with several partitions hides only when every partition
    of the cluster is hidden, as slurmctld has it)."""
    if show_flags & ShowFlags.ALL or ctl.is_admin(uid):
        return jobs
    hidden = {p.name for p in ctl.cluster.partitions.values() if p.hidden}
    if not hidden:
        return jobs
    all_hidden = len(hidden) == len(ctl.cluster.partitions)

    def shown(job: Job) -> bool:
        if "," in job.partition:
            return not all_hidden
        return job.partition not in hidden

    return [j for j in jobs if shown(j)]


def job_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobInfoRequest)
    body = req.body
    cluster = ctl.cluster
    if body.last_update and body.last_update - 1 >= cluster.last_job_update:
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    last_backfill = scheduler.last_backfill(cluster)
    everything = bool(body.show_flags & ShowFlags.ALL) or ctl.is_admin(req.uid)

    def listed() -> list[Job]:
        # slurmctld's job list order: submission order, a task split from an array keeps the array's
        # place and the array's remaining record moves to the end
        jobs = sorted(cluster.jobs.values(), key=_list_order)
        if body.job_ids:
            wanted = set(body.job_ids)
            jobs = [j for j in jobs if j.job_id in wanted or j.array_job_id in wanted]
        return _visible(ctl, jobs, body.show_flags, req.uid)

    version = records_version(req)
    if body.job_ids:
        raw = job_info_body(listed(), cluster, body.show_flags, ctl.now(), last_backfill, version)
    else:
        raw = ctl.job_list_cache.body(
            cluster, (body.show_flags, everything), listed, ctl.now(), last_backfill, version
        )
    return Reply(MsgType.RESPONSE_JOB_INFO, raw_body=raw, raw_version=version)


def job_info_single(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobIdRequest)
    job_id = req.body.job_id
    cluster = ctl.cluster
    job = cluster.jobs.get(job_id)
    if job is not None and job.array_job_id != job_id:
        jobs = [job]  # a job, or one task of an array asked for by its own job id
    else:
        # an array: the record holding the array's id first, then its tasks, the most recently
        # split out first (slurmctld walks its array hash, where each task is put in front)
        tasks = [j for j in cluster.jobs.values() if j.array_job_id == job_id and j.job_id != job_id]
        tasks.sort(key=lambda j: j.job_id, reverse=True)
        jobs = ([job] if job is not None else []) + tasks
    if not jobs:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    version = records_version(req)
    return Reply(
        MsgType.RESPONSE_JOB_INFO,
        raw_body=job_info_body(
            jobs, cluster, req.body.show_flags, ctl.now(), scheduler.last_backfill(cluster), version
        ),
        raw_version=version,
    )


def job_user_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobUserInfoRequest)
    uid = req.body.user_id
    jobs = [j for j in ctl.cluster.jobs.values() if j.user_id == uid]
    jobs = _visible(ctl, jobs, req.body.show_flags, req.uid)
    version = records_version(req)
    return Reply(
        MsgType.RESPONSE_JOB_INFO,
        raw_body=job_info_body(
            jobs,
            ctl.cluster,
            req.body.show_flags,
            ctl.now(),
            scheduler.last_backfill(ctl.cluster),
            version,
        ),
        raw_version=version,
    )


def kill_job(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobStepKill)
    b = req.body
    rc = ctl.jobs.kill(b.sjob_id, b.job_id, b.signal, b.flags, req.uid)
    if rc == 0:
        ctl.diag.count("canceled")  # slurmctld counts each kill request that succeeded
    return rc_reply(rc)


# kill_jobs_msg_t.flags: answer for every job, successes too
KILL_JOBS_VERBOSE = 0x800
# kill_jobs_msg_t.state without a state filter (JOB_END, one past the last base state)
_ANY_STATE = 12


def kill_jobs(ctl: Controller, req: Request) -> Reply:
    """REQUEST_KILL_JOBS (24.11 on, ``scancel --ctld``; job_mgr_signal_jobs): each job id string is
    signalled as REQUEST_KILL_JOB's, and answered in the list when it failed (or always with
    KILL_JOBS_VERBOSE). flurm takes the job ids alone: a request with slurmctld's own filters (user,
    account, partition, state, ...) is refused as not supported."""
    assert isinstance(req.body, KillJobs)
    b = req.body
    filters = (b.account, b.admin_comment, b.job_name, b.partition, b.qos, b.reservation, b.user_name)
    if not b.jobs or any(f is not None for f in filters) or b.nodelist or b.wckey or b.state != _ANY_STATE:
        return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)
    results: list[KillJobResult] = []
    for text in b.jobs:
        job_id, task = _selected(text)
        try:
            rc = ctl.jobs.kill(text, NO_VAL, b.signal, b.flags & 0xFFFF, req.uid)
        except SlurmError as exc:
            rc = exc.rc
        if rc == 0:
            ctl.diag.count("canceled")
        if rc or b.flags & KILL_JOBS_VERBOSE:
            msg = slurm_strerror(rc) if rc else None
            results.append(KillJobResult(rc, job_id, task, NO_VAL if rc else job_id, msg))
    return Reply(MsgType.RESPONSE_KILL_JOBS, KillJobsResponse(tuple(results)))


def _selected(text: str) -> tuple[int, int]:
    """The job id and the single array task (NO_VAL: none) a job id string names, as far as it parses."""
    head, _, task = text.strip().partition("_")
    job_id = int(head) if head.isdigit() else NO_VAL
    return job_id, int(task) if task.isdigit() else NO_VAL


def cancel_step(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobStepKill)
    b = req.body
    job = ctl.cluster.jobs.get(b.job_id)
    if job is None:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    if job.user_id != req.uid and not ctl.is_admin(req.uid):
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
    if b.step_id == NO_VAL:
        rc = ctl.jobs.kill(None, b.job_id, b.signal, b.flags, req.uid)
        if rc == 0 and b.signal == signal.SIGKILL:
            ctl.diag.count("canceled")
        return rc_reply(rc)
    # flurm runs batch steps only; any other step id does not exist
    return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)


def update_job(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobDesc)
    rc, array_errors = ctl.jobs.update(req.body, req.uid)
    if array_errors is not None:
        return Reply(MsgType.RESPONSE_JOB_ARRAY_ERRORS, JobArrayErrors(tuple(array_errors)))
    if req.frame.version >= SLURM_24_11_PROTOCOL_VERSION:
        # from 24.11 update_job answers with slurm_send_rc_err_msg: a message, NULL unless it says why
        return Reply(MsgType.RESPONSE_SLURM_RC_MSG, ReturnCodeMsg(rc, None))
    return rc_reply(rc)


def job_ready(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobIdRequest)
    job = ctl.cluster.jobs.get(req.body.job_id)
    if job is None:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    # job_node_ready: READY_PROLOG_STATE (4) unless a prolog runs, READY_NODE_STATE (1) and
    # READY_JOB_STATE (2) once it runs; srun waits until it sees 1 and 4 (7 in the captures)
    ready = 0 if prep.prolog_running(ctl, job.job_id) else 4  # (PrologSlurmctld)
    if job.is_running():
        ready |= 1 | 2
    # _is_prolog_finished: while the node prologs run (PrologFlags=Alloc) the answer says so
    prolog = job.state_reason == JobStateReason.WAIT_PROLOG
    return Reply(
        MsgType.RESPONSE_PROLOG_EXECUTING if prolog else MsgType.RESPONSE_JOB_READY, ReturnCode(ready)
    )


HANDLERS = {
    MsgType.REQUEST_SUBMIT_BATCH_JOB: submit_batch,
    MsgType.REQUEST_JOB_INFO: job_info,
    MsgType.REQUEST_JOB_INFO_SINGLE: job_info_single,
    MsgType.REQUEST_JOB_USER_INFO: job_user_info,
    MsgType.REQUEST_KILL_JOB: kill_job,
    MsgType.REQUEST_CANCEL_JOB_STEP: cancel_step,
    MsgType.REQUEST_KILL_JOBS: kill_jobs,
    MsgType.REQUEST_UPDATE_JOB: update_job,
    MsgType.REQUEST_JOB_READY: job_ready,
}

"""Questions about a running job or step, and step limits: slurm_get_rem_time, sattach, sbcast and
``scontrol update StepId=``. The checks and return codes are slurmctld 22.05's (job_alloc_info,
_slurm_rpc_step_layout, _slurm_rpc_job_sbcast_cred, update_step)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flurm.config.hostlists import compress
from flurm.protocol.constants import NO_VAL, MsgType, SlurmRC
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_lookups import (
    SbcastCredRequest,
    StepLayoutRequest,
    StepLayoutResponse,
    UpdateStepRequest,
)
from flurm.protocol.messages.steps import JobAllocInfoRequest, SrunTimeout, StepLayout
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

PRIVATE_DATA_JOBS = 1 << 0  # slurm.conf PrivateData=jobs


def _running_job(ctl: Controller, job_id: int, uid: int) -> tuple[Job | None, int]:
    """slurmctld's job_alloc_info: the job and 0, or the job (if any) and why it cannot be used."""
    job = ctl.cluster.jobs.get(job_id)
    if job is None:
        return None, SlurmRC.ESLURM_INVALID_JOB_ID
    if ctl.config.private_data & PRIVATE_DATA_JOBS and job.user_id != uid and not ctl.is_admin(uid):
        return job, SlurmRC.ESLURM_ACCESS_DENIED
    if job.is_pending():
        return job, SlurmRC.ESLURM_JOB_PENDING
    if job.is_finished():
        return job, SlurmRC.ESLURM_ALREADY_DONE
    return job, 0


def job_end_time(ctl: Controller, req: Request) -> Reply:
    """REQUEST_JOB_END_TIME: SRUN_TIMEOUT with the job's end time (slurmctld's job_end_time)."""
    assert isinstance(req.body, JobAllocInfoRequest)
    job = ctl.cluster.jobs.get(req.body.job_id)
    if job is None:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    return Reply(MsgType.SRUN_TIMEOUT, SrunTimeout(StepId(req.body.job_id, NO_VAL, NO_VAL), job.end_time))


def step_layout(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, StepLayoutRequest)
    want = req.body.step_id
    job, rc = _running_job(ctl, want.job_id, req.uid)
    if rc or job is None:
        if rc == SlurmRC.ESLURM_ACCESS_DENIED:
            log.error(
                "Security violation, REQUEST_STEP_LAYOUT for JobId=%d from uid=%d", want.job_id, req.uid
            )
        return rc_reply(rc)
    step = ctl.steps.table(job).steps.get(want.step_id)
    if step is None or want.step_het_comp != NO_VAL:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    layout = StepLayout(
        node_list=compress(step.nodes),
        node_cnt=len(step.nodes),
        task_cnt=sum(len(t) for t in step.tids),
        task_dist=step.task_dist,
        tids=step.tids,
    )
    return Reply(MsgType.RESPONSE_STEP_LAYOUT, StepLayoutResponse(layout))


def sbcast_cred(ctl: Controller, req: Request) -> Reply:
    """sbcast's credential: the job checks as slurmctld makes them; the credential itself (a signed
    sbcast_cred_t) flurm does not issue."""
    assert isinstance(req.body, SbcastCredRequest)
    if req.body.het_job_offset != NO_VAL:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)  # there are no heterogeneous jobs
    job, rc = _running_job(ctl, req.body.step_id.job_id, req.uid)
    if job is not None and not ctl.is_admin(req.uid) and job.user_id != req.uid:
        rc = SlurmRC.ESLURM_USER_ID_MISSING
    if rc or job is None:
        return rc_reply(rc)
    step_id = req.body.step_id.step_id
    if step_id != NO_VAL and step_id not in ctl.steps.table(job).steps:
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    log.warning("sbcast credential for job %d refused: flurm does not issue sbcast credentials", job.job_id)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def update_step(ctl: Controller, req: Request) -> Reply:
    """slurmctld's update_step: a new time limit for one step, or for every running step of a job."""
    assert isinstance(req.body, UpdateStepRequest)
    b = req.body
    job = ctl.cluster.jobs.get(b.job_id)
    if job is None:
        log.error("update_step: invalid JobId=%d", b.job_id)
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    if job.user_id != req.uid and not ctl.is_admin(req.uid):
        log.error("Security violation, STEP_UPDATE RPC from uid %d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    table = ctl.steps.table(job)
    if b.step_id == NO_VAL:
        chosen = list(table.steps.values())  # the steps flurm keeps are the running ones
        limit = b.time_limit
    else:
        step = table.steps.get(b.step_id)
        if step is None:
            return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
        chosen = [step] if b.time_limit else []
        limit = b.time_limit
    for step in chosen:
        step.time_limit = limit
        log.info("Updating StepId=%d.%d time limit to %d", job.job_id, step.step_id, limit)
    if chosen:
        job.steps = table.to_dict()
        ctl.cluster.job_changed(job)
    return rc_reply(SlurmRC.SLURM_SUCCESS)


HANDLERS = {
    MsgType.REQUEST_JOB_END_TIME: job_end_time,
    MsgType.REQUEST_STEP_LAYOUT: step_layout,
    MsgType.REQUEST_JOB_SBCAST_CRED: sbcast_cred,
    MsgType.REQUEST_UPDATE_JOB_STEP: update_step,
}

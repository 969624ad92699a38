"""sprio and sshare: the priority factors of pending jobs (priority/multifactor, controller/priority.py)
and the fair-share tree (none without associations: slurmctld then fills in nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.controller.handlers.job_lookups import PRIVATE_DATA_JOBS
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.reports import PriorityFactorsRequest, PriorityFactorsResponse, SharesResponse
from flurm.rpc.transport import Reply, Request
from flurm.scheduler.multifactor import ACCRUE_ALWAYS, CALCULATE_RUNNING

if TYPE_CHECKING:
    from flurm.controller.engine import Controller
    from flurm.state.model import Job


def job_visible(ctl: Controller, job: Job, uid: int) -> bool:
    """PrivateData=jobs: only one's own jobs, unless an operator (no coordinators without accounting)."""
    return not (ctl.config.private_data & PRIVATE_DATA_JOBS) or job.user_id == uid or ctl.is_admin(uid)


def share_info(ctl: Controller, req: Request) -> Reply:
    return Reply(MsgType.RESPONSE_SHARE_INFO, SharesResponse())


def priority_factors(ctl: Controller, req: Request) -> Reply:
    """sprio: priority/basic answers an empty list; priority/multifactor the factors of each pending
    job that is eligible and not held, one record per partition, or no list when there is none. A
    22.05 sprio's filters are applied here; from 24.11 sprio filters on its side."""
    assert isinstance(req.body, PriorityFactorsRequest)
    prio = ctl.priority
    if not prio.multifactor:
        return Reply(MsgType.RESPONSE_PRIORITY_FACTORS, PriorityFactorsResponse(()))
    body = req.body
    now = ctl.now()
    accrue_always = bool(prio.settings.flags & ACCRUE_ALWAYS)
    running_too = bool(prio.settings.flags & CALCULATE_RUNNING)
    wanted_parts = None
    if body.partitions is not None:
        wanted_parts = {p for p in body.partitions.split(",") if p in ctl.cluster.partitions}
    records = []
    for job in sorted(ctl.cluster.jobs.values(), key=lambda j: (j.list_seq, j.job_id)):
        if not job.is_pending() and not (running_too and not job.is_finished()):
            continue
        use_time = job.submit_time if accrue_always else job.eligible_time
        if not use_time or use_time > now or job.priority == 0:
            continue
        if not job_visible(ctl, job, req.uid):
            continue
        if body.job_ids is not None and job.job_id not in body.job_ids:
            continue
        if body.uids is not None and job.user_id not in body.uids:
            continue
        for rec in prio.records(job):
            if wanted_parts is None or rec.partition in wanted_parts:
                records.append(rec)
    return Reply(MsgType.RESPONSE_PRIORITY_FACTORS, PriorityFactorsResponse(tuple(records) or None))


HANDLERS = {
    MsgType.REQUEST_SHARE_INFO: share_info,
    MsgType.REQUEST_PRIORITY_FACTORS: priority_factors,
}

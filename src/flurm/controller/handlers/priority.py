"""sprio and sshare: the priority factors of pending jobs (priority/multifactor, controller/priority.py)
and the fair-share tree (assoc_mgr_get_shares: every association of the cache with the usage and fair
share of the last decay pass; none without associations: slurmctld then fills in nothing)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.controller.handlers.job_lookups import PRIVATE_DATA_JOBS
from flurm.protocol.constants import NO_VAL, MsgType
from flurm.protocol.messages.reports import (
    PriorityFactorsRequest,
    PriorityFactorsResponse,
    ShareRecord,
    SharesRequest,
    SharesResponse,
)
from flurm.rpc.transport import Reply, Request
from flurm.scheduler.multifactor import ACCRUE_ALWAYS, CALCULATE_RUNNING, FairShare, ShareAssoc

if TYPE_CHECKING:
    from flurm.controller.engine import Controller
    from flurm.state.model import Job


def job_visible(ctl: Controller, job: Job, uid: int) -> bool:
    """PrivateData=jobs: only one's own jobs, unless an operator (no coordinators without accounting)."""
    return not (ctl.config.private_data & PRIVATE_DATA_JOBS) or job.user_id == uid or ctl.is_admin(uid)


PRIVATE_DATA_USAGE = 1 << 3  # slurm.conf PrivateData=usage
ADMIN_OPERATOR = 2  # slurmdb_admin_level_t
_NO_SHARE = FairShare(0, 0.0, 0.0, 0.0, 0.0)


def share_info(ctl: Controller, req: Request) -> Reply:
    """sshare: one record per association the request's accounts and users select (the user filter
    leaves the accounts' own associations; names compared without case). With PrivateData=usage
    someone not an operator sees only their own associations and those of the accounts they
    coordinate; not known to the cache at all, nothing."""
    assert isinstance(req.body, SharesRequest)
    inputs = ctl.priority.inputs
    assocs = inputs.share_assocs() if inputs is not None else ()
    if inputs is None or not assocs:
        return Reply(MsgType.RESPONSE_SHARE_INFO, SharesResponse())
    body = req.body
    users = {u.lower() for u in body.users} if body.users else None
    accounts = {a.lower() for a in body.accounts} if body.accounts else None
    view: tuple[str, frozenset[str]] | None = None
    if ctl.config.private_data & PRIVATE_DATA_USAGE and not (
        ctl.is_admin(req.uid) or inputs.admin_level(req.uid) >= ADMIN_OPERATOR
    ):
        view = inputs.user_view(req.uid)
        if view is None:
            return Reply(MsgType.RESPONSE_SHARE_INFO, SharesResponse())
    shares = ctl.priority.fair_shares() if ctl.priority.multifactor else {}
    usage = inputs.usage_state()
    names = inputs.tres_names()
    records = []
    for a in assocs:
        if users is not None and a.user is not None and a.user.lower() not in users:
            continue
        if accounts is not None and a.acct.lower() not in accounts:
            continue
        if view is not None and a.user != view[0] and a.acct.lower() not in {c.lower() for c in view[1]}:
            continue
        records.append(_share_record(a, shares.get(a.id), usage.get(a.id, 0.0), len(names)))
    return Reply(MsgType.RESPONSE_SHARE_INFO, SharesResponse(names, tuple(records)))


def _share_record(a: ShareAssoc, fs: FairShare | None, usage: float, tres_count: int) -> ShareRecord:
    root = a.shares_raw is None
    if root:
        # the decay pass sets root's effective usage to 1 and leaves its other values unset
        fs = FairShare(0, 0.0, float(NO_VAL), 1.0, 0.0, float(NO_VAL))
    elif fs is None:
        fs = _NO_SHARE  # an association no pass saw yet
    return ShareRecord(
        assoc_id=a.id,
        cluster=a.cluster,
        name=a.user if a.user is not None else a.acct,
        parent=a.parent,
        partition=a.partition,
        shares_norm=fs.shares_norm,
        shares_raw=NO_VAL if a.shares_raw is None else a.shares_raw,
        tres_run_secs=(0,) * tres_count,
        tres_grp_mins=a.grp_tres_mins,
        usage_efctv=fs.usage_efctv,
        usage_norm=fs.usage_norm,
        usage_raw=int(usage),
        usage_tres_raw=("0.000000",) * tres_count,
        fs_factor=fs.factor,
        level_fs=fs.level_fs,
        user=1 if a.user is not None else 0,
    )


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

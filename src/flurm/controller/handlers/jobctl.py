"""Job control RPCs: requeue (from scontrol and from slurmd), will-run (``--test-only``), the batch
script, top, notify, suspend/resume, reboot."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from flurm.config.hostlists import compress
from flurm.controller import job_control, reboot, requeue
from flurm.controller import suspend as suspend_ops
from flurm.controller.peer_names import PEER_NAMES
from flurm.controller.submit import build_job, node_config_rejection
from flurm.errors import SlurmError
from flurm.protocol.constants import NO_VAL, JobState, MsgType, SlurmRC
from flurm.protocol.messages.job_control import JobArrayErrors, WillRunResponse
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest
from flurm.protocol.messages.jobctl import (
    BatchScriptResponse,
    JobNotify,
    RebootNodes,
    SuspendRequest,
    TopJobRequest,
)
from flurm.protocol.messages.slurmd import JobRequeue
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.scheduler.will_run import will_run
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def job_requeue(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobRequeue)
    b = req.body
    rc, array_errors = requeue.requeue_request(ctl, b.job_id, b.job_id_str, b.flags, req.uid)
    if array_errors is not None:
        return Reply(MsgType.RESPONSE_JOB_ARRAY_ERRORS, JobArrayErrors(tuple(array_errors)))
    return rc_reply(rc)


def job_will_run(ctl: Controller, req: Request) -> Reply:
    """REQUEST_JOB_WILL_RUN 4012 (_slurm_rpc_job_will_run): a new job is validated as a submission,
    numbered and given a priority (slurmctld creates it and purges it at once: its id and priority
    are used up), and answered with when, where and on how many CPUs it would start. A job id names
    an existing pending job instead."""
    assert isinstance(req.body, JobDesc)
    desc = req.body
    cluster = ctl.cluster
    now = ctl.now()
    if desc.job_id != NO_VAL:
        found = cluster.jobs.get(desc.job_id)
        if found is None:
            return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
        if found.state != JobState.PENDING:
            return rc_reply(SlurmRC.ESLURM_DISABLED)
        return _answer(ctl, found, now)
    # srun --test-only asks without a script
    job, _array, _error = build_job(
        desc,
        req.uid,
        req.gid,
        ctl.is_admin(req.uid),
        cluster,
        PEER_NAMES.known(req.peer[0]),  # a will-run's job is dropped at once: no lookup awaited
        now,
        interactive=not desc.script,
    )
    if len(cluster.jobs) + 1 >= ctl.config.max_job_count:
        raise SlurmError(errno.EAGAIN)  # MaxJobCount, as a submission
    job.job_id = cluster.allocate_job_id()
    if job.priority == NO_VAL:
        ctl.priority.set_job_prio(job)
        ctl.priority.factors.pop(job.job_id, None)  # the job is dropped at once
    rejection = node_config_rejection(job, cluster)
    if rejection is not None:
        raise SlurmError(SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE, rejection)
    return _answer(ctl, job, now)


def _answer(ctl: Controller, job: Job, now: int) -> Reply:
    found = will_run(job, ctl.cluster, now)
    if found is None:
        return rc_reply(SlurmRC.ESLURM_REQUESTED_NODE_CONFIG_UNAVAILABLE)
    return Reply(
        MsgType.RESPONSE_JOB_WILL_RUN,
        WillRunResponse(
            job_id=job.job_id,
            node_list=compress(found.alloc.nodes),
            part_name=found.partition,
            proc_cnt=sum(found.alloc.cpus),
            start_time=found.start_time,
        ),
    )


def batch_script(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobIdRequest)
    found = job_control.batch_script(ctl, req.body.job_id, req.uid)
    if isinstance(found, int):
        return rc_reply(found)
    return Reply(MsgType.RESPONSE_BATCH_SCRIPT, BatchScriptResponse(found))


def top_job(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, TopJobRequest)
    return rc_reply(job_control.top(ctl, req.body.job_id_str, req.uid))


def job_notify(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobNotify)
    return rc_reply(job_control.notify(ctl, req.body.step_id.job_id, req.body.message, req.uid))


def suspend(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, SuspendRequest)
    b = req.body
    if suspend_ops.names_no_job(ctl, b.job_id, b.job_id_str):
        # slurmctld's _slurm_rpc_suspend sends no reply at all for a job it does not know (its
        # client reports "Unexpected message received"); flurm answers every request: the job
        # id is invalid
        return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    rc, array_errors = suspend_ops.suspend_request(ctl, b.op, b.job_id, b.job_id_str, req.uid)
    if array_errors is not None:
        return Reply(MsgType.RESPONSE_JOB_ARRAY_ERRORS, JobArrayErrors(tuple(array_errors)))
    return rc_reply(rc)


def reboot_nodes(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, RebootNodes)
    return rc_reply(reboot.reboot_request(ctl, req.body, req.uid))


HANDLERS = {
    MsgType.REQUEST_JOB_REQUEUE: job_requeue,
    MsgType.REQUEST_JOB_WILL_RUN: job_will_run,
    MsgType.REQUEST_BATCH_SCRIPT: batch_script,
    MsgType.REQUEST_TOP_JOB: top_job,
    MsgType.REQUEST_JOB_NOTIFY: job_notify,
    MsgType.REQUEST_SUSPEND: suspend,
    MsgType.REQUEST_REBOOT_NODES: reboot_nodes,
}

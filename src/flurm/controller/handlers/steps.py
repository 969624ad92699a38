"""srun and salloc RPCs: interactive allocations, steps, their end, and step information.

Registered after the other families (handlers/__init__.py), so that two types handled elsewhere
come here: REQUEST_CANCEL_JOB_STEP 5005 for a step id (a whole job still goes to the jobs
handler) and REQUEST_STEP_COMPLETE 5016 (which slurmd.py only acknowledged).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flurm.controller.handlers import jobs as job_handlers
from flurm.controller.handlers.jobs import _alloc_host
from flurm.protocol.constants import NO_VAL, SLURM_26_05_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.job_control import CompleteJobAllocation, JobStepKill
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.slurmd import StepComplete
from flurm.protocol.messages.steps import (
    HetJobAllocationResponse,
    JobAllocationInfoResponse,
    JobAllocInfoRequest,
    JobStepCreateRequest,
    JobStepInfoRequest,
    JobStepInfoResponse,
)
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.state.records import job_sluid

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


async def allocate(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobDesc)
    return await ctl.steps.allocate(
        req.body, req.uid, req.gid, req.peer[0], await _alloc_host(req), version=req.frame.version
    )


def alloc_info(ctl: Controller, req: Request) -> Reply:
    """4014 -> 4015, 4027 -> 4026 (one component: flurm has no heterogeneous jobs)."""
    assert isinstance(req.body, JobAllocInfoRequest)
    result = ctl.steps.alloc_info(req.body.job_id, req.uid)
    if isinstance(result, int):
        return rc_reply(result)
    if req.msg_type == MsgType.REQUEST_HET_JOB_ALLOC_INFO:
        return Reply(MsgType.RESPONSE_HET_JOB_ALLOCATION, HetJobAllocationResponse((result,)))
    job = ctl.cluster.jobs[req.body.job_id]
    return Reply(
        MsgType.RESPONSE_JOB_ALLOCATION_INFO,
        ctl.steps.allocation_response(job, cls=JobAllocationInfoResponse, lookup=True),
    )


async def step_create(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobStepCreateRequest)
    return await ctl.steps.create_step(req.body, req.uid, req.peer[0], version=req.frame.version)


def step_complete(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, StepComplete)
    b = req.body
    return rc_reply(
        ctl.steps.step_complete(b.step_id, b.range_first, b.range_last, b.step_rc, req.uid, b.jobacct)
    )


def complete_allocation(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, CompleteJobAllocation)
    return rc_reply(ctl.jobs.allocation_complete(req.body.job_id, req.body.job_rc, req.uid))


def cancel_step(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobStepKill)
    b = req.body
    if b.step_id == NO_VAL:
        return job_handlers.cancel_step(ctl, req)
    return rc_reply(ctl.steps.signal_step(b.job_id, b.step_id, b.signal, b.flags, req.uid))


def step_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobStepInfoRequest)
    b = req.body
    reply = ctl.steps.step_info(b.step_id.job_id, b.step_id.step_id, b.show_flags, req.uid)
    if req.frame.version >= SLURM_26_05_PROTOCOL_VERSION and isinstance(reply.body, JobStepInfoResponse):
        # 26.05's slurmctld names each step's job by its SLUID too (24.11's packs 0)
        jobs = ctl.cluster.jobs
        steps = tuple(
            replace(s, step_id=replace(s.step_id, sluid=job_sluid(jobs[s.step_id.job_id], ctl.cluster)))
            if s.step_id.job_id in jobs
            else s
            for s in reply.body.steps
        )
        reply = replace(reply, body=replace(reply.body, steps=steps))
    return reply


HANDLERS = {
    MsgType.REQUEST_RESOURCE_ALLOCATION: allocate,
    MsgType.REQUEST_JOB_ALLOCATION_INFO: alloc_info,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO: alloc_info,
    MsgType.REQUEST_JOB_STEP_CREATE: step_create,
    MsgType.REQUEST_STEP_COMPLETE: step_complete,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION: complete_allocation,
    MsgType.REQUEST_CANCEL_JOB_STEP: cancel_step,
    MsgType.REQUEST_JOB_STEP_INFO: step_info,
}

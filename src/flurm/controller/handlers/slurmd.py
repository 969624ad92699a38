"""What slurmd and slurmstepd send to the controller: registration and the end of jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.slurmd import (
    CompleteBatchScript,
    CompleteProlog,
    EpilogComplete,
    NodeRegistrationStatus,
    StepComplete,
)
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def registration(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, NodeRegistrationStatus)
    return ctl.agent.registration(req.body, req.uid)


def complete_batch(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, CompleteBatchScript)
    if not ctl.is_admin(req.uid):
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    b = req.body
    return rc_reply(ctl.jobs.batch_complete(b.job_id, b.job_rc, b.slurm_rc, b.node_name, b.jobacct))


def epilog_complete(ctl: Controller, req: Request) -> None:
    assert isinstance(req.body, EpilogComplete)
    if ctl.is_admin(req.uid) and req.body.node_name:
        ctl.jobs.node_epilog_done(req.body.job_id, req.body.node_name)
    return None  # slurmd expects no reply


def step_complete(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, StepComplete)
    return rc_reply(0)


def complete_prolog(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, CompleteProlog)
    if not ctl.is_admin(req.uid):
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    b = req.body
    return rc_reply(ctl.agent.prolog_complete(b.job_id, b.prolog_rc, b.node_name))


HANDLERS = {
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS: registration,
    MsgType.REQUEST_COMPLETE_BATCH_SCRIPT: complete_batch,
    MsgType.MESSAGE_EPILOG_COMPLETE: epilog_complete,
    MsgType.REQUEST_STEP_COMPLETE: step_complete,
    MsgType.REQUEST_COMPLETE_PROLOG: complete_prolog,
}

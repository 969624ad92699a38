"""Job control RPCs: requeue (from scontrol and from slurmd), ..."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.controller import requeue
from flurm.protocol.constants import MsgType
from flurm.protocol.messages.job_control import JobArrayErrors
from flurm.protocol.messages.slurmd import JobRequeue
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def job_requeue(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, JobRequeue)
    b = req.body
    rc, array_errors = requeue.requeue_request(ctl, b.job_id, b.job_id_str, b.flags, req.uid)
    if array_errors is not None:
        return Reply(MsgType.RESPONSE_JOB_ARRAY_ERRORS, JobArrayErrors(tuple(array_errors)))
    return rc_reply(rc)


HANDLERS = {
    MsgType.REQUEST_JOB_REQUEUE: job_requeue,
}

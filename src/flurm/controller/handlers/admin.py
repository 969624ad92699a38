"""Small RPCs: ping, federation info."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.protocol.constants import MsgType
from flurm.protocol.messages.job_control import FedInfoResponse
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def ping(ctl: Controller, req: Request) -> Reply:
    return rc_reply(0)


def fed_info(ctl: Controller, req: Request) -> Reply:
    return Reply(MsgType.RESPONSE_FED_INFO, FedInfoResponse())


HANDLERS = {
    MsgType.REQUEST_PING: ping,
    MsgType.REQUEST_FED_INFO: fed_info,
}

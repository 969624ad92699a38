"""sdiag: REQUEST_STATS_INFO (controller/diag.py keeps the counters)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flurm.protocol.constants import SLURM_24_11_PROTOCOL_VERSION, MsgType, SlurmRC
from flurm.protocol.messages.stats import STAT_COMMAND_RESET, StatsInfoRequest
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")


def stats_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, StatsInfoRequest)
    if req.body.command_id == STAT_COMMAND_RESET:
        if not ctl.is_admin(req.uid):
            log.error("Security violation: REQUEST_STATS_INFO reset from uid=%d", req.uid)
            return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
        ctl.diag.reset()
        if req.frame.version >= SLURM_24_11_PROTOCOL_VERSION:
            return rc_reply(SlurmRC.SLURM_SUCCESS)  # 24.11 and 26.05 answer a reset with a bare rc
        return Reply(MsgType.RESPONSE_STATS_INFO, ctl.diag.reset_response())
    body = ctl.diag.response(ctl.server.active_connections)
    return Reply(MsgType.RESPONSE_STATS_INFO, body)


HANDLERS = {MsgType.REQUEST_STATS_INFO: stats_info}

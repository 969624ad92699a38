"""Operator RPCs of scontrol: setdebug, setdebugflags, setschedloglevel, reconfigure, shutdown, takeover.

Each is answered as slurmctld 22.05 answers it (proc_req.c): anyone but an operator (root or
SlurmUser: validate_super_user) gets its refusal code, EACCES for the log settings and
ESLURM_USER_ID_MISSING for the others. Shutdown and REQUEST_CONTROL ask for the daemon's stop
(:attr:`Controller.stop_requested`, which daemon.py waits on as on SIGTERM).
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from flurm.config.slurmconf import ConfigError, load
from flurm.controller import reconfig
from flurm.controller.log_settings import LEVEL_NAMES, clamp
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.common import Empty, ShutdownRequest
from flurm.protocol.messages.control import ControlStatus
from flurm.protocol.messages.debug import SetDebugFlags, SetDebugLevel
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

SHUTDOWN_ALL = 0  # every daemon: the slurmd nodes too
SHUTDOWN_ABORT = 1  # slurmctld only, with a core file (flurm: as SHUTDOWN_CTLD)
SHUTDOWN_CTLD = 2  # slurmctld only


def set_debug_level(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, SetDebugLevel)
    if not ctl.is_admin(req.uid):
        log.error("set debug level request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    level = clamp(req.body.level)
    ctl.log_settings.set_level(level, ctl.now())
    log.info("Set debug level to '%s'", LEVEL_NAMES[level])
    return rc_reply(0)


def set_debug_flags(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, SetDebugFlags)
    if not ctl.is_admin(req.uid):
        log.error("set debug flags request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    ctl.log_settings.change_flags(req.body.minus, req.body.plus, ctl.now())
    log.info("Set DebugFlags to %#x", ctl.log_settings.debug_flags)
    return rc_reply(0)


def set_schedlog_level(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, SetDebugLevel)
    if not ctl.is_admin(req.uid):
        log.error("set scheduler log level request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    if not ctl.log_settings.sched_logfile:
        log.error("set scheduler log level failed: no log file!")  # slurmctld's answer: disabled
        return rc_reply(SlurmRC.ESLURM_DISABLED)
    ctl.log_settings.sched_log_level = max(0, min(req.body.level, 1))
    return rc_reply(0)


def reconfigure(ctl: Controller, req: Request) -> Reply:
    """scontrol reconfigure: read slurm.conf again and apply what changed to nodes and partitions.

    slurmctld 22.05 exits (fatal) on a file it cannot parse; flurm refuses the request instead, with
    the parser's message, and keeps running on the configuration it has.
    """
    if not ctl.is_admin(req.uid):
        log.error("Security violation, RECONFIGURE RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    if ctl.stopping.is_set():
        return rc_reply(errno.EINPROGRESS)
    log.info("Processing Reconfiguration Request")
    try:
        new = load(ctl.config.path)
    except ConfigError as exc:
        log.error("reconfigure: %s; keeping the configuration in use", exc)
        return rc_reply(SlurmRC.SLURM_ERROR, str(exc))
    changes = reconfig.apply(ctl, new)
    log.info("reconfigure: completed (%s)", changes.summary())
    if ctl.traits.drives_nodes:  # slurmd reads its slurm.conf again (msg_to_slurmd)
        ctl.spawn(ctl.agent.tell_all_nodes(MsgType.REQUEST_RECONFIGURE, Empty()), "reconfigure nodes")
    ctl.schedule_soon()
    return rc_reply(0)


def control_status(ctl: Controller, req: Request) -> Reply:
    """REQUEST_CONTROL_STATUS (a backup controller asking): flurm answers as the primary in control."""
    return Reply(MsgType.RESPONSE_CONTROL_STATUS, ControlStatus(0, int(ctl.started_at)))


def takeover(ctl: Controller, req: Request) -> Reply:
    """REQUEST_TAKEOVER reaching the controller in charge: nothing to take over (slurmctld: success)."""
    if not ctl.is_admin(req.uid):
        log.error("Security violation, TAKEOVER RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    log.info("Performing RPC: REQUEST_TAKEOVER : already in controller mode - skipping")
    return rc_reply(0)


async def shutdown(ctl: Controller, req: Request) -> Reply:
    """REQUEST_SHUTDOWN (scontrol shutdown [slurmctld]) and REQUEST_CONTROL (a backup taking over).

    The answer goes out before the daemon stops (the RPC server lets in-flight requests finish);
    the state is saved as on SIGTERM. A shutdown of all daemons first tells every slurmd
    to shut down (REQUEST_SHUTDOWN, which slurmd does not answer), as slurmctld's msg_to_slurmd().
    """
    if not ctl.is_admin(req.uid):
        log.error("Security violation, SHUTDOWN RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    if req.msg_type == MsgType.REQUEST_CONTROL:
        log.info("Performing RPC: REQUEST_CONTROL")
        options = SHUTDOWN_CTLD
    else:
        assert isinstance(req.body, ShutdownRequest)
        log.info("Performing RPC: REQUEST_SHUTDOWN")
        options = req.body.options
    if ctl.stopping.is_set() or ctl.stop_requested.is_set():
        log.debug("shutdown RPC issued when already in progress")
        return rc_reply(0)
    if options == SHUTDOWN_ALL and req.msg_type == MsgType.REQUEST_SHUTDOWN and ctl.traits.drives_nodes:
        await ctl.agent.tell_all_nodes(MsgType.REQUEST_SHUTDOWN, ShutdownRequest(SHUTDOWN_ALL))
    ctl.stop_requested.set()
    return rc_reply(0)


HANDLERS = {
    MsgType.REQUEST_SET_DEBUG_LEVEL: set_debug_level,
    MsgType.REQUEST_SET_DEBUG_FLAGS: set_debug_flags,
    MsgType.REQUEST_SET_SCHEDLOG_LEVEL: set_schedlog_level,
    MsgType.REQUEST_RECONFIGURE: reconfigure,
    MsgType.REQUEST_TAKEOVER: takeover,
    MsgType.REQUEST_CONTROL_STATUS: control_status,
    MsgType.REQUEST_SHUTDOWN: shutdown,
    MsgType.REQUEST_CONTROL: shutdown,
}

"""``scontrol show config``: REQUEST_BUILD_INFO answered with the configuration slurmctld would run with.

The table itself comes from the parsed slurm.conf (config/ctl_conf.py), with the defaults of the asking
client's release; this handler adds what only the running controller knows: when it started (BOOT_TIME,
and the time its configuration dates from), the moment of the answer, and the job id the next
submission would get. Anyone may ask, as in slurmctld (_slurm_rpc_dump_conf checks no user).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from flurm.config.ctl_conf import slurmctld_conf
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.config_info import BuildInfo
from flurm.protocol.messages.job_control import LastUpdateRequest
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def next_free_job_id(ctl: Controller) -> int:
    """The id the next job would get (get_next_job_id(test_only)): the counter, past ids in use."""
    cluster = ctl.cluster
    first, last = ctl.config.first_job_id, ctl.config.max_job_id
    jid = cluster.next_job_id
    for _ in range(last - first + 1):
        if jid not in cluster.jobs:
            return jid
        jid = jid + 1 if jid < last else first
    return jid


def build_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, LastUpdateRequest)
    boot_time = int(ctl.started_at)
    logs = ctl.log_settings  # scontrol setdebug, setdebugflags and schedloglevel change these
    # slurmctld's configuration dates from its start (slurm_conf.last_update), or an operator's change
    if req.body.last_update - 1 >= max(boot_time, logs.changed_at):
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    info: BuildInfo = replace(
        slurmctld_conf(ctl.config, version=req.frame.version),  # that release's defaults
        last_update=ctl.now(),
        boot_time=boot_time,
        next_job_id=next_free_job_id(ctl),
        slurmctld_debug=logs.slurmctld_debug,
        debug_flags=logs.debug_flags,
        sched_log_level=logs.sched_log_level,
    )
    return Reply(MsgType.RESPONSE_BUILD_INFO, info)


HANDLERS = {
    MsgType.REQUEST_BUILD_INFO: build_info,
}

"""``scontrol update PartitionName=...``: state, limits and flags, as slurmctld's update_part.

Changing a partition changes what its jobs show (a job without its own time limit shows the
partition's MaxTime) and whether they may run, so every job record is rebuilt and a scheduling
cycle follows. Changing a partition's node list is refused: flurm's partitions follow slurm.conf.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.protocol.constants import INFINITE, NO_VAL, NO_VAL16, PartitionFlag, SlurmRC
from flurm.protocol.messages.partitions import UpdatePartitionRequest
from flurm.scheduler import scheduler

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

_CLEAR = 0x100  # PART_FLAG_X_CLR = PART_FLAG_X << 8


def update_partition(ctl: Controller, msg: UpdatePartitionRequest, uid: int, *, create: bool = False) -> int:
    """Apply one REQUEST_UPDATE_PARTITION; the return code slurmctld would answer."""
    if not ctl.is_admin(uid):
        return SlurmRC.ESLURM_USER_ID_MISSING
    cluster = ctl.cluster
    part = cluster.partitions.get(msg.name or "")
    if part is None or create:
        return SlurmRC.ESLURM_INVALID_PARTITION_NAME
    if msg.nodes is not None:
        return SlurmRC.ESLURM_NOT_SUPPORTED
    if msg.max_time != NO_VAL:
        part.max_time = None if msg.max_time == INFINITE else msg.max_time
    if msg.default_time != NO_VAL:
        limit = INFINITE if part.max_time is None else part.max_time
        if msg.default_time <= limit:  # slurmctld ignores a DefaultTime above MaxTime
            part.default_time = None if msg.default_time == INFINITE else msg.default_time
    if msg.max_nodes != NO_VAL:
        part.max_nodes = None if msg.max_nodes == INFINITE else msg.max_nodes
    if msg.min_nodes != NO_VAL:
        part.min_nodes = msg.min_nodes
    if msg.max_cpus_per_node != NO_VAL:
        part.max_cpus_per_node = None if msg.max_cpus_per_node == INFINITE else msg.max_cpus_per_node
    if msg.max_share != NO_VAL16:
        part.max_share = msg.max_share
    if msg.priority_job_factor != NO_VAL16:
        part.priority_job_factor = msg.priority_job_factor
    if msg.priority_tier != NO_VAL16:
        part.priority_tier = msg.priority_tier
    if msg.allow_groups is not None:
        part.allow_groups = None if msg.allow_groups.upper() == "ALL" else msg.allow_groups
    flags = msg.flags
    if flags & PartitionFlag.HIDDEN:
        part.hidden = True
    elif flags & (PartitionFlag.HIDDEN * _CLEAR):
        part.hidden = False
    if flags & PartitionFlag.ROOT_ONLY:
        part.root_only = True
    elif flags & (PartitionFlag.ROOT_ONLY * _CLEAR):
        part.root_only = False
    if flags & PartitionFlag.DEFAULT:
        for other in cluster.partitions.values():
            other.default = other is part
        cluster.default_partition = part.name
    elif flags & (PartitionFlag.DEFAULT * _CLEAR) and cluster.default_partition == part.name:
        part.default = False
        cluster.default_partition = None
    if msg.state_up != NO_VAL16:
        part.state_up = msg.state_up
    cluster.last_part_update = ctl.now()
    for job in cluster.jobs.values():
        job.touch()  # their records show partition limits
    cluster.job_generation += 1
    scheduler.request_pass(cluster)
    ctl.schedule_soon()
    return 0

"""Nodes and partitions created or deleted at run time: ``scontrol create/delete NodeName=`` and
``scontrol delete PartitionName=``.

flurm's nodes follow slurm.conf (and FUTURE/CLOUD nodes declared there), so a node is neither
created nor deleted at run time: every check slurmctld makes before it would do so is made with its
return code and message, and what would then succeed is refused with ESLURM_NOT_SUPPORTED. A
partition is deleted as slurmctld deletes one (refused while a job that is not finished uses it).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from flurm.config.hostlists import HostlistError, compress, expand
from flurm.protocol.constants import MsgType, NodeStateFlag, SlurmRC
from flurm.protocol.messages.job_lookups import DeletePartitionRequest, NodeChangeRequest
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.scheduler import scheduler

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

_STATE = re.compile(r"(?:^|\s)state=(\S+)", re.IGNORECASE)


def _dynamic_nodes_possible(ctl: Controller, what: str) -> Reply | None:
    if "cons_tres" not in ctl.config.select_type:
        message = f"Node {what} only compatible with select/cons_tres"
        log.error("%s", message)
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED, message)
    return None


def create_node(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, NodeChangeRequest)
    if not ctl.is_admin(req.uid):
        log.error("Security violation, CREATE_NODE RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    refused = _dynamic_nodes_possible(ctl, "creation")
    if refused is not None:
        return refused
    line = req.body.extra or ""
    if not line.strip():
        message = f"Failed to parse nodeline '{line}'"
        log.error("%s", message)
        return rc_reply(SlurmRC.SLURM_ERROR, message)
    m = _STATE.search(line)
    states = set(m.group(1).upper().split("+")) if m else set()
    if states != {"FUTURE"} and "CLOUD" not in states:
        message = "Only State=FUTURE and State=CLOUD allowed for nodes created by scontrol"
        log.error("%s", message)
        return rc_reply(SlurmRC.ESLURM_INVALID_NODE_STATE, message)
    log.warning("node creation refused (%s): flurm's nodes are those of slurm.conf", line)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def delete_node(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, NodeChangeRequest)
    if not ctl.is_admin(req.uid):
        log.error("Security violation, DELETE_NODE RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    refused = _dynamic_nodes_possible(ctl, "deletion")
    if refused is not None:
        return refused
    try:
        names = expand(req.body.node_names or "")
    except HostlistError:
        return rc_reply(SlurmRC.ESLURM_INVALID_NODE_NAME)
    if not names:
        return rc_reply(SlurmRC.ESLURM_INVALID_NODE_NAME)
    rc = 0
    failed: list[str] = []
    for name in names:
        node = ctl.cluster.nodes.get(name)
        if node is None:
            why = SlurmRC.ESLURM_INVALID_NODE_NAME
        elif node.alloc_cpus or node.flags & NodeStateFlag.COMPLETING:
            why = SlurmRC.ESLURM_NODES_BUSY
        else:
            continue
        log.error("failed to delete node '%s'", name)
        failed.append(name)
        rc |= why  # slurmctld ORs the codes of the nodes it could not delete
    if failed:
        return rc_reply(rc, f"failed to delete nodes {compress(failed)}")
    log.warning("deletion of %s refused: flurm's nodes are those of slurm.conf", req.body.node_names)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def delete_partition(ctl: Controller, req: Request) -> Reply:
    """slurmctld's delete_partition. As the changes of ``scontrol update PartitionName=``, the
    deletion lasts until flurm next reads slurm.conf."""
    assert isinstance(req.body, DeletePartitionRequest)
    if not ctl.is_admin(req.uid):
        log.error("Security violation, DELETE_PARTITION RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    cluster = ctl.cluster
    name = req.body.name or ""
    part = cluster.partitions.get(name)
    if part is None:
        return rc_reply(SlurmRC.ESLURM_INVALID_PARTITION_NAME)
    if any(not job.is_finished() and name in job.partition.split(",") for job in cluster.jobs.values()):
        return rc_reply(SlurmRC.ESLURM_PARTITION_IN_USE)
    if cluster.default_partition == name:
        log.error("Deleting default partition %s", name)
        cluster.default_partition = None
    del cluster.partitions[name]
    cluster.last_part_update = ctl.now()
    scheduler.request_pass(cluster)
    ctl.schedule_soon()
    log.info("_slurm_rpc_delete_partition complete for %s", name)
    return rc_reply(SlurmRC.SLURM_SUCCESS)


HANDLERS = {
    MsgType.REQUEST_CREATE_NODE: create_node,
    MsgType.REQUEST_DELETE_NODE: delete_node,
    MsgType.REQUEST_DELETE_PARTITION: delete_partition,
}

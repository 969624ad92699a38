"""Node and partition information for sinfo and scontrol."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.config.hostlists import HostlistError, compress, expand
from flurm.controller import partitions
from flurm.controller.handlers.jobs import records_version
from flurm.controller.node_update import update_nodes
from flurm.controller.node_visibility import hidden_by_name, hidden_in_listing
from flurm.protocol.constants import MsgType, ShowFlags, SlurmRC
from flurm.protocol.messages.nodes import (
    NodeInfoRequest,
    NodeInfoResponse,
    NodeInfoSingleRequest,
    UpdateNodeRequest,
)
from flurm.protocol.messages.partitions import (
    PartitionInfoRequest,
    PartitionInfoResponse,
    UpdatePartitionRequest,
)
from flurm.protocol.messages.reports import HostlistExpansion
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.state import gres_node
from flurm.state.records import build_node_record, build_partition_record, encoded_node_record

if TYPE_CHECKING:
    from flurm.controller.engine import Controller


def node_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, NodeInfoRequest)
    cluster = ctl.cluster
    if req.body.last_update and req.body.last_update - 1 >= cluster.last_node_update:
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    flags, private = req.body.show_flags, ctl.config.private_data
    version, names = records_version(req), ctl.config.gres_names
    tres = gres_node.tres_names(ctl.config.raw.get("accountingstoragetres"))
    table = cluster.node_list
    slots = [
        None
        if hidden_in_listing(n, flags, private)
        else encoded_node_record(n, flags, version, names, tres, table)
        for n in table
    ]
    raw = NodeInfoResponse.join_slots(ctl.now(), slots, version)
    return Reply(MsgType.RESPONSE_NODE_INFO, raw_body=raw, raw_version=version)


def node_info_single(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, NodeInfoSingleRequest)
    node = ctl.cluster.nodes.get(req.body.node_name or "")
    flags = req.body.show_flags
    shown = node is not None and not hidden_by_name(node, flags)
    version, names = req.frame.header.version, ctl.config.gres_names
    tres = gres_node.tres_names(ctl.config.raw.get("accountingstoragetres"))
    records = (build_node_record(node, flags, version, names, tres),) if node is not None and shown else ()
    # pack_one_node: no bitmap of hidden slots (24.11 on)
    return Reply(MsgType.RESPONSE_NODE_INFO, NodeInfoResponse(ctl.now(), records, hidden_map=False))


def partition_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, PartitionInfoRequest)
    cluster = ctl.cluster
    if req.body.last_update and req.body.last_update - 1 >= cluster.last_part_update:
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    show_all = bool(req.body.show_flags & ShowFlags.ALL) or ctl.is_admin(req.uid)
    records = tuple(
        build_partition_record(p, cluster, req.frame.header.version)
        for p in cluster.partitions.values()
        if show_all or not p.hidden
    )
    return Reply(MsgType.RESPONSE_PARTITION_INFO, PartitionInfoResponse(ctl.now(), records))


def update_node(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, UpdateNodeRequest)
    return rc_reply(update_nodes(ctl, req.body, req.uid))


def update_partition(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, UpdatePartitionRequest)
    create = req.msg_type == MsgType.REQUEST_CREATE_PARTITION
    return rc_reply(partitions.update_partition(ctl, req.body, req.uid, create=create))


PRIVATE_DATA_NODES = 1 << 1  # slurm.conf PrivateData=nodes


def hostlist_expansion(ctl: Controller, req: Request) -> Reply:
    """REQUEST_HOSTLIST_EXPANSION (26.05, _slurm_rpc_hostlist_expansion): the cluster's nodes an
    expression names, as a ranged hostlist in node table order; a name that is no node's fails it."""
    assert isinstance(req.body, HostlistExpansion)
    if ctl.config.private_data & PRIVATE_DATA_NODES and not ctl.is_admin(req.uid):
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
    try:
        names = set(expand(req.body.hostlist or ""))
    except HostlistError:
        return rc_reply(SlurmRC.ESLURM_INVALID_NODE_NAME)
    nodes = ctl.cluster.nodes
    if any(n not in nodes for n in names):
        return rc_reply(SlurmRC.ESLURM_INVALID_NODE_NAME)
    ordered = [n.name for n in ctl.cluster.node_list if n.name in names]
    return Reply(MsgType.RESPONSE_HOSTLIST_EXPANSION, HostlistExpansion(compress(ordered) or ""))


HANDLERS = {
    MsgType.REQUEST_HOSTLIST_EXPANSION: hostlist_expansion,
    MsgType.REQUEST_UPDATE_PARTITION: update_partition,
    MsgType.REQUEST_CREATE_PARTITION: update_partition,
    MsgType.REQUEST_UPDATE_NODE: update_node,
    MsgType.REQUEST_NODE_INFO: node_info,
    MsgType.REQUEST_NODE_INFO_SINGLE: node_info_single,
    MsgType.REQUEST_PARTITION_INFO: partition_info,
}

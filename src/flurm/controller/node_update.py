"""``scontrol update NodeName=...``: drain, resume, down, fail, reasons, weight, GRES (slurmctld update_node).

A node's reason only stays while the node is DOWN, DRAIN or FAIL (slurmctld clears it whenever a node ends
an update available). Resuming a drained or down node makes flurm ask its slurmd to register again; it
shows "not responding" until slurmd answers, as under slurmctld.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from flurm.config.hostlists import HostlistError, expand
from flurm.controller import reboot
from flurm.protocol.constants import NO_VAL, NodeState, NodeStateFlag, SlurmRC
from flurm.protocol.messages.nodes import UpdateNodeRequest
from flurm.state import gres_node
from flurm.state.model import Node

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

RESUME = NodeStateFlag.RESUME
UNDRAIN = NodeStateFlag.UNDRAIN
DRAIN = NodeStateFlag.DRAIN
FAIL = NodeStateFlag.FAIL
_UNAVAILABLE = DRAIN | FAIL


def _valid_change(node: Node, new: int) -> bool:
    invalid_reg = bool(node.flags & NodeStateFlag.INVALID_REG)  # its slurmd registered what slurm.conf denies
    if new in (UNDRAIN, NodeState.IDLE, RESUME) and invalid_reg:
        return False
    if new in (NodeState.DOWN, DRAIN, FAIL, NodeStateFlag.NO_RESPOND, UNDRAIN, NodeState.IDLE):
        return True
    if new == NodeStateFlag.REBOOT_CANCEL:
        return bool(node.flags & NodeStateFlag.REBOOT_REQUESTED)
    if new == RESUME:
        return node.base_state in (NodeState.DOWN, NodeState.FUTURE) or bool(
            node.flags & (_UNAVAILABLE | NodeStateFlag.REBOOT_REQUESTED)
        )
    return False


def _equivalent(node: Node, new: int) -> bool:
    """The node already is what was asked (then only a changed reason is an update)."""
    if new == NO_VAL:
        return True
    if new == NodeState.DOWN:
        return node.base_state == NodeState.DOWN
    if new in (DRAIN, FAIL):
        return bool(node.flags & new)
    return False


def update_nodes(ctl: Controller, msg: UpdateNodeRequest, uid: int) -> int:
    """Apply one REQUEST_UPDATE_NODE; the return code slurmctld would answer."""
    if not ctl.is_admin(uid):
        return SlurmRC.ESLURM_USER_ID_MISSING
    try:
        names = expand(msg.node_names or "")
    except HostlistError:
        return SlurmRC.ESLURM_INVALID_NODE_NAME
    if not names:
        return SlurmRC.ESLURM_INVALID_NODE_NAME
    cluster = ctl.cluster
    now = ctl.now()
    rc = 0
    for name in names:
        node = cluster.nodes.get(name)
        if node is None:
            rc = SlurmRC.ESLURM_INVALID_NODE_NAME
            break
        if msg.weight != NO_VAL:
            node.weight = msg.weight
            cluster.weight_generation += 1  # the scheduler's node order changes
        state = msg.node_state
        if _equivalent(node, state) and (msg.reason or None) == node.reason:
            continue
        if msg.reason:
            node.reason = msg.reason
            node.reason_time = now
            node.reason_uid = uid
        if state != NO_VAL and not _valid_change(node, state):
            rc = SlurmRC.ESLURM_INVALID_NODE_STATE
            state = NO_VAL
        if state == RESUME or state == NodeState.IDLE:
            was_down = node.base_state in (NodeState.DOWN, NodeState.FUTURE)
            had_flags = bool(node.flags & _UNAVAILABLE)
            node.flags &= ~(_UNAVAILABLE | NodeStateFlag.REBOOT_REQUESTED | NodeStateFlag.REBOOT_ISSUED)
            node.config_down = False
            if was_down:
                node.base_state = NodeState.IDLE
                node.registered = False
            if was_down or (had_flags and state == RESUME):
                node.flags |= NodeStateFlag.NO_RESPOND  # until slurmd answers again
                node.boot_time = 0
                ctl.agent.request_registration(node)
            node.refresh_base_state()
        elif state == UNDRAIN:
            node.flags &= ~DRAIN
            node.flags |= NodeStateFlag.NO_RESPOND
            ctl.agent.request_registration(node)
        elif state in (DRAIN, FAIL):
            node.flags &= ~_UNAVAILABLE
            node.flags |= state
        elif state == NodeState.DOWN:
            ctl.agent.node_down(node, node.reason or "", now, by_admin=True)
        elif state == NodeStateFlag.NO_RESPOND:
            node.flags |= NodeStateFlag.NO_RESPOND
        elif state == NodeStateFlag.REBOOT_CANCEL:
            rc = reboot.cancel(node) or rc
        if node.base_state != NodeState.DOWN and not node.flags & _UNAVAILABLE:
            node.reason = None  # a node that is available keeps no reason
            node.reason_time = 0
            node.reason_uid = NO_VAL
        cluster.node_changed(node)
    if rc == 0 and msg.gres is not None:
        rc = _update_gres(ctl, names, msg.gres)
    ctl.schedule_soon()
    return rc


def _update_gres(ctl: Controller, names: list[str], text: str) -> int:
    """_update_node_gres: each node's GRES counts from ``text`` (its Gres= becomes ``text``); a node whose
    GRES with devices would change count keeps its own and the update answers ESLURM_INVALID_GRES."""
    rc = 0
    gres_names = ctl.config.gres_names
    for name in names:
        node = ctl.cluster.nodes[name]
        error = gres_node.update(node.gres_inv, text, gres_names)
        if error is not None:
            log.error(error, name)
            rc = rc or SlurmRC.ESLURM_INVALID_GRES
            continue
        node.gres_conf = text or None
        built = gres_node.gres_text(
            node.gres_inv, gres_names, sockets=node.sockets, cores_per_socket=node.cores_per_socket
        )
        node.gres = built or node.gres_conf
        log.info("_update_node_gres: nodes %s gres set to: %s", name, text)
        ctl.cluster.node_changed(node)
    return rc

"""scontrol reboot (REQUEST_REBOOT_NODES 1015) as slurmctld 22.05 (_slurm_rpc_reboot_nodes,
_queue_reboot_msg).

Root and SlurmUser only. Each named node (or ALL) not already waiting for a reboot is marked
REBOOT_REQUESTED with the reason given ("reboot requested" otherwise); ASAP also drains it ("Reboot
ASAP") so that it empties, and makes it resume after the reboot. Once a marked node is idle (or
DOWN), REQUEST_REBOOT_NODES goes to its slurmd, which runs RebootProgram; the node is then DOWN
with REBOOT_ISSUED ("boot") and "reboot issued" added to its reason, until slurmd registers with a
later boot time. ``scontrol`` itself refuses when RebootProgram is not set in its slurm.conf.

A node that has not booted ResumeTimeout after that stays DOWN, "reboot timed out".

``scontrol cancel_reboot`` is an update of the node (REQUEST_UPDATE_NODE, State=REBOOT_CANCEL):
a node still waiting for its reboot is no longer marked, an ASAP one is no longer drained.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from flurm.config import hostlists
from flurm.protocol.constants import NO_VAL, MsgType, NodeState, NodeStateFlag, SlurmRC
from flurm.protocol.messages.jobctl import REBOOT_FLAGS_ASAP, RebootNodes
from flurm.state.model import Node

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

F = NodeStateFlag
DEFAULT_RESUME_TIMEOUT = 60  # ResumeTimeout, seconds
_SKIPPED = (
    F.REBOOT_REQUESTED | F.REBOOT_ISSUED | F.POWER_DOWN | F.POWERED_DOWN | F.POWERING_DOWN | F.DYNAMIC_FUTURE
)


def reboot_request(ctl: Controller, msg: RebootNodes, uid: int) -> int:
    """The RPC: 0, EACCES for anyone but root and SlurmUser, or ESLURM_INVALID_NODE_NAME."""
    if uid != 0 and uid != ctl.config.slurm_user_uid:
        return errno.EACCES
    nodes = ctl.cluster.nodes
    if not msg.node_list or msg.node_list.lower() == "all":
        chosen = list(ctl.cluster.node_list)
    else:
        try:
            names = set(hostlists.expand(msg.node_list))
        except hostlists.HostlistError:
            return SlurmRC.ESLURM_INVALID_NODE_NAME
        if any(n not in nodes for n in names):
            return SlurmRC.ESLURM_INVALID_NODE_NAME
        chosen = [n for n in ctl.cluster.node_list if n.name in names]
    now = ctl.now()
    for node in chosen:
        if node.base_state == NodeState.FUTURE or node.flags & _SKIPPED:
            continue
        node.flags |= F.REBOOT_REQUESTED
        node.next_state = msg.next_state
        if msg.reason:
            _reason(node, msg.reason, now, uid)
        if msg.flags & REBOOT_FLAGS_ASAP:
            if node.next_state == NO_VAL:
                node.next_state = F.RESUME
            if not node.flags & F.DRAIN:
                node.next_state |= F.UNDRAIN
            node.flags |= F.DRAIN
            if node.reason is None:
                _reason(node, "Reboot ASAP", now, uid)
        if node.reason is None:
            _reason(node, "reboot requested", now, uid)
        ctl.cluster.node_changed(node)
    ctl.schedule_soon()
    return 0


def cancel(node: Node) -> int:
    """State=CANCEL_REBOOT of a node marked REBOOT_REQUESTED (update_node): 0, or
    ESLURM_REBOOT_IN_PROGRESS once its reboot was issued."""
    if node.flags & F.REBOOT_ISSUED:
        return SlurmRC.ESLURM_REBOOT_IN_PROGRESS
    node.flags &= ~F.REBOOT_REQUESTED
    if node.next_state & F.UNDRAIN:
        # _undo_reboot_asap: the drain (and the reason) ASAP gave it go; slurmctld tests the bit
        # in NO_VAL too, so a node given no next state loses its drain and reason as well
        node.flags &= ~F.DRAIN
        node.reason = None
    node.next_state = NO_VAL
    return 0


def issue_due(ctl: Controller, now: int) -> None:
    """Each second: reboot the marked nodes that are idle (or DOWN) now; a node that has not booted
    ResumeTimeout after its reboot was issued stays DOWN, "reboot timed out" (check_reboot_nodes)."""
    resume_timeout = _resume_timeout(ctl)
    for node in ctl.cluster.node_list:
        if node.flags & F.REBOOT_ISSUED and node.boot_req_time and node.boot_req_time + resume_timeout < now:
            _add_reason(ctl, node, "reboot timed out", now)
            node.flags &= ~(F.REBOOT_ISSUED | F.POWERING_UP | F.DRAIN)
            node.boot_req_time = 0
            ctl.cluster.node_changed(node)
            continue
        if not node.flags & F.REBOOT_REQUESTED or node.flags & F.REBOOT_ISSUED:
            continue
        if node.flags & F.COMPLETING:
            continue
        idle = node.base_state == NodeState.IDLE and not node.jobs and not node.flags & F.NO_RESPOND
        if not idle and node.base_state != NodeState.DOWN:
            continue
        ctl.agent.send_to_node(node.name, MsgType.REQUEST_REBOOT_NODES, RebootNodes(), expect_reply=False)
        node.base_state = NodeState.DOWN
        node.flags = (node.flags & ~F.REBOOT_REQUESTED) | F.REBOOT_ISSUED
        node.boot_req_time = now
        _add_reason(ctl, node, "reboot issued", now)
        ctl.cluster.node_changed(node)


def _add_reason(ctl: Controller, node: Node, message: str, now: int) -> None:
    """set_node_reboot_reason: the message after the node's reason (once)."""
    if node.reason and message not in node.reason:
        node.reason += f" : {message}"
    else:
        node.reason = message
    node.reason_time = now
    node.reason_uid = ctl.config.slurm_user_uid


def _resume_timeout(ctl: Controller) -> int:
    text = ctl.config.raw.get("resumetimeout")
    try:
        return int(text) if text else DEFAULT_RESUME_TIMEOUT
    except ValueError:
        return DEFAULT_RESUME_TIMEOUT


def node_rebooted(node: Node, boot_time: int) -> bool:
    """slurmd registered: True when this ends a reboot flurm issued (the node booted after it);
    the node then takes its next state (RESUME: back to service, undrained if ASAP drained it)."""
    if not node.flags & F.REBOOT_ISSUED or boot_time < node.boot_req_time:
        return False
    node.flags &= ~F.REBOOT_ISSUED
    if node.next_state != NO_VAL and node.next_state & F.RESUME:
        node.base_state = NodeState.IDLE
        if node.next_state & F.UNDRAIN:
            node.flags &= ~F.DRAIN
        node.reason = None
        node.reason_time = 0
        node.reason_uid = NO_VAL
        node.refresh_base_state()
    node.next_state = NO_VAL
    return True


def _reason(node: Node, text: str, now: int, uid: int) -> None:
    node.reason = text
    node.reason_time = now
    node.reason_uid = uid

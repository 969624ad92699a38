"""Which nodes sinfo and scontrol see (node_mgr.c pack_all_node, pack_one_node, _is_cloud_hidden).

A FUTURE node is hidden unless the client asks for future nodes (``scontrol show node -F``,
``sinfo --future``); a powered-down CLOUD node is hidden from listings unless ``PrivateData=cloud``
(asked for by name it is shown). A hidden node keeps its slot in a listing as a blank record, so
that node indexes stay aligned.
"""

from __future__ import annotations

from flurm.protocol.constants import NodeState, NodeStateFlag, ShowFlags
from flurm.state.model import Node

PRIVATE_CLOUD_NODES = 1 << 7  # PrivateData=cloud: powered-down cloud nodes are listed


def _future_hidden(node: Node, show_flags: int) -> bool:
    return node.base_state == NodeState.FUTURE and not show_flags & ShowFlags.FUTURE


def hidden_in_listing(node: Node, show_flags: int, private_data: int) -> bool:
    """Packed as a blank record in REQUEST_NODE_INFO's answer."""
    cloud_off = node.flags & NodeStateFlag.CLOUD and node.flags & NodeStateFlag.POWERED_DOWN
    return _future_hidden(node, show_flags) or bool(cloud_off and not private_data & PRIVATE_CLOUD_NODES)


def hidden_by_name(node: Node, show_flags: int) -> bool:
    """Left out of REQUEST_NODE_INFO_SINGLE's answer (0 records)."""
    return _future_hidden(node, show_flags)


__all__ = ["hidden_by_name", "hidden_in_listing"]

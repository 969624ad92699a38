"""Which nodes sinfo and scontrol see: FUTURE and powered-down CLOUD nodes (node_mgr.c pack_all_node)."""

from __future__ import annotations

from flurm.controller.node_visibility import PRIVATE_CLOUD_NODES, hidden_by_name, hidden_in_listing
from flurm.protocol.constants import NodeState, NodeStateFlag, ShowFlags
from flurm.state.model import Node


def node(base: int, flags: int = 0) -> Node:
    return Node(
        name="n",
        index=0,
        addr="a",
        hostname="h",
        port=1,
        cpus=1,
        boards=1,
        sockets=1,
        cores_per_socket=1,
        threads_per_core=1,
        real_memory=1,
        base_state=base,
        flags=flags,
    )


def test_future_nodes_only_with_show_future() -> None:
    future = node(NodeState.FUTURE)
    assert hidden_in_listing(future, 0, 0) and hidden_by_name(future, ShowFlags.DETAIL)
    assert not hidden_in_listing(future, ShowFlags.FUTURE, 0)
    assert not hidden_by_name(future, ShowFlags.FUTURE)


def test_powered_down_cloud_nodes_listed_with_private_data_cloud_or_by_name() -> None:
    cloud = node(NodeState.IDLE, NodeStateFlag.CLOUD | NodeStateFlag.POWERED_DOWN)
    assert hidden_in_listing(cloud, ShowFlags.FUTURE | ShowFlags.ALL, 0)
    assert not hidden_in_listing(cloud, 0, PRIVATE_CLOUD_NODES)
    assert not hidden_by_name(cloud, 0)
    assert not hidden_in_listing(node(NodeState.IDLE, NodeStateFlag.CLOUD), 0, 0)  # powered up
    assert not hidden_in_listing(node(NodeState.DOWN, NodeStateFlag.DRAIN), 0, 0)

"""Node listings joined from cached records: the same bytes as packing every record, and a change of
what a record shows rebuilds it."""

from __future__ import annotations

import textwrap

import pytest

from flurm.config import parse_text
from flurm.protocol.constants import NodeState, NodeStateFlag, ShowFlags
from flurm.protocol.messages.nodes import NodeInfoResponse
from flurm.protocol.versions import SERVED
from flurm.state.cluster import Cluster
from flurm.state.records import build_node_record, encoded_node_record

CONF = """\
ClusterName=test
SlurmctldHost=ctl(10.0.0.1)
NodeName=n[1-4] CPUs=4 RealMemory=1000
NodeName=f1 CPUs=4 RealMemory=1000 State=FUTURE
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


def make_cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: 1_000_000)
    for node in c.node_list[:4]:
        node.registered = True
        node.base_state = NodeState.IDLE
    return c


def listing(c: Cluster, flags: int, version: int) -> bytes:
    slots = [
        None
        if n.base_state == NodeState.FUTURE and not flags & ShowFlags.FUTURE
        else encoded_node_record(n, flags, version, (), (), c.node_list)
        for n in c.node_list
    ]
    return NodeInfoResponse.join_slots(5, slots, version)


def packed(c: Cluster, flags: int, version: int) -> bytes:
    from flurm.protocol.messages.nodes import NodeRecord
    from flurm.protocol.wire import Writer

    records = tuple(
        NodeRecord.blank()
        if n.base_state == NodeState.FUTURE and not flags & ShowFlags.FUTURE
        else build_node_record(n, flags, version, (), ())
        for n in c.node_list
    )
    w = Writer()
    NodeInfoResponse(5, records).pack(w, version)
    return w.getvalue()


@pytest.mark.parametrize("version", SERVED)
@pytest.mark.parametrize("flags", [0, int(ShowFlags.DETAIL), int(ShowFlags.FUTURE)])
def test_joined_listing_is_the_packed_one(version: int, flags: int) -> None:
    c = make_cluster()
    assert listing(c, flags, version) == packed(c, flags, version)


def test_a_change_rebuilds_the_record() -> None:
    c = make_cluster()
    version = SERVED[-1]
    before = listing(c, 0, version)
    n2 = c.nodes["n2"]
    n2.flags |= NodeStateFlag.DRAIN
    n2.reason = "maintenance"
    after = listing(c, 0, version)
    assert after != before and after == packed(c, 0, version)
    n2.alloc_cpus = 2
    n2.base_state = NodeState.ALLOCATED
    assert listing(c, 0, version) == packed(c, 0, version)
    n2.cpu_load = 150
    assert listing(c, 0, version) == packed(c, 0, version)


def test_what_a_node_keeps_is_bounded_whatever_flags_clients_send() -> None:
    """show_flags are a client's u16: asking with each value must not grow a node's cache with it."""
    c = make_cluster()
    node = c.nodes["n1"]
    for flags in range(200):
        encoded_node_record(node, flags, SERVED[-1], (), (), c.node_list)
    assert len(node._records) <= 8

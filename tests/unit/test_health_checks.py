"""HealthCheckInterval / HealthCheckNodeState: when and where REQUEST_HEALTH_CHECK goes (run_health_check)."""

from __future__ import annotations

from flurm.nodes.health import (
    HEALTH_CHECK_CYCLE,
    HEALTH_CHECK_NODE_ANY,
    HealthChecks,
    parse_node_state,
)
from flurm.protocol.constants import NodeState, NodeStateFlag
from flurm.state.model import Node


def node(name: str, base: int = NodeState.IDLE, flags: int = 0, alloc: int = 0) -> Node:
    n = Node(
        name=name,
        index=0,
        addr="a",
        hostname="h",
        port=1,
        cpus=4,
        boards=1,
        sockets=1,
        cores_per_socket=4,
        threads_per_core=1,
        real_memory=1,
        base_state=base,
        flags=flags,
    )
    n.alloc_cpus = alloc
    return n


def names(nodes: list[Node]) -> list[str]:
    return [n.name for n in nodes]


def test_node_state_words() -> None:
    assert parse_node_state(None) == HEALTH_CHECK_NODE_ANY
    assert parse_node_state("IDLE,mixed") == 0x5
    assert parse_node_state("cycle") == HEALTH_CHECK_CYCLE | HEALTH_CHECK_NODE_ANY
    assert parse_node_state("bogus,alloc") == 0x2  # an unknown word is ignored


def test_every_interval_on_responding_nodes() -> None:
    checks = HealthChecks({"healthcheckinterval": "30", "healthcheckprogram": "/bin/true"}, 1000)
    nodes = [
        node("up"),
        node("busy", NodeState.ALLOCATED, alloc=4),
        node("silent", flags=NodeStateFlag.NO_RESPOND),
        node("future", NodeState.FUTURE),
        node("cloud", flags=NodeStateFlag.CLOUD | NodeStateFlag.POWERED_DOWN),
        node("down", NodeState.DOWN),
    ]
    assert checks.due(nodes, 1029) == []
    assert names(checks.due(nodes, 1030)) == ["up", "busy", "down"]
    assert checks.due(nodes, 1031) == [] and checks.due(nodes, 1059) == []
    assert names(checks.due(nodes, 1060)) == ["up", "busy", "down"]


def test_nothing_without_interval_or_program() -> None:
    assert not HealthChecks({"healthcheckinterval": "30"}, 0).enabled
    assert not HealthChecks({"healthcheckprogram": "/bin/true"}, 0).enabled
    assert HealthChecks({"healthcheckprogram": "/bin/true"}, 0).due([node("n")], 10**6) == []


def test_node_states_judged_by_allocated_cpus() -> None:
    nodes = [
        node("idle"),
        node("mixed", NodeState.MIXED, alloc=2),
        node("alloc", NodeState.ALLOCATED, alloc=4),
    ]
    raw = {"healthcheckinterval": "10", "healthcheckprogram": "/x", "healthchecknodestate": "IDLE,ALLOC"}
    assert names(HealthChecks(raw, 0).due(nodes, 10)) == ["idle", "alloc"]
    raw["healthchecknodestate"] = "MIXED"
    assert names(HealthChecks(raw, 0).due(nodes, 10)) == ["mixed"]


def test_cycle_checks_a_slice_per_second() -> None:
    nodes = [node(f"n{i}") for i in range(25)]
    raw = {"healthcheckinterval": "10", "healthcheckprogram": "/x", "healthchecknodestate": "CYCLE"}
    checks = HealthChecks(raw, 0)
    assert checks.due(nodes, 9) == []
    assert names(checks.due(nodes, 10)) == [f"n{i}" for i in range(10)]  # at least 10 a call
    assert names(checks.due(nodes, 11)) == [f"n{i}" for i in range(10, 20)]
    assert names(checks.due(nodes, 12)) == [f"n{i}" for i in range(20, 25)]
    assert checks.due(nodes, 13) == [] and checks.due(nodes, 21) == []  # round over: wait an interval
    assert names(checks.due(nodes, 22))[:1] == ["n0"]

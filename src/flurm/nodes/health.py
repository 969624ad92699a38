"""Node health checks: every HealthCheckInterval the controller asks slurmd to run HealthCheckProgram.

As slurmctld (controller.c, ping_nodes.c run_health_check): REQUEST_HEALTH_CHECK (no body) goes to
every node that responds, is not FUTURE and not powered down, and is in one of the states
HealthCheckNodeState names (ANY, the default; IDLE, MIXED, ALLOC judged by the node's allocated
CPUs). With CYCLE the nodes are checked a slice at a time (at least 10, about 2 x nodes / interval
per second), a new round starting each interval. What the program does (typically ``scontrol
update ... state=drain``) is its business; slurmd runs it, the controller only asks.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flurm.protocol.constants import NodeState, NodeStateFlag
from flurm.state.model import Node

HEALTH_CHECK_NODE_IDLE = 0x0001
HEALTH_CHECK_NODE_ALLOC = 0x0002
HEALTH_CHECK_NODE_MIXED = 0x0004
HEALTH_CHECK_NODE_ANY = 0x000F
HEALTH_CHECK_CYCLE = 0x8000

_STATE_WORDS = {
    "any": HEALTH_CHECK_NODE_ANY,
    "alloc": HEALTH_CHECK_NODE_ALLOC,
    "idle": HEALTH_CHECK_NODE_IDLE,
    "mixed": HEALTH_CHECK_NODE_MIXED,
}
_SKIPPED = NodeStateFlag.NO_RESPOND | NodeStateFlag.POWERING_DOWN | NodeStateFlag.POWERED_DOWN


def parse_node_state(text: str | None) -> int:
    """HealthCheckNodeState as read_config.c _health_node_state: unknown words are ignored, and
    without any state word (CYCLE alone, or nothing) every state is checked."""
    value, state_set = 0, False
    for word in (text or "").split(","):
        word = word.strip().lower()
        if word == "cycle":
            value |= HEALTH_CHECK_CYCLE
        elif word in _STATE_WORDS:
            value |= _STATE_WORDS[word]
            state_set = True
    return value if state_set else value | HEALTH_CHECK_NODE_ANY


def _in_states(node: Node, states: int) -> bool:
    if states == HEALTH_CHECK_NODE_ANY:
        return True
    used = 0 if node.base_state == NodeState.IDLE else node.alloc_cpus
    if used == 0:
        return bool(states & HEALTH_CHECK_NODE_IDLE) and node.base_state == NodeState.IDLE
    if used < node.cpus:
        return bool(states & HEALTH_CHECK_NODE_MIXED)
    return bool(states & HEALTH_CHECK_NODE_ALLOC)


class HealthChecks:
    """When, and on which nodes, to run the health check program."""

    def __init__(self, raw: Mapping[str, str], now: int) -> None:
        interval = raw.get("healthcheckinterval", "0")
        self.interval = int(interval) if interval.isdigit() else 0
        self.program = raw.get("healthcheckprogram") or None
        node_state = parse_node_state(raw.get("healthchecknodestate"))
        self.cyclic = bool(node_state & HEALTH_CHECK_CYCLE)
        self.states = node_state & ~HEALTH_CHECK_CYCLE
        self.last = now  # slurmctld's first check is one interval after its start
        self._cycle_start = 0
        self._next = 0  # the next node index of a cycle

    @property
    def enabled(self) -> bool:
        return self.interval > 0 and self.program is not None

    def due(self, nodes: Sequence[Node], now: int) -> list[Node]:
        """The nodes to check now (empty when it is not time)."""
        if not self.enabled or now - self.last < self.interval:
            return []
        if self.cyclic:
            return self._slice(nodes, now)
        self.last = now
        return [n for n in nodes if self._eligible(n)]

    def _slice(self, nodes: Sequence[Node], now: int) -> list[Node]:
        # run_health_check with CYCLE: called every second, it tests up to `limit` nodes per call
        # until it reached the end; the next round starts an interval after the last slice
        if self._cycle_start and self._next == 0 and now - self._cycle_start < self.interval:
            return []
        self._cycle_start = now
        limit = max(len(nodes) * 2 // self.interval, 10)
        out: list[Node] = []
        tested = 0
        while self._next < len(nodes) and tested < limit:
            node = nodes[self._next]
            self._next += 1
            tested += 1
            if self._eligible(node):
                out.append(node)
        if self._next >= len(nodes):
            self._next = 0
        return out

    def _eligible(self, node: Node) -> bool:
        if node.flags & _SKIPPED or node.base_state == NodeState.FUTURE:
            return False
        return _in_states(node, self.states)


__all__ = ["HealthChecks", "parse_node_state"]

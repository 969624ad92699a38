"""scontrol reboot's marks on nodes: cancelled by ``cancel_reboot`` (REQUEST_UPDATE_NODE with
State=CANCEL_REBOOT, as slurmctld's update_node) and kept across a restart of flurm."""

from __future__ import annotations

import textwrap
from pathlib import Path

from test_jobctl import CONF, NOW

from flurm.config import parse_text
from flurm.controller import reboot
from flurm.protocol.constants import NO_VAL, NodeState, NodeStateFlag, SlurmRC
from flurm.state.cluster import Cluster
from flurm.state.store import Store

F = NodeStateFlag
TWO_NODES = CONF + "NodeName=compute-node-2 NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN\n"


def cluster(path: Path) -> tuple[Cluster, Store]:
    store = Store(path / "s.sqlite")
    c = Cluster(parse_text(textwrap.dedent(TWO_NODES)), store, clock=lambda: NOW)
    c.restore(store.open())
    return c, store


def test_marks_survive_a_restart(tmp_path: Path) -> None:
    c, store = cluster(tmp_path)
    asap, issued = c.nodes["compute-node-1"], c.nodes["compute-node-2"]
    asap.flags |= F.REBOOT_REQUESTED | F.DRAIN
    asap.next_state = F.RESUME | F.UNDRAIN
    asap.reason = "maint"
    issued.flags |= F.REBOOT_ISSUED
    issued.base_state = NodeState.DOWN
    issued.boot_req_time = NOW - 5
    issued.reason = "reboot requested : reboot issued"
    c.node_changed(asap)
    c.node_changed(issued)
    store.close()
    again, store2 = cluster(tmp_path)
    asap, issued = again.nodes["compute-node-1"], again.nodes["compute-node-2"]
    assert asap.flags & (F.REBOOT_REQUESTED | F.DRAIN) == F.REBOOT_REQUESTED | F.DRAIN
    assert (asap.next_state, asap.reason) == (F.RESUME | F.UNDRAIN, "maint")
    assert issued.flags & F.REBOOT_ISSUED and issued.base_state == NodeState.DOWN
    assert (issued.boot_req_time, issued.next_state) == (NOW - 5, NO_VAL)
    # once booted after the reboot was issued, the node is done with it
    assert reboot.node_rebooted(issued, NOW) and not issued.flags & F.REBOOT_ISSUED
    store2.close()


def test_cancel(tmp_path: Path) -> None:
    c, store = cluster(tmp_path)
    asap, plain = c.nodes["compute-node-1"], c.nodes["compute-node-2"]
    asap.flags |= F.REBOOT_REQUESTED | F.DRAIN
    asap.next_state = F.RESUME | F.UNDRAIN
    asap.reason = "Reboot ASAP"
    assert reboot.cancel(asap) == 0
    assert not asap.flags & (F.REBOOT_REQUESTED | F.DRAIN) and asap.reason is None
    assert asap.next_state == NO_VAL
    plain.flags |= F.REBOOT_ISSUED
    assert reboot.cancel(plain) == SlurmRC.ESLURM_REBOOT_IN_PROGRESS
    store.close()

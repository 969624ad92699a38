"""Node states from slurm.conf as slurmctld 22.05 shows them: FUTURE, CLOUD, DRAIN and DOWN with a Reason.

Beside the two real nodes (compute-node-[1-2], slurmd running) the configuration has nodes no
slurmd answers for: two FUTURE nodes (hidden from sinfo and ``scontrol show node`` unless asked
for with ``-F``), a CLOUD node (powered down, ``idle~``; listed because of PrivateData=cloud), a
DRAIN and a DOWN node with a Reason (``sinfo -R`` lists them with user and time). The nodes that
never answer get their "*" (not responding) at different moments under the two controllers:
the listings are compared once both show it.

Then a real node is set DOWN by scontrol: with the harness's ReturnToService=2 it stays DOWN (20 s
later too) until its slurmd is next heard (slurmctld pings it once its last answer is SlurmdTimeout/3
old, ~100 s), which returns it to service with its reason gone, under both controllers.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import Cmd, ParityCluster, Transcript, assert_same, cmd, poll, run_both

from harness.loopback import SlurmCluster

# Port 9 (discard): nothing listens there, a node on it never answers
CONF = """KillWait=2
PrivateData=cloud
NodeName=fut-[1-2] NodeAddr=127.0.0.1 Port=9 CPUs=1 RealMemory=100 State=FUTURE
NodeName=cloud-1 NodeAddr=127.0.0.1 Port=9 CPUs=1 RealMemory=100 State=CLOUD
NodeName=drn-1 NodeAddr=127.0.0.1 Port=9 CPUs=1 RealMemory=100 State=DRAIN Reason="broken fan"
NodeName=dwn-1 NodeAddr=127.0.0.1 Port=9 CPUs=1 RealMemory=100 State=DOWN Reason=bad_disk
PartitionName=extra Nodes=fut-[1-2],cloud-1,drn-1,dwn-1 State=UP
"""
REAL_NODES = "compute-node-[1-2]"
# when each cluster's daemons were started (time.monotonic), by controller
STARTED: dict[str, float] = {}


class StatesCluster(ParityCluster):
    """Ready when the two real nodes are: the others never will be."""

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            r = self.run("sinfo", "-h", "-N", "-n", REAL_NODES, "-o", "%N %t", timeout=15)
            states = dict(line.split()[:2] for line in r.stdout.splitlines() if line.strip())
            return len(states) == 2 and all(s == "idle" for s in states.values())

        poll(f"[{self.controller}] real nodes idle", ready, timeout)


@contextlib.contextmanager
def states_cluster(controller: str) -> Iterator[SlurmCluster]:
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-parity-{controller}-"))
    os.chmod(tmp, 0o755)
    c = StatesCluster(tmp, controller, nodes=2, cpus=2, extra_conf=CONF)
    try:
        STARTED[controller] = time.monotonic()
        c.start()
        yield c
    finally:
        c.stop()
        if not os.environ.get("FLURM_KEEP_TEST_DIRS"):
            shutil.rmtree(tmp, ignore_errors=True)


def not_responding(c: SlurmCluster) -> None:
    """Until the DRAIN and DOWN nodes, which nobody answers for, show "*" (slurmctld: 10-20 s)."""

    def check() -> bool:
        r = c.run("sinfo", "-h", "-N", "-n", "drn-1,dwn-1", "-o", "%N %t", timeout=15)
        return sorted(r.stdout.split()) == [
            "down*",
            "down*",
            "drain*",
            "drain*",
            "drn-1",
            "drn-1",
            "dwn-1",
            "dwn-1",
        ]

    poll(f"[{c.controller}] drn-1 and dwn-1 not responding", check, timeout=90, every=0.5)


def registrations_over(c: SlurmCluster) -> None:
    """Until 20 s after the cluster started: each slurmd's own registration at its start is over by
    then (a slurmd started before flurm listens waits for a controller, up to MessageTimeout, 10 s, and
    registers once more when it has one; one arriving after the DOWN would rightly return the node)."""
    time.sleep(max(0.0, STARTED[c.controller] + 20 - time.monotonic()))


def back_in_service(c: SlurmCluster) -> None:
    def idle() -> bool:
        r = c.run("sinfo", "-h", "-N", "-n", "compute-node-2", "-o", "%t", timeout=15)
        return r.stdout.split() == ["idle"]

    poll(f"[{c.controller}] compute-node-2 back in service", idle, timeout=180, every=1.0)


def admin_down_listing(label: str) -> Cmd:
    return cmd("sinfo", "-h", "-N", "-n", REAL_NODES, "-o", "%N %t %E %u", sort_lines=True, label=label)


STEPS = [
    cmd("sinfo", label="sinfo at start"),
    not_responding,
    cmd("sinfo"),
    cmd("sinfo", "-N", sort_lines=True),  # a node of two partitions: slurmctld's line order is by chance
    cmd("sinfo", "-R"),
    cmd("sinfo", "-R", "-l"),
    cmd("sinfo", "-N", "-o", "%N %T %E %H %u", sort_lines=True),
    cmd("scontrol", "show", "node", "fut-1", label="a future node by name"),
    cmd("scontrol", "show", "node", "-F", "fut-1", label="a future node with -F"),
    cmd("scontrol", "show", "node", "cloud-1"),
    cmd("scontrol", "show", "node", "drn-1"),
    cmd("scontrol", "show", "node", "dwn-1"),
    cmd("scontrol", "show", "node", "--future", label="all nodes with --future"),
    cmd("scontrol", "show", "node", label="all nodes"),
    cmd("scontrol", "show", "partition", "extra"),
    registrations_over,
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=DOWN", "Reason=broken", label="admin down"),
    admin_down_listing("admin down at once"),
    lambda c: time.sleep(20),  # flurm used to return it within 10-20 s (a registration it asked for)
    admin_down_listing("admin down 20 s later"),
    back_in_service,
    admin_down_listing("admin down node back"),
    cmd("scontrol", "show", "node", "compute-node-2", label="admin down node back: show node"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with states_cluster("slurmctld") as ref, states_cluster("flurm") as got:
        yield run_both(ref, got, STEPS)


def test_future_nodes_hidden_unless_asked_for(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["a future node by name", "a future node with -F", "all nodes with --future"])
    assert "fut-1" not in got["sinfo"].stdout
    assert "State=FUTURE" in got["a future node with -F"].stdout


def test_cloud_drain_down_from_the_configuration(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(
        ref,
        got,
        [
            "sinfo",
            "sinfo -N",
            "scontrol show node cloud-1",
            "scontrol show node drn-1",
            "scontrol show node dwn-1",
            "all nodes",
            "scontrol show partition extra",
        ],
    )
    assert "idle~" in got["sinfo"].stdout


def test_reasons_listed_with_user_and_time(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["sinfo -R", "sinfo -R -l", "sinfo -N -o %N %T %E %H %u"])
    assert "broken fan           root" in got["sinfo -R"].stdout


def test_a_node_an_admin_set_down_stays_down_until_its_slurmd_is_heard(
    runs: tuple[Transcript, Transcript],
) -> None:
    ref, got = runs
    assert_same(
        ref,
        got,
        [
            "admin down",
            "admin down at once",
            "admin down 20 s later",
            "admin down node back",
            "admin down node back: show node",
        ],
    )
    assert "compute-node-2 down broken root" in got["admin down 20 s later"].stdout
    assert "compute-node-2 idle none" in got["admin down node back"].stdout

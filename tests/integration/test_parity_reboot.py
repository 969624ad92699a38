"""scontrol reboot: flurm marks and reboots nodes as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, RebootProgram=/bin/true
so that slurmd "reboots" without rebooting anything) side by side. A user may not reboot nodes; a
missing node is refused; the busy node asked to reboot ASAP drains and keeps its job (reason and
next state as given); the idle node is rebooted at once: REQUEST_REBOOT_NODES goes to its slurmd
and it shows DOWN+REBOOT_ISSUED ("boot") with "reboot issued" added to its reason.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, wait_state

from harness.loopback import SlurmCluster

CONF = "\n".join(
    [
        "KillWait=2",
        "MinJobAge=300",
        "SchedulerParameters=batch_sched_delay=0,bf_interval=300",
        "RebootProgram=/bin/true",
    ]
)


def node_flag(name: str, flag: str) -> Callable[[SlurmCluster], None]:
    """Until ``scontrol show node`` shows the flag in the node's State."""

    def act(c: SlurmCluster) -> None:
        deadline = time.monotonic() + 30
        while True:
            r = c.run("scontrol", "show", "node", "-o", name)
            state = next((w for w in r.stdout.split() if w.startswith("State=")), "")
            if flag in state.split("+"):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"[{c.controller}] node {name} is {state!r}, not {flag}")
            time.sleep(0.1)

    return act


STEPS = [
    cmd("sbatch", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    cmd("scontrol", "reboot", "compute-node-2", user="nobody", label="reboot as a user"),
    cmd("scontrol", "reboot", "nosuch-node", label="reboot a missing node"),
    cmd("scontrol", "reboot", "ASAP", "nextstate=RESUME", "reason=maint", "compute-node-1", label="asap"),
    cmd("scontrol", "reboot", "compute-node-2", label="reboot an idle node"),
    node_flag("compute-node-2", "REBOOT_ISSUED"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="nodes"),
    cmd("squeue", "-o", "%i %t %N", label="the busy node's job"),
    cmd(
        "sh",
        "-c",
        "scontrol show node -o | grep -o 'NodeName=[^ ]*\\|State=[^ ]*\\|NextState=[^ ]*\\|Reason=.*'",
        label="node records",
    ),
    cmd("scontrol", "reboot", "compute-node-2", label="reboot a rebooting node"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_reboot(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "boot" in got["nodes"].stdout

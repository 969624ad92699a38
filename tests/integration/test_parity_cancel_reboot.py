"""scontrol cancel_reboot: flurm cancels pending reboots as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, RebootProgram=/bin/true)
side by side. Both nodes run a job, so their reboots wait: compute-node-1 is asked to reboot ASAP
(it drains, reason "maint"), compute-node-2 plainly. ``cancel_reboot`` (REQUEST_UPDATE_NODE with
State=CANCEL_REBOOT) is refused to a user; it takes the marks off both nodes (and the drain off the
ASAP one); a node no longer marked is refused (invalid node state).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, wait_state
from test_parity_reboot import CONF

NODE_RECORDS = "scontrol show node -o | grep -o 'NodeName=[^ ]*\\|State=[^ ]*\\|NextState=[^ ]*\\|Reason=.*'"

STEPS = [
    cmd("sbatch", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1
    cmd("sbatch", "-w", "compute-node-2", "--wrap", "exec sleep 300"),  # 2
    wait_state(1, "RUNNING"),
    wait_state(2, "RUNNING"),
    cmd("scontrol", "reboot", "ASAP", "nextstate=RESUME", "reason=maint", "compute-node-1", label="asap"),
    cmd("scontrol", "reboot", "compute-node-2", label="reboot"),
    cmd("sh", "-c", NODE_RECORDS, label="marked"),
    cmd("scontrol", "cancel_reboot", "compute-node-1", user="nobody", label="cancel as a user"),
    cmd("scontrol", "cancel_reboot", "compute-node-[1-2]", label="cancel"),
    cmd("sh", "-c", NODE_RECORDS, label="cancelled"),
    cmd("sinfo", "-N", "-o", "%N %t %E", label="nodes"),
    cmd("scontrol", "cancel_reboot", "compute-node-2", label="cancel again"),
    cmd("scontrol", "cancel_reboot", "nosuch-node", label="cancel a missing node"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_cancel_reboot(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "REBOOT_REQUESTED" in got["marked"].stdout
    assert "REBOOT_REQUESTED" not in got["cancelled"].stdout

"""Placement options: node features and --constraint, licenses, required and excluded nodes, as slurmctld.

One scenario on a slurmctld cluster and a flurm cluster (3 nodes x 2 CPUs; compute-node-1 has the
features fast and ssd, compute-node-2 fast, compute-node-3 slow; Licenses=matlab:2,ansys) side by
side: submissions refused for a bad constraint, licence or node list (SLURM's texts), jobs placed by
their constraints (where each runs: squeue %N), a job waiting for licenses (reason Licenses) that
starts once another job gives them back, and what scontrol shows of nodes, licenses and jobs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

CONF = "Licenses=matlab:2,ansys\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
FEATURES = ("fast,ssd", "fast", "slow")
QUEUE = ("squeue", "-h", "-S", "i", "-t", "all", "-o", "%i %N %r %T %W %f")

# refused before a job id is used
REFUSALS = [
    cmd("sbatch", "-L", "nosuch", "--wrap", "true", label="unknown license"),
    cmd("sbatch", "-L", "matlab:3", "--wrap", "true", label="more licenses than configured"),
    cmd("sbatch", "-L", "matlab:x", "--wrap", "true", label="bad license count"),
    cmd("sbatch", "-w", "compute-node-9", "--wrap", "true", label="unknown required node"),
    cmd("sbatch", "-x", "compute-node-9", "--wrap", "true", label="unknown excluded node"),
    cmd(
        "sbatch", "-w", "compute-node-1", "-x", "compute-node-1", "--wrap", "true", label="required, excluded"
    ),
    cmd("sbatch", "-N1", "-w", "compute-node-[1-2]", "--wrap", "true", label="more required nodes than -N"),
]

# refused once the job has its id (slurmctld builds the feature list after numbering the job)
FEATURE_REFUSALS = [
    cmd("sbatch", "-C", "foo", "--wrap", "true", label="unknown feature"),
    cmd("sbatch", "-C", "[fast&slow]", "--wrap", "true", label="bracket and without counts"),
    cmd("sbatch", "-C", "(fast", "--wrap", "true", label="unbalanced parenthesis"),
    cmd("sbatch", "-C", "[fast*2|slow]", "--wrap", "true", label="bracket or with a count"),
    cmd("sbatch", "-H", "--wrap", "true", label="the next job id"),
]

STEPS = [
    *REFUSALS,
    cmd("sbatch", "-C", "slow", "--wrap", "sleep 300"),  # 1: compute-node-3
    wait_state(1, "RUNNING"),
    cmd("sbatch", "-C", "fast&ssd", "--wrap", "sleep 300"),  # 2: compute-node-1
    cmd("sbatch", "-C", "fast,ssd", "--wrap", "sleep 300"),  # 3: compute-node-1 (shown fast&ssd)
    cmd("sbatch", "-L", "matlab:2", "-w", "compute-node-2", "--wrap", "sleep 300"),  # 4: compute-node-2
    wait_state(4, "RUNNING"),
    cmd("sbatch", "-L", "matlab", "--wrap", "sleep 300"),  # 5: waits for Licenses
    cmd("sbatch", "-C", "ssd", "-L", "ansys", "--wrap", "sleep 300"),  # 6: compute-node-1 is full
    settle(),
    cmd(*QUEUE, label="queue"),
    cmd("scontrol", "show", "licenses", label="licenses"),
    cmd("scontrol", "show", "node", "compute-node-1", label="node with features"),
    cmd("sinfo", "-h", "-N", "-o", "%N %f", label="sinfo features"),
    cmd("scontrol", "show", "job", "3", label="job with constraint"),
    cmd("scontrol", "show", "job", "5", label="job waiting for licenses"),
    cmd("scancel", "4"),
    wait_state(5, "RUNNING"),
    settle(),
    cmd(*QUEUE, label="queue after licenses freed"),
    cmd("scontrol", "show", "licenses", label="licenses after"),
    *FEATURE_REFUSALS,
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=3, cpus=2, extra_conf=CONF, node_features=FEATURES) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [c.key for c in REFUSALS + FEATURE_REFUSALS])
    assert "Invalid feature specification" in got["unknown feature"].stderr
    assert "Invalid license specification" in got["unknown license"].stderr


def test_placement_and_reasons(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["queue", "queue after licenses freed"])


def test_shown(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(
        *runs,
        [
            "licenses",
            "licenses after",
            "node with features",
            "sinfo features",
            "job with constraint",
            "job waiting for licenses",
        ],
    )

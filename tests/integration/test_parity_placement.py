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
from parity import Cmd, Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

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

# options flurm does not apply: refused (slurmctld takes them; only flurm's answer is checked)
UNHONOURED = [
    cmd("sbatch", "-H", "--prefer=fast", "--wrap", "true", label="flurm: --prefer"),
    cmd("sbatch", "-H", "--exclusive=user", "--wrap", "true", label="flurm: --exclusive=user"),
]


def _update(job: int, *fields: str, label: str = "") -> Cmd:
    return cmd("scontrol", "update", f"JobId={job}", *fields, label=label)


# updates of the held job 11 (pending) and of job 5 (running): the placement fields change as in slurmctld
UPDATES = [
    _update(11, "Features=fast"),
    _update(11, "Features=foo"),
    _update(11, "Features=fast,slow"),
    cmd("scontrol", "show", "job", "-o", "11", label="after a features update"),
    _update(11, "Features="),
    _update(11, "Licenses=ansys"),
    _update(11, "Licenses=nosuch"),
    _update(11, "Licenses=matlab:3"),
    _update(11, "ReqNodeList=compute-node-1"),
    _update(11, "ExcNodeList=compute-node-9"),
    _update(11, "ExcNodeList=compute-node-2"),
    _update(11, "Contiguous=1"),
    _update(11, "OverSubscribe=NO"),
    _update(11, "NumNodes=1-2"),
    cmd("scontrol", "show", "job", "-o", "11", label="after placement updates"),
    _update(11, "ReqNodeList="),
    _update(11, "ExcNodeList="),
    cmd("scontrol", "show", "job", "-o", "11", label="after clearing node lists"),
    _update(5, "Features=fast", label="features of a running job"),
    _update(5, "NumNodes=2", label="more nodes for a running job"),
    _update(5, "ExcNodeList=compute-node-2", label="excluded nodes of a running job"),
    _update(5, "Licenses=matlab:2", label="licenses of a running job"),
    cmd("scontrol", "show", "licenses", label="licenses after a running job's update"),
]
# fields flurm does not apply to a pending job: refused (slurmctld applies them; only flurm's answer
# is checked)
UNAPPLIED_UPDATES = [
    _update(11, "MinTmpDiskNode=10", label="flurm: update MinTmpDiskNode"),
    _update(11, "ReqCores=1", label="flurm: update ReqCores"),
    _update(11, "TresBind=gres/gpu:closest", label="flurm: update TresBind"),
]

STEPS: list[Step] = [
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
    *UPDATES,
    *UNAPPLIED_UPDATES,
    *UNHONOURED,
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


def test_unhonoured_options_are_refused(runs: tuple[Transcript, Transcript]) -> None:
    _, got = runs
    for step in UNHONOURED:
        out = got[step.key]
        assert out.returncode != 0, out.text()
        assert "Requested operation not supported on this system" in out.stderr, out.text()
    assert "--prefer is not supported" in got["flurm: --prefer"].stderr


def test_updates(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [c.key for c in UPDATES])
    assert "Invalid feature specification" in got["scontrol update JobId=11 Features=foo"].stderr


def test_unapplied_updates_are_refused(runs: tuple[Transcript, Transcript]) -> None:
    _, got = runs
    for step in UNAPPLIED_UPDATES:
        out = got[step.key]
        assert out.returncode != 0, out.text()
        assert "Requested operation not supported on this system for job 11" in out.stderr, out.text()


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


# -- memory: DefMemPerCPU, MaxMemPerCPU (more CPUs instead of more memory per CPU), --exclusive, -w, -x ----

MEM_CONF = (
    "DefMemPerCPU=100\nMaxMemPerCPU=300\nSelectTypeParameters=CR_Core_Memory\n"
    "SchedulerParameters=batch_sched_delay=0,bf_interval=300"
)
MEM_QUEUE = ("squeue", "-h", "-S", "i", "-t", "all", "-o", "%i %N %r %T %C %m %c")
MEM_STEPS: list[Step] = [
    cmd("sbatch", "--mem-per-cpu=200", "--wrap", "sleep 300"),  # 1: 200M per CPU
    cmd("sbatch", "--mem-per-cpu=500", "--wrap", "sleep 300"),  # 2: 2 CPUs per task, 250M each
    cmd("sbatch", "--mem=600", "--wrap", "sleep 300"),  # 3: 2 CPUs on its node
    cmd("sbatch", "--mem=5000", "--wrap", "sleep 300", label="more memory than a node has"),  # 4
    cmd("sbatch", "--wrap", "sleep 300"),  # 5: DefMemPerCPU
    cmd("sbatch", "--exclusive", "--wrap", "sleep 300"),  # 6: no idle node left
    cmd("sbatch", "--contiguous", "-N2", "--wrap", "sleep 300"),  # 7
    cmd("sbatch", "-w", "compute-node-3", "--wrap", "sleep 300"),  # 8
    cmd("sbatch", "-x", "compute-node-[1-3]", "--wrap", "sleep 300", label="every node excluded"),  # 9
    cmd("sbatch", "-N2", "-w", "compute-node-1", "-x", "compute-node-2", "--wrap", "sleep 300"),  # 10
    settle(),
    cmd(*MEM_QUEUE, label="memory queue"),
    cmd("scontrol", "show", "job", "2", label="memory per CPU fitted"),
    cmd("scontrol", "show", "job", "3", label="memory per node fitted"),
    cmd("scontrol", "show", "licenses", label="no licenses"),
]


@pytest.fixture(scope="module")
def memory_runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=3, cpus=2, extra_conf=MEM_CONF) as (ref, got):
        yield run_both(ref, got, MEM_STEPS)


def test_memory_placement(memory_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = memory_runs
    assert_same(ref, got)
    assert "CPU count per node can not be satisfied" in got["more memory than a node has"].stderr
    assert "Requested node configuration is not available" in got["every node excluded"].stderr
    assert got["no licenses"].stdout.strip() == "No licenses configured in Slurm."


# -- brackets, counts, contiguous nodes, nodes and features outside the partition -----------------------

MORE_CONF = (
    "PartitionName=small Nodes=compute-node-[1-2]\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
)
MORE_FEATURES = ("fast,ssd", "fast", "slow", "slow,ssd")
MORE_STEPS: list[Step] = [
    cmd("sbatch", "-p", "small", "-C", "slow", "--wrap", "true", label="feature outside the partition"),  # 1
    cmd(
        "sbatch", "-p", "small", "-w", "compute-node-3", "--wrap", "true", label="node outside the partition"
    ),
    cmd("sbatch", "-C", "[fast|slow]", "-N2", "--wrap", "sleep 300"),  # 3: both fast nodes
    cmd("sbatch", "-C", "ssd*2", "-N2", "--wrap", "sleep 300"),  # 4: both ssd nodes
    cmd("sbatch", "--contiguous", "-N2", "--wrap", "sleep 300"),  # 5: adjacent nodes
    cmd("sbatch", "-C", "fast|slow&ssd", "--wrap", "sleep 300"),  # 6: left to right, (fast|slow)&ssd
    cmd("sbatch", "--exclusive", "--wrap", "sleep 300"),  # 7
    cmd("sbatch", "-w", "compute-node-3", "--wrap", "sleep 300"),  # 8
    cmd("sbatch", "-C", "slow", "--wrap", "sleep 300"),  # 9
    settle(),
    cmd("squeue", "-h", "-S", "i", "-t", "all", "-o", "%i %N %r %T %C %f", label="placements"),
    cmd("scontrol", "show", "job", "-o", "5", label="contiguous job"),
]


@pytest.fixture(scope="module")
def more_runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=4, cpus=2, extra_conf=MORE_CONF, node_features=MORE_FEATURES) as (ref, got):
        yield run_both(ref, got, MORE_STEPS)


def test_brackets_counts_contiguous(more_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = more_runs
    assert_same(ref, got)
    assert "compute-node-[1-2] None RUNNING 2 [fast|slow]" in got["placements"].stdout

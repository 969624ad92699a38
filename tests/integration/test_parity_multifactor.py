"""PriorityType=priority/multifactor against the real slurmctld 22.05: the same slurm.conf and the same
pending jobs on both sides, then sprio (every listing form) and the priorities squeue shows compared.

The jobs wait deterministically: their partitions are DOWN (a job there stays pending with reason
PartitionDown, eligible, not held). Accounting is off (accounting_storage/none), where slurmctld
ignores PriorityWeightAge and PriorityWeightFairshare ("can only be used with SlurmDBD") and computes
a job's priority when it is submitted, released, updated: the age factor is 0 on both sides whatever
the clock says, so nothing here races with time (sprio still prints the weights slurm.conf names, as it
reads them from the file itself).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Action, Cmd, Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state

from harness.loopback import SlurmCluster

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightAge=2000",
        "PriorityWeightFairshare=3000",
        "PriorityWeightJobSize=1000",
        "PriorityWeightPartition=10000",
        "PriorityWeightQOS=500",
        "PriorityMaxAge=1-0",
        "PartitionName=low Nodes=ALL PriorityJobFactor=10 State=DOWN",
        "PartitionName=high Nodes=ALL PriorityJobFactor=40 PriorityTier=2 State=DOWN",
        "PartitionName=zero Nodes=ALL PriorityJobFactor=0 State=DOWN",
    )
)

SMALL = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightJobSize=100000",
        "PriorityFavorSmall=YES",
        "PartitionName=low Nodes=ALL State=DOWN MaxTime=60",
    )
)


def eligible(job: str) -> Action:
    """Wait until the job has an eligible time (sprio lists only eligible jobs)."""

    def check(c: SlurmCluster) -> None:
        poll(
            f"job {job} eligible",
            lambda: "EligibleTime=Unknown" not in c.run("scontrol", "show", "job", job).stdout,
        )

    return check


def _sbatch(*args: str, label: str) -> Cmd:
    return cmd("sbatch", "-o", "/dev/null", *args, "--wrap", "true", label=label)


SPRIO = [
    cmd("sprio", label="sprio"),
    cmd("sprio", "-l", label="sprio -l"),
    cmd("sprio", "-n", label="sprio -n"),
    cmd("sprio", "-l", "-n", label="sprio -l -n"),
    cmd("sprio", "-w", label="sprio -w"),
    cmd(
        "sprio",
        "-o",
        "%.7i %.8u %.10Y %.10y %.10A %.10F %.10J %.10j %.10P %.10p %.10Q %.6N %r %S",
        label="sprio -o",
    ),
    cmd("sprio", "-j", "2,4", label="sprio -j"),
    cmd("sprio", "-p", "high", label="sprio -p"),
    cmd("sprio", "-u", "root", label="sprio -u"),
    cmd("sprio", user="nobody", label="sprio as nobody"),
    cmd("squeue", "-S", "i", "-o", "%i %P %Q", label="squeue priorities"),
]

STEPS = [
    _sbatch("-p", "low", "-n", "1", label="low 1 cpu"),  # 1
    _sbatch("-p", "high", "-n", "2", label="high 2 cpus"),  # 2
    _sbatch("-p", "low", "-N", "2", "-n", "4", label="low 2 nodes"),  # 3
    _sbatch("-p", "low,high", label="two partitions"),  # 4
    _sbatch("-p", "low", "--nice=100", label="nice"),  # 5
    _sbatch("-p", "high", "-H", label="held"),  # 6
    _sbatch("-p", "low", "--priority=4242", label="operator priority"),  # 7
    _sbatch("-p", "zero", label="partition factor 0"),  # 8
    _sbatch("-p", "low", "-a", "1-3", label="array"),  # 9
    _sbatch("-p", "low", "--begin=now+1hour", label="begins later"),  # 10
    settle(),
    eligible("9"),  # slurmctld makes an array eligible in its first cycle, ~3 s after it started
    *SPRIO,
    cmd("scontrol", "update", "jobid=1", "nice=-50", label="update nice"),
    cmd("scontrol", "update", "jobid=2", "partition=low", label="update partition"),
    cmd("scontrol", "update", "jobid=3", "priority=99", label="update priority"),
    cmd("scontrol", "release", "6", label="release"),
    cmd("scontrol", "update", "jobid=7", "priority=INFINITE", label="priority reset"),
    cmd("scontrol", "hold", "5", label="hold"),
    settle(),
    *[c for c in SPRIO if c.label in ("sprio -l", "sprio -n", "squeue priorities")],
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_submissions(runs: tuple[Transcript, Transcript]) -> None:
    ref, _got = runs
    assert "Submitted batch job 10" in ref["begins later"].stdout
    assert_same(*runs, [k for k in ref.labels() if k.startswith(("low", "high", "two", "nice", "held"))])


def test_sprio_forms(runs: tuple[Transcript, Transcript]) -> None:
    ref, _got = runs
    # the reference really lists factors: the jobs in partition high carry its factor of 10000
    assert "10000" in ref["sprio -l"].stdout, ref["sprio -l"].stdout
    assert_same(*runs, [c.label for c in SPRIO])


def test_after_updates(runs: tuple[Transcript, Transcript]) -> None:
    ref, _got = runs
    keys = [k for k in ref.labels() if k.startswith(("update", "release", "priority reset", "hold"))]
    keys += [k for k in ref.labels() if k.endswith("#2")]
    assert len(keys) >= 9, ref.labels()
    assert_same(*runs, keys)


def test_favor_small_job_size() -> None:
    """PriorityFavorSmall: the job size factor counts down from 1 for the smallest job."""
    steps = [
        _sbatch("-p", "low", "-n", "1", label="one cpu"),
        _sbatch("-p", "low", "-n", "3", label="three cpus"),
        _sbatch("-p", "low", "-N", "2", label="two nodes"),
        settle(),
        cmd("sprio", "-l", label="sprio -l"),
        cmd("sprio", "-n", "-l", label="sprio -n -l"),
        cmd("squeue", "-S", "i", "-o", "%i %Q", label="squeue priorities"),
    ]
    with cluster_pair(nodes=2, cpus=2, extra_conf=SMALL) as (ref, got):
        a, b = run_both(ref, got, steps)
    assert "JOBSIZE" in a["sprio -l"].stdout
    assert_same(a, b)


TRES = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightJobSize=100",
        "PriorityWeightTRES=CPU=1000,Mem=2000,Node=500,Billing=100",
        "PartitionName=low Nodes=ALL State=DOWN",
        "PartitionName=one Nodes=compute-node-1 State=DOWN",
    )
)


def test_tres_factors() -> None:
    """PriorityWeightTRES: each TRES the job asks for over its partition's, weighted; sprio prints them
    unweighted in its TRES column."""
    steps = [
        _sbatch("-p", "low", "-n", "1", label="one cpu"),
        _sbatch("-p", "low", "-n", "3", "--mem=300", label="three cpus, memory"),
        _sbatch("-p", "low", "-N", "2", "--mem-per-cpu=100", label="two nodes"),
        _sbatch("-p", "one,low", "-n", "2", label="two partitions"),
        _sbatch("-p", "low", "--priority=777", label="operator priority"),
        settle(),
        cmd("sprio", label="sprio"),
        cmd("sprio", "-l", label="sprio -l"),
        cmd("sprio", "-n", "-l", label="sprio -n -l"),
        cmd("sprio", "-o", "%.7i %.10T %.30t %.10Y", label="sprio -o"),
        cmd("squeue", "-S", "i", "-o", "%i %Q", label="squeue priorities"),
    ]
    with cluster_pair(nodes=2, cpus=2, extra_conf=TRES) as (ref, got):
        a, b = run_both(ref, got, steps)
    assert "cpu=" in a["sprio -l"].stdout, a["sprio -l"].stdout  # the reference lists TRES factors
    assert_same(a, b)


RELATIVE = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightJobSize=100000",
        "PriorityWeightPartition=1000",
        "PriorityFlags=SMALL_RELATIVE_TO_TIME,CALCULATE_RUNNING",
        "PartitionName=low Nodes=ALL State=DOWN MaxTime=120",
    )
)


def test_size_relative_to_time_and_running_jobs() -> None:
    """PriorityFlags=SMALL_RELATIVE_TO_TIME: the size factor is the job's CPUs over its time limit (the
    partition's MaxTime without one); CALCULATE_RUNNING: sprio lists running jobs too."""
    steps = [
        cmd("sbatch", "-o", "/dev/null", "-n", "2", "-t", "30", "--wrap", "sleep 300", label="runs"),
        wait_state(1, "RUNNING", timeout=60),
        _sbatch("-p", "low", "-n", "1", "-t", "10", label="short"),
        _sbatch("-p", "low", "-n", "3", "-t", "60", label="long"),
        _sbatch("-p", "low", "-N", "2", label="no limit"),
        settle(),
        cmd("sprio", "-l", label="sprio -l"),
        cmd("sprio", "-n", "-l", label="sprio -n -l"),
        cmd("squeue", "-S", "i", "-o", "%i %Q", label="squeue priorities"),
    ]
    with cluster_pair(nodes=2, cpus=2, extra_conf=RELATIVE) as (ref, got):
        a, b = run_both(ref, got, steps)
    assert "      1 debug" in a["sprio -l"].stdout, a["sprio -l"].stdout  # the running job is listed
    assert_same(a, b)

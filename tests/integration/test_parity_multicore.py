"""--hint, --threads-per-core, --ntasks-per-core, -B, --sockets-per-node, --cores-per-socket and --tmp:
flurm places and shows jobs as slurmctld 22.05 with select/cons_tres (CR_Core) does.

Two nodes of 2 sockets x 2 cores x 2 threads (8 CPUs) each. Jobs that use one CPU per core
(--hint=nomultithread, --threads-per-core=1, --ntasks-per-core=1) hold whole cores and twice their
CPUs; cores are taken one socket after the other; a node without a socket that has the free cores
--cores-per-socket asks for is passed over; options no node can satisfy are refused with
SLURM's texts. Each test compares a part of the transcripts; the last compares the decoded records.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Cmd, Records, Transcript, assert_same, cluster_pair, cmd, records_same, run_both, settle

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
SHAPE = (2, 2, 2)
SHOW = ("scontrol", "show", "job", "-d")
QUEUE = ("squeue", "-r", "-S", "i", "-o", "%i %t %C %D %z %R")


def _sbatch(*args: str, label: str) -> Cmd:
    return cmd("sbatch", "-o", "/dev/null", *args, "--wrap", "sleep 300", label=label)


STEPS = [
    _sbatch("-w", "compute-node-1", "-n3", "--hint=nomultithread", label="nomultithread"),  # 1
    settle(),
    _sbatch("--cores-per-socket=2", "-n1", label="cores per socket"),  # 2: not on node 1
    settle(),
    _sbatch("-w", "compute-node-1", "-n1", label="last core of node 1"),  # 3
    settle(),
    _sbatch("-n2", "--ntasks-per-core=1", label="ntasks per core"),  # 4
    settle(),
    _sbatch("-n1", "--threads-per-core=1", label="threads per core"),  # 5
    settle(),
    _sbatch("-n2", "--hint=nomultithread", label="pending nomultithread"),  # 6
    _sbatch("-B", "2:1:1", "-n2", label="pending -B"),  # 7
    _sbatch("-n2", "--tmp=0", "--hint=multithread", label="pending tmp"),  # 8
    settle(),
    _sbatch("--threads-per-core=4", label="too many threads"),
    _sbatch("-B", "3", label="too many sockets"),
    _sbatch("--cores-per-socket=3", label="too many cores"),
    _sbatch("--tmp=10", label="too much tmp"),
    settle(),
    Records("full"),
    cmd(*QUEUE, label="queue full"),
    cmd(*SHOW, label="jobs full"),
    cmd("scancel", "1", "3"),
    settle(),
    cmd(*QUEUE, label="queue refilled"),
    # (not the cancelled jobs: how their shell died of the signal is a race of its own)
    *(cmd(*SHOW, str(j), label=f"job {j} refilled") for j in (2, 4, 5, 6, 7, 8)),
    cmd("scancel", "-u", "root"),
    settle(),
    # what the job's tasks are told they have: its cores times the one thread it asked for
    cmd("sbatch", "-n2", "--hint=nomultithread", "-o", "env.out", "--wrap", "echo $SLURM_JOB_CPUS_PER_NODE"),
    settle(),
    cmd("cat", "env.out", label="cpus per node"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=8, node_shape=SHAPE, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_submissions_and_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = [k for k in ref.labels() if k.startswith(("nomultithread", "pending", "too ", "cores", "ntasks"))]
    assert_same(ref, got, keys)
    assert "Socket, core and/or thread specification can not be satisfied" in got["too many threads"].stderr
    assert "Temporary disk specification can not be satisfied" in got["too much tmp"].stderr


def test_placement_when_full(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["queue full", "jobs full"])
    assert "NumCPUs=6" in got["jobs full"].stdout  # 3 tasks, one per core of 2 threads


def test_placement_after_cancel(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["queue refilled", *(f"job {j} refilled" for j in (2, 4, 5, 6, 7, 8))])


def test_cpus_per_node_of_the_batch_job(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["cpus per node"])
    assert got["cpus per node"].stdout.strip() == "2"


def test_decoded_records(runs: tuple[Transcript, Transcript]) -> None:
    records_same(*runs, "full")


# memory per CPU is held for the CPUs of whole cores, or of the threads --threads-per-core asked for
MEM_STEPS = [
    step
    for i, args in enumerate(
        (
            ("-n2", "--hint=nomultithread", "--mem-per-cpu=100"),
            ("-n2", "--ntasks-per-core=1", "--mem-per-cpu=100"),
            ("-n3", "--mem-per-cpu=100"),
            ("-n1", "-c3", "--threads-per-core=1", "--mem-per-cpu=10"),
        ),
        start=1,
    )
    for step in (
        _sbatch(*args, label=f"memory job {i}"),
        settle(),
        cmd(*SHOW, str(i), label=f"memory {i}"),
        cmd("scancel", str(i)),
        settle(),
    )
]


@pytest.fixture(scope="module")
def memory_runs() -> Iterator[tuple[Transcript, Transcript]]:
    conf = CONF + "\nSelectTypeParameters=CR_Core_Memory"
    dropped = ("SelectTypeParameters",)
    with cluster_pair(nodes=1, cpus=8, node_shape=SHAPE, extra_conf=conf, drop_keys=dropped) as (ref, got):
        yield run_both(ref, got, MEM_STEPS)


def test_memory_per_cpu(memory_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = memory_runs
    assert_same(ref, got, [f"memory {i}" for i in range(1, 5)])
    assert "Mem=200" in got["memory 1"].stdout

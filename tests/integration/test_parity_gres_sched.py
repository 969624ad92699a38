"""Where GPU jobs go, as slurmctld 22.05 (select/cons_tres) places them: the forms of GRES request
test_parity_gres.py does not (--gpus spread over nodes or kept on one, --cpus-per-gpu, --mem-per-gpu,
--gpus-per-socket, --gpus-per-task with -n, the core close to the free GPU), what waits with Resources
or Priority, and the submissions only the GRES make impossible.

One cluster pair (harness.gres.two_gpu_types: compute-node-1 gpu:tesla:2, compute-node-2 gpu:k80:2, each
2 sockets x 2 cores with GPU i close to socket i), one scenario:

1. refusals ("Requested node configuration is not available", no message): a node count too small for
   --gpus or --gpus-per-task, a type the required node has not, more --cpus-per-gpu than a node has,
   more --gpus-per-socket than a socket has; the same held (-H) is accepted, as slurmctld tests no GRES
   of a held job;
2. a run of jobs on the idle cluster: --gres=gpu:1 (node 1, GPU 0), --gres=gpu:1 -c2 (node 1 again, best
   fit, GPU 1), --gres=gpu:k80:1 -c3 (node 2), then --gpus=2 (Resources: one GPU is left), --gres=gpu:1
   and a job without GPUs (Priority);
3. --gpus=3 (node 1 both, node 2 one) and -n3 --gpus-per-task=1 (Resources); then --cpus-per-gpu=2
   --gpus=1 (node 1, two CPUs), --mem-per-gpu=100 --gpus=2 (node 2 alone: the one node holding all of
   it) and --gpus-per-socket=1 --sockets-per-node=1;
4. node 2's GPU 0 and core 0 held: --gres=gpu:1 gets GPU 1 and core 2 (the core of GPU 1's socket);
5. --exclusive jobs hold all the GPUs of their node, with or without --gres, and a GPU job waits.

The queue (nodes, CPUs, reasons) is compared after each step, and the GRES lines of scontrol -d show
job (device indexes, CPU_IDs) at the end.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle

from harness import gres

CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=300"
QUEUE = ("squeue", "-h", "-S", "i", "-t", "all", "-o", "%i %t %r %N %C %b")
SLEEP = ("--wrap", "sleep 300")


def sbatch(*args: str, label: str = "") -> Step:
    return cmd("sbatch", *args, *SLEEP, label=label or "sbatch " + " ".join(args))


def queue(label: str) -> Step:
    return cmd(*QUEUE, label=label)


REFUSED = [
    "--gpus=3 -N1",
    "-n3 -N1 --gpus-per-task=1",
    "--gres=gpu:tesla:1 -w compute-node-2",
    "--gres=gpu:tesla:2 -N2",
    "--gpus=2 -N1 --cpus-per-gpu=3",
    "--gres=gpu:x",
]
# (last: a controller that takes it runs it, which must not change the placements before)
PER_SOCKET = "--gpus-per-socket=2 --sockets-per-node=1"

STEPS: list[Step] = [
    *[sbatch(*option.split(), label=f"refused {option}") for option in REFUSED],  # jobs 1-6
    *[sbatch("-H", *option.split(), label=f"held {option}") for option in REFUSED],  # 7-12
    cmd("scancel", *[str(j) for j in range(7, 13)]),
    sbatch("-H", "--gres=gpu:tesla:1"),  # 13, 14: the job ids as before
    sbatch("-H", "--gres=gpu:tesla:1"),
    cmd("scancel", "13", "14"),
    # 2. the idle cluster fills up
    sbatch("--gres=gpu:1"),  # 15
    settle(),
    sbatch("--gres=gpu:1", "-c2"),  # 16
    settle(),
    sbatch("--gres=gpu:k80:1", "-c3"),  # 17
    settle(),
    sbatch("--gpus=2"),  # 18
    sbatch("--gres=gpu:1"),  # 19
    sbatch("-c1"),  # 20
    settle(),
    queue("GPUs taken, the rest waits"),
    cmd("scancel", *[str(j) for j in range(15, 21)]),
    settle(),
    # 3. --gpus over nodes
    sbatch("--gpus=3"),  # 21
    settle(),
    sbatch("-n3", "--gpus-per-task=1"),  # 22
    settle(),
    queue("--gpus=3 over two nodes"),
    cmd("scancel", "21", "22"),
    settle(),
    sbatch("--cpus-per-gpu=2", "--gpus=1"),  # 23
    settle(),
    sbatch("--mem-per-gpu=100", "--gpus=2"),  # 24
    settle(),
    queue("--gpus kept on the one node that holds them"),
    cmd("scancel", "23", "24"),
    settle(),
    sbatch("-n3", "--gpus-per-task=1"),  # 25
    settle(),
    sbatch("--gpus-per-socket=1", "--sockets-per-node=1"),  # 26
    settle(),
    queue("per task and per socket"),
    cmd("scancel", "26"),
    settle(),
    # 4. node 2 has GPU 1 and cores 1-3 free
    sbatch("--gres=gpu:1"),  # 27
    settle(),
    queue("the GPU left"),
    cmd("scontrol", "-d", "show", "job", "25", label="job 25"),
    cmd("scontrol", "-d", "show", "job", "27", label="job 27"),
    cmd("scancel", "25", "27"),
    settle(),
    # 5. whole nodes: all their GPUs, with or without a GRES request
    sbatch("--exclusive", "--gres=gpu:1"),  # 28
    settle(),
    sbatch("--exclusive"),  # 29
    settle(),
    sbatch("--gres=gpu:1"),  # 30
    settle(),
    queue("exclusive jobs"),
    cmd("scontrol", "-d", "show", "job", "28", label="job 28"),
    cmd("scontrol", "-d", "show", "job", "29", label="job 29"),
    cmd("scancel", "28", "29", "30"),
    sbatch(*PER_SOCKET.split(), label=f"refused {PER_SOCKET}"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, **gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    refused = [f"refused {option}" for option in (*REFUSED, PER_SOCKET)]
    held = [f"held {option}" for option in REFUSED]
    assert all("Requested node configuration is not available" in ref[k].stderr for k in refused)
    assert all(ref[k].returncode == 0 for k in held)
    assert_same(ref, got, refused + held)


def test_placement_and_reasons(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "18 PD Resources" in ref["GPUs taken, the rest waits"].stdout
    assert "24 R None compute-node-2 1" in ref["--gpus kept on the one node that holds them"].stdout
    assert_same(
        ref,
        got,
        [
            "GPUs taken, the rest waits",
            "--gpus=3 over two nodes",
            "--gpus kept on the one node that holds them",
            "per task and per socket",
            "the GPU left",
            "exclusive jobs",
        ],
    )


def _gres_lines(text: str) -> str:
    """JobId, JOB_GRES and the per-node CPU_IDs/GRES lines of scontrol -d show job."""
    keep = ("JobId=", "JOB_GRES=", "Nodes=")
    return "\n".join(line.strip() for line in text.splitlines() if line.strip().startswith(keep))


def test_devices_and_cores(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = ("job 25", "job 27", "job 28", "job 29")
    want = {k: _gres_lines(ref[k].stdout) for k in keys}
    assert "Nodes=compute-node-2 CPU_IDs=2 Mem=0 GRES=gpu:k80:1(IDX:1)" in want["job 27"]
    assert "Nodes=compute-node-2 CPU_IDs=0-3 Mem=0 GRES=gpu:k80:2(IDX:0-1)" in want["job 29"]
    assert {k: _gres_lines(got[k].stdout) for k in keys} == want

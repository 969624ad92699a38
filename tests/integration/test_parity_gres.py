"""GPUs (GRES): placement, device indexes, the job's environment, pending reasons, client views and
refusals, as slurmctld 22.05 has them.

One scenario on a slurmctld cluster and a flurm cluster side by side (harness.gres
.two_gpu_types_and_short_node: compute-node-1 Gres=gpu:tesla:2, compute-node-2 Gres=gpu:k80:2, each 2
sockets x 2 cores with one GPU per socket; compute-node-3 Gres=gpu:a100:2 whose slurmd finds only one
device, so it is INVAL+DRAIN with slurmctld's reason). The GPUs are character device nodes the harness
makes; the unmodified slurmd sets CUDA_VISIBLE_DEVICES and the rest from the job's credential.

1. idle views: scontrol -d show node (Gres=, GresUsed=, GresDrain=, the mismatch reason), sinfo %G and
   -O gres,gresused;
2. job 1 --gres=gpu:2 takes both teslas; inside it, srun --gres=gpu:1 gets one (step environment) and
   steps asking for more than the job has, or a type it does not have, are refused with slurmctld's
   text; job 2 -n2 --gpus-per-task=1 takes both k80s, one per task; job 3 (tesla), job 4 (any GPU) and
   job 5 (the drained node's a100) wait with Resources, Priority and ReqNodeNotAvail;
3. job 1 is cancelled: jobs 3 and 4 start on its GPUs (indexes 0 and 1), with their environment;
4. submissions that can never run (too many GPUs, unknown type, ...) are refused by sbatch, salloc and
   srun with slurmctld's texts; each refusal uses a job id, as slurmctld's do (the next job's id).

A second pair (two_gpu_types, the backfill scheduler every 2 s) checks that backfill counts GPUs: with
both teslas and one k80 taken by 5-minute jobs and a --gpus=3 job waiting for them, a 2-minute GPU job
is started on the free k80 (it ends before the waiting job's planned start), a 30-minute one is not,
and the waiting jobs show their planned start and nodes.

Each check fails on a controller that ignores GRES: placement and indexes, the environment variables,
the reasons and the views all depend on it.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterator

import pytest
from parity import Cmd, Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle

from harness import gres
from harness.loopback import SlurmCluster

# the backfill scheduler stays out of the way (its pass would only confirm the main scheduler's reasons)
CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=300"

# what a job sees of its GPUs (and where it runs)
ENV_NAMES = (
    "CUDA_|GPU_|ROCR_|ZE_|SLURM_.*GPU|SLURM_.*TRES|SLURM_GRES|SLURMD_NODENAME|SLURM_JOB_NODELIST"
    "|SLURM_STEP_NODELIST|SLURM_CPUS_ON_NODE|SLURM_PROCID"
)
ENV = f"#!/bin/sh\nenv | grep -E '^({ENV_NAMES})' | sort\n"

# batch scripts: the batch step's environment, then a step's, then wait to be cancelled
TWO_GPUS = """#!/bin/sh
./env.sh > env.$SLURM_JOB_ID.batch
srun -n1 --gres=gpu:1 ./env.sh > env.$SLURM_JOB_ID.step 2>&1
for req in gpu:3 gpu:k80:1 gpu:tesla:1; do
  timeout 20 srun -n1 --gres=$req true >> refused.$SLURM_JOB_ID 2>&1
  echo "rc=$?" >> refused.$SLURM_JOB_ID
done
touch done.$SLURM_JOB_ID
exec sleep 300
"""
PER_TASK = """#!/bin/sh
./env.sh > env.$SLURM_JOB_ID.batch
srun -l ./env.sh 2>&1 | sort > env.$SLURM_JOB_ID.step
touch done.$SLURM_JOB_ID
exec sleep 300
"""
PLAIN = """#!/bin/sh
./env.sh > env.$SLURM_JOB_ID.batch
srun ./env.sh > env.$SLURM_JOB_ID.step 2>&1
touch done.$SLURM_JOB_ID
exec sleep 300
"""

NODES = ("scontrol", "-d", "show", "node")
SINFO = ("sinfo", "-N", "-O", "nodelist,statelong,gres:24,gresused:40,reason:60")
SINFO_G = ("sinfo", "-o", "%P %N %G %T")
QUEUE = ("squeue", "-S", "i", "-o", "%i %t %r %b %N")
QUEUE_TRES = ("squeue", "-S", "i", "-O", "jobid,tres-per-node,tres-per-job,tres-per-task,tres-alloc:30")
JOBS = ("scontrol", "-d", "show", "job")


def write(name: str, text: str) -> Step:
    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / name
        path.write_text(text)
        path.chmod(0o755)

    return act


def _waiting(c: SlurmCluster, job: int, until: Callable[[], bool], timeout: float = 40.0) -> None:
    """Until ``until()``; given up at once when job ``job`` is not (or no longer) pending or running, so
    that a controller that refused or lost the job still yields a whole transcript (its differences
    then fail the checks that look at them) instead of failing every check at setup."""
    deadline = time.monotonic() + timeout
    while not until():
        if c.job_state(job) not in ("PENDING", "CONFIGURING", "RUNNING") or time.monotonic() > deadline:
            return
        time.sleep(0.1)


def running(job: int) -> Step:
    def act(c: SlurmCluster) -> None:
        _waiting(c, job, lambda: c.job_state(job) == "RUNNING")

    return act


def reason(job: int, text: str) -> Step:
    def act(c: SlurmCluster) -> None:
        def now() -> bool:
            return f"Reason={text} " in c.run("scontrol", "show", "job", str(job)).stdout

        _waiting(c, job, now)

    return act


def done(job: int) -> Step:
    """Until job ``job``'s script has written its environments (and ran its steps)."""

    def act(c: SlurmCluster) -> None:
        _waiting(c, job, (c.jobs_dir / f"done.{job}").exists)

    return act


def planned(job: int) -> Step:
    """Until a backfill pass has planned the job (SchedNodeList=): the queue may be at rest before the
    pass after its submission."""

    def act(c: SlurmCluster) -> None:
        _waiting(c, job, lambda: "SchedNodeList=" in c.run("scontrol", "show", "job", str(job)).stdout)

    return act


def show(label: str, *args: str) -> Cmd:
    return cmd(*args, label=label)


def envs(job: int) -> list[Cmd]:
    return [
        cmd("cat", f"env.{job}.batch", label=f"job {job} batch environment"),
        cmd("cat", f"env.{job}.step", label=f"job {job} step environment"),
    ]


def refusals(option: str) -> list[Cmd]:
    """The same impossible request from sbatch, salloc and srun (these two under ``timeout``: a
    controller that queues the request instead must cost seconds, not the whole run)."""
    args = option.split()
    return [
        cmd("sbatch", *args, "--wrap", "true", label=f"sbatch {option}"),
        cmd("timeout", "10", "salloc", "--no-shell", *args, label=f"salloc {option}"),
        cmd("timeout", "10", "srun", *args, "true", label=f"srun {option}"),
    ]


IMPOSSIBLE = [
    "--gres=gpu:5",
    "--gres=gpu:foo:1",
    "--gpus=7",
    "--gres=gpu:tesla:3",
    "--gres=gpu:k80:1,gpu:tesla:1",
    "-n2 --gpus-per-task=3",
    "--gpus=1 --cpus-per-gpu=8",
]

STEPS: list[Step] = [
    write("env.sh", ENV),
    write("two.sh", TWO_GPUS),
    write("per_task.sh", PER_TASK),
    write("plain.sh", PLAIN),
    # 1. idle
    show("idle nodes", *NODES),
    show("idle sinfo", *SINFO),
    show("idle sinfo %G", *SINFO_G),
    # 2. two jobs take the four healthy GPUs, three wait
    cmd("sbatch", "-o", "out.%j", "--gres=gpu:2", "two.sh"),  # 1
    running(1),
    done(1),
    cmd("sbatch", "-o", "out.%j", "-n2", "--gpus-per-task=1", "per_task.sh"),  # 2
    running(2),
    done(2),
    cmd("sbatch", "-o", "out.%j", "--gres=gpu:tesla:1", "plain.sh"),  # 3
    cmd("sbatch", "-o", "out.%j", "--gpus=1", "plain.sh"),  # 4
    cmd("sbatch", "-o", "out.%j", "--gres=gpu:a100:1", "plain.sh"),  # 5
    settle(),
    show("busy queue", *QUEUE),
    show("busy queue tres", *QUEUE_TRES),
    show("busy jobs", *JOBS),
    show("busy nodes", *NODES),
    show("busy sinfo", *SINFO),
    *envs(1),
    cmd("cat", "refused.1", label="job 1 steps refused"),
    *envs(2),
    # 3. job 1 ends: jobs 3 and 4 take its GPUs
    cmd("scancel", "1"),
    running(3),
    running(4),
    done(3),
    done(4),
    settle(),
    show("after queue", *QUEUE),
    show("after jobs", *JOBS),
    show("after nodes", *NODES),
    show("after sinfo", *SINFO),
    *envs(3),
    *envs(4),
    # 4. never satisfiable
    *[c for option in IMPOSSIBLE for c in refusals(option)],
    cmd("sbatch", "-H", "--gres=gpu:1", "--wrap", "true", label="the next job id"),
    cmd("scancel", "2", "3", "4", "5"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=CONF, **gres.two_gpu_types_and_short_node()) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_idle_views(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "GresUsed=gpu:tesla:0(IDX:N/A)" in ref["idle nodes"].stdout
    assert "gres/gpu count reported lower than configured (1 < 2)" in ref["idle nodes"].stdout
    assert_same(ref, got, ["idle nodes", "idle sinfo", "idle sinfo %G"])


def test_placement_and_pending_reasons(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    queue = ref["busy queue"].stdout.splitlines()
    assert "3 PD Resources gres:gpu:tesla:1 " in queue
    assert_same(ref, got, ["busy queue", "busy queue tres", "after queue"])


def test_job_views(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "GRES=gpu:k80:2(IDX:0-1)" in ref["busy jobs"].stdout
    assert_same(ref, got, ["busy jobs", "after jobs"])


def test_node_views(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "GresUsed=gpu:tesla:2(IDX:0-1)" in ref["busy nodes"].stdout
    assert_same(ref, got, ["busy nodes", "busy sinfo", "after nodes", "after sinfo"])


def test_job_environment(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "SLURM_STEP_GPUS=0" in ref["job 1 step environment"].stdout
    assert "SLURM_JOB_GPUS=1" in ref["job 4 batch environment"].stdout
    keys = [k for k in ref.labels() if k.endswith("environment")]
    assert_same(ref, got, keys)


def test_steps_refused(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "Step requested GRES (gpu:tesla) not found in the job" in ref["job 1 steps refused"].stdout
    assert_same(ref, got, ["job 1 steps refused"])


def test_impossible_requests(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert "Requested node configuration is not available" in ref["sbatch --gres=gpu:5"].stderr
    keys = [k for k in ref.labels() if k.split()[0] in ("sbatch", "salloc", "srun") and " -" in k]
    keys.append("the next job id")
    assert_same(ref, got, keys)


BACKFILL_CONF = "SchedulerParameters=batch_sched_delay=0,bf_interval=2"
BACKFILL = [
    cmd("sbatch", "-t", "5", "--gres=gpu:tesla:2", "--wrap", "exec sleep 300"),  # 1: both teslas
    running(1),
    cmd("sbatch", "-t", "5", "--gres=gpu:k80:1", "--wrap", "exec sleep 300"),  # 2: k80 0
    running(2),
    cmd("sbatch", "-t", "10", "--gpus=3", "--wrap", "exec sleep 300"),  # 3: waits for 1 and 2
    cmd("sbatch", "-t", "2", "--gres=gpu:1", "--wrap", "exec sleep 300"),  # 4: backfilled on k80 1
    cmd("sbatch", "-t", "30", "--gres=gpu:1", "--wrap", "exec sleep 300"),  # 5: would delay 3
    cmd("sbatch", "-t", "2", "--gres=gpu:tesla:1", "--wrap", "exec sleep 300"),  # 6: no tesla free
    running(4),
    reason(3, "Resources"),
    planned(5),
    planned(6),
    settle(),
    show("backfill queue", "squeue", "-S", "i", "-o", "%i %t %r %b %N"),
    show("backfill job 4", "scontrol", "-d", "show", "job", "4"),
    show("backfill jobs", "scontrol", "-d", "show", "job"),
    cmd("scancel", "1", "2", "3", "4", "5", "6"),
]


@pytest.fixture(scope="module")
def backfill_runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(extra_conf=BACKFILL_CONF, **gres.two_gpu_types()) as (ref, got):
        yield run_both(ref, got, BACKFILL)


def test_backfill_counts_gpus(backfill_runs: tuple[Transcript, Transcript]) -> None:
    ref, got = backfill_runs
    queue = ref["backfill queue"].stdout.splitlines()
    assert "4 R None gres:gpu:1 compute-node-2" in queue and "5 PD Priority gres:gpu:1 " in queue
    assert "GRES=gpu:k80:1(IDX:1)" in ref["backfill job 4"].stdout
    assert re.search(r"Scheduler=Backfill\s*$", ref["backfill job 4"].stdout, re.M)
    assert_same(ref, got, ["backfill queue", "backfill job 4"])
    # which scheduler last looked at a job is slurmctld's timing for the others (job 1 on an idle cluster
    # just started, the pending ones every pass of either): all but that
    keys = ["backfill jobs"]
    ref_text, got_text = (re.sub(r"Scheduler=\S+", "Scheduler=<ANY>", t.text(keys)) for t in backfill_runs)
    assert ref_text == got_text, "flurm differs from slurmctld:\n" + "".join(
        difflib.unified_diff(ref_text.splitlines(True), got_text.splitlines(True), "slurmctld", "flurm")
    )

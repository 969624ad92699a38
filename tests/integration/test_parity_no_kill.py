"""Node failure and launch failure of running jobs, and a pending job's node count, as slurmctld 22.05.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side:

* ``--no-kill``: a two-node ``-k`` job (running a step on both nodes) and a two-node
  ``--no-requeue`` job run when an operator sets compute-node-2 DOWN. The first loses the node and
  runs on (kill_running_job_by_node_name, excise_node_from_job: one node, its CPUs, a ResizeTime);
  its step is killed (kill_step_on_node), its script goes on; the second ends NODE_FAIL.
* NumNodes of pending jobs whose CPUsPerTask an operator raises: a job waiting for resources keeps
  the node count of its test at submit (node_cnt_wag) while its TRES do not change; held jobs,
  never tested, show the estimate from their request; so do they once cancelled.
* launch failure: a job is released onto compute-node-2 while its slurmd is stopped (SIGSTOP); the
  batch launch gets no answer within MessageTimeout and the controller requeues the job
  (job_complete with requeue: COMPLETING, Restarts=1, BatchFlag=2), which waits for its begin time
  once the node answers again.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator

import pytest
from parity import (
    Action,
    Records,
    Step,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    poll,
    records_same,
    run_both,
    settle,
    wait_state,
)

from harness.loopback import SlurmCluster

CONF = (
    "KillWait=2\nMinJobAge=300\nReturnToService=0\nMessageTimeout=5\nSlurmdTimeout=300\n"
    "SchedulerParameters=batch_sched_delay=0,bf_interval=300"
)


def signal_slurmd(node: str, sig: int) -> Action:
    def act(c: SlurmCluster) -> None:
        pid = int((c.dir / "run" / f"slurmd-{node}.pid").read_text().split()[0])
        os.kill(pid, sig)

    return act


def restarted(job: int, timeout: float = 60.0) -> Action:
    """Until the job's record says it was requeued once."""

    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            r = c.run("scontrol", "show", "job", "-o", str(job))
            return re.search(r"\bRestarts=1\b", r.stdout) is not None

        try:
            poll(f"job {job} requeued", done, timeout, every=0.5)
        except TimeoutError:
            r = c.run("scontrol", "show", "job", "-o", str(job))
            raise TimeoutError(
                f"[{c.controller}] job {job} not requeued: {r.stdout}\n{c.log_tail()}"
            ) from None

    return act


# a step on both nodes; killed when the node fails, its srun returns and the job goes on
STEP_THEN_SLEEP = (
    "srun -N2 sh -c 'touch step-$SLURMD_NODENAME; exec sleep 300'; echo step ended; exec sleep 300"
)


def step_started(*nodes: str) -> Action:
    """Until the step's task runs on each node (it leaves a file)."""

    def act(c: SlurmCluster) -> None:
        poll(
            f"[{c.controller}] step started",
            lambda: all((c.jobs_dir / f"step-{n}").exists() for n in nodes),
        )

    return act


def step_ended(job: int) -> Action:
    """Until the job's srun returned (its batch script says so)."""

    def act(c: SlurmCluster) -> None:
        out = c.jobs_dir / f"slurm-{job}.out"
        poll(f"[{c.controller}] step ended", lambda: out.exists() and "step ended" in out.read_text())

    return act


STEPS: list[Step] = [
    cmd("sbatch", "-J", "stays", "-N2", "-k", "--wrap", STEP_THEN_SLEEP),  # 1
    wait_state(1, "RUNNING"),
    step_started("compute-node-1", "compute-node-2"),
    cmd("sbatch", "-J", "killed", "-N2", "--no-requeue", "--wrap", "exec sleep 300"),  # 2
    wait_state(2, "RUNNING"),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=DOWN", "Reason=broken", label="node down"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %D %C %N", label="queue after the node failure"),
    step_ended(1),
    cmd("squeue", "-s", "-h", "-o", "%i %N", label="steps after the node failure"),
    # (which tasks srun hears were killed before it gives up is left to chance, under either controller)
    cmd(
        "sh",
        "-c",
        "sed -n '1,/step ended/p' slurm-1.out | grep -v 'task [0-9]*: Killed' | sort",
        label="srun of the no-kill job",
    ),
    cmd("scontrol", "show", "job", "-o", "1", label="no-kill job"),
    cmd("scontrol", "show", "job", "-o", "2", label="killed job"),
    Records("after the node failure"),
    cmd("sinfo", "-N", "-h", "-o", "%N %t", label="nodes after the node failure"),
    cmd("scancel", "1"),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=RESUME", label="node back"),
    settle(),
    # a pending job's node count after an update of its CPUs per task
    cmd("sbatch", "-J", "wall", "-N2", "-n4", "--wrap", "exec sleep 300"),  # 3
    wait_state(3, "RUNNING"),
    cmd("sbatch", "-J", "waits", "-n2", "--wrap", "exec sleep 300"),  # 4
    cmd("sbatch", "-H", "-J", "wider", "-n2", "--wrap", "exec sleep 300"),  # 5
    cmd("sbatch", "-H", "-J", "one", "-n1", "--wrap", "exec sleep 300"),  # 6
    settle(),
    cmd("scontrol", "update", "JobId=4", "CPUsPerTask=2", label="update 4"),
    cmd("scontrol", "update", "JobId=5", "CPUsPerTask=2", label="update 5"),
    cmd("scontrol", "update", "JobId=6", "CPUsPerTask=2", label="update 6"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %D %C", label="pending jobs"),
    cmd("scontrol", "show", "job", "-o", "4", label="pending job 4"),
    cmd("scontrol", "show", "job", "-o", "5", label="pending job 5"),
    cmd("scontrol", "show", "job", "-o", "6", label="pending job 6"),
    cmd("scancel", "3", "4", "5", "6"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %D %C", label="cancelled jobs"),
    # a batch launch that gets no answer
    cmd("sbatch", "-H", "-J", "unlaunched", "-w", "compute-node-2", "--wrap", "exec sleep 300"),  # 7
    settle(),
    signal_slurmd("compute-node-2", signal.SIGSTOP),
    cmd("scontrol", "release", "7"),
    restarted(7),
    cmd("scontrol", "show", "job", "-o", "7", label="requeued job"),
    signal_slurmd("compute-node-2", signal.SIGCONT),
    settle(timeout=60),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %D %N", label="queue at the end"),
    cmd("scontrol", "show", "job", "-o", "7", label="requeued job at the end"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_no_kill_job_runs_on(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(
        ref,
        got,
        [
            "node down",
            "queue after the node failure",
            "steps after the node failure",
            "srun of the no-kill job",
            "no-kill job",
            "killed job",
            "nodes after the node failure",
        ],
    )
    records_same(ref, got, "after the node failure")
    assert "1 stays R None 1 1 compute-node-1" in got["queue after the node failure"].stdout
    assert "ResizeTime=" in got["no-kill job"].stdout
    assert "srun: Force Terminated StepId=1.0" in got["srun of the no-kill job"].stdout


def test_pending_node_count_after_update(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    labels = [
        "update 4",
        "update 5",
        "update 6",
        "pending jobs",
        "pending job 4",
        "pending job 5",
        "pending job 6",
    ]
    assert_same(ref, got, [*labels, "cancelled jobs"])
    # the scheduler's guess at submit (one node for two CPUs) stays while the TRES do not change
    assert "4 waits PD Resources 1 2" in got["pending jobs"].stdout


def test_launch_failure_requeues(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    # the job became eligible and started within a second: whether slurmctld gave it an accrue
    # time is left to chance (two threads race), so that one value is not compared
    texts = [re.sub(r"AccrueTime=\S+", "AccrueTime=<ANY>", t.text(["requeued job"])) for t in runs]
    assert texts[0] == texts[1], f"{texts[0]}\n!=\n{texts[1]}"
    assert "JobState=COMPLETING" in texts[1] and "Restarts=1 BatchFlag=2" in texts[1]
    assert_same(ref, got, ["queue at the end", "requeued job at the end"])
    assert "7 unlaunched PD BeginTime 1" in got["queue at the end"].stdout

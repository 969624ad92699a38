"""PrologSlurmctld and EpilogSlurmctld: flurm runs them as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, both
programs one script that appends its context and a few of the job's variables to ``prep.log`` in
the job's working directory, and fails for jobs named ``fail*``. A job runs between its prolog and
epilog and completes; a job whose prolog fails is requeued (PENDING, Restarts=1, BeginTime), or,
with ``--no-requeue``, cancelled; both went through the epilog as their nodes were given back. An
srun runs once the prolog is done; one whose prolog fails is told so and cancelled.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, poll, run_both, wait_state

from harness.loopback import SlurmCluster

PREP = """#!/bin/sh
what="$SLURM_SCRIPT_CONTEXT $SLURM_JOB_ID $SLURM_JOB_NAME $SLURM_JOB_USER $SLURM_JOB_PARTITION"
more="$SLURM_JOB_NODELIST $SLURM_JOB_RESTART_COUNT $SLURM_JOB_EXIT_CODE2"
echo "$what $more" >> "$SLURM_JOB_WORK_DIR/prep.log"
case "$SLURM_JOB_NAME" in fail*) [ "$SLURM_SCRIPT_CONTEXT" = prolog_slurmctld ] && exit 1 ;; esac
exit 0
"""

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
RUNS = 10  # five prologs, five epilogs


def logged(count: int) -> Callable[[SlurmCluster], None]:
    """Wait for ``count`` lines of prep.log. Up to 90 s: the last job starts at the controller's next cycle,
    which a loaded machine has delayed past 30 s once (a CI run, side unknown); slurmctld's periodic cycle
    comes within 60 s. A timeout names the controller and shows the log and the queue."""

    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / "prep.log"
        try:
            poll(f"{count} lines", lambda: path.exists() and len(path.read_text().splitlines()) >= count, 90)
        except TimeoutError as exc:
            text = path.read_text() if path.exists() else "(no prep.log)"
            queue = c.run("squeue", "-t", "all", "-o", "%i %j %T %r").stdout
            raise TimeoutError(f"[{c.controller}] {exc}\n{text}\n{queue}") from None

    return act


STEPS = [
    cmd("srun", "-J", "interactive", "echo", "srun ran", label="srun waits for the prolog"),  # 1
    # (what srun prints after the message depends on whether its poll of the job or the news of
    # its end comes first, on either controller: the message and the exit code are compared)
    cmd(
        "sh",
        "-c",
        "srun -J failsrun echo srun ran 2>srun.err; echo rc=$?; grep PrologSlurmctld srun.err",
        label="srun whose prolog fails",
    ),  # 2
    wait_state(2, "CANCELLED"),
    cmd("sbatch", "-J", "good", "-o", "good.out", "--wrap", "echo ran"),  # 3
    wait_state(3, "COMPLETED"),
    cmd("sbatch", "-J", "failing", "--no-requeue", "--wrap", "echo ran"),  # 4
    wait_state(4, "CANCELLED"),
    cmd("sbatch", "-J", "failagain", "--wrap", "echo ran"),  # 5
    wait_state(5, "PENDING"),
    logged(RUNS),
    cmd("sort", "prep.log", label="prolog and epilog runs"),
    cmd("cat", "good.out", label="the good job ran"),
    # (slurmctld gives the requeued job its reason BeginTime only at a later cycle)
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t", label="queue"),
    cmd("sh", "-c", "scontrol show job -o 5 | grep -o 'Restarts=[0-9]*'", label="requeued job"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    tmp = Path(tempfile.mkdtemp(prefix="flurm-prep-"))
    os.chmod(tmp, 0o755)
    prog = tmp / "prep"
    prog.write_text(PREP)
    prog.chmod(0o755)
    conf = f"{CONF}\nPrologSlurmctld={prog}\nEpilogSlurmctld={prog}"
    try:
        with cluster_pair(nodes=2, cpus=2, extra_conf=conf) as (ref, got):
            yield run_both(ref, got, STEPS)
    finally:
        prog.unlink()
        tmp.rmdir()


def test_prolog_and_epilog(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "prolog_slurmctld 3 good" in got["prolog and epilog runs"].stdout
    assert "rc=1\nsrun: PrologSlurmctld failed, job killed" in got["srun whose prolog fails"].stdout
    assert got["srun waits for the prolog"].stdout == "srun ran\n"
    assert "Restarts=1" in got["requeued job"].stdout

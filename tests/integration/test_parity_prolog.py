"""PrologFlags=Alloc,Contain: flurm starts the prolog of every node at allocation as slurmctld 22.05 does.

Without REQUEST_LAUNCH_PROLOG a slurmd configured so waits 20 s for it, then fails the batch job
(JobLaunchFailure). One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side
by side: a batch job running srun, an interactive srun, and a batch job whose steps are listed while
it runs (the extern step over all its nodes, the batch step, the srun step). A Prolog script leaves
a file per node and job: the prolog ran on every node of every job, at allocation.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state
from test_srun import running_steps

# slurmd gives the prolog SLURM_CONF (DIR/etc/slurm.conf) in its environment: it writes into DIR/jobs
PROLOG_TEXT = """#!/bin/sh
touch "$(dirname "$SLURM_CONF")/../jobs/prolog-$SLURM_JOB_ID-$SLURMD_NODENAME"
"""


@pytest.fixture(scope="module")
def prolog_script() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="flurm-prolog-", suffix=".sh")
    with os.fdopen(fd, "w") as f:
        f.write(PROLOG_TEXT)
    os.chmod(path, 0o755)
    yield path
    os.unlink(path)


STEPS = [
    cmd("sbatch", "-N2", "--wrap", "srun -l hostname | sort; echo batch-done"),  # 1
    wait_state(1, "COMPLETED", "FAILED"),
    cmd("sh", "-c", "cat slurm-1.out | sed 's/^[01]: .*/<task>/'", label="output of the batch job"),
    settle(),
    cmd("srun", "-N2", "-l", "true", label="srun"),  # 2
    settle(),
    cmd("sbatch", "-N2", "--wrap", "srun sleep 4"),  # 3
    wait_state(3, "RUNNING"),
    running_steps(3, 1),
    cmd("squeue", "-s", "-o", "%i %j %N %l", label="steps of a running job"),
    cmd("scontrol", "show", "step", "-o", label="scontrol show step"),
    cmd("scontrol", "show", "job", "-o", "3", label="the running job"),
    wait_state(3, "COMPLETED", "FAILED"),
    settle(),
    cmd("sh", "-c", "ls prolog-* | sort", label="prologs that ran"),
    cmd("scontrol", "show", "job", label="all jobs"),
]


@pytest.fixture(scope="module")
def runs(prolog_script: str) -> Iterator[tuple[Transcript, Transcript]]:
    conf = f"KillWait=2\nMinJobAge=300\nPrologFlags=Alloc,Contain\nProlog={prolog_script}"
    with cluster_pair(nodes=2, cpus=2, extra_conf=conf) as (ref, got):
        yield run_both(ref, got, STEPS)


def _steps_text(t: Transcript) -> str:
    # srun's pid differs between the two runs
    return re.sub(r"SrunHost:Pid=(\S+):\d+", r"SrunHost:Pid=\1:<PID>", t.text(["scontrol show step"]))


def test_batch_and_srun_jobs_complete(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["output of the batch job", "srun", "prologs that ran", "all jobs"])
    assert got["output of the batch job"].stdout == "<task>\n<task>\nbatch-done\n"
    assert "JobState=COMPLETED" in got["all jobs"].stdout and "FAILED" not in got["all jobs"].stdout
    assert got["prologs that ran"].stdout.split() == [
        f"prolog-{job}-compute-node-{node}" for job in (1, 2, 3) for node in (1, 2)
    ]


def test_extern_step_listed_as_slurmctld_lists_it(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["steps of a running job", "the running job"])
    assert "3.extern extern compute-node-[1-2]" in got["steps of a running job"].stdout
    assert _steps_text(ref) == _steps_text(got), f"slurmctld:\n{_steps_text(ref)}flurm:\n{_steps_text(got)}"

"""Time limits as srun sees them, under flurm as under slurmctld 22.05.

* ``srun -t 1`` inside a batch job: the step, not the job, is killed at its limit; slurmstepd
  prints "*** STEP N.0 ON node CANCELLED AT ... DUE TO TIME LIMIT ***" and srun reports the
  killed task, the batch script goes on.
* ``srun -v -t 1``: a job whose limit comes within a minute; srun hears SRUN_TIMEOUT ("job time
  limit to be reached at ...", shown with -v) before the job is killed at its limit.

* ``salloc -t 1``: past the limit salloc hears SRUN_TIMEOUT, then that the job is over, and says
  "Job N has exceeded its time limit and its allocation has been revoked.".
* ``-N2`` on the one node: only the partition's limits keep it out, so it is queued
  (PartitionNodeLimit) and srun and salloc hear "Requested partition configuration not available
  now"; with ``-I`` they fail with it.

slurmctld checks limits every 30 s (a kill between 60 and 90 s), flurm every second: the
transcripts are compared once both are over.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state
from test_srun import background, finished, output_of

CONF = "KillWait=2\nMinJobAge=300"
SALLOC = "salloc past its time limit"
EXCEEDED = "salloc: Job 3 has exceeded its time limit and its allocation has been revoked.\n"

# salloc's lines without the "Job allocation N has been revoked." it may print after the refusal:
# slurmctld's SRUN_JOB_COMPLETE for the failed job (flurm sends it too) races with salloc's exit
SALLOC_I = "salloc -N2 -I true 2>err; rc=$?; grep -v 'has been revoked' err; echo rc=$rc"

STEPS = [
    cmd("sbatch", "-o", "step.out", "--wrap", "srun -t 1 sleep 300; echo srun-rc=$?"),  # 1
    background("interactive", "srun", "-v", "-t", "1", "sleep", "300"),  # 2
    wait_state(2, "RUNNING", timeout=60),  # (then the salloc is job 3)
    # the three limits run out together: one wait of 60-90 s for slurmctld's check, not two
    background("salloc_limit", "salloc", "-t", "1", "sh", "-c", "'srun sleep 300'"),  # 3
    wait_state(1, "COMPLETED", "FAILED", timeout=150),
    wait_state(2, "TIMEOUT", "FAILED", "COMPLETED", timeout=150),
    finished("interactive", timeout=60),
    wait_state(3, "TIMEOUT", "FAILED", "COMPLETED", timeout=150),
    finished("salloc_limit", timeout=60),
    cmd("sh", "-c", "grep -h ^salloc: salloc_limit.err; cat salloc_limit.rc", label=SALLOC),
    cmd("srun", "-N2", "-I", "hostname"),  # 4
    cmd("sh", "-c", SALLOC_I, label="salloc -N2 -I true"),  # 5
    cmd("sbatch", "-N2", "--wrap", "true"),  # 6
    settle(),
    cmd("cat", "step.out", label="batch job with a step time limit"),
    cmd(*output_of("interactive"), label="interactive srun past its time limit"),
    # (only the batch job: whether the srun's job accrued before it started is up to scheduling)
    cmd("scontrol", "show", "job", "1", label="the batch job"),
    cmd("squeue", "-h", "-t", "all", "-o", "%i %T %r", label="job states"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=3, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_step_killed_at_its_own_limit(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["batch job with a step time limit", "the batch job", "job states"])
    out = got["batch job with a step time limit"].stdout
    assert re.search(r"STEP 1\.0 ON compute-node-1 CANCELLED AT \S+ DUE TO TIME LIMIT", out), out
    assert "srun-rc=" in out


def _notable(t: Transcript) -> list[str]:
    """srun -v's lines that matter here (its other verbose lines name ports and addresses; whether
    slurmstepd's CANCELLED line reaches srun before srun hears that the job is over is a race
    under either controller)."""
    text = t.text(["interactive srun past its time limit"])
    keep = ("time limit to be reached", "rc=")
    lines = [line for line in text.splitlines() if any(k in line for k in keep)]
    # the end time srun prints (ctime): each controller's own clock
    return [
        re.sub(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}", "<CTIME>", line) for line in lines
    ]


def test_srun_warned_of_the_job_time_limit(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert _notable(ref) == _notable(got), f"slurmctld: {_notable(ref)}\nflurm: {_notable(got)}"
    assert any("job time limit to be reached at" in line for line in _notable(got))


def test_salloc_told_that_its_job_exceeded_its_time_limit(runs: tuple[Transcript, Transcript]) -> None:
    """slurmctld kills the job in its check of limits after the job's last second but for one
    check in 30 (in this harness, where a job starts at the check after the node came up, more
    often): then salloc says only "Job allocation 3 has been revoked.". flurm kills in the second
    after the end, as slurmctld does in most checks."""
    ref, got = runs
    want = ref[SALLOC].stdout.replace("salloc: Job allocation 3 has been revoked.\n", EXCEEDED)
    assert got[SALLOC].stdout == want, f"slurmctld:\n{ref[SALLOC].stdout}\nflurm:\n{got[SALLOC].stdout}"
    assert EXCEEDED in got[SALLOC].stdout


def test_more_nodes_than_the_partition_has_are_queued(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = ["srun -N2 -I hostname", "salloc -N2 -I true", "sbatch -N2 --wrap true", "job states"]
    assert_same(ref, got, keys)
    assert "Requested partition configuration not available now" in got["srun -N2 -I hostname"].stderr
    assert "6 PENDING PartitionNodeLimit" in got["job states"].stdout

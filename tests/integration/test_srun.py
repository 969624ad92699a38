"""srun and salloc against flurm as against slurmctld 22.05: the real, unmodified clients and slurmd.

One scenario runs on both clusters (2 nodes x 2 CPUs) side by side and the transcripts are compared
after normalisation (times, directories; see parity.py): interactive srun on one and two nodes,
task labels, a failing task, salloc running srun, steps inside a batch job (one that does not fit
the allocation), squeue and ``squeue -s`` while an srun runs, scancel of a running srun, an srun
that waits for resources and gets them later on its own port, scancel of one step, and
``scontrol show job`` of all of it. The flow srun expects is 4001 -> 4002, 4019 -> 4020,
5001 -> 5002, then REQUEST_LAUNCH_TASKS straight to slurmd with the munge-signed step credential,
5016 from slurmstepd, 5017 at the end.
"""

from __future__ import annotations

import dataclasses
import re
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from parity import (
    Action,
    Records,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    normalise,
    poll,
    record_diff,
    run_both,
    settle,
    wait_state,
)

from flurm.protocol.constants import JobFlag
from flurm.protocol.messages.job_info import JobRecord
from harness.loopback import SlurmCluster
from harness.loopback import cluster as loopback_cluster

# the waiting srun is started by the main scheduler on both sides, never by a backfill pass that happens to
# come first (slurmctld's backfill shows an unlimited job it starts as TimeLimit=365-00:00:00)
CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
HOST = socket.gethostname().split(".")[0]  # what hostname prints in every task (all nodes are this host)
_BACKGROUND: dict[tuple[int, str], subprocess.Popen[bytes]] = {}


def background(name: str, *args: str) -> Action:
    """Start a client in the background; its stdout, stderr and exit code go to NAME.out/.err/.rc."""

    def act(c: SlurmCluster) -> None:
        line = " ".join(args) + f" >{name}.out 2>{name}.err; echo rc=$? >{name}.rc"
        _BACKGROUND[(id(c), name)] = subprocess.Popen(["sh", "-c", line], env=c.env, cwd=c.jobs_dir)

    return act


def finished(name: str, timeout: float = 30.0) -> Action:
    def act(c: SlurmCluster) -> None:
        _BACKGROUND.pop((id(c), name)).wait(timeout)

    return act


def running_steps(job: int, count: int) -> Action:
    """Until the job runs ``count`` srun steps (squeue -s)."""

    def act(c: SlurmCluster) -> None:
        def check() -> bool:
            out = c.run("squeue", "-h", "-s", "-j", str(job), "-o", "%i").stdout.split()
            return len([s for s in out if not s.endswith((".batch", ".extern"))]) >= count

        poll(f"[{c.controller}] {count} step(s) of job {job}", check)

    return act


def sleep(seconds: float) -> Action:
    return lambda c: time.sleep(seconds)


def assert_same_steps(ref: Transcript, got: Transcript, key: str) -> None:
    """squeue -s listings alike but for the TIME column (parity.py blanks it only under JOBID)."""

    def steps(t: Transcript) -> str:
        return re.sub(r"(?<= )\d+:\d\d(?= )", "<T>", t.text([key]))

    assert steps(ref) == steps(got), f"slurmctld:\n{steps(ref)}flurm:\n{steps(got)}"


def _masked(records: list[JobRecord]) -> list[JobRecord]:
    return [dataclasses.replace(r, bitflags=r.bitflags & ~JobFlag.TRES_STR_CALC) for r in records]


def output_of(name: str) -> tuple[str, ...]:
    """What a background client printed, its lines sorted (tasks report in any order)."""
    return ("sh", "-c", f"cat {name}.out {name}.err {name}.rc | sort")


STEPS = [
    # interactive srun: an allocation, a step, the end (jobs 1-4)
    cmd("srun", "-N1", "hostname"),
    settle(),
    cmd("srun", "-n2", "-l", "hostname", sort_lines=True),
    settle(),
    cmd("srun", "-N2", "-l", "hostname", sort_lines=True),
    settle(),
    cmd("srun", "false"),
    settle(),
    # salloc runs srun inside its allocation (job 5)
    # (without "Job allocation 5 has been revoked.": slurmctld's SRUN_JOB_COMPLETE races salloc's exit)
    cmd(
        "sh",
        "-c",
        "salloc -N1 srun hostname 2>err; rc=$?; grep -v 'has been revoked' err >&2; exit $rc",
        label="salloc",
    ),
    settle(),
    # steps inside batch jobs: the second does not fit a 1-CPU allocation (jobs 6, 7)
    cmd("sbatch", "--wrap", "srun hostname; srun -n2 true"),
    wait_state(6, "FAILED", "COMPLETED"),
    cmd("cat", "slurm-6.out"),
    cmd("sbatch", "-n2", "--wrap", "srun -l hostname | sort; srun -n2 true; srun -n1 true"),
    wait_state(7, "FAILED", "COMPLETED"),
    cmd("cat", "slurm-7.out"),
    settle(),
    # an srun that runs: squeue, squeue -s, then scancel (job 8)
    background("long", "srun", "-N2", "sleep", "60"),
    wait_state(8, "RUNNING"),
    running_steps(8, 1),
    sleep(1.0),  # srun has launched its tasks
    cmd("squeue", label="squeue while srun runs"),
    cmd("squeue", "-s", label="squeue -s while srun runs"),
    cmd("scancel", "8"),
    finished("long"),
    cmd(*output_of("long"), label="srun after scancel"),
    settle(),
    # a batch job with a step: squeue -s shows both (job 9)
    cmd("sbatch", "-N1", "--wrap", "srun sleep 4"),
    wait_state(9, "RUNNING"),
    running_steps(9, 1),
    sleep(0.5),
    cmd("squeue", "-s", label="squeue -s of a batch job"),
    wait_state(9, "COMPLETED"),
    settle(),
    # an srun that must wait: the cluster is full, it is allocated when the batch job ends (10, 11)
    cmd("sbatch", "-N2", "-n4", "--wrap", "sleep 3"),
    wait_state(10, "RUNNING"),
    background("waits", "srun", "-N1", "hostname"),
    wait_state(11, "PENDING"),
    sleep(0.5),
    cmd("squeue", label="squeue with a waiting srun"),
    finished("waits"),
    cmd(*output_of("waits"), label="srun after waiting"),
    settle(),
    # scancel of one step: srun learns that its step is over, the job fails (job 12)
    background("step", "srun", "-N1", "sleep", "60"),
    wait_state(12, "RUNNING"),
    running_steps(12, 1),
    sleep(1.0),
    cmd("scancel", "12.0"),
    finished("step"),
    cmd(*output_of("step"), label="srun after scancel of its step"),
    settle(),
    Records("all"),
    cmd("scontrol", "show", "job", label="all jobs"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_interactive_srun(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = ["srun -N1 hostname", "srun -n2 -l hostname", "srun -N2 -l hostname", "srun false"]
    assert_same(ref, got, keys)
    assert (got["srun -N1 hostname"].returncode, got["srun -N1 hostname"].stdout) == (0, f"{HOST}\n")
    assert got["srun -n2 -l hostname"].stdout == f"0: {HOST}\n1: {HOST}\n"
    assert got["srun -N2 -l hostname"].stdout == f"0: {HOST}\n1: {HOST}\n"
    fail = got["srun false"]
    assert fail.returncode == 1
    assert fail.stderr == "srun: error: compute-node-1: task 0: Exited with exit code 1\n"


def test_salloc_runs_srun(runs: tuple[Transcript, Transcript]) -> None:
    for t in runs:
        out = t["salloc"]
        assert (out.returncode, out.stdout) == (0, f"{HOST}\n"), t.controller
        # slurmctld may also tell salloc "Job allocation 5 has been revoked." when it is still there
        lines = [x for x in out.stderr.splitlines() if "has been revoked" not in x]
        assert lines == ["salloc: Granted job allocation 5", "salloc: Relinquishing job allocation 5"]


def test_steps_inside_batch_jobs(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["cat slurm-6.out"])
    # slurmctld may not have freed the previous step's CPUs when the next step asks (its own timing):
    # srun then says so and retries; compare without those two lines
    theirs, ours = (_without_step_retry(t["cat slurm-7.out"].stdout) for t in (ref, got))
    assert ours == theirs
    assert got["cat slurm-6.out"].stdout == (
        f"{HOST}\nsrun: error: Unable to create step for job 6: More processors requested than permitted\n"
    )
    assert got["cat slurm-7.out"].stdout == f"0: {HOST}\n1: {HOST}\n"


def test_squeue_and_scancel_of_a_running_srun(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["squeue while srun runs", "scancel 8"])
    assert_same_steps(ref, got, "squeue -s while srun runs")
    assert "8.0    sleep     debug     root" in got["squeue -s while srun runs"].stdout
    # slurmstepd's "*** STEP 8.0 ... CANCELLED AT" line reaches srun or not, whoever the controller is
    # (srun may exit first): compare without it
    theirs, ours = (
        _without_cancel_notice(_step_abort_short(t["srun after scancel"].stdout)) for t in (ref, got)
    )
    assert ours == theirs
    assert "srun: Job step aborted" in ours
    assert "rc=143" in ours


def _step_abort_short(out: str) -> str:
    return re.sub(
        r"Job step aborted: Waiting up to \d+ seconds for job step to finish\.", "Job step aborted", out
    )


def _without_step_retry(out: str) -> list[str]:
    retry = ("step creation temporarily disabled, retrying", "srun: Step created for job")
    return [line for line in out.splitlines() if not any(r in line for r in retry)]


def _without_cancel_notice(out: str) -> list[str]:
    return [line for line in out.splitlines() if "CANCELLED AT" not in line]


def test_squeue_steps_of_a_batch_job(runs: tuple[Transcript, Transcript]) -> None:
    assert_same_steps(*runs, "squeue -s of a batch job")
    out = runs[1]["squeue -s of a batch job"].stdout
    assert "9.0    sleep" in out and "9.batch    batch" in out


def test_an_srun_waits_for_resources(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["squeue with a waiting srun", "srun after waiting"])
    waiting = got["squeue with a waiting srun"].stdout.split("\n")
    assert "11 debug hostname root PD" in [" ".join(line.split()[:5]) for line in waiting]
    assert [line.split()[-1] for line in waiting[1:] if line.split()[:1] == ["11"]] == ["(Resources)"]
    assert got["srun after waiting"].stdout.splitlines() == sorted(
        [
            HOST,
            "rc=0",
            "srun: job 11 queued and waiting for resources",
            "srun: job 11 has been allocated resources",
        ]
    )


def test_scancel_of_a_step(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["scancel 12.0"])
    # whether srun says it waits for its tasks depends on whether they had all exited when it saw the
    # abort (its own threads, whoever the controller is: step_launch.c): compare in the short form
    theirs, ours = (
        normalise(_step_abort_short(t["srun after scancel of its step"].stdout), t.cluster) for t in runs
    )
    assert ours == theirs
    after = got["srun after scancel of its step"].stdout
    assert "*** STEP 12.0 ON compute-node-1 CANCELLED AT" in after and "rc=137" in after


def test_finished_srun_jobs_show_as_in_slurmctld(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["all jobs"])
    # TRES_STR_CALC marks a job whose last step ended after the job: for an srun job that is the
    # race between srun's 5017 and slurmstepd's 5016, which slurmctld itself wins either way
    assert ref.cluster is not None and got.cluster is not None
    problems = record_diff(_masked(ref.records["all"]), _masked(got.records["all"]), ref.cluster, got.cluster)
    assert not problems, "decoded job records differ:\n" + "\n".join(problems)
    text = got["all jobs"].stdout
    job4 = text[text.index("JobId=4 ") : text.index("JobId=5 ")]
    assert "JobState=FAILED Reason=NonZeroExitCode" in job4 and "ExitCode=1:0" in job4
    assert "BatchFlag=0" in job4 and "Command=false" in job4
    job8 = text[text.index("JobId=8 ") : text.index("JobId=9 ")]
    assert "JobState=CANCELLED" in job8
    job12 = text[text.index("JobId=12 ") :]
    assert "JobState=FAILED Reason=JobLaunchFailure" in job12 and "ExitCode=0:9" in job12


def test_an_salloc_survives_a_flurm_restart() -> None:
    """flurm stops and starts while salloc holds an allocation that runs nothing: its job and step
    table come back from the store (the next step gets the next id), and the srun that salloc runs
    next gets its step. (That a node registering without a step of the job does not fail it as a
    lost batch job is checked in tests/unit/test_steps.py.)"""
    with loopback_cluster("flurm", nodes=1, cpus=2, extra_conf=CONF) as c:
        p = subprocess.Popen(
            ["salloc", "-N1", "sh", "-c", "srun true; sleep 5; srun -l hostname"],
            env=c.env,
            cwd=c.jobs_dir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        c.wait_state(1, ["RUNNING"])
        time.sleep(1)
        c.stop_flurm()
        c.start_flurm()
        out, err = p.communicate(timeout=60)
        assert (p.returncode, out) == (0, f"0: {HOST}\n"), err + c.log_tail()
        assert c.wait_state(1, ["COMPLETED"]) == "COMPLETED"
        assert "step 1.1: 1 task(s)" in c.log_tail(200)  # step 1.0 ran before the restart

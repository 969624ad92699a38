"""Jobs that run, fail, wait for each other and come as arrays: flurm shows what slurmctld 22.05 shows.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, a second partition
``short`` on compute-node-2) side by side. Three jobs fill the cluster; squeue, sinfo and scontrol
are compared in many forms while they run; a fourth waits for Resources and runs (and fails with
exit code 3) once one of them is cancelled; a batch script with #SBATCH lines and output patterns
fails with exit code 2; afterok/afternotok/afterany dependencies on it resolve; an array with a
``%1`` throttle shows as ``ID_[2-3%1]`` while its first task runs, then as its tasks; a dependency
on the whole array reads ``afterok:ID_*(unfulfilled)``; the running tasks of a second array are
looked up, updated, held and cancelled by task and by job id. Every step waits for a state both
controllers reach, so that nothing depends on slurmctld's scheduling tick. Jobs that get cancelled
run ``exec sleep``: with a shell between, SIGTERM reaches the shell or its child first, and the
exit code (0:15 or 143:0) is a race on either controller.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import (
    Records,
    Transcript,
    assert_same,
    cluster_pair,
    cmd,
    records_same,
    run_both,
    settle,
    wait_state,
    write_file,
)

CONF = "\n".join(
    [
        "KillWait=2",
        "MinJobAge=300",
        "SchedulerParameters=batch_sched_delay=0,bf_interval=300",
        "PartitionName=short Nodes=compute-node-2 MaxTime=5 State=UP",
    ]
)

SCRIPT = """#!/bin/bash
#SBATCH -J scripted
#SBATCH -o out-%j-%x-%u.txt
#SBATCH -e err-%A_%a-%N.txt
echo hello $SLURM_JOB_ID $SLURM_JOB_NAME
echo oops >&2
exit 2
"""

ARRAY = """#!/bin/bash
#SBATCH -o arr-%A_%a.out
echo task $SLURM_ARRAY_JOB_ID $SLURM_ARRAY_TASK_ID $SLURM_JOB_ID
[ "$SLURM_ARRAY_TASK_ID" = 1 ] && sleep 4
exit 0
"""

VIEWS = [
    ("squeue",),
    ("squeue", "-l"),
    ("squeue", "-j", "1,3"),
    ("squeue", "-u", "nobody"),
    ("squeue", "-p", "short"),
    ("squeue", "-t", "R"),
    ("squeue", "-o", "%.18i %.9P %.8j %.8u %.2t %.10l %.6D %R %C %m %c %Q %n %N %B"),
    ("sinfo",),
    ("sinfo", "-l"),
    ("sinfo", "-o", "%P %a %l %D %t %N %c %m %C %f"),
    ("sinfo", "-p", "short"),
    ("sinfo", "-s"),
    ("scontrol", "show", "node"),
    ("scontrol", "show", "node", "compute-node-2"),
    ("scontrol", "show", "partition"),
    ("scontrol", "show", "partition", "short"),
    ("scontrol", "show", "job"),
]

STEPS = [
    cmd("sbatch", "-J", "a", "--wrap", "exec sleep 60"),  # 1
    wait_state(1, "RUNNING"),
    cmd("sbatch", "-J", "b", "-N2", "--wrap", "exec sleep 60"),  # 2
    # 3
    cmd("sbatch", "-J", "c", "--mem=300", "-p", "short", "-t", "3", "--wrap", "exec sleep 60", user="nobody"),
    wait_state(2, "RUNNING"),
    wait_state(3, "RUNNING"),
    settle(),
    *[cmd(*view, label="running: " + " ".join(view)) for view in VIEWS],
    cmd("sinfo", "-N", sort_lines=True, label="running: sinfo -N"),
    cmd("sinfo", "-N", "-l", sort_lines=True, label="running: sinfo -N -l"),
    Records("running"),
    cmd("sbatch", "-J", "d", "--wrap", "exit 3"),  # 4
    settle(),
    cmd("squeue", "-o", "%i %t %r", label="waiting"),
    cmd("scancel", "2"),
    wait_state(4, "FAILED"),
    settle(),
    # finished jobs: sorted by id (squeue orders equal keys by start time, which is timing)
    cmd("squeue", "-t", "all", "-S", "i", label="after the cancel"),
    cmd("scontrol", "show", "job", "2", label="cancelled job"),
    cmd("scontrol", "show", "job", "4", label="failed job"),
    cmd("scontrol", "show", "node", label="nodes after the cancel"),
    write_file("job.sh", SCRIPT, 0o755),
    cmd("sbatch", "job.sh"),  # 5
    wait_state(5, "FAILED"),
    cmd("sbatch", "--wrap", "echo ok", "-o", "o-%j-%A-%a-%N-%x-%u.log"),  # 6
    wait_state(6, "COMPLETED"),
    settle(),
    cmd("sbatch", "--dependency", "afterok:5", "--wrap", "true"),  # 7: never
    # 8 still holds its CPU of compute-node-1 when 9 is placed (compute-node-2 then), however slow the
    # machine: a job that ended at once left the two nodes tied or not, as the race went
    cmd("sbatch", "--dependency", "afternotok:5", "--wrap", "sleep 3"),  # 8
    cmd("sbatch", "--dependency", "afterany:6", "--wrap", "true"),  # 9
    wait_state(8, "COMPLETED"),
    wait_state(9, "COMPLETED"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %t %r %E", label="dependencies"),
    # the array waits (the cluster is full) through two scheduling cycles, so that it has accrued
    # time when its first task starts: slurmctld makes a job eligible in one cycle and lets it accrue
    # from the next, and whether a task starts in its array's first cycle is a matter of timing there
    cmd("sbatch", "-J", "filler", "-N2", "--wrap", "exec sleep 60"),  # 10
    wait_state(10, "RUNNING"),
    write_file("array.sh", ARRAY, 0o755),
    cmd("sbatch", "--array", "1-3%1", "array.sh"),  # 11
    settle(),
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true"),  # 12
    settle(),
    cmd("squeue", "-o", "%i %t %r", label="array waiting"),
    cmd("scancel", "10"),
    wait_state("11_1", "RUNNING"),
    settle(),
    cmd("squeue", label="array running"),
    cmd("squeue", "-r", "-o", "%i %t %r %K %F", label="array running -r"),
    cmd("scontrol", "show", "job", "11", label="array record while running"),
    # a job on the whole array, too big to start before job 1 ends: when its dependency holds it
    # waits for Resources through one more cycle (a job that becomes eligible and starts within one
    # second has an accrue time or not depending on the order of two threads in slurmctld)
    cmd("sbatch", "--dependency", "afterok:11", "-n", "3", "--wrap", "true"),  # 14 (13 is task 11_1)
    settle(),
    cmd("squeue", "-o", "%i %t %r %E", label="array dependency"),
    wait_state("11_3", "COMPLETED"),
    settle(),
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true"),  # 16 (15 is task 11_2)
    settle(),
    cmd("squeue", "-o", "%i %t %r %E", label="array dependency done"),
    cmd("scancel", "1"),
    wait_state(14, "COMPLETED"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %t %r %E %j %u", label="all done"),
    cmd("scontrol", "show", "job", "11", label="array record done"),
    cmd("scontrol", "show", "job", label="every job"),
    cmd("sh", "-c", "ls | sort", label="output files"),
    cmd(
        "sh",
        "-c",
        "cat out-5-scripted-root.txt err-5_4294967294-compute-node-1.txt "
        "o-6-6-4294967294-compute-node-1-wrap-root.log arr-11_1.out arr-11_2.out arr-11_3.out",
        label="output contents",
    ),
    Records("done"),
    # a second array, all of its tasks running at once (again through two cycles of waiting)
    cmd("sbatch", "-J", "filler", "-n", "3", "--wrap", "exec sleep 60"),  # 17
    wait_state(17, "RUNNING"),
    cmd("sbatch", "--array", "1-3", "--wrap", "exec sleep 60"),  # 18
    settle(),
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true"),  # 19
    settle(),
    cmd("scancel", "17"),
    wait_state("18_3", "RUNNING"),
    settle(),
    *[
        cmd(*args, label="tasks: " + " ".join(args))
        for args in (
            ("squeue", "-j", "18"),
            ("squeue", "-r", "-j", "18"),
            ("squeue", "-j", "18_2"),
            ("squeue", "-j", "21"),
            ("scontrol", "show", "job", "20"),
            ("scontrol", "show", "job", "18_2"),
            ("scontrol", "update", "JobId=20", "TimeLimit=10"),
            ("scontrol", "hold", "20"),
            ("scontrol", "release", "20"),
            ("scancel", "18_2"),
            ("scancel", "20"),  # a task by its own job id: slurmctld finds no array 20
            ("scancel", "-s", "USR1", "18_3"),
            ("scancel", "--signal=USR1", "999"),
        )
    ],
    cmd(
        "scontrol", "update", "JobId=20", "TimeLimit=20", user="nobody", label="tasks: update by another user"
    ),
    cmd("scancel", "18", user="nobody", label="tasks: cancel by another user"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %t %r %l %N", label="tasks: at the end"),
    cmd("scontrol", "show", "job", "20", label="tasks: task 1 at the end"),
    cmd("sinfo", "-N", "-o", "%N %P %t %c %m %T", sort_lines=True, label="tasks: sinfo -N -o"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_submissions(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("sbatch")])


def test_views_while_jobs_run(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("running: ")])


def test_waiting_then_running_after_a_cancel(runs: tuple[Transcript, Transcript]) -> None:
    keys = ["waiting", "after the cancel", "cancelled job", "failed job", "nodes after the cancel"]
    assert_same(*runs, keys)
    assert "ExitCode=3:0" in runs[1]["failed job"].stdout


def test_dependencies_resolve(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["dependencies"])
    assert "afterok:5(failed)" in runs[1]["dependencies"].stdout


def test_arrays(runs: tuple[Transcript, Transcript]) -> None:
    keys = ["array waiting", "array running", "array running -r", "array record while running"]
    assert_same(*runs, [*keys, "array dependency", "array dependency done", "array record done"])
    assert "11_[2-3%1]" in runs[1]["array running"].stdout
    assert "afterok:11_*(unfulfilled)" in runs[1]["array dependency"].stdout


def test_everything_at_the_end(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["all done", "every job"])


def test_output_files(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["output files", "output contents"])


def test_running_array_tasks(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("tasks: ")])
    assert "18_1 R None" in got["tasks: at the end"].stdout  # scancel 20 did nothing
    assert "18_2 CA None" in got["tasks: at the end"].stdout


def test_decoded_records(runs: tuple[Transcript, Transcript]) -> None:
    records_same(*runs, "running")
    records_same(*runs, "done")

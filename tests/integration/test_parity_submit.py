"""sbatch and the views of pending jobs: flurm shows what slurmctld 22.05 shows.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, extra partitions
``short`` with limits, ``off`` DOWN, ``hid`` hidden), side by side: a blocker job takes every CPU,
then sbatch with most of its options, the refusals slurmctld answers (and whether they use up a job
id), and the pending jobs with their reasons, priorities, array and dependency texts. Nothing
depends on timing: every job but the blocker stays pending. Each test compares one part of the
transcripts (see parity.py for what is normalised).
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
        "PartitionName=short Nodes=compute-node-2 MaxTime=5 MaxNodes=1 State=UP",
        "PartitionName=off Nodes=ALL State=DOWN",
        "PartitionName=hid Nodes=ALL Hidden=YES",
    ]
)

SCRIPT = """#!/bin/bash
#SBATCH -J scripted
#SBATCH -n 2
#SBATCH --time=10
#SBATCH -o out-%j-%x.txt
echo hello
"""

SUBMITS: list[tuple[str, ...]] = [
    ("job.sh",),
    ("--wrap", "true", "-J", "two", "-p", "debug"),
    ("-N", "2", "--wrap", "true"),
    ("-n", "3", "--wrap", "true"),
    ("-c", "2", "--wrap", "true"),
    ("-n", "2", "--ntasks-per-node", "1", "--wrap", "true"),
    ("--ntasks-per-node", "2", "--wrap", "true"),
    ("--mem", "500", "--wrap", "true"),
    ("--mem-per-cpu", "200", "-n", "2", "--wrap", "true"),
    ("--mem-per-cpu", "600", "-c", "2", "--wrap", "true"),
    ("-t", "1:30", "--wrap", "true"),
    ("-o", "o-%j-%A-%a-%N-%x-%u.log", "-e", "e-%j.log", "--wrap", "true"),
    ("-D", "/tmp", "--wrap", "true"),
    ("--export", "NONE", "--wrap", "true"),
    ("--export", "ALL,FOO=bar", "--wrap", "true"),
    ("--parsable", "--wrap", "true"),
    ("--hold", "--wrap", "true"),
    ("--array", "1-3", "--wrap", "true"),
    ("--array", "0-10:5%1", "--wrap", "true"),
    ("--array", "1-3,7", "--wrap", "true"),
    ("--array", "5", "--wrap", "true"),
    ("--dependency", "afterok:2", "--wrap", "true"),
    ("--dependency", "afterany:2:3", "--wrap", "true"),
    ("--dependency", "afternotok:20", "--wrap", "true"),
    ("--dependency", "afterok:999", "--wrap", "true"),
    ("--dependency", "singleton", "--wrap", "true"),
    ("--begin", "now+1hour", "--wrap", "true"),
    ("--nice=10", "--wrap", "true"),
    ("--priority=5", "--wrap", "true"),
    ("-N", "2-3", "--wrap", "true"),
    ("--exclusive", "--wrap", "true"),
    ("-x", "compute-node-1", "--wrap", "true"),
    ("-w", "compute-node-2", "--wrap", "true"),
    ("-p", "short", "-t", "10", "--wrap", "true"),
    ("-p", "short", "-N", "2", "--wrap", "true"),
    ("-p", "short", "-n", "3", "--wrap", "true"),
    ("-p", "off", "--wrap", "true"),
    ("-p", "hid", "--wrap", "true"),
    ("-p", "short,debug", "--wrap", "true"),
    ("-N", "3", "--wrap", "true"),
    ("-n", "5", "--wrap", "true"),
]

# refusals: some use up a job id (slurmctld keeps a FAILED record), some do not
REFUSED: list[tuple[str, ...]] = [
    ("-p", "nosuch", "--wrap", "true"),
    ("--mem", "5000", "--wrap", "true"),
    ("-c", "4", "--wrap", "true"),
    ("--ntasks-per-node", "3", "--wrap", "true"),
    ("-w", "compute-node-9", "--wrap", "true"),
    ("--array", "1-2000", "--wrap", "true"),
    ("-t", "1:00", "--wrap", "true"),  # accepted: shows which ids the refusals used up
]

STEPS = [
    cmd("scontrol", "ping"),
    cmd("sbatch", "-J", "blocker", "-N2", "--exclusive", "--wrap", "sleep 300"),
    wait_state(1, "RUNNING"),
    write_file("job.sh", SCRIPT, 0o755),
    *[cmd("sbatch", *args, label="submit " + " ".join(args)) for args in SUBMITS],
    *[cmd("sbatch", *args, label="refused " + " ".join(args)) for args in REFUSED],
    cmd("sbatch", "--priority=5", "--wrap", "true", user="nobody", label="refused user priority"),
    cmd("sbatch", "--nice=-5", "--wrap", "true", user="nobody", label="refused user nice"),
    settle(),
    # one more scheduling cycle, at least a second later: an array becomes eligible in one cycle and
    # accrues from the next, and slurmctld runs at most one cycle a second for a burst of submits
    cmd("sbatch", "-J", "tick", "--hold", "--wrap", "true", label="tick"),
    settle(),
    Records("pending"),
    cmd("squeue", label="squeue"),
    cmd("squeue", "-r", label="squeue -r"),
    cmd("squeue", "-r", "-o", "%i %t %r %D %C %P %l %Q %E", label="reasons"),
    cmd("scontrol", "show", "job", label="show job"),
    cmd("scontrol", "show", "job", "-o", label="show job -o"),
    cmd("scontrol", "show", "job", "19", label="show array"),
    cmd("scontrol", "show", "job", "999", label="show missing"),
    cmd("squeue", user="nobody", label="squeue as user"),
    cmd("squeue", "--all", user="nobody", label="squeue --all as user"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_ping(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["scontrol ping"])
    assert "is UP" in runs[1]["scontrol ping"].stdout


def test_submissions_get_the_same_ids(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = [k for k in ref.labels() if k.startswith("submit ")]
    assert_same(ref, got, keys)
    assert got["submit --parsable --wrap true"].stdout.strip().isdigit()


def test_refusals_and_the_ids_they_use_up(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    keys = [k for k in ref.labels() if k.startswith("refused ")]
    assert_same(ref, got, keys)
    # the partition error names the partition, the memory error says why
    assert "invalid partition specified: nosuch" in got["refused -p nosuch --wrap true"].stderr
    assert "Memory specification can not be satisfied" in got["refused --mem 5000 --wrap true"].stderr


def test_pending_reasons_priorities_dependencies(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["reasons"])


def test_squeue_shows_arrays_as_slurmctld(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["squeue", "squeue -r"])
    assert "20_[0,5,10%1]" in runs[1]["squeue"].stdout


def test_show_job(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["show job", "show job -o", "show array", "show missing"])


def test_hidden_partition_for_users(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["squeue as user", "squeue --all as user"])


def test_decoded_records(runs: tuple[Transcript, Transcript]) -> None:
    records_same(*runs, "pending")

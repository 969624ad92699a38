"""scontrol update PartitionName=...: state (DOWN, DRAIN, INACTIVE, UP), limits and refusals as in
slurmctld 22.05, on a slurmctld cluster and a flurm cluster side by side."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"

STEPS = [
    cmd("scontrol", "update", "PartitionName=debug", "State=DOWN", label="down"),
    cmd("sinfo", label="sinfo down"),
    cmd("sbatch", "-J", "waits", "--wrap", "true", label="submit to a down partition"),  # 1
    settle(),
    cmd("squeue", "-o", "%i %t %r", label="queue down"),
    cmd("scontrol", "update", "PartitionName=debug", "State=UP", label="up"),
    wait_state(1, "COMPLETED", timeout=60),
    cmd("scontrol", "update", "PartitionName=debug", "MaxTime=10", "DefaultTime=5", label="limits"),
    cmd("sinfo", label="sinfo limits"),
    cmd("scontrol", "show", "partition", label="show partition"),
    cmd("sbatch", "-J", "long", "-t", "20", "--hold", "--wrap", "true", label="submit above MaxTime"),  # 2
    cmd("sbatch", "-J", "default", "--hold", "--wrap", "true", label="submit without a limit"),  # 3
    settle(),
    cmd("squeue", "-o", "%i %t %r %l", label="queue limits"),
    cmd("scontrol", "update", "PartitionName=debug", "State=DRAIN", label="drain"),
    cmd("sbatch", "--wrap", "true", label="submit to a drained partition"),
    cmd("scontrol", "update", "PartitionName=debug", "State=INACTIVE", label="inactive"),
    cmd("sbatch", "--wrap", "true", label="submit to an inactive partition"),
    cmd("sinfo", label="sinfo inactive"),
    cmd("scontrol", "update", "PartitionName=debug", "State=UP", "MaxTime=UNLIMITED", label="back up"),
    cmd("scontrol", "update", "PartitionName=nosuch", "State=DOWN", label="unknown partition"),
    cmd("scontrol", "update", "PartitionName=debug", "State=DOWN", user="nobody", label="user updates"),
    cmd("sinfo", label="sinfo at the end"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_down_and_up(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["down", "sinfo down", "submit to a down partition", "queue down", "up"])


def test_limits(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(
        *runs,
        [
            "limits",
            "sinfo limits",
            "show partition",
            "submit above MaxTime",
            "submit without a limit",
            "queue limits",
        ],
    )


def test_drain_and_inactive(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(
        *runs,
        [
            "drain",
            "submit to a drained partition",
            "inactive",
            "submit to an inactive partition",
            "sinfo inactive",
        ],
    )


def test_refusals(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["back up", "unknown partition", "user updates", "sinfo at the end"])
    assert "Invalid partition name specified" in got["unknown partition"].stderr

"""What a plain user may ask for at submission: flurm refuses what slurmctld 22.05 refuses, with its
message, and uses up job ids as it does.

* A job request whose group_id is not the caller's (gid 0, or a group of another user) is refused
  ("Invalid group id") for batch jobs and allocations; the same request with the caller's own gid
  is accepted, so it is the gid that is refused. sbatch sends the user id in every request, so the
  gid is checked also when the user id is set. An update's group_id changes nothing.
* A batch script longer than SchedulerParameters max_script_size is refused with "Pathname of a
  file, directory or other parameter too long" and uses no job id; one exactly that long is
  accepted.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import Cmd, Step, Transcript, assert_same, cluster_pair, cmd, run_both, write_file

MAX_SCRIPT = 10000
CONF = f"SchedulerParameters=max_script_size={MAX_SCRIPT}"
CRAFTED = str(Path(__file__).with_name("crafted.py"))
NOBODY_GID = "65534"


def script_of(size: int) -> str:
    head = "#!/bin/sh\ntrue\n"
    return head + "#" * (size - len(head) - 1) + "\n"


def crafted(*args: str, label: str) -> Cmd:
    return cmd(sys.executable, CRAFTED, *args, user="nobody", label=label)


STEPS: list[Step] = [
    cmd("scontrol", "ping"),
    cmd("sbatch", "--hold", "--wrap", "true", user="nobody", label="first"),
    crafted("batch", "0", label="batch gid 0"),
    crafted("batch", "6", label="batch gid disk"),
    crafted("batch", "-", label="batch no gid"),
    crafted("batch", NOBODY_GID, label="batch own gid"),
    crafted("alloc", "0", label="alloc gid 0"),
    crafted("update", "1", "group_id=0", label="update gid 0"),
    cmd("squeue", "-h", "-o", "%i %u %g %j", label="jobs"),
    cmd("scontrol", "show", "job", "1", label="show updated"),
    write_file("at-limit.sh", script_of(MAX_SCRIPT), 0o755),
    write_file("over-limit.sh", script_of(MAX_SCRIPT + 1), 0o755),
    cmd("sbatch", "--hold", "over-limit.sh", user="nobody", label="over the limit"),
    cmd("sbatch", "--hold", "over-limit.sh", label="over the limit as root"),
    cmd("sbatch", "--hold", "at-limit.sh", user="nobody", label="at the limit"),
    cmd("squeue", "-h", "-o", "%i %u %g %j", label="jobs at the end"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_a_foreign_group_id_is_refused(runs: tuple[Transcript, Transcript]) -> None:
    keys = ["batch gid 0", "batch gid disk", "batch no gid", "batch own gid", "alloc gid 0"]
    assert_same(*runs, keys)
    got = runs[1]
    for key in ("batch gid 0", "batch gid disk", "alloc gid 0"):
        assert got[key].stdout.strip() == "refused: Invalid group id", got[key].text()
    assert got["batch own gid"].stdout.strip() == "accepted (RESPONSE_SUBMIT_BATCH_JOB)"


def test_an_update_does_not_change_the_group(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["update gid 0", "jobs", "show updated"])
    assert " 0 " not in runs[1]["jobs"].stdout and "root" not in runs[1]["jobs"].stdout


def test_script_size_limit(runs: tuple[Transcript, Transcript]) -> None:
    assert_same(*runs, ["over the limit", "over the limit as root", "at the limit", "jobs at the end"])
    got = runs[1]
    refusal = "Batch job submission failed: Pathname of a file, directory or other parameter too long"
    assert refusal in got["over the limit"].text()
    assert refusal in got["over the limit as root"].text()
    assert "Submitted batch job 4" in got["at the limit"].text()  # the refusals used no job id

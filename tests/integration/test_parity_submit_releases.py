"""sbatch, scancel and scontrol hold|release|uhold|update|requeue of SLURM 24.11 and 26.05 print and exit
against flurm as against their own release's slurmctld.

Per release, one cluster with that release's slurmctld and slurmd and one with flurm and that release's
slurmd; the clients are the release's own (harness/releases.py runs them from its chroot). Jobs are
numbered alike on both clusters.
What the run compares: every command's stdout, stderr and exit code (job ids and times normalised).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster, cmd, run_both

RELEASES = ("24.11", "26.05")

STEPS = [
    # (job 1 may not start once released: the scheduler's moment would race with the next steps)
    cmd(
        "sbatch", "--hold", "--begin=now+1hour", "-J", "hold1", "-o", "/dev/null", "--wrap", "sleep 100"
    ),  # 1
    cmd("sbatch", "-J", "plain", "-o", "/dev/null", "-t", "5", "--wrap", "sleep 100"),  # 2
    cmd("sbatch", "-J", "arr", "--array=1-3", "-o", "/dev/null", "--hold", "--wrap", "sleep 100"),  # 3
    cmd("sbatch", "-J", "dep", "-o", "/dev/null", "--dependency=afterok:2", "--wrap", "true"),  # 4
    cmd("sbatch", "-p", "nosuch", "-o", "/dev/null", "--wrap", "true"),
    cmd("sbatch", "--resv-ports=2", "-o", "/dev/null", "--wrap", "true"),
    cmd("sbatch", "--segment=1", "--hold", "-o", "/dev/null", "--wrap", "true"),  # 5
    cmd("scontrol", "release", "1"),
    cmd("scontrol", "hold", "1"),
    cmd("scontrol", "uhold", "1"),
    cmd("scontrol", "update", "jobid=1", "TimeLimit=10"),
    cmd("scontrol", "update", "jobid=99999", "TimeLimit=10"),
    cmd("scontrol", "release", "3_2"),
    cmd("scontrol", "update", "jobid=3", "TimeLimit=7"),
    cmd("scontrol", "update", "jobid=3_9", "TimeLimit=7"),
    # another user's jobs
    cmd("scancel", "1", user="nobody"),
    cmd("scontrol", "hold", "1", user="nobody"),
    cmd("scontrol", "update", "jobid=1", "TimeLimit=3", user="nobody"),
    cmd("scontrol", "requeue", "1", user="nobody"),
    # unknown ids: 24.11 scancel prints nothing and exits 0 (unless verbose)
    cmd("scancel", "99999"),
    cmd("scancel", "-v", "99999"),
    cmd("scancel", "3_1"),
    cmd("scontrol", "requeue", "1"),  # (a pending job: whether job 2 started yet is the scheduler's race)
    cmd("scancel", "2"),
    cmd("scancel", "3"),
    # REQUEST_KILL_JOBS, as root only: another user's --ctld leaves 24.11.5's slurmctld without an
    # answer to it and to every later request that takes the job lock
    cmd("scancel", "--ctld", "1"),
    cmd("scancel", "--ctld", "99999"),
    cmd("scancel", "--ctld", "-v", "5"),
]


@pytest.fixture(params=RELEASES, scope="module")
def transcripts(request: pytest.FixtureRequest) -> Iterator[tuple[Transcript, Transcript]]:
    release = request.param
    with (
        cluster("slurmctld", release=release) as ref,
        cluster("flurm", release=release) as got,
    ):
        yield run_both(ref, got, STEPS)


def test_clients_print_and_exit_alike(transcripts: tuple[Transcript, Transcript]) -> None:
    assert_same(*transcripts)

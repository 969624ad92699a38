"""Array summary mails and INVALID_DEPEND mails: flurm mails what slurmctld 22.05 mails.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, with the
MailProg of test_parity_mail. An array of three tasks, one exiting 3, mails once when its first
task begins and once, Failed with the range of exit codes, when all have ended; an array that
succeeds mails Ended once; with ``--mail-type=ARRAY_TASKS`` each task mails for itself. A job that
depends on a failed job (afterok) mails "Invalid dependency".
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_reason, wait_state
from test_parity_mail import CONF, MAILPROG, mails

MAILS = 6
EXIT_3_FOR_TASK_2 = "exit $(( SLURM_ARRAY_TASK_ID == 2 ? 3 : 0 ))"

STEPS = [
    cmd("sbatch", "--array=1-3", "--mail-type=BEGIN,END,FAIL", "--wrap", EXIT_3_FOR_TASK_2),  # 1 (1-3)
    settle(),
    cmd("sbatch", "--array=0-1", "--mail-type=END", "--wrap", "true"),  # 4 (4-5)
    settle(),
    cmd("sbatch", "--array=0-1", "--mail-type=END,ARRAY_TASKS", "--wrap", "true"),  # 6 (6-7)
    settle(),
    cmd("sbatch", "--wrap", "exit 1"),  # 8
    wait_state(8, "FAILED"),
    cmd("sbatch", "-d", "afterok:8", "--mail-type=INVALID_DEPEND", "--wrap", "true"),  # 9
    wait_reason(9, "DependencyNeverSatisfied"),
    settle(),
    mails(MAILS),
    cmd("squeue", "-h", "-t", "all", "-S", "i", "-o", "%i %t %r", label="queue"),
    cmd(
        "sh",
        "-c",
        "sed -E 's/[0-9]{2}:[0-9]{2}:[0-9]{2}/<HMS>/g' mail.log | sort",
        label="mails",
    ),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    tmp = Path(tempfile.mkdtemp(prefix="flurm-mailprog-"))
    os.chmod(tmp, 0o755)
    prog = tmp / "mailprog"
    prog.write_text(MAILPROG)
    prog.chmod(0o755)
    try:
        with cluster_pair(nodes=2, cpus=2, extra_conf=f"{CONF}\nMailProg={prog}") as (ref, got):
            yield run_both(ref, got, STEPS)
    finally:
        prog.unlink()
        tmp.rmdir()


def test_array_and_dependency_mails(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["queue", "mails"])
    assert len(got["mails"].stdout.splitlines()) == MAILS
    assert "Slurm Array Summary Job_id=1_* (1) Name=wrap Failed, Mixed, ExitCode [0-3]" in got["mails"].stdout
    assert "Invalid dependency" in got["mails"].stdout

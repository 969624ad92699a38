"""--mail-type and --mail-user through MailProg: flurm mails what slurmctld 22.05 mails.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, with a
MailProg that appends its arguments and a few of the variables it was given to ``mail.log`` in the
job's working directory. A job mails when it begins and ends, a failing one when it fails (to
another address), a requeued one when it is requeued and, cancelled, when it ends. The subject
lines are compared with their times (HH:MM:SS, decided by the second things happened in) masked.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state

from harness.loopback import SlurmCluster

MAILPROG = """#!/bin/sh
vars="$SLURM_JOB_MAIL_TYPE|$SLURM_JOB_STATE|$SLURM_JOB_USER|$SLURM_JOB_NAME"
echo "$1|$2|$3|$vars" >> "$SLURM_JOB_WORK_DIR/mail.log"
"""

MAILS = 5
CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"


def mails(count: int) -> Callable[[SlurmCluster], None]:
    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / "mail.log"

        def enough() -> bool:
            return path.exists() and len(path.read_text().splitlines()) >= count

        poll(f"{count} mails", enough, timeout=30)

    return act


STEPS = [
    cmd("sbatch", "-J", "ok", "--mail-type=BEGIN,END", "--wrap", "true"),  # 1
    wait_state(1, "COMPLETED"),
    cmd("sbatch", "-J", "bad", "--mail-type=FAIL", "--mail-user=someone@example.com", "--wrap", "exit 3"),
    wait_state(2, "FAILED"),
    cmd("sbatch", "-J", "again", "--mail-type=REQUEUE,END", "--wrap", "exec sleep 300"),  # 3
    wait_state(3, "RUNNING"),
    cmd("scontrol", "requeue", "3"),
    settle(),
    cmd("scancel", "3"),
    mails(MAILS),
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
    conf = f"{CONF}\nMailProg={prog}"
    try:
        with cluster_pair(nodes=2, cpus=2, extra_conf=conf) as (ref, got):
            yield run_both(ref, got, STEPS)
    finally:
        prog.unlink()
        tmp.rmdir()


def test_mails(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["mails"])
    assert len(got["mails"].stdout.splitlines()) == MAILS
    assert "Slurm Job_id=1 Name=ok Began, Queued time <HMS>" in got["mails"].stdout

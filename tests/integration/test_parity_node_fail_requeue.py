"""A node of running batch jobs is set DOWN: flurm requeues or ends them as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, with the
MailProg of test_parity_mail. A two-node job that may be requeued and a ``--no-requeue`` job run
on compute-node-2, which an operator sets DOWN: the first is requeued (PENDING, Restarts=1, a
BeginTime past the credential lifetime) and mails Failed (its run ended NODE_FAIL) and Requeued;
the other ends NODE_FAIL. Both controllers' queues, jobs and mails are compared.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state
from test_parity_mail import MAILPROG, mails

CONF = "KillWait=2\nMinJobAge=300\nReturnToService=0\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"
MAILS = 2

STEPS = [
    cmd("sbatch", "-J", "again", "-N2", "--mail-type=FAIL,REQUEUE", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    cmd("sbatch", "-J", "gone", "--no-requeue", "-w", "compute-node-2", "--wrap", "exec sleep 300"),  # 2
    wait_state(2, "RUNNING"),
    cmd("scontrol", "update", "NodeName=compute-node-2", "State=DOWN", "Reason=broken", label="node down"),
    settle(),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %j %t %r %N", label="queue"),
    cmd("scontrol", "show", "job", "-o", label="jobs"),
    cmd("sinfo", "-N", "-h", "-o", "%N %t %O", label="nodes"),
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
    try:
        with cluster_pair(nodes=2, cpus=2, extra_conf=f"{CONF}\nMailProg={prog}") as (ref, got):
            yield run_both(ref, got, STEPS)
    finally:
        prog.unlink()
        tmp.rmdir()


def test_jobs_after_the_node_failure(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["node down", "queue", "jobs"])
    assert "Restarts=1" in got["jobs"].stdout
    assert "2 gone NF NodeDown" in got["queue"].stdout


def test_mails_of_the_requeued_job(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["mails"])
    assert "Name=again Requeued" in got["mails"].stdout

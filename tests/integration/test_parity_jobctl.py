"""scontrol write batch_script, top and notify: flurm answers as slurmctld 22.05 does.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs, SchedulerParameters
enable_user_top) side by side. A blocker holds every CPU so that the jobs of ``nobody`` stay
pending; their scripts are read by their owner and by root (to stdout and to the default file),
refused to another user and for a missing job; ``scontrol top`` reorders nobody's pending jobs (the
priorities and nice values that result are compared), and refuses another user's, a running, a held
and a missing job; ``scontrol notify`` reaches the running batch job's output through its node, and
is refused for a pending job nobody listens for, another user's job and a missing job; an salloc
prints the notification it is sent.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state, write_file

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300,enable_user_top"

SCRIPT = "#!/bin/sh\n#SBATCH -J scripted\necho one\nsleep 1\n"


def start_salloc(c: SlurmCluster) -> None:
    """salloc in the background, its messages in salloc.err; it runs until stop_salloc."""
    err = (c.jobs_dir / "salloc.err").open("w")
    proc = subprocess.Popen(
        ["salloc", "-J", "inter", "sh", "-c", "while [ ! -e salloc.stop ]; do sleep 0.1; done"],
        env=c.env,
        cwd=c.jobs_dir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    _SALLOC[c.controller] = proc


def stop_salloc(c: SlurmCluster) -> None:
    (c.jobs_dir / "salloc.stop").touch()
    _SALLOC.pop(c.controller).wait(timeout=30)


_SALLOC: dict[str, subprocess.Popen[bytes]] = {}


def output_has(name: str, text: str) -> Callable[[SlurmCluster], None]:
    """Until the job's output file holds ``text`` (slurmd writes a notification asynchronously)."""

    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / name

        def seen() -> bool:
            return path.exists() and text in path.read_text(errors="replace")

        poll(f"{text!r} in {name}", seen, timeout=30)

    return act


STEPS = [
    cmd("sbatch", "-J", "blocker", "-N2", "--exclusive", "--wrap", "exec sleep 300"),  # 1
    wait_state(1, "RUNNING"),
    write_file("job.sh", SCRIPT, 0o755),
    cmd("sbatch", "job.sh", user="nobody"),  # 2
    cmd("sbatch", "-J", "b", "--wrap", "true", user="nobody"),  # 3
    cmd("sbatch", "-J", "c", "--wrap", "true", user="nobody"),  # 4
    cmd("sbatch", "-J", "held", "--hold", "--wrap", "true", user="nobody"),  # 5
    cmd("sbatch", "-J", "roots", "--wrap", "true"),  # 6
    settle(),
    # batch scripts
    cmd("scontrol", "write", "batch_script", "2", "-", user="nobody", label="script of own job"),
    cmd("scontrol", "write", "batch_script", "3", "-", label="script as root"),
    cmd("scontrol", "write", "batch_script", "2", label="script to the default file"),
    cmd("cat", "slurm-2.sh", label="the written file"),
    cmd("scontrol", "write", "batch_script", "6", "-", user="nobody", label="script of another's job"),
    cmd("scontrol", "write", "batch_script", "999", "-", label="script of a missing job"),
    # top
    cmd("scontrol", "top", "4", user="nobody", label="top own job"),
    cmd("squeue", "-S", "i", "-o", "%i %u %Q %y", label="priorities after top"),
    cmd("scontrol", "top", "3,2", user="nobody", label="top two jobs"),
    cmd("squeue", "-S", "i", "-o", "%i %u %Q %y", label="priorities after top of two"),
    cmd("scontrol", "top", "6", user="nobody", label="top another's job"),
    cmd("scontrol", "top", "5", user="nobody", label="top a held job"),
    cmd("scontrol", "top", "1", label="top a running job"),
    cmd("scontrol", "top", "999", label="top a missing job"),
    cmd("scontrol", "top", "6", label="top as root"),
    cmd("squeue", "-S", "i", "-o", "%i %u %Q %y", label="priorities after root's top"),
    # notify
    cmd("scontrol", "notify", "1", "hello from the operator", label="notify a batch job"),
    output_has("slurm-1.out", "hello from the operator"),
    cmd("cat", "slurm-1.out", label="the blocker's output"),
    cmd("scontrol", "notify", "3", "hi", user="nobody", label="notify a pending job"),
    cmd("scontrol", "notify", "1", "hi", user="nobody", label="notify another's job"),
    cmd("scontrol", "notify", "999", "hi", label="notify a missing job"),
    # an allocation's salloc prints the message (SRUN_USER_MSG)
    cmd("scancel", "1"),
    start_salloc,
    wait_state(7, "RUNNING"),
    cmd("scontrol", "notify", "7", "hello salloc", label="notify an salloc"),
    output_has("salloc.err", "hello salloc"),
    stop_salloc,
    # (slurmctld also tells the salloc that ended the allocation itself that it was "revoked":
    # the end of an allocation, not notify's business, left out here)
    cmd("grep", "-v", "has been revoked", "salloc.err", label="salloc's output"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def _labels(t: Transcript, *words: str) -> list[str]:
    return [k for k in t.labels() if any(w in k for w in words)]


def test_batch_script(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "script", "written"))
    assert got["script of own job"].stdout == SCRIPT


def test_top(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "top"))


def test_notify(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, _labels(ref, "notify", "output"))

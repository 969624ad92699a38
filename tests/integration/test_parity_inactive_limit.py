"""InactiveLimit: the controller pings the srun or salloc owning an interactive allocation (SRUN_PING)
and ends the allocation of one that stopped answering, as slurmctld 22.05 does.

With InactiveLimit=15 (and MessageTimeout 10) an allocation whose owner is silent for 15*4/3 + 10 +
1 = 31 s ends TIMEOUT with reason InactiveLimit: an srun stopped with SIGSTOP answers nothing.
An ``srun sleep 45`` answers the pings and completes, though it runs past 31 s. (``salloc
--no-shell`` gives no port to ping: slurmctld never ends its allocation for inactivity.)
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import Action, Transcript, assert_same, cluster_pair, cmd, poll, run_both, settle, wait_state
from test_srun import _BACKGROUND, background, finished, output_of

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nInactiveLimit=15"


def _srun_of(c: SlurmCluster, name: str) -> int:
    """The srun the background shell ``name`` runs (its child)."""
    sh = _BACKGROUND[(id(c), name)].pid
    children = Path(f"/proc/{sh}/task/{sh}/children")
    poll(f"[{c.controller}] srun of {name}", lambda: bool(children.read_text().split()))
    return int(children.read_text().split()[0])


def signal_srun(name: str, sig: int) -> Action:
    def act(c: SlurmCluster) -> None:
        os.kill(_srun_of(c, name), sig)

    return act


def printed(name: str, text: str, timeout: float) -> Action:
    """Until the background client ``name`` (or what it runs) printed ``text``."""

    def act(c: SlurmCluster) -> None:
        out = c.jobs_dir / f"{name}.out"
        poll(
            f"[{c.controller}] {name} printed {text!r}",
            lambda: out.exists() and text in out.read_text(),
            timeout=timeout,
        )

    return act


# a step every few seconds for longer than the 31 s a silent owner is given
STEPPING = "'echo loop-start; for i in 1 2 3 4 5 6 7 8 9 10; do srun -n1 true; sleep 4; done; echo loop-done'"

STEPS = [
    background("stopped", "srun", "-N1", "sleep", "100"),  # 1
    wait_state(1, "RUNNING"),
    signal_srun("stopped", signal.SIGSTOP),
    background("alive", "srun", "-N1", "sleep", "45"),  # 2
    wait_state(2, "RUNNING"),
    # ended (its slurmstepd may wait for the stopped srun to take its output: COMPLETING)
    wait_state(1, "TIMEOUT", "COMPLETING", "COMPLETED", "CANCELLED", timeout=120),
    signal_srun("stopped", signal.SIGCONT),
    wait_state(1, "TIMEOUT", "COMPLETED", "CANCELLED", timeout=60),
    wait_state(2, "COMPLETED", "TIMEOUT", "FAILED", timeout=120),
    finished("alive", timeout=60),
    finished("stopped", timeout=60),
    settle(),
    cmd(*output_of("alive"), label="srun that answers"),
    cmd("squeue", "-h", "-t", "all", "-o", "%i %T %r", label="job states"),
    # a stopped salloc answers no ping, but the sruns of its shell create steps: that is activity
    background("stepping", "salloc", "-N1", "sh", "-c", STEPPING),  # 3
    printed("stepping", "loop-start", timeout=60),  # salloc has started its command
    signal_srun("stepping", signal.SIGSTOP),
    printed("stepping", "loop-done", timeout=180),
    signal_srun("stepping", signal.SIGCONT),
    finished("stepping", timeout=60),
    wait_state(3, "COMPLETED", "TIMEOUT", "FAILED", timeout=60),
    cmd("squeue", "-h", "-t", "all", "-j", "3", "-o", "%i %T %r", label="stepping job"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_silent_allocation_ends_and_live_srun_stays(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["srun that answers", "job states"])
    assert sorted(got["job states"].stdout.splitlines()) == ["1 TIMEOUT InactiveLimit", "2 COMPLETED None"]


def test_steps_created_keep_the_allocation(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got, ["stepping job"])
    assert got["stepping job"].stdout == "3 COMPLETED None\n"

"""``--signal``: the warning signal before the time limit reaches what slurmctld 22.05 signals.

One scenario on a slurmctld cluster and a flurm cluster (2 nodes x 2 CPUs) side by side, both jobs
with a two-minute limit and a warning 60 s before it: due 30 s after the start (slurmctld sends it at
its first 30-second check after that), when the job's shell and its srun step surely run. A warning
due at once raced the step's creation: sent to the steps only, it finds none and is not sent again.
``B:USR1`` reaches the batch shell, which traps it and exits; plain ``USR1`` reaches the job's srun step
only, not the batch shell. Both jobs end COMPLETED.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, poll, run_both, wait_state, write_file

from harness.loopback import SlurmCluster

CONF = "KillWait=2\nMinJobAge=300\nSchedulerParameters=batch_sched_delay=0,bf_interval=300"

BATCH = """#!/bin/bash
trap 'echo batch got USR1; exit 0' USR1
echo started
while true; do sleep 0.2; done
"""

STEPS_ONLY = """#!/bin/bash
trap 'echo batch got USR1' USR1
srun -n1 bash -c 'trap "echo step got USR1; exit 0" USR1; while true; do sleep 0.2; done'
echo step ended
"""


def output_has(name: str, text: str) -> Callable[[SlurmCluster], None]:
    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / name
        poll(f"{text!r} in {name}", lambda: path.exists() and text in path.read_text(errors="replace"), 120)

    return act


STEPS = [
    write_file("batch.sh", BATCH, 0o755),
    write_file("steps.sh", STEPS_ONLY, 0o755),
    cmd("sbatch", "-t", "2", "--signal=B:USR1@60", "-o", "batch.out", "batch.sh"),  # 1
    cmd("sbatch", "-t", "2", "--signal=USR1@60", "-o", "steps.out", "steps.sh"),  # 2
    output_has("batch.out", "batch got USR1"),
    output_has("steps.out", "step ended"),
    wait_state(1, "COMPLETED", timeout=90),
    wait_state(2, "COMPLETED", timeout=90),
    cmd("cat", "batch.out", label="batch shell signalled"),
    # srun's report of the signal and the step's own output come in either order
    cmd("cat", "steps.out", label="step signalled", sort_lines=True),
    cmd("squeue", "-t", "all", "-S", "i", "-o", "%i %t %r", label="queue"),
]


@pytest.fixture(scope="module")
def runs() -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=2, cpus=2, extra_conf=CONF) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_warning_signal(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "batch got USR1" in got["batch shell signalled"].stdout
    assert "step got USR1" in got["step signalled"].stdout
    assert "batch got USR1" not in got["step signalled"].stdout

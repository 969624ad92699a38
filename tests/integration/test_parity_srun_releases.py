"""srun and salloc of SLURM 24.11 and 26.05 against flurm as against their own release's slurmctld.

Each release's clients, slurmctld and slurmd run from its chroot (harness/releases.py); flurm serves
them in their protocol version. The same steps on both clusters, outputs and exit codes compared:

* ``srun hostname``, ``srun -n2 hostname``: allocation (4001 -> 4002), 4019, step creation
  (5001 -> 5002: layout and step credential a slurmd of the release accepts), 5017;
* ``salloc -N1 srun hostname``: srun inside the allocation looks it up (4027 -> 4026);
* ``srun false``, ``srun -t 1 sh -c 'exit 3'``: the exit codes srun reports and returns;
* a batch job's sruns: step creation from inside an allocation (a lookup tells no
  start_protocol_ver: srun keeps its own), and a step that does not fit
  ("More processors requested than permitted");
* a salloc that waits: the allocation is sent to its port when the first job ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from parity import Step, Transcript, assert_same, cluster_pair, cmd, run_both, settle, wait_state

from harness.loopback import SlurmCluster

RELEASES = ["24.11", "26.05"]


def _pending_salloc(c: SlurmCluster) -> None:
    """An exclusive srun holds the node; a salloc asked for meanwhile waits for it and is granted
    through its own port (RESPONSE_RESOURCE_ALLOCATION from the controller)."""
    out: dict[str, str] = {}

    def hold() -> None:
        r = c.run("srun", "--exclusive", "sleep", "5", timeout=60)
        out["hold"] = f"rc={r.returncode}"

    t = threading.Thread(target=hold)
    t.start()
    time.sleep(2)
    r = c.run("salloc", "-N1", "true", timeout=60)
    t.join()
    c.pending_salloc = f"{r.stdout}{r.stderr}rc={r.returncode} {out.get('hold')}\n"  # type: ignore[attr-defined]


STEPS: list[Step] = [
    cmd("srun", "hostname"),  # 1
    cmd("srun", "-n2", "hostname"),  # 2
    cmd("salloc", "-N1", "srun", "hostname"),  # 3
    cmd("srun", "false"),  # 4
    cmd("srun", "-t", "1", "sh", "-c", "exit 3"),  # 5
    cmd("sbatch", "-o", "batch.out", "--wrap", "srun hostname; srun -n2 true; echo step-rc=$?"),  # 6
    wait_state(6, "COMPLETED", "FAILED", timeout=60),
    settle(),
    cmd("cat", "batch.out", label="the batch job's sruns"),
    _pending_salloc,  # 7, 8
    settle(),
    cmd("squeue", "-h", "-t", "all", "-S", "i", "-o", "%i %T %r", label="job states"),
]


@pytest.fixture(scope="module", params=RELEASES)
def runs(request: pytest.FixtureRequest) -> Iterator[tuple[Transcript, Transcript]]:
    with cluster_pair(nodes=1, cpus=2, release=request.param) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_srun_and_salloc_print_and_return_the_same(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert_same(ref, got)
    assert "step-rc=1" in got["the batch job's sruns"].stdout
    assert got["srun -t 1 sh -c exit 3"].returncode == 3


def _after_relinquish(text: str) -> str:
    """salloc's transcript without a "has been revoked" after it relinquished its allocation: whether
    slurmctld's SRUN_JOB_COMPLETE for the allocation salloc ended itself still finds salloc listening
    is a race (under slurmctld 24.11 it printed in 3 of 5 runs); flurm tells nobody of an end the
    owner asked for."""
    lines = text.splitlines(keepends=True)
    if any("Relinquishing job allocation" in line for line in lines):
        at = next(i for i, line in enumerate(lines) if "Relinquishing job allocation" in line)
        lines = lines[: at + 1] + [line for line in lines[at + 1 :] if "has been revoked" not in line]
    return "".join(lines)


def test_a_waiting_salloc_is_granted_through_its_port(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert ref.cluster is not None and got.cluster is not None
    want = _after_relinquish(ref.cluster.pending_salloc)  # type: ignore[attr-defined]
    have = _after_relinquish(got.cluster.pending_salloc)  # type: ignore[attr-defined]
    assert have == want, f"slurmctld:\n{want}\nflurm:\n{have}"
    assert "queued and waiting for resources" in have and "Granted job allocation 8" in have

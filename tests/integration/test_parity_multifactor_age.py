"""The age factor of priority/multifactor against the real slurmctld 22.05 with accounting on (each side
recording into a real slurmdbd of its own on a MariaDB of its own, harness/accounting.py): only with
slurmdbd does slurmctld weigh age and recompute pending jobs every PriorityCalcPeriod.

Age grows with the wall clock and is recomputed on each side's own period, so values in between are
not compared. The rule is age = PriorityWeightAge * min(1, (now - accrue time) / PriorityMaxAge), so
once PriorityMaxAge has passed since a job began to accrue and one recalculation ran after that, the
factor is exactly PriorityWeightAge on both sides: each side is polled until then (PriorityMaxAge and
PriorityCalcPeriod are one minute, the least SLURM takes), and sprio is compared there. The jobs wait
for resources a running job holds (a job in a DOWN partition does not accrue age in slurmctld).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from parity import ParityCluster, assert_same, cmd, poll, run_both, settle, wait_state

from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightAge=1000",
        "PriorityWeightJobSize=100",
        "PriorityWeightPartition=10",
        "PriorityMaxAge=1",
        "PriorityCalcPeriod=1",
        "",
    )
)
WEIGHT_AGE = 1000


@contextlib.contextmanager
def with_slurmdbd(controller: str, conf: str = CONF, release: str = "22.05") -> Iterator[SlurmCluster]:
    """A cluster recording into a real slurmdbd of its own (slurmd, clients and slurmdbd of ``release``)."""
    d = Path(tempfile.mkdtemp(prefix=f"flurm-mfdbd-{controller}-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key), release=release)
    # (the launcher's AccountingStorageType=accounting_storage/none comes first; the later line wins)
    c = ParityCluster(
        d / "cluster", controller, nodes=2, cpus=2, extra_conf=conf + acct.slurm_conf_lines(), release=release
    )
    try:
        acct.start()
        c.start()
        c.jobs_dir.chmod(0o777)
        yield c
    finally:
        c.stop()
        acct.stop()
        shutil.rmtree(d, ignore_errors=True)


def aged(c: SlurmCluster) -> None:
    """Until every listed job's age factor is the whole weight."""

    def done() -> bool:
        rows = c.run("sprio", "-h", "-o", "%i %A").stdout.split("\n")
        ages = [line.split()[1] for line in rows if line.strip()]
        return len(ages) == 2 and all(a == str(WEIGHT_AGE) for a in ages)

    poll(f"[{c.controller}] age factors at their weight", done, timeout=240, every=2)


STEPS = [
    cmd(
        "sbatch", "-o", "/dev/null", "-N", "2", "-n", "4", "--wrap", "sleep 900", label="holds every CPU"
    ),  # 1
    wait_state(1, "RUNNING", timeout=60),
    cmd("sbatch", "-o", "/dev/null", "-n", "1", "--wrap", "true", label="waits, 1 CPU"),  # 2
    cmd("sbatch", "-o", "/dev/null", "-n", "3", "--nice=10", "--wrap", "true", label="waits, 3 CPUs"),  # 3
    settle(),
    aged,
    cmd("sprio", "-l", label="sprio -l"),
    cmd("sprio", "-n", label="sprio -n"),
    cmd("squeue", "-S", "i", "-t", "PD", "-o", "%i %Q", label="squeue priorities"),
]


def test_age_reaches_its_weight_on_both_sides() -> None:
    with with_slurmdbd("slurmctld") as ref, with_slurmdbd("flurm") as got:
        a, b = run_both(ref, got, STEPS)
    # the reference really weighs age (it would not without slurmdbd): 1000 + job size + partition
    assert re.search(r"\s2 debug\s+root\s+\d+\s+0\s+1000\s", a["sprio -l"].stdout), a["sprio -l"].stdout
    assert_same(a, b)

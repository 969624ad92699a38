"""sprio of SLURM 24.11 and 26.05 with PriorityType=priority/multifactor prints against flurm what it
prints against its own release's slurmctld (their reply differs from 22.05's: the account, QOS and the
factors only for a job whose priority no operator set; 26.05 names the job by its whole step id; the
filters are applied by sprio itself).

One pair of clusters per release, without slurmd: the jobs wait in DOWN partitions (eligible, not held),
accounting is off, so the age factor is 0 on both sides (see test_parity_multifactor.py).
"""

from __future__ import annotations

import difflib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import normalise

from harness.loopback import SlurmCluster

RELEASES = ("24.11", "26.05")

CONF = "\n".join(
    (
        "MinJobAge=300",
        "PriorityType=priority/multifactor",
        "PriorityWeightJobSize=1000",
        "PriorityWeightPartition=10000",
        "PriorityWeightQOS=500",
        "PriorityWeightTRES=CPU=1000,Mem=2000,Node=500",
        "PartitionName=low Nodes=ALL PriorityJobFactor=10 State=DOWN",
        "PartitionName=high Nodes=ALL PriorityJobFactor=40 PriorityTier=2 State=DOWN",
    )
)

SUBMIT = [
    ("-p", "low", "-n", "1"),
    ("-p", "high", "-n", "2"),
    ("-p", "low,high"),
    ("-p", "low", "--nice=100"),
    ("-p", "high", "-H"),
    ("-p", "low", "--priority=4242"),
]

SPRIO = [
    ("sprio",),
    ("sprio", "-l"),
    ("sprio", "-n"),
    ("sprio", "-n", "-l"),
    ("sprio", "-o", "%.7i %.30t %.30T"),
    ("sprio", "-w"),
    ("sprio", "-o", "%.7i %.8u %.10Y %.10y %.10J %.10j %.10P %.10p %.10Q %.6N %r %S"),
    ("sprio", "-j", "2,3"),
    ("sprio", "-p", "high"),
    ("sprio", "-u", "root"),
]


@pytest.fixture(scope="module", params=RELEASES)
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[str, SlurmCluster, SlurmCluster]]:
    release: str = request.param
    dirs = [Path(tempfile.mkdtemp(prefix=f"flurm-mf-{release}-{k}-")) for k in ("ctld", "flurm")]
    for d in dirs:
        d.chmod(0o755)
    ctld = SlurmCluster(dirs[0], "slurmctld", release=release, slurmd=False, extra_conf=CONF)
    flurm = SlurmCluster(dirs[1], "flurm", release=release, slurmd=False, extra_conf=CONF)
    try:
        ctld.start()
        flurm.start()
        yield release, ctld, flurm
    finally:
        for c in (ctld, flurm):
            c.stop()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


def _run(c: SlurmCluster, command: tuple[str, ...], user: str | None = None) -> str:
    r = c.run(*command, user=user, timeout=60)
    who = f" as {user}" if user else ""
    return f"$ {' '.join(command)}{who}\nrc={r.returncode}\n{normalise(r.stdout + r.stderr, c)}"


def test_sprio_prints_what_it_prints_against_its_slurmctld(
    pair: tuple[str, SlurmCluster, SlurmCluster],
) -> None:
    release, ctld, flurm = pair
    outputs = []
    for c in (ctld, flurm):
        text = [_run(c, ("sbatch", "-o", "/dev/null", *args, "--wrap", "true")) for args in SUBMIT]
        text += [_run(c, command) for command in SPRIO]
        text.append(_run(c, ("sprio",), user="nobody"))
        text.append(_run(c, ("squeue", "-S", "i", "-o", "%i %P %Q")))
        outputs.append("".join(text))
    ref, got = outputs
    assert "10000" in ref and "cpu=0.50" in ref, ref  # the reference lists factors, TRES ones too
    if ref != got:
        d = "".join(difflib.unified_diff(ref.splitlines(True), got.splitlines(True), "slurmctld", "flurm"))
        pytest.fail(f"{release}: flurm differs from slurmctld:\n{d}")

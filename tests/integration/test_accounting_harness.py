"""The accounting peers the tests of accounting stand on: a MariaDB of the test's own and the real slurmdbd
(harness/accounting.py), with the real slurmctld 22.05 recording into them. A job's record reaches sacct
with its state and exit code, and the cluster registered itself; afterwards nothing of theirs is left."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[SlurmCluster, Accounting]]:
    d = Path(tempfile.mkdtemp(prefix="flurm-acct-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key))
    # (the launcher's AccountingStorageType=accounting_storage/none comes first; the later line wins)
    c = SlurmCluster(d / "cluster", "slurmctld", extra_conf=acct.slurm_conf_lines())
    try:
        acct.start()  # slurmctld refuses to start on a database it cannot reach
        c.start()
        yield c, acct
    finally:
        c.stop()
        acct.stop()


def sacct(c: SlurmCluster, job_id: int, expect: str, timeout: float = 30.0) -> list[str]:
    """sacct's lines for the job once they show ``expect`` (slurmctld sends its records as they come)."""
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        r = c.run("sacct", "-j", str(job_id), "-n", "-P", "-o", "JobID,JobName,State,ExitCode").check()
        lines = r.stdout.splitlines()
        if any(expect in line for line in lines):
            return lines
        time.sleep(0.3)
    raise AssertionError(f"sacct never showed {expect} for job {job_id}: {lines}")


def test_a_job_reaches_sacct_with_its_state_and_exit_code(recorded: tuple[SlurmCluster, Accounting]) -> None:
    c, _ = recorded
    job = c.sbatch("-J", "acct", "--wrap", "exit 3")
    c.wait_state(job, ["FAILED"])
    lines = sacct(c, job, f"{job}|acct|FAILED|3:0")
    assert f"{job}|acct|FAILED|3:0" in lines
    assert f"{job}.batch|batch|FAILED|3:0" in lines


def test_the_cluster_registered_itself(recorded: tuple[SlurmCluster, Accounting]) -> None:
    c, acct = recorded
    out = c.run("sacctmgr", "-n", "-P", "show", "cluster", "format=Cluster,ControlPort").check().stdout
    assert out.strip().endswith(f"|{c.ctld_port}"), out
    assert oct(acct.conf.stat().st_mode & 0o777) == "0o600"


def test_nothing_is_left_running_afterwards(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    acct = Accounting(tmp_path / "acct", write_munge_key(tmp_path / "munge.key"))
    acct.start()
    pids = [p.pid for p in acct.procs]
    assert len(pids) == 3
    acct.stop()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]

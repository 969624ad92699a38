"""What the sacct of SLURM 24.11 and 26.05 shows of the same jobs run under that release's slurmctld and under
flurm, each recording into a slurmdbd of that release (from its chroot) on a MariaDB of its own: a job ending
with exit 0, one with exit 3, one with srun steps (one failing). The slurmd and clients are the release's too.
flurm finds the release slurmdbd takes (it announces the newest first; a 24.11 slurmdbd refuses 26.05), and
sends its records in that release's layout. Job ids are normalised; Elapsed and CPUTime are checked for
sense; ``sacctmgr show runawayjobs`` finds none under either controller."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_parity_accounting import CONF, runaways, sane_times, settled

from harness import launcher
from harness.accounting import Accounting, write_munge_key
from harness.loopback import SlurmCluster

RELEASES = ("24.11", "26.05")
VERSIONS = {"24.11": "0x2a00", "26.05": "0x2d00"}


@contextlib.contextmanager
def recording(controller: str, release: str) -> Iterator[tuple[SlurmCluster, Accounting]]:
    d = Path(tempfile.mkdtemp(prefix="flurm-acctr-"))
    d.chmod(0o755)
    acct = Accounting(d / "acct", write_munge_key(launcher.Layout(d / "cluster").munge_key), release=release)
    c = SlurmCluster(
        d / "cluster", controller, nodes=2, extra_conf=acct.slurm_conf_lines() + CONF, release=release
    )
    try:
        acct.start()
        c.start()
        yield c, acct
    finally:
        c.stop()
        acct.stop()


def scenario(c: SlurmCluster) -> dict[str, int]:
    jobs = {
        "ok": c.sbatch("-J", "ok", "--wrap", "exit 0"),
        "fail": c.sbatch("-J", "fail", "--wrap", "exit 3"),
        "steps": c.sbatch("-J", "steps", "-N2", "-n2", "--wrap", "srun hostname; srun -n1 -N1 false; exit 0"),
    }
    for j in jobs.values():
        c.wait_state(j, ["COMPLETED", "FAILED"])
    return jobs


@pytest.mark.parametrize("release", RELEASES)
def test_sacct_of_the_release_shows_the_same_under_flurm_as_under_its_slurmctld(release: str) -> None:
    seen: dict[str, list[str]] = {}
    for controller in ("slurmctld", "flurm"):
        with recording(controller, release) as (c, acct):
            jobs = scenario(c)
            seen[controller] = settled(c, jobs)
            sane_times(c, jobs)
            assert "No runaway jobs found" in runaways(c), controller
            log = (acct.dir / "slurmdbd.log").read_text(errors="replace")
            assert f"slurmdbd version {release}." in log
            if controller == "flurm":
                flurm_log = (c.dir / "log" / "flurm.log").read_text(errors="replace")
                assert f"connected to slurmdbd 127.0.0.1:{acct.dbd_port} (SLURM {release})" in flurm_log
    assert seen["flurm"] == seen["slurmctld"]
    assert len(seen["flurm"]) == 3 + 3 + 2  # ok, fail: job + batch; steps: job + batch + 2 srun steps

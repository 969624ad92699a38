"""Hot migration of a newer SLURM release: a real 24.11 (or 26.05) cluster, slurmctld and slurmd from the
release's chroot, with jobs running; flurm in shadow learns the source's release and mirrors it (squeue of
a 22.05 client and of the release's own client, against flurm, show slurmctld's jobs); then
`flurm takeover`: the running job is adopted and finishes under flurm with its exit code, and new jobs
run on the release's slurmd.

Needs the harness's releases (``cluster(..., release=...)``, ``run(..., release=...)``), the job, node and
partition codecs of the release (the mirror reads them in the source's version), the release's
saved-state reader (the pre-flight refuses a source whose job_state flurm cannot read) and a slurmd of
the release registering with flurm. The module's steps run in order on one cluster per release.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration

RELEASES = ("24.11", "26.05")
HOST_RELEASE = "22.05"


def wait_until(pred: Callable[[], bool], timeout: float = 10.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return bool(pred())


@pytest.fixture(scope="module", params=RELEASES)
def mig(request: pytest.FixtureRequest) -> Iterator[SlurmCluster]:
    with cluster(
        "slurmctld",
        release=request.param,
        nodes=2,
        cpus=2,
        # priority/basic, which flurm computes: the release's default (multifactor) fails the pre-flight
        extra_conf="KillWait=2\nMinJobAge=600\nPriorityType=priority/basic",
    ) as c:
        c.wait_ready()
        yield c


def queue(c: SlurmCluster, conf: Path | None = None, release: str | None = None) -> dict[str, str]:
    """{job id: state} as squeue of ``release`` prints it (every state, array tasks one by one)."""
    out = c.run("squeue", "-h", "-t", "all", "-r", "-o", "%i %T", conf=conf, release=release).check().stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def status(c: SlurmCluster) -> dict[str, object]:
    doc = json.loads(c.flurm_cli("status").check().stdout)
    assert isinstance(doc, dict)
    return doc


def test_shadow_learns_the_release_and_mirrors_it(mig: SlurmCluster) -> None:
    c = mig
    ids = {
        "long": c.sbatch("-J", "long", "--wrap", "sleep 25; exit 7"),
        "held": c.sbatch("--hold", "-J", "held", "--wrap", "true"),
        "array": c.sbatch("--array=1-3", "-J", "arr", "--wrap", "sleep 2"),
        "done": c.sbatch("--wrap", "true"),
    }
    c.wait_state(ids["long"], ["RUNNING"], timeout=30)
    c.wait_state(ids["done"], ["COMPLETED"], timeout=30)
    c.mig_ids = ids  # type: ignore[attr-defined]
    port = c.start_shadow()
    conf = c.client_conf(port)
    c.flurm_conf = conf  # type: ignore[attr-defined]
    assert wait_until(lambda: status(c).get("source_release") == c.release, 20), status(c)
    # both a 22.05 client and the release's own see through flurm what the release's sees at slurmctld
    for client in (HOST_RELEASE, c.release):
        same = wait_until(lambda client=client: queue(c, conf, client) == queue(c), 30)
        assert same, f"{client} client\nslurmctld: {queue(c)}\nflurm: {queue(c, conf, client)}"
    assert queue(c)[str(ids["long"])] == "RUNNING"
    assert queue(c, conf, HOST_RELEASE)[str(ids["held"])] == "PENDING"


def test_the_preflight_names_the_source_release(mig: SlurmCluster) -> None:
    r = mig.flurm_cli("takeover", "--dry-run")
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"source slurmctld: SLURM {mig.release}" in r.stdout + r.stderr


def test_takeover_adopts_the_running_job_and_runs_new_ones(mig: SlurmCluster) -> None:
    c = mig
    ids = c.mig_ids  # type: ignore[attr-defined]
    assert c.job_state(ids["long"]) == "RUNNING"  # still running across the switch
    r = c.flurm_cli("takeover")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "standalone" in r.stdout
    # flurm answers on slurmctld's own port, to the release's clients
    assert "is UP" in c.run("scontrol", "ping").stdout
    # the running job finishes under flurm with its exit code, seen by the release's scontrol
    c.wait_state(ids["long"], ["FAILED"], timeout=90)
    shown = c.run("scontrol", "show", "job", str(ids["long"])).check().stdout
    assert "ExitCode=7:0" in shown, shown
    # pending work runs under flurm on the release's slurmd: the held job once released
    c.run("scontrol", "release", str(ids["held"])).check()
    c.wait_state(ids["held"], ["COMPLETED"], timeout=60)
    # a new job, submitted by the release's sbatch, runs there too, its id above slurmctld's
    j = c.sbatch("--wrap", "hostname")
    c.wait_state(j, ["COMPLETED"], timeout=60)
    assert j > max(ids.values())

"""One flurm serves SLURM 22.05, 24.11 and 26.05 at once: clients of the three releases submit to it and
see the same jobs, and slurmd of different releases run them side by side in one cluster.

No slurmctld can do this (it accepts its own release and the three before it, and none of those clients
reads another release's layouts): the reference here is flurm itself, each release's view of the one queue
compared with the others'.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.loopback import SlurmCluster, cluster

RELEASES = ("22.05", "24.11", "26.05")


@pytest.fixture(scope="module")
def mixed() -> Iterator[SlurmCluster]:
    """flurm with two nodes: a 22.05 slurmd and a 24.11 slurmd (one per release, as a site upgrading)."""
    with cluster("flurm", nodes=2, cpus=2, slurmd_release="22.05,24.11") as c:
        yield c


def squeue(c: SlurmCluster, release: str) -> list[tuple[str, ...]]:
    r = c.run("squeue", "-h", "-o", "%i %j %u %T %N", release=release).check()
    return sorted(tuple(line.split()) for line in r.stdout.splitlines() if line.strip())


def wait_all(c: SlurmCluster, ids: list[int], states: tuple[str, ...], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(c.job_state(i) in states for i in ids):
            return
        time.sleep(0.2)
    raise TimeoutError(f"jobs {ids} not {states}: {[c.job_state(i) for i in ids]}\n{c.log_tail()}")


def test_clients_of_every_release_submit_to_one_flurm_and_see_the_same_queue(mixed: SlurmCluster) -> None:
    c = mixed
    held = {r: c.sbatch("--hold", "-J", f"held-{r}", "--wrap", "true", release=r) for r in RELEASES}
    assert len(set(held.values())) == 3
    views = {r: squeue(c, r) for r in RELEASES}
    assert views["22.05"] == views["24.11"] == views["26.05"], views
    assert {row[1] for row in views["22.05"]} >= {f"held-{r}" for r in RELEASES}
    # each release's scontrol reads every job, whoever submitted it
    for reader in RELEASES:
        for submitter, job_id in held.items():
            out = c.run("scontrol", "show", "job", str(job_id), release=reader).check().stdout
            assert f"JobId={job_id} " in out and f"JobName=held-{submitter}" in out, (reader, out)
    # and each release's client changes a job another release's client submitted
    c.run("scontrol", "release", str(held["22.05"]), release="26.05").check()
    c.run("scancel", str(held["26.05"]), release="24.11").check()
    c.run("scontrol", "update", f"JobId={held['24.11']}", "Name=renamed", release="22.05").check()
    wait_all(c, [held["22.05"]], ("COMPLETED",))
    assert c.job_state(held["26.05"]) == "CANCELLED"
    out = c.run("scontrol", "show", "job", str(held["24.11"]), release="24.11").check().stdout
    assert "JobName=renamed" in out
    c.run("scancel", str(held["24.11"]), release="22.05").check()


def test_slurmd_of_two_releases_run_jobs_side_by_side(mixed: SlurmCluster) -> None:
    c = mixed
    out_dir = c.jobs_dir
    script = "cat /etc/debian_version; exit 3"
    ids = [
        c.sbatch("-N1", "-w", node, "-o", "mixed-%j.out", "--wrap", script, release=r)
        for node, r in (("compute-node-1", "24.11"), ("compute-node-2", "26.05"))
    ]
    wait_all(c, ids, ("FAILED",))
    versions = {}
    for job_id in ids:
        show = c.run("scontrol", "show", "job", str(job_id)).check().stdout
        assert "ExitCode=3:0" in show, show
        node = re.search(r"\bNodeList=(\S+)", show)
        assert node is not None
        versions[node.group(1)] = Path(out_dir / f"mixed-{job_id}.out").read_text().strip()
    # the job ran on each node's own system: the 22.05 slurmd on the host (Debian 12), the 24.11
    # slurmd in its Debian 13 root
    assert versions["compute-node-1"].startswith("12."), versions
    assert versions["compute-node-2"].startswith("13."), versions
    nodes = c.run("scontrol", "show", "node", release="26.05").check().stdout
    assert re.search(r"NodeName=compute-node-1 .*?Version=22\.05\.", nodes, re.S), nodes
    assert re.search(r"NodeName=compute-node-2 .*?Version=24\.11\.", nodes, re.S), nodes

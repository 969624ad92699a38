"""A GPU job running under real slurmctld 22.05 is adopted at the takeover with its devices.

Cluster: harness/gres.py's two_gpu_types (compute-node-1 gpu:tesla:2 as /dev nodes the harness makes,
compute-node-2 gpu:k80:2). Under slurmctld, job A (--gres=gpu:tesla:1 on compute-node-1) gets tesla 0 and
slurmd sets its CUDA_VISIBLE_DEVICES=0. flurm in shadow shows A's GRES and the node's GresUsed as slurmctld
does. After `flurm takeover`, while A runs: a new --gres=gpu:tesla:1 job gets the other device (1), and a
job asking for both tesla GPUs waits (Resources) until A ends; A's srun step that ran across the takeover
ends, its next step (created by flurm) sees A's device, and A finishes under flurm with its exit code; then
the waiting job gets both devices.
One cluster, one takeover.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness import gres
from harness.loopback import SlurmCluster, cluster

pytestmark = pytest.mark.integration

NODE = "compute-node-1"
ENV = "echo CUDA=$CUDA_VISIBLE_DEVICES JOB_GPUS=$SLURM_JOB_GPUS"


def wait_for(what: str, pred: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def wait_same(
    what: str, theirs: Callable[[], object], ours: Callable[[], object], timeout: float = 20.0
) -> None:
    """Until flurm's view equals slurmctld's (both shown when it never does)."""
    deadline = time.monotonic() + timeout
    while (a := theirs()) != (b := ours()):
        assert time.monotonic() < deadline, f"{what}:\nslurmctld: {a}\nflurm:     {b}"
        time.sleep(0.2)


def gres_of_job(c: SlurmCluster, job: int, conf: Path | None = None) -> list[str]:
    """The GRES lines of `scontrol show job -d`: TresPerNode, JOB_GRES and each Nodes= line's GRES."""
    out = c.run("scontrol", "show", "job", "-d", str(job), conf=conf).check().stdout
    keep = re.compile(r"(TresPerNode=\S*|JOB_GRES=\S*|Nodes=\S+ .*GRES=\S*)")
    return [m.group(1) for line in out.splitlines() if (m := keep.search(line.strip()))]


def gres_of_nodes(c: SlurmCluster, conf: Path | None = None) -> str:
    return c.run("sinfo", "-N", "-h", "-O", "nodelist:20,gres:40,gresused:60", conf=conf).check().stdout


def output(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def test_a_gpu_job_is_adopted_with_its_devices() -> None:
    with cluster("slurmctld", **gres.two_gpu_types(), extra_conf="KillWait=2\nMinJobAge=600") as c:
        c.wait_ready()
        out_a = c.jobs_dir / "adopted.out"
        # its step 0 runs across the takeover (imported with its GRES from slurmctld's saved step), step 1
        # starts under flurm (a step credential carrying the job's device)
        script = f'{ENV}; srun sh -c "{ENV}; sleep 40"; srun sh -c "{ENV}"; exit 3'
        a = c.sbatch("-w", NODE, "--gres=gpu:tesla:1", "-o", str(out_a), "--wrap", script)
        c.wait_state(a, ["RUNNING"], timeout=30)
        wait_for("the job's step", lambda: output(out_a).count("CUDA=") == 2)
        assert output(out_a).splitlines() == ["CUDA=0 JOB_GPUS=0"] * 2  # as slurmd set it under slurmctld
        shown = gres_of_job(c, a)
        assert "GRES=gpu:tesla:1(IDX:0)" in " ".join(shown), shown

        # shadow: flurm shows the job's GRES and the nodes' use as slurmctld shows them
        conf = c.client_conf(c.start_shadow())
        wait_same("the GPU job in shadow", lambda: gres_of_job(c, a), lambda: gres_of_job(c, a, conf))
        wait_same("the nodes' GRES in shadow", lambda: gres_of_nodes(c), lambda: gres_of_nodes(c, conf))

        r = c.flurm_cli("takeover")
        assert r.returncode == 0, r.stdout + r.stderr
        assert c.job_state(a) == "RUNNING"  # adopted, still running
        assert gres_of_job(c, a) == shown  # flurm shows its devices as slurmctld did

        # while it runs, its device stays taken: a new GPU job gets the other one ...
        out_b = c.jobs_dir / "other.out"
        b = c.sbatch("-w", NODE, "--gres=gpu:tesla:1", "-o", str(out_b), "--wrap", ENV)
        c.wait_state(b, ["COMPLETED"], timeout=30)
        assert output(out_b).strip() == "CUDA=1 JOB_GPUS=1"
        # ... and a job asking for both waits for it
        out_both = c.jobs_dir / "both.out"
        both = c.sbatch("-w", NODE, "--gres=gpu:tesla:2", "-o", str(out_both), "--wrap", ENV)
        wait_for(
            "the two-GPU job to wait",
            lambda: "Reason=Resources" in c.run("scontrol", "show", "job", str(both)).stdout,
        )
        assert c.job_state(a) == "RUNNING" and c.job_state(both) == "PENDING"

        # the adopted job finishes under flurm with its exit code; then the waiting job gets both devices
        c.wait_state(a, ["FAILED"], timeout=90)
        assert "ExitCode=3:0" in c.run("scontrol", "show", "job", str(a)).check().stdout
        assert output(out_a).splitlines() == ["CUDA=0 JOB_GPUS=0"] * 3  # step 1's too, under flurm
        c.wait_state(both, ["COMPLETED"], timeout=60)
        assert output(out_both).strip() == "CUDA=0,1 JOB_GPUS=0,1"

"""How nodes show their GRES (scontrol show node Gres=, GresUsed=, GresDrain=; sinfo %G, -O gres,gresused) in
SLURM 22.05, 24.11 and 26.05: each release's clients print against flurm what they print against that
release's slurmctld, with that release's slurmd registering the same gres.conf.

One cluster pair per release (slurmctld and flurm side by side), three nodes of 2 sockets x 2 cores:

* compute-node-1 ``Gres=gpu:tesla:2,shard:4``: two typed GPUs, one per socket, each shared as two shards
  (slurmd gives the shards the GPU's type and cores: ``shard:tesla:4(S:0-1)``; 24.11 on shows a shared
  GRES's use per device, ``(0/2,0/2)``);
* compute-node-2 ``Gres=gpu:2,bandwidth:no_consume:4G``: untyped GPUs (22.05 and 24.11 print
  ``gpu:(null):0``, 26.05 ``gpu:0``) and a count-only GRES never consumed (22.05 shows
  ``bandwidth:4G``, 24.11 on ``bandwidth:no_consume:4G``);
* compute-node-3 without GRES (22.05 lists every GresTypes name in its GresUsed, ``gpu:0``; 24.11 on none).

Then jobs hold a tesla, a shard and an untyped GPU, and the views are compared again; last, ``scontrol update
nodename=compute-node-2 gres=...`` changes its count-only GRES and is refused for a new GPU count.

What legitimately differs is replaced by the parity normalisation (tests/integration/parity.py): the
cluster directories, ports, times, load and free memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from parity import Action, Cmd, Step, Transcript, assert_same, cluster_pair, cmd, run_both

from harness import gres
from harness.launcher import NodeGres
from harness.loopback import SlurmCluster

RELEASES = ("22.05", "24.11", "26.05")

NODES = (
    NodeGres("gpu:tesla:2,shard:4", (*gres.gpu_lines("tesla"), *gres.shared_lines("shard", 2))),
    NodeGres("gpu:2,bandwidth:no_consume:4G", (*gres.gpu_lines(), "Name=bandwidth Count=4G")),
    NodeGres(),
)


def running(job: int) -> Action:
    """Until the job runs; gives up quietly after 30 s (a controller that refused it: the views differ)."""

    def act(c: SlurmCluster) -> None:
        with contextlib.suppress(TimeoutError):
            c.wait_state(job, ["RUNNING"], timeout=30)

    return act


STEPS: list[Step] = [
    cmd("scontrol", "-d", "show", "node", label="detail"),
    cmd("scontrol", "show", "node", "compute-node-1", label="one node"),
    cmd("sinfo", "-N", "-o", "%N %G %t", label="sinfo %G"),
    cmd("sinfo", "-o", "%P %G %D %t", label="sinfo %G grouped"),
    cmd("sinfo", "-N", "-O", "nodelist,gres:40,gresused:70,statelong", label="sinfo gres gresused"),
]
IDLE = [s.label for s in STEPS if isinstance(s, Cmd)]
STEPS += [
    cmd("sbatch", "--gres=gpu:tesla:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 1
    running(1),
    cmd("sbatch", "--gres=shard:1", "-w", "compute-node-1", "--wrap", "exec sleep 300"),  # 2
    running(2),
    cmd("sbatch", "--gres=gpu:1", "-w", "compute-node-2", "--wrap", "exec sleep 300"),  # 3
    running(3),
    cmd("scontrol", "-d", "show", "node", label="busy detail"),
    cmd("sinfo", "-N", "-O", "nodelist,gres:40,gresused:70,statelong", label="busy sinfo"),
    cmd("scancel", "1", "2", "3"),
    # scontrol update of Gres=: a GRES with devices keeps its count, a count-only one takes the new one
    *[
        cmd("scontrol", "update", "nodename=compute-node-2", f"gres={g}", label=f"update gres={g}")
        for g in ("gpu:1,bandwidth:no_consume:4G", "gpu:2,bandwidth:no_consume:8G", "gpu:2", "gpu:2x")
    ],
    cmd("sinfo", "-N", "-O", "nodelist,gres:50", label="updated gres"),
]


@pytest.fixture(scope="module", params=RELEASES)
def runs(request: pytest.FixtureRequest) -> Iterator[tuple[Transcript, Transcript]]:
    shape = {"nodes": 3, "cpus": 4, "node_shape": gres.SHAPE, "gres": NODES, "release": request.param}
    with cluster_pair(**shape) as (ref, got):
        yield run_both(ref, got, STEPS)


def test_node_gres_views(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    # the reference shows what this test is about (a cluster that came up without its GRES would not)
    assert "Gres=gpu:tesla:2(S:0-1),shard:tesla:4(S:0-1)" in ref["detail"].stdout
    assert "GresUsed=gpu:tesla:0(IDX:N/A)" in ref["detail"].stdout
    assert "gpu:2(S:0-1),bandwidth:" in ref["sinfo %G"].stdout
    assert_same(ref, got, IDLE)


def test_gres_updated_by_scontrol(runs: tuple[Transcript, Transcript]) -> None:
    ref, got = runs
    assert (
        "Invalid generic resource (gres) specification"
        in ref["update gres=gpu:1,bandwidth:no_consume:4G"].stderr
    )
    assert_same(ref, got, [k for k in ref.labels() if k.startswith("update")])


def test_node_gres_views_of_jobs(runs: tuple[Transcript, Transcript]) -> None:
    """A job on tesla 0, a shard job (slurmctld puts it on the other GPU: 22.05 IDX:1, 24.11 (0/2,1/2),
    26.05 (-/2,1/2) where the GPU is held whole), an untyped GPU job on compute-node-2."""
    ref, got = runs
    assert "gpu:tesla:1(IDX:0),shard:tesla:1(" in ref["busy detail"].stdout
    assert_same(ref, got, ["busy detail", "busy sinfo"])

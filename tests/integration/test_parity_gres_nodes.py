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

What legitimately differs is replaced by the parity normalisation (tests/integration/parity.py): the
cluster directories, ports, times, load and free memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from parity import Transcript, assert_same, cluster_pair, cmd, run_both

from harness import gres
from harness.launcher import NodeGres

RELEASES = ("22.05", "24.11", "26.05")

NODES = (
    NodeGres("gpu:tesla:2,shard:4", (*gres.gpu_lines("tesla"), *gres.shared_lines("shard", 2))),
    NodeGres("gpu:2,bandwidth:no_consume:4G", (*gres.gpu_lines(), "Name=bandwidth Count=4G")),
    NodeGres(),
)

STEPS = [
    cmd("scontrol", "-d", "show", "node", label="detail"),
    cmd("scontrol", "show", "node", "compute-node-1", label="one node"),
    cmd("sinfo", "-N", "-o", "%N %G %t", label="sinfo %G"),
    cmd("sinfo", "-o", "%P %G %D %t", label="sinfo %G grouped"),
    cmd("sinfo", "-N", "-O", "nodelist,gres:40,gresused:70,statelong", label="sinfo gres gresused"),
]
LABELS = [s.label for s in STEPS]


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
    assert_same(ref, got, LABELS)

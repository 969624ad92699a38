"""The registrations real slurmd 22.05, 24.11 and 26.05 sent (tests/golden/gres, made by capture.py there)
fed to flurm's node inventory: the Gres= and GresUsed= flurm then shows of each idle node are the ones
the same release's slurmctld showed its clients in the same capture (RESPONSE_NODE_INFO).

Two clusters of 2 sockets x 2 cores per node: the default one (compute-node-1 Gres=gpu:tesla:2 without
Cores=, compute-node-2 Gres=gpu:a100:2,shard:4 with Cores= and Links=) and "mixed" (compute-node-1
Gres=gpu:tesla:1,gpu:k80:1, compute-node-2 Gres=gpu:2 from File= alone: no topology, devices all the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flurm.config import parse_text
from flurm.nodes import gres_reg
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
    ShowFlags,
)
from flurm.protocol.frame import FrameDecoder
from flurm.protocol.messages.base import decode_body
from flurm.state import gres
from flurm.state.cluster import Cluster
from flurm.state.records import build_node_record

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gres"
VERSIONS = {
    "22.05": SLURM_22_05_PROTOCOL_VERSION,
    "24.11": SLURM_24_11_PROTOCOL_VERSION,
    "26.05": SLURM_26_05_PROTOCOL_VERSION,
}
CONF = {
    "": ("gpu,shard", {"compute-node-1": "gpu:tesla:2", "compute-node-2": "gpu:a100:2,shard:4"}),
    "mixed": ("gpu", {"compute-node-1": "gpu:tesla:1,gpu:k80:1", "compute-node-2": "gpu:2"}),
}


def bodies(release: str, variant: str, msg_type: MsgType) -> list[Any]:
    out: list[Any] = []
    for path in sorted((GOLDEN / release / variant).glob("*.bin")):
        dec = FrameDecoder()
        dec.feed(path.read_bytes())
        while (f := dec.next_frame()) is not None:
            if f.msg_type == msg_type:
                out.append(decode_body(f.msg_type, f.body, f.version))
    return out


def cluster(variant: str) -> Cluster:
    types, node_gres = CONF[variant]
    lines = [
        "ClusterName=c",
        "SlurmctldHost=h",
        "SelectType=select/cons_tres",
        "SlurmdParameters=config_overrides",
        f"GresTypes={types}",
    ]
    lines += [f"NodeName={n} Sockets=2 CoresPerSocket=2 Gres={g}" for n, g in node_gres.items()]
    lines.append("PartitionName=p Nodes=ALL")
    return Cluster(parse_text("\n".join(lines) + "\n", "<golden>"), None, lambda: 0.0)


@pytest.mark.parametrize("variant", list(CONF))
@pytest.mark.parametrize("release", list(VERSIONS))
def test_idle_nodes_show_what_slurmctld_showed(release: str, variant: str) -> None:
    c = cluster(variant)
    regs = bodies(release, variant, MsgType.MESSAGE_NODE_REGISTRATION_STATUS)
    assert {r.node_name for r in regs} == set(c.nodes)
    for reg in regs:
        node = c.nodes[reg.node_name]
        assert gres_reg.register(node, reg, c.config) is None
    seen = {
        (n.name, n.gres, n.gres_used)
        for body in bodies(release, variant, MsgType.RESPONSE_NODE_INFO)
        for n in body.nodes
        if n.gres_used is not None
    }
    for node in c.node_list:
        rec = build_node_record(node, ShowFlags.DETAIL, VERSIONS[release], c.config.gres_names)
        assert (rec.name, rec.gres, rec.gres_used) in seen, sorted(seen)


def test_devices_without_topology_are_still_devices() -> None:
    c = cluster("mixed")
    for reg in bodies("22.05", "mixed", MsgType.MESSAGE_NODE_REGISTRATION_STATUS):
        gres_reg.register(c.nodes[reg.node_name], reg, c.config)
    g = c.nodes["compute-node-2"].gres_inv["gpu"]
    # slurmctld allocated bits 0,1 there (the job's CUDA_VISIBLE_DEVICES=0,1) though it shows no topology
    assert g.topo == () and g.bit_count == 2
    assert gres.pick(g, None, 2) == gres.GresUse("gpu", None, 2, (0, 1))
    typed = c.nodes["compute-node-1"].gres_inv["gpu"]
    assert [(t.type, t.bits) for t in typed.topo] == [("tesla", (0,)), ("k80", (1,))]

"""A node's GRES inventory as slurmctld keeps it (config/gres.py, state/gres_node.py, nodes/gres_reg.py).

Every expected string and reason below was printed by the real slurmctld (22.05.8; 24.11.5 and 26.05
where a release is named) for the same slurm.conf and gres.conf: the harness's GRES clusters
(harness/gres.py) and private ``slurmctld -D`` runs on the slurm.conf texts.
"""

from __future__ import annotations

import textwrap

import pytest

from flurm.config import ConfigError, SlurmConfig, parse_text
from flurm.config.gres import GresTypesError, configured, context_names, plugin_id
from flurm.nodes.gres_reg import reported
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
)
from flurm.protocol.wire import WireError, Writer
from flurm.state import gres, gres_node
from flurm.state.gres import GresUse, NodeGres
from flurm.state.gres_node import Reported

V22, V24, V26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
FILE_TYPE = 0x9E6  # what a real slurmd sends for a GPU with File= and Type= (HAS_FILE|HAS_TYPE|ENV_*)
SHARD_FLAGS = 0xBE6  # the same and SHARED
HEAD = "ClusterName=c\nSlurmctldHost=h\n"


def conf(body: str) -> SlurmConfig:
    return parse_text(HEAD + textwrap.dedent(body), "<string>")


def warnings_of(body: str) -> list[str]:
    return [w.message for w in conf(body).warnings if "PartitionName" not in w.message]


# -- GresTypes ----------------------------------------------------------------------------------------


def test_shared_names_follow_gpu_and_duplicates_are_dropped() -> None:
    assert context_names("mps,gpu,nic") == (("gpu", "nic", "mps"), ())
    assert context_names("gpu,gpu,nic") == (("gpu", "nic"), ("Duplicate plugin gres/gpu ignored",))
    assert context_names(None) == ((), ())


def test_gres_types_slurmctld_refuses() -> None:
    with pytest.raises(GresTypesError, match=r"^GresTypes: gres/'shared' requires that gres/gpu also"):
        context_names("shard,nic")
    with pytest.raises(GresTypesError, match=r"^Use of shared gres requires the use of select/cons_tres$"):
        context_names("gpu,mps", "select/cons_res")
    # refused at start-up with slurmctld's fatal text
    with pytest.raises(ConfigError) as err:
        conf("GresTypes=mps\nNodeName=n1 Gres=mps:100\n")
    assert err.value.message == "GresTypes: gres/'shared' requires that gres/gpu also be configured"
    with pytest.raises(ConfigError) as err:
        conf("GresTypes=gpu,mps\nSelectType=select/cons_res\nNodeName=n1 Gres=gpu:2\n")
    assert err.value.message == "Use of shared gres requires the use of select/cons_tres"


def test_gres_types_order_is_kept_in_the_configuration() -> None:
    c = conf("GresTypes=mps,gpu,gpu\nNodeName=n1 Gres=gpu:2,mps:100\n")
    assert c.gres_names == ("gpu", "mps")
    assert "Duplicate plugin gres/gpu ignored" in warnings_of("GresTypes=gpu,gpu\nNodeName=n1\n")


def test_plugin_id() -> None:
    assert plugin_id("gpu") == 7696487 and gres.plugin_id("gpu") == 7696487


# -- Gres= on a NodeName line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # what `scontrol show node` printed before the node registered
        ("gpu:tesla:x2", "gpu:tesla:1,gpu:x2:1"),
        ("gpu:a:b:3", "gpu:a:3,gpu:b:3"),
        ("gpu:,gpu:1", "gpu:2"),
        ("gpu:no_consume:2,bw:no_consume:4G", "gpu:2,bw:4G"),
        ("gpu:tesla:2(S:0)", "gpu:tesla:2"),
        ("gpu:2x", "gpu:2x"),  # the count is unreadable: nothing built, slurm.conf's text shown
        ("gpu:0", "gpu:0"),
    ],
)
def test_gres_is_never_refused_and_shown_as_slurmctld_builds_it(value: str, shown: str) -> None:
    names = ("gpu", "bw")
    inv = gres_node.inventory(value, names)
    assert (gres_node.config_text(inv, names) or value) == shown
    c = conf(f"GresTypes=gpu,bw\nNodeName=n1 Gres={value}\nPartitionName=p Nodes=ALL\n")
    assert c.nodes[0].gres == value


def test_bad_count_is_logged_not_refused() -> None:
    assert "Bad GRES configuration: gpu:2x" in warnings_of("GresTypes=gpu\nNodeName=n1 Gres=gpu:2x\n")
    assert configured("gpu:2,gpu:3x", "gpu").count == 2  # the count read so far stays


def test_gres_without_gres_types_is_dropped_silently() -> None:
    c = conf("NodeName=n1 Gres=gpu:2\n")
    assert c.nodes[0].gres is None
    assert not [w for w in warnings_of("NodeName=n1 Gres=gpu:2\n") if "GRES" in w]
    assert "Invalid GRES configured on node n1: foo:1" in warnings_of(
        "GresTypes=gpu\nNodeName=n1 Gres=gpu:2,foo:1\n"
    )


def test_configured_counts() -> None:
    c = configured("gpu:tesla:2,gpu:k80:1,bandwidth:no_consume:4G", "gpu")
    assert (c.count, c.types, c.no_consume) == (3, {"tesla": 2, "k80": 1}, False)
    b = configured("gpu:tesla:2,bandwidth:no_consume:4G", "bandwidth")
    assert (b.count, b.types, b.no_consume) == (4 << 30, {}, True)
    assert configured("gpu:2,gpu", "gpu").count == 1  # a bare name counts one and ends the count
    assert configured("gpu:4kb", "gpu").count == 4000


# -- registration ---------------------------------------------------------------------------------------


def tesla_pair(cores: bool = True) -> list[Reported]:
    return [
        Reported("gpu", "tesla", 1, FILE_TYPE, "0-1" if cores else None),
        Reported("gpu", "tesla", 1, FILE_TYPE, "2-3" if cores else None),
    ]


def registered(
    gres_text: str, names: tuple[str, ...], recs: list[Reported], overrides: bool = True
) -> tuple[dict[str, NodeGres], str | None]:
    inv = gres_node.inventory(gres_text, names)
    reason = gres_node.validate(inv, names, recs, sockets=2, cores_per_socket=2, config_overrides=overrides)
    return inv, reason


def test_devices_in_slurmds_order_with_their_sockets() -> None:
    inv, reason = registered("gpu:tesla:2", ("gpu",), tesla_pair())
    g = inv["gpu"]
    assert reason is None and g.found == 2 and g.bit_count == 2
    assert [(t.type, t.bits, t.cores) for t in g.topo] == [("tesla", (0,), (0, 1)), ("tesla", (1,), (2, 3))]
    assert gres_node.gres_text(inv, ("gpu",), sockets=2, cores_per_socket=2) == "gpu:tesla:2(S:0-1)"
    assert gres_node.gres_used(inv, ("gpu",), V22) == "gpu:tesla:0(IDX:N/A)"
    # without Cores= (the real capture of compute-node-1): no sockets
    inv, _ = registered("gpu:tesla:2", ("gpu",), tesla_pair(cores=False))
    assert gres_node.gres_text(inv, ("gpu",), sockets=2, cores_per_socket=2) == "gpu:tesla:2"


def test_one_socket_of_two() -> None:
    inv, _ = registered("gpu:1", ("gpu",), [Reported("gpu", None, 1, 0x9E2, "2-3")])
    assert gres_node.gres_text(inv, ("gpu",), sockets=2, cores_per_socket=2) == "gpu:1(S:1)"


def test_fewer_reported_than_configured_is_the_reason() -> None:
    inv, reason = registered("gpu:k80:2", ("gpu",), [Reported("gpu", "k80", 1, FILE_TYPE, "0-1")])
    assert reason == "gres/gpu count reported lower than configured (1 < 2)"
    # config_overrides: the topology is dropped; Gres= and GresUsed= by type
    assert inv["gpu"].found == 1 and inv["gpu"].topo == ()
    assert gres_node.gres_text(inv, ("gpu",), sockets=2, cores_per_socket=2) == "gpu:k80:2"
    assert gres_node.gres_used(inv, ("gpu",), V22) == "gpu:k80:0"
    _, reason = registered("gpu:2", ("gpu",), [], overrides=False)
    assert reason == "gres/gpu count reported lower than configured (0 < 2)"


def test_more_reported_than_configured_is_ignored() -> None:
    recs = [Reported("gpu", None, 1, 0x9E2, c) for c in ("0-1", "2-3", "0-1")]
    inv, reason = registered("gpu:2", ("gpu",), recs)
    assert reason is None and inv["gpu"].found == 2 and inv["gpu"].bit_count == 2
    assert [t.bits for t in inv["gpu"].topo] == [(0,), (1,), ()]


def test_reregistration_keeps_the_devices_jobs_hold() -> None:
    inv, _ = registered("gpu:tesla:2", ("gpu",), tesla_pair())
    gres.claim(inv, [GresUse("gpu", "tesla", 1, (1,))])
    reason = gres_node.validate(
        inv, ("gpu",), tesla_pair(), sockets=2, cores_per_socket=2, config_overrides=True
    )
    assert reason is None and inv["gpu"].bit_alloc == {1: 1} and inv["gpu"].alloc == 1
    assert gres_node.gres_used(inv, ("gpu",), V22) == "gpu:tesla:1(IDX:1)"
    # a restarted flurm: the inventory from slurm.conf, the running job claimed again, then the registration
    fresh = gres_node.inventory("gpu:tesla:2", ("gpu",))
    gres.claim(fresh, [GresUse("gpu", "tesla", 1, (1,))])
    assert (
        gres_node.validate(
            fresh, ("gpu",), tesla_pair(), sockets=2, cores_per_socket=2, config_overrides=True
        )
        is None
    )
    assert gres_node.gres_used(fresh, ("gpu",), V22) == "gpu:tesla:1(IDX:1)"
    # fewer devices while a job holds one: slurmctld keeps the old count and says why
    reason = gres_node.validate(
        inv, ("gpu",), tesla_pair()[:1], sockets=2, cores_per_socket=2, config_overrides=True
    )
    assert reason == "gres/gpu count reported lower than configured (1 < 2)"
    assert inv["gpu"].found == 2 and inv["gpu"].bit_alloc == {1: 1}


def test_count_changed_under_running_jobs() -> None:
    inv, _ = registered("gpu:4", ("gpu",), [Reported("gpu", None, 3, 0)])
    assert inv["gpu"].found == 3
    gres.claim(inv, [GresUse("gpu", None, 1)])
    reason = gres_node.validate(
        inv, ("gpu",), [Reported("gpu", None, 2, 0)], sockets=2, cores_per_socket=2, config_overrides=True
    )
    assert reason == "gres/gpu count reported lower than configured (2 < 4)"
    inv, _ = registered("gpu:2", ("gpu",), [Reported("gpu", None, 3, 0)])
    gres.claim(inv, [GresUse("gpu", None, 1)])
    inv["gpu"].found = 1  # as if it had reported 1 before
    reason = gres_node.validate(
        inv, ("gpu",), [Reported("gpu", None, 2, 0)], sockets=2, cores_per_socket=2, config_overrides=True
    )
    assert reason == "gres/gpu count changed and jobs are using them (1 != 2)"


def test_untyped_devices_per_release() -> None:
    recs = [Reported("gpu", None, 1, 0x9E2, c) for c in ("0-1", "2-3")]
    inv, _ = registered("gpu:2", ("gpu",), recs)
    assert gres_node.gres_text(inv, ("gpu",), sockets=2, cores_per_socket=2) == "gpu:2(S:0-1)"
    assert gres_node.gres_used(inv, ("gpu",), V22) == "gpu:(null):0(IDX:N/A)"
    assert gres_node.gres_used(inv, ("gpu",), V24) == "gpu:(null):0(IDX:N/A)"
    assert gres_node.gres_used(inv, ("gpu",), V26) == "gpu:0(IDX:N/A)"
    gres.claim(inv, [GresUse("gpu", None, 1, (0,))])
    assert gres_node.gres_used(inv, ("gpu",), V22) == "gpu:(null):1(IDX:0)"


def test_shards_as_a_real_slurmd_reports_them() -> None:
    """compute-node-2 of the captured cluster: Gres=gpu:a100:2,shard:4; shards listed before each GPU."""
    names = ("gpu", "shard")
    recs = [
        Reported("shard", "a100", 2, SHARD_FLAGS, "0-1"),
        Reported("gpu", "a100", 1, FILE_TYPE, "0-1", "-1,0"),
        Reported("shard", "a100", 2, SHARD_FLAGS, "2-3"),
        Reported("gpu", "a100", 1, FILE_TYPE, "2-3", "0,-1"),
    ]
    inv, reason = registered("gpu:a100:2,shard:4", names, recs)
    assert reason is None
    assert [t.bits for t in inv["shard"].topo] == [(0,), (1,)] and inv["shard"].bit_count == 2
    assert [t.links for t in inv["gpu"].topo] == ["-1,0", "0,-1"]
    text = gres_node.gres_text(inv, names, sockets=2, cores_per_socket=2)
    assert text == "gpu:a100:2(S:0-1),shard:a100:4(S:0-1)"
    assert gres_node.gres_used(inv, names, V22) == "gpu:a100:0(IDX:N/A),shard:a100:0(IDX:N/A)"
    assert gres_node.gres_used(inv, names, V24) == "gpu:a100:0(IDX:N/A),shard:a100:0(0/2,0/2)"
    # compute-node-1 (Gres=gpu:tesla:2, no shard): 22.05 names the shard it lacks, 24.11 leaves it out
    inv1, _ = registered("gpu:tesla:2", names, tesla_pair(cores=False))
    assert gres_node.gres_used(inv1, names, V22) == "gpu:tesla:0(IDX:N/A),shard:0"
    assert gres_node.gres_used(inv1, names, V24) == "gpu:tesla:0(IDX:N/A)"
    gres.claim(inv1, [GresUse("gpu", "tesla", 2, (0, 1))])
    assert gres_node.gres_used(inv1, names, V22) == "gpu:tesla:2(IDX:0-1),shard:0"


def test_no_consume_and_count_only() -> None:
    names = ("gpu", "bandwidth")
    recs = [*tesla_pair(), Reported("bandwidth", None, 4 << 30, 0x8)]
    inv, reason = registered("gpu:tesla:2,bandwidth:no_consume:4G", names, recs)
    assert reason is None and inv["bandwidth"].topo == () and inv["bandwidth"].bit_count == 0
    assert gres_node.gres_text(inv, names, sockets=2, cores_per_socket=2) == "gpu:tesla:2(S:0-1),bandwidth:4G"
    assert gres_node.gres_used(inv, names, V22) == "gpu:tesla:0(IDX:N/A),bandwidth:0"
    # 24.11 on keep no_consume in Gres=
    text = gres_node.gres_text(inv, names, sockets=2, cores_per_socket=2, version=V24)
    assert text == "gpu:tesla:2(S:0-1),bandwidth:no_consume:4G"
    typed = gres_node.inventory("gpu:tesla:no_consume:2", ("gpu",))
    assert gres_node.gres_text(typed, ("gpu",), sockets=0, cores_per_socket=0, version=V26) == (
        "gpu:tesla:no_consume:2"
    )


def test_a_node_without_gres_in_a_gres_cluster() -> None:
    assert gres_node.gres_used({}, ("gpu",), V22) == "gpu:0"
    assert gres_node.gres_used({}, ("gpu",), V24) is None
    assert gres_node.gres_used({}, (), V22) is None


def test_type_count_too_low() -> None:
    recs = [Reported("gpu", "a", 1, FILE_TYPE, "0-1"), Reported("gpu", "a", 1, FILE_TYPE, "2-3")]
    _, reason = registered("gpu:a:1,gpu:b:1", ("gpu",), recs)
    assert reason == "gres/gpu:b count too low (0 < 1)"


def test_bad_cores_are_ignored() -> None:
    inv, _ = registered("gpu:1", ("gpu",), [Reported("gpu", None, 1, 0x9E2, "0-9")])
    assert inv["gpu"].topo[0].cores is None
    recs = [Reported("gpu", None, 1, 0x9E2, "2-3"), Reported("gpu", None, 1, 0x9E2)]
    inv, _ = registered("gpu:2", ("gpu",), recs)
    assert [t.cores for t in inv["gpu"].topo] == [(2, 3), (0, 1, 2, 3)]


# -- the blob of a registration ---------------------------------------------------------------------------


def blob(records: list[tuple[str, str | None, int, int, str | None]]) -> bytes:
    w = Writer()
    w.u16(V22)
    w.u16(len(records))
    for name, gtype, count, flags, cpus in records:
        w.u32(0x438A34D4)
        w.u64(count)
        w.u32(4)
        w.u32(flags)
        w.u32(plugin_id(name))
        for s in (cpus, None, name, gtype, None):
            w.string(s)
    return w.getvalue()


def test_blob_records_of_names_gres_types_lacks_are_skipped() -> None:
    data = blob([("gpu", "tesla", 1, FILE_TYPE, "0-1"), ("nic", None, 2, 0, None), ("mps", None, 0, 0, None)])
    recs = reported("n1", data, ("gpu", "mps"))
    assert recs == [Reported("gpu", "tesla", 1, FILE_TYPE, "0-1"), Reported("mps", None, 0, 0, None)]
    with pytest.raises(WireError):
        reported("n1", data[:-3], ("gpu",))


# -- start-up and reconfiguration ---------------------------------------------------------------------------

CLUSTER = """\
GresTypes=gpu
NodeName=n1 Sockets=2 CoresPerSocket=2 Gres=gpu:tesla:2
NodeName=n2 Sockets=2 CoresPerSocket=2
PartitionName=p Nodes=ALL
"""


def test_nodes_start_with_slurm_confs_inventory_and_reconfigure_keeps_the_reported_one() -> None:
    from flurm.controller.reconfig import apply_to_cluster
    from flurm.state.cluster import Cluster

    cluster = Cluster(conf(CLUSTER), None, lambda: 0.0)
    n1 = cluster.nodes["n1"]
    assert (n1.gres, n1.gres_conf, n1.gres_inv["gpu"].configured) == ("gpu:tesla:2", "gpu:tesla:2", 2)
    assert cluster.nodes["n2"].gres_inv == {}
    assert (
        gres_node.validate(
            n1.gres_inv, ("gpu",), tesla_pair(), sockets=2, cores_per_socket=2, config_overrides=True
        )
        is None
    )
    n1.gres = gres_node.gres_text(n1.gres_inv, ("gpu",), sockets=2, cores_per_socket=2)
    gres.claim(n1.gres_inv, [GresUse("gpu", "tesla", 1, (0,))])
    # the same slurm.conf again: nothing reported is lost
    apply_to_cluster(cluster, conf(CLUSTER))
    assert n1.gres == "gpu:tesla:2(S:0-1)" and len(n1.gres_inv["gpu"].topo) == 2
    assert n1.gres_inv["gpu"].bit_alloc == {0: 1}
    # a new count of a GRES with devices is not taken; a new GRES is
    apply_to_cluster(cluster, conf(CLUSTER.replace("Gres=gpu:tesla:2", "Gres=gpu:tesla:4")))
    assert n1.gres_inv["gpu"].configured == 2 and n1.gres == "gpu:tesla:2(S:0-1)"
    apply_to_cluster(cluster, conf(CLUSTER.replace("NodeName=n2 ", "NodeName=n2 Gres=gpu:1 ")))
    assert cluster.nodes["n2"].gres == "gpu:1" and cluster.nodes["n2"].gres_inv["gpu"].configured == 1


# -- TRES (AccountingStorageTRES=gres/gpu,gres/gpu:tesla with slurmdbd) --------------------------------------


def test_gres_tres_of_nodes_and_partitions() -> None:
    """Real slurmctld 22.05 with slurmdbd and AccountingStorageTRES=gres/gpu,gres/gpu:tesla (two_gpu_types):
    CfgTRES=cpu=4,mem=1000M,billing=4,gres/gpu=2,gres/gpu:tesla=2 (the k80 node: ...,gres/gpu=2), a job
    with one GPU: AllocTRES=cpu=1,gres/gpu=1,gres/gpu:tesla=1; the partition's TRES ends
    gres/gpu=4,gres/gpu:tesla=2."""
    from flurm.state.cluster import Cluster
    from flurm.state.records import build_node_record, build_partition_record

    text = CLUSTER.replace("NodeName=n2 ", "NodeName=n2 Gres=gpu:k80:2 ")
    c = Cluster(conf("AccountingStorageTRES=gres/gpu,Gres/gpu:tesla,license/x\n" + text), None, lambda: 0.0)
    tres = gres_node.tres_names(c.config.raw.get("accountingstoragetres"))
    assert tres == ("gres/gpu", "gres/gpu:tesla")
    n1, n2 = c.nodes["n1"], c.nodes["n2"]
    assert build_node_record(n1, 0, V22, ("gpu",), tres).tres_fmt_str == (
        "cpu=4,mem=1M,billing=4,gres/gpu=2,gres/gpu:tesla=2"
    )
    assert build_node_record(n2, 0, V22, ("gpu",), tres).tres_fmt_str == "cpu=4,mem=1M,billing=4,gres/gpu=2"
    n1.alloc_cpus = 1
    gres.claim(n1.gres_inv, [GresUse("gpu", "tesla", 1, (0,))])
    alloc = build_node_record(n1, 0, V22, ("gpu",), tres).select_nodeinfo.tres_alloc_fmt_str
    assert alloc == "cpu=1,gres/gpu=1,gres/gpu:tesla=1"
    part = build_partition_record(c.partitions["p"], c)
    assert part.tres_fmt_str is not None and part.tres_fmt_str.endswith(",gres/gpu=4,gres/gpu:tesla=2")
    # without the TRES listed, nothing of GRES
    assert build_node_record(n1, 0, V22, ("gpu",)).tres_fmt_str == "cpu=4,mem=1M,billing=4"

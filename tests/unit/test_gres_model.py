"""The GRES model (state/gres.py): parsing as slurmctld parses, plugin ids, picking and holding devices."""

import pytest

from flurm.state import gres, gres_node
from flurm.state.gres import GresError, GresTopo, GresUse, NodeGres


def test_plugin_id_is_gres_build_id():
    assert gres.plugin_id("gpu") == 7696487  # the id slurmd and slurmctld use for gres/gpu
    assert gres.plugin_id("mps") == ord("m") + (ord("p") << 8) + (ord("s") << 16)
    # a fifth character wraps to shift 0 again
    assert (
        gres.plugin_id("shard")
        == (ord("s") + (ord("h") << 8) + (ord("a") << 16) + (ord("r") << 24) + ord("d")) & 0xFFFFFFFF
    )


def test_counts_take_suffixes():
    assert gres.parse_count("2") == 2
    assert gres.parse_count("4G") == 4 << 30
    assert gres.parse_count("100k") == 102400
    assert gres.parse_count("tesla") is None
    assert gres.parse_count("2x") is None
    assert gres.parse_count("2GB") == 2 * 1000**3  # suffix_mult's decimal forms


def test_node_gres_configured():
    inv = gres_node.inventory(
        "gpu:tesla:2,gpu:k80:1,bandwidth:no_consume:4G,mps", ["gpu", "bandwidth", "mps"]
    )
    assert inv["gpu"].configured == 3 and inv["gpu"].configured_types == {"tesla": 2, "k80": 1}
    assert inv["bandwidth"].no_consume and inv["bandwidth"].configured == 4 << 30
    assert inv["mps"].configured == 1


def test_tres_items_as_get_next_gres():
    assert gres.tres_items("gres:gpu:tesla:2,gres:mps:100") == [("gpu", "tesla", 2), ("mps", None, 100)]
    assert gres.tres_items("gres/gpu:2") == [("gpu", None, 2)]
    assert gres.tres_items("gres:gpu:tesla") == [("gpu", "tesla", 1)]
    assert gres.tres_items("gres:gpu") == [("gpu", None, 1)]
    assert gres.tres_items("gres:gpu:0") == []  # a zero count asks for nothing
    assert gres.tres_items("license/x:1") == []
    for bad in ("gres:gpu:", "gres:gpu::1", "gres:gpu:tesla:x", "gres::1"):
        with pytest.raises(GresError):
            gres.tres_items(bad)


def test_job_requests_totals_and_refusals():
    reqs = gres.job_requests(
        tres_per_node="gres:gpu:tesla:2",
        cpus_per_tres="gres:gpu:tesla:4",
        known_names={"gpu"},
        shape=gres.JobShape(min_nodes=2),
    )
    assert reqs == (gres.GresRequest("gpu", "tesla", per_node=2, cpus_per_gres=4, total=4),)
    with pytest.raises(GresError):
        gres.job_requests(tres_per_node="gres:bogus:1", known_names={"gpu"})
    with pytest.raises(GresError):
        gres.job_requests(mem_per_tres="gres:gpu:100", known_names={"gpu"})


def _two_gpus() -> NodeGres:
    g = gres_node.inventory("gpu:tesla:1,gpu:k80:1", ["gpu"])["gpu"]
    g.found = 2
    g.topo = (GresTopo("tesla", 1, (0,)), GresTopo("k80", 1, (1,)))
    g.bit_count = 2
    return g


def test_pick_lowest_free_device_of_the_type_and_hold_it():
    g = _two_gpus()
    assert gres.pick(g, "k80", 1) == GresUse("gpu", "k80", 1, (1,))
    first = gres.pick(g, None, 1)
    assert first == GresUse("gpu", None, 1, (0,))
    gres.claim({"gpu": g}, [first])
    assert g.alloc == 1 and g.bit_alloc == {0: 1}
    assert gres.pick(g, "tesla", 1) is None
    assert gres.pick(g, None, 2) is None
    assert gres.pick(g, None, 1) == GresUse("gpu", None, 1, (1,))
    gres.release({"gpu": g}, [first])
    assert g.alloc == 0 and g.bit_alloc == {}


def test_count_only_and_no_consume():
    inv = gres_node.inventory("lic:3,bw:no_consume:8", ["lic", "bw"])
    assert gres.pick(inv["lic"], None, 3) == GresUse("lic", None, 3)
    assert gres.pick(inv["lic"], None, 4) is None
    gres.claim(inv, [GresUse("lic", None, 2), GresUse("bw", None, 8)])
    assert gres.free_count(inv["lic"], None) == 1
    assert gres.pick(inv["bw"], None, 8) is not None  # nothing of a no_consume GRES is ever held


def test_allocation_round_trips_through_json():
    uses = ((GresUse("gpu", "tesla", 2, (0, 1)),), (GresUse("lic", None, 1),))
    assert gres.uses_from_json(gres.uses_to_json(uses)) == uses

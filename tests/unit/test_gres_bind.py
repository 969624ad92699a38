"""GRES as slurmd receives them (state/gres_bind.py): credential records, prolog/epilog records, steps."""

from __future__ import annotations

import pytest

from flurm.protocol.constants import (
    NO_CONSUME_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SlurmRC,
)
from flurm.protocol.messages.credential import (
    pack_gres_list,
    unpack_gres_job_states,
    unpack_gres_step_states,
)
from flurm.protocol.wire import Bitmap, Reader, Writer
from flurm.state import gres, gres_alloc
from flurm.state import gres_bind as gb
from flurm.state.gres import GresError, GresRequest, GresTopo, GresUse, NodeGres

GPU = gres.plugin_id("gpu")
N1, N2 = "compute-node-1", "compute-node-2"


def gpus(gtype: str | None, n: int = 2) -> NodeGres:
    topo = tuple(GresTopo(gtype, 1, (i,), (2 * i, 2 * i + 1)) for i in range(n))
    return NodeGres("gpu", n, {gtype: n} if gtype else {}, found=n, topo=topo, bit_count=n)


INV = {N1: {"gpu": gpus("tesla")}, N2: {"gpu": gpus("k80")}}


def test_one_record_per_node_type_as_gres_list_alloc() -> None:
    """--gres=gpu:1 on a tesla node and a k80 node: a tesla record (GPU 0 on node 0, nothing on node 1)
    and a k80 record (nothing on node 0, GPU 0 on node 1)."""
    uses = ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),))
    states = gb.job_gres_states((N1, N2), uses, INV)
    assert [(s.type_name, s.gres_cnt_node_alloc, s.total_gres) for s in states] == [
        ("tesla", (1, 0), 1),
        ("k80", (0, 1), 1),
    ]
    assert states[0].gres_bit_alloc == (Bitmap(2, 0b01), None)
    assert states[1].gres_bit_alloc == (None, Bitmap(2, 0b01))
    assert all(
        s.plugin_id == GPU and s.node_cnt == 2 and s.flags == 0 and s.gres_per_node == 0 for s in states
    )


@pytest.mark.parametrize("version", [SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION])
def test_credential_records_round_trip(version: int) -> None:
    uses = ((GresUse("gpu", "tesla", 2, (0, 1)),),)
    states = gb.job_gres_states((N1,), uses, INV)
    w = Writer()
    pack_gres_list(w, states, version)
    back = unpack_gres_job_states(Reader(w.getvalue()), version)
    assert back == states
    assert back[0].gres_bit_alloc == (Bitmap(2, 0b11),)


def test_no_gres_no_records() -> None:
    assert gb.job_gres_states((N1,), (), INV) == ()
    assert gb.prep_infos((N1,), (), INV, SLURM_22_05_PROTOCOL_VERSION) == ()


def test_prep_records_per_request_in_22_05_per_type_later() -> None:
    uses = ((GresUse("gpu", None, 1, (1,)),), (GresUse("gpu", None, 2, (0, 1)),))
    old = gb.prep_infos((N1, N2), uses, INV, SLURM_22_05_PROTOCOL_VERSION)
    assert [(i.plugin_id, i.node_cnt, i.gres_cnt_node_alloc, i.gres_bit_alloc) for i in old] == [
        (GPU, 2, None, (Bitmap(2, 0b10), Bitmap(2, 0b11)))
    ]
    new = gb.prep_infos((N1, N2), uses, INV, SLURM_24_11_PROTOCOL_VERSION)
    assert [i.gres_bit_alloc for i in new] == [(Bitmap(2, 0b10), None), (None, Bitmap(2, 0b11))]


def test_prep_records_skip_gres_without_plugin() -> None:
    inv = {N1: {"gpu": gpus("tesla"), "bandwidth": NodeGres("bandwidth", 4, no_consume=True)}}
    uses = ((GresUse("gpu", None, 1, (0,)), GresUse("bandwidth", None, 2)),)
    infos = gb.prep_infos((N1,), uses, inv, SLURM_22_05_PROTOCOL_VERSION)
    assert [i.plugin_id for i in infos] == [GPU]
    states = gb.job_gres_states((N1,), uses, inv)
    assert states[1].gres_cnt_node_alloc == (NO_CONSUME_VAL64,)
    assert states[1].total_gres == NO_CONSUME_VAL64


def test_shared_gres_counts_per_device() -> None:
    mps = NodeGres(
        "mps", 200, found=200, topo=(GresTopo(None, 100, (0,)), GresTopo(None, 100, (1,))), bit_count=2
    )
    uses = ((GresUse("mps", None, 50, (1,)),),)
    (state,) = gb.job_gres_states((N1,), uses, {N1: {"mps": mps}})
    assert state.gres_cnt_node_alloc == (50,)
    assert state.gres_per_node == 50  # 22.05 keeps the count per device there ...
    assert state.gres_per_bit_alloc is None
    (newer,) = gb.job_gres_states((N1,), uses, {N1: {"mps": mps}}, SLURM_24_11_PROTOCOL_VERSION)
    assert newer.gres_per_node == 0  # ... 24.11 sends it per bit only
    assert newer.gres_per_bit_alloc == ((0, 50),)
    (info,) = gb.prep_infos((N1,), uses, {N1: {"mps": mps}}, SLURM_22_05_PROTOCOL_VERSION)
    assert info.gres_cnt_node_alloc == (50,)


# -- steps ---------------------------------------------------------------------------------------


def tres(per_node: str | None = None, per_step: str | None = "cpu:1", **job: str | None) -> gb.StepTres:
    return gb.step_tres(
        per_step,
        per_node,
        None,
        None,
        job_per_job=job.get("per_job"),
        job_per_node=job.get("job_node"),
        job_per_socket=None,
        job_per_task=None,
    )


def test_step_without_gres_asks_what_its_job_asked() -> None:
    assert tres(job_node="gres:gpu:2") == gb.StepTres(None, "gres:gpu:2", None, None)
    assert tres("gres:gpu:1", job_node="gres:gpu:2") == gb.StepTres("cpu:1", "gres:gpu:1", None, None)
    assert tres("none", "cpu:1,gres:gpu:1", job_node="gres:gpu:2") == gb.StepTres("cpu:1", None, None, None)
    assert tres("gres:gpu:0", job_node="gres:gpu:2") == gb.StepTres("cpu:1", None, None, None)


def requests(per_node: str) -> list[gb.StepGresRequest]:
    return gb.step_requests(tres(per_node), None, None, 1, {"gpu"})


def test_step_request_checked_against_the_job() -> None:
    job = (GresRequest("gpu", per_node=2, total=2),)
    gb.check_against_job(requests("gres:gpu:2"), job, 1)
    with pytest.raises(GresError) as exc:
        gb.check_against_job(requests("gres:gpu:3"), job, 1)
    assert str(exc.value) == "Step requested gres_per_node=gpu:3 is more than the job's gres_per_node=gpu:2"
    assert exc.value.rc == SlurmRC.ESLURM_INVALID_GRES
    with pytest.raises(GresError, match="Step requested GRES but job doesn't have GRES"):
        gb.check_against_job(requests("gres:gpu:1"), (), 1)
    with pytest.raises(GresError, match=r"Step requested GRES \(gpu:k80\) not found in the job"):
        gb.check_against_job(requests("gres:gpu:k80:1"), (GresRequest("gpu", "tesla", per_node=2),), 1)
    with pytest.raises(GresError):
        gb.step_requests(tres("gres:fpga:1"), None, None, 1, {"gpu"})


def test_steps_take_free_devices_and_give_them_back() -> None:
    held = (GresUse("gpu", None, 2, (0, 1)),)
    inv = INV[N1]
    offer = gb.NodeOffer(held)
    one = gb.alloc_on_node_cpus(requests("gres:gpu:1"), offer, inv, 1, 1, decr_job_alloc=True)[0]
    assert one == (GresUse("gpu", None, 1, (0,)),)
    assert gb.node_usable(requests("gres:gpu:1"), offer, inv, False, ignore_alloc=False)
    two = gb.alloc_on_node_cpus(requests("gres:gpu:1"), offer, inv, 1, 1, decr_job_alloc=True)[0]
    assert two == (GresUse("gpu", None, 1, (1,)),)
    # both devices held by steps: a third waits (usable once they end), 3 never fits
    assert not gb.node_usable(requests("gres:gpu:1"), offer, inv, False, ignore_alloc=False)
    assert gb.node_usable(requests("gres:gpu:1"), offer, inv, False, ignore_alloc=True)
    assert not gb.node_usable(requests("gres:gpu:3"), offer, inv, False, ignore_alloc=True)
    # a step asking for no count gets what the job holds there
    everything, _ = gb.alloc_on_node_cpus(
        gb.step_requests(tres(None, None), "gres:gpu:2", None, 1, {"gpu"}),
        gb.NodeOffer(held),
        inv,
        1,
        1,
        decr_job_alloc=True,
    )
    assert everything == held


def test_step_short_of_gres_is_insufficient() -> None:
    held = (GresUse("gpu", None, 1, (0,)),)
    with pytest.raises(GresError) as exc:
        gb.alloc_on_node_cpus(requests("gres:gpu:2"), gb.NodeOffer(held), INV[N1], 1, 1, decr_job_alloc=True)[
            0
        ]
    assert exc.value.rc == SlurmRC.ESLURM_INSUFFICIENT_GRES


def test_step_credential_records_over_the_jobs_nodes() -> None:
    step_uses = ((GresUse("gpu", None, 1, (1,)),),)
    for version in (SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION):
        (state,) = gb.step_gres_states((N1, N2), (N2,), step_uses, INV, version)
        # (22.05 packs no type name in a step record)
        assert state.type_name == (None if version == SLURM_22_05_PROTOCOL_VERSION else "k80")
        assert state.node_cnt == 2
        assert state.node_in_use == Bitmap(2, 0b10)
        assert state.gres_cnt_node_alloc == (0, 1)
        assert state.gres_bit_alloc == (None, Bitmap(2, 0b10))
        w = Writer()
        pack_gres_list(w, (state,), version)
        (back,) = unpack_gres_step_states(Reader(w.getvalue()), version)
        assert back == state


def test_node_of_two_types() -> None:
    """A node with a tesla (device 0) and a k80 (device 1): an untyped job holding both is a tesla and
    a k80 record; a step asking a k80 gets device 1."""
    mixed = NodeGres(
        "gpu",
        2,
        {"tesla": 1, "k80": 1},
        found=2,
        topo=(GresTopo("tesla", 1, (0,)), GresTopo("k80", 1, (1,))),
        bit_count=2,
    )
    held = (GresUse("gpu", None, 2, (0, 1)),)
    states = gb.job_gres_states((N1,), (held,), {N1: {"gpu": mixed}})
    assert [(s.type_name, s.gres_bit_alloc) for s in states] == [
        ("tesla", (Bitmap(2, 0b01),)),
        ("k80", (Bitmap(2, 0b10),)),
    ]
    k80 = gb.step_requests(tres("gres:gpu:k80:1"), None, None, 1, {"gpu"})
    got = gb.alloc_on_node_cpus(k80, gb.NodeOffer(held), {"gpu": mixed}, 1, 1, decr_job_alloc=True)[0]
    assert got == (GresUse("gpu", None, 1, (1,)),)


def test_tres_per_task_of_24_11() -> None:
    """24.11's srun writes tres_per_task as cpu=1,gres/gpu:tesla=1."""
    assert gres.tres_items("cpu=1,gres/gpu=1,gres/gpu:tesla=2") == [("gpu", None, 1), ("gpu", "tesla", 2)]
    step = gb.step_tres(
        "cpu:1",
        None,
        None,
        "cpu=1,gres/gpu=0",
        job_per_job=None,
        job_per_node="gres/gpu:2",
        job_per_socket=None,
        job_per_task=None,
    )
    assert step == gb.StepTres("cpu:1", None, None, "cpu=1")


def test_untyped_cpus_per_gpu_go_to_the_typed_request() -> None:
    """srun in a job of --gpus=k80:1 --cpus-per-gpu=2 sends tres_per_step cpu:1,gres:gpu:k80:1 and
    cpus_per_tres gres:gpu:2: one k80 request with 2 CPUs per GPU (_merge_generic_data)."""
    (req,) = gb.step_requests(gb.StepTres("cpu:1,gres:gpu:k80:1"), "gres:gpu:2", "gres:gpu:100", 1, {"gpu"})
    assert (req.name, req.type, req.per_step, req.cpus_per_gres, req.mem_per_gres) == (
        "gpu",
        "k80",
        1,
        2,
        100,
    )
    with pytest.raises(GresError) as exc:
        gb.step_requests(gb.StepTres("gres:gpu:k80:1", "gres:gpu:1"), None, None, 1, {"gpu"})
    assert exc.value.rc == SlurmRC.ESLURM_INVALID_GRES_TYPE


def test_22_05_prep_records_follow_the_requests() -> None:
    """The scheduler holds an untyped request on typed nodes as uses of each node's type: 22.05's prolog
    still gets one record for the request, over both nodes."""
    uses = ((GresUse("gpu", "tesla", 1, (0,)),), (GresUse("gpu", "k80", 1, (0,)),))
    keys = gres_alloc.request_keys("gres:gpu:2", None, "gres:gpu:1", None, None, None)
    assert keys == [("gpu", None)]
    (info,) = gb.prep_infos((N1, N2), uses, INV, SLURM_22_05_PROTOCOL_VERSION, keys)
    assert info.gres_bit_alloc == (Bitmap(2, 0b01), Bitmap(2, 0b01))
    assert gres_alloc.request_keys("gres:gpu:2", None, "gres:gpu:k80:1", None, None, None) == [("gpu", "k80")]
    typed = gb.prep_infos(
        (N1, N2), uses, INV, SLURM_22_05_PROTOCOL_VERSION, [("gpu", "tesla"), ("gpu", "k80")]
    )
    assert [i.gres_bit_alloc for i in typed] == [(Bitmap(2, 1), None), (None, Bitmap(2, 1))]


def test_job_cpus_per_gpu_go_to_the_typed_request() -> None:
    """sbatch --gpus=k80:1 --cpus-per-gpu=2 --mem-per-gpu=100: one k80 request with both (slurmctld runs
    it; its steps then ask the same way)."""
    (req,) = gres.job_requests(
        tres_per_job="gres:gpu:k80:1",
        cpus_per_tres="gres:gpu:2",
        mem_per_tres="gres:gpu:100",
        known_names={"gpu"},
    )
    assert (req.type, req.per_job, req.cpus_per_gres, req.mem_per_gres) == ("k80", 1, 2, 100)


def test_untyped_request_held_as_typed_uses() -> None:
    """The scheduler holds an untyped request on a tesla+k80 node as a tesla use; the credential still
    has slurmctld's records of an untyped request: the tesla one and the k80 one with nothing."""
    mixed = NodeGres(
        "gpu", 2, {"tesla": 1, "k80": 1}, found=2,
        topo=(GresTopo("tesla", 1, (0,)), GresTopo("k80", 1, (1,))), bit_count=2,
    )  # fmt: skip
    uses = ((GresUse("gpu", "k80", 1, (1,)),),)
    untyped = gres_alloc.untyped_names(gres_alloc.request_keys(None, None, "gres:gpu:1", None, None, None))
    states = gb.job_gres_states((N1,), uses, {N1: {"gpu": mixed}}, SLURM_22_05_PROTOCOL_VERSION, untyped)
    assert [(s.type_name, s.gres_cnt_node_alloc, s.gres_bit_alloc) for s in states] == [
        ("tesla", (0,), (Bitmap(2, 0),)),
        ("k80", (1,), (Bitmap(2, 0b10),)),
    ]
    typed = gb.job_gres_states((N1,), uses, {N1: {"gpu": mixed}}, SLURM_22_05_PROTOCOL_VERSION)
    assert [s.type_name for s in typed] == ["k80"]

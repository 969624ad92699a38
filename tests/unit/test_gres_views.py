"""What clients see of a job's GRES: slurmctld's gres_list_alloc (one record per name and node type), the
JOB_GRES= total and the per node GRES= strings of ``scontrol show job -d``, in the job record.

The expected strings are what real slurmctld 22.05 printed for the same allocations (gres.two_gpu_types:
compute-node-1 gpu:tesla:2, compute-node-2 gpu:k80:2; a node with one tesla and one k80; mps; no_consume).
"""

from __future__ import annotations

import textwrap

from flurm.config.slurmconf import parse_text
from flurm.controller.submit import tres_req_string
from flurm.protocol.constants import (
    NO_CONSUME_VAL64,
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobState,
    ShowFlags,
)
from flurm.protocol.messages.job_info import decode_job_record
from flurm.state import gres, gres_alloc
from flurm.state.cluster import Allocation, Cluster
from flurm.state.gres import GresTopo, GresUse, NodeGres
from flurm.state.gres_node import bit_fmt
from flurm.state.model import Job
from flurm.state.records import build_job_record, build_partition_record, job_record_bytes

T0 = 1_700_000_000

CONF = """
ClusterName=c
SlurmctldHost=localhost
GresTypes=gpu
NodeName=n1 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:tesla:2
NodeName=n2 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:k80:2
NodeName=n3 CPUs=4 Sockets=2 CoresPerSocket=2 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:tesla:1,gpu:k80:1
PartitionName=debug Nodes=ALL Default=YES
"""


def gpus(*types: str) -> NodeGres:
    """A node's gpu inventory as its slurmd reported it: one device per type given, in order."""
    topo = tuple(GresTopo(t or None, 1, (i,)) for i, t in enumerate(types))
    configured = {t: types.count(t) for t in types if t}
    return NodeGres("gpu", len(types), configured, found=len(types), topo=topo, bit_count=len(types))


TESLA2, K80_2, MIXED = gpus("tesla", "tesla"), gpus("k80", "k80"), gpus("tesla", "k80")
UNTYPED = gpus("", "")


def alloc(
    invs: list[dict[str, NodeGres] | None],
    per_node: tuple[tuple[GresUse, ...], ...],
    untyped: set[str] | None = None,
) -> list[gres_alloc.AllocRecord]:
    """The allocation records of a job on nodes n0, n1, ... of these inventories (None: an unknown node)."""
    nodes = [f"n{i}" for i in range(len(per_node))]
    inventories = {n: inv for n, inv in zip(nodes, invs, strict=True) if inv is not None}
    return gres_alloc.alloc_records(nodes, per_node, inventories, untyped or set())


def details(invs: list[dict[str, NodeGres] | None], *per_node: tuple[GresUse, ...]) -> tuple[object, ...]:
    return gres_alloc.job_details(alloc(invs, per_node), len(per_node))


def test_typed_request_on_its_type() -> None:
    assert details([{"gpu": TESLA2}], (GresUse("gpu", "tesla", 1, (0,)),)) == (
        "gpu:tesla:1",
        ("gpu:tesla:1(IDX:0)",),
    )


def test_untyped_request_takes_the_node_type() -> None:
    # --gres=gpu:1 on the tesla node: slurmctld names the type it got
    assert details([{"gpu": TESLA2}], (GresUse("gpu", None, 1, (1,)),)) == (
        "gpu:tesla:1",
        ("gpu:tesla:1(IDX:1)",),
    )
    # --gpus=2: a range
    assert details([{"gpu": K80_2}], (GresUse("gpu", None, 2, (0, 1)),)) == (
        "gpu:k80:2",
        ("gpu:k80:2(IDX:0-1)",),
    )


def test_two_nodes_of_two_types() -> None:
    # --gpus-per-node=1 -N2: one record per type, in the order met
    got = details(
        [{"gpu": TESLA2}, {"gpu": K80_2}],
        (GresUse("gpu", None, 1, (0,)),),
        (GresUse("gpu", None, 1, (0,)),),
    )
    assert got == ("gpu:tesla:1,gpu:k80:1", ("gpu:tesla:1(IDX:0)", "gpu:k80:1(IDX:0)"))


def test_node_with_two_types_shows_the_type_it_did_not_get() -> None:
    assert details([{"gpu": MIXED}], (GresUse("gpu", None, 1, (0,)),)) == (
        "gpu:tesla:1,gpu:k80:0",
        ("gpu:tesla:1(IDX:0),gpu:k80:0(IDX:)",),
    )
    assert details([{"gpu": MIXED}], (GresUse("gpu", None, 1, (1,)),)) == (
        "gpu:tesla:0,gpu:k80:1",
        ("gpu:tesla:0(IDX:),gpu:k80:1(IDX:1)",),
    )
    # a typed request: its type alone
    assert details([{"gpu": MIXED}], (GresUse("gpu", "k80", 1, (1,)),)) == (
        "gpu:k80:1",
        ("gpu:k80:1(IDX:1)",),
    )


def test_untyped_node() -> None:
    assert details([{"gpu": UNTYPED}], (GresUse("gpu", None, 1, (1,)),)) == ("gpu:1", ("gpu:1(IDX:1)",))


def test_no_consume_counts_nothing() -> None:
    bandwidth = NodeGres("bandwidth", 4 << 30, no_consume=True, found=4 << 30)
    inv = {"gpu": TESLA2, "bandwidth": bandwidth}
    got = details([inv], (GresUse("gpu", "tesla", 1, (0,)), GresUse("bandwidth", None, 1 << 30)))
    assert got == ("gpu:tesla:1,bandwidth:0", ("gpu:tesla:1(IDX:0),bandwidth(CNT:0)",))
    recs = alloc([inv], ((GresUse("bandwidth", None, 2 << 30),),))
    assert recs[0].counts == [NO_CONSUME_VAL64] and recs[0].shown_total == 0


def test_mps_on_one_device() -> None:
    mps = NodeGres(
        "mps", 200, found=200, topo=(GresTopo(None, 100, (0,)), GresTopo(None, 100, (1,))), bit_count=2
    )
    assert details([{"gpu": TESLA2, "mps": mps}], (GresUse("mps", None, 50, (0,)),)) == (
        "mps:50",
        ("mps:50(IDX:0)",),
    )


def test_count_only_gres() -> None:
    lic = NodeGres("nic", 4, found=4)
    assert details([{"nic": lic}], (GresUse("nic", None, 2),)) == ("nic:2", ("nic(CNT:2)",))


def test_unknown_node_keeps_the_use() -> None:
    # a node gone from slurm.conf (an imported job): what the job holds is all there is
    assert details([None], (GresUse("gpu", "tesla", 1, (0,)),)) == ("gpu:tesla:1", ("gpu:tesla:1(IDX:0)",))


def test_bit_fmt() -> None:
    assert bit_fmt([]) == ""
    assert bit_fmt([0]) == "0"
    assert bit_fmt([0, 1]) == "0-1"
    assert bit_fmt([0, 2, 3, 5, 6, 7]) == "0,2-3,5-7"


def test_no_gres() -> None:
    assert gres_alloc.job_details([], 1) == (None, ())


# -- the job record -----------------------------------------------------------------------------------


def make_cluster() -> Cluster:
    c = Cluster(parse_text(textwrap.dedent(CONF)), None, clock=lambda: T0)
    for node, inv in zip(c.node_list, (TESLA2, K80_2, MIXED), strict=True):
        node.registered = True
        node.gres_inv = {"gpu": gpus(*(t.type or "" for t in inv.topo))}
    return c


def start(
    c: Cluster, job_id: int, nodes: tuple[str, ...], uses: tuple[tuple[GresUse, ...], ...], **kw: object
) -> Job:
    job = Job(
        job_id=job_id, name="wrap", user_id=0, group_id=0, partition="debug", script="#!/bin/sh\n", **kw
    )  # type: ignore[arg-type]
    c.add_job(job)
    alloc = Allocation(
        nodes, tuple((0,) for _ in nodes), tuple(1 for _ in nodes), tuple(0 for _ in nodes), uses
    )
    c.start_job(job, alloc, T0)
    return job


def test_running_job_record() -> None:
    c = make_cluster()
    job = start(
        c,
        1,
        ("n1", "n2"),
        ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),)),
        tres_per_node="gres:gpu:1",
        min_nodes=2,
    )
    plain = build_job_record(job, c, 0)
    assert plain.gres_used == "gpu:tesla:1,gpu:k80:1"  # packed whatever the flags
    assert plain.gres_detail_str == ()
    assert plain.tres_per_node == "gres:gpu:1"
    detail = build_job_record(job, c, ShowFlags.DETAIL)
    assert detail.gres_detail_str == ("gpu:tesla:1(IDX:0)", "gpu:k80:1(IDX:0)")
    # and on the wire, in each release's layout
    for version in (SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION):
        blob = job_record_bytes(job, c, ShowFlags.DETAIL, version)
        back = decode_job_record(blob, version)
        assert back.gres_used == "gpu:tesla:1,gpu:k80:1"
        assert back.gres_detail_str == ("gpu:tesla:1(IDX:0)", "gpu:k80:1(IDX:0)")


def test_finished_job_keeps_its_total_not_its_details() -> None:
    c = make_cluster()
    job = start(c, 2, ("n3",), ((GresUse("gpu", None, 1, (1,)),),))
    assert build_job_record(job, c, ShowFlags.DETAIL).gres_detail_str == (
        "gpu:tesla:0(IDX:),gpu:k80:1(IDX:1)",
    )
    job.state = JobState.COMPLETE
    c.release(job)
    job.touch()
    rec = build_job_record(job, c, ShowFlags.DETAIL)
    assert rec.gres_used == "gpu:tesla:0,gpu:k80:1"
    assert rec.gres_detail_str == ()


def test_pending_job_has_no_gres_shown() -> None:
    c = make_cluster()
    job = Job(
        job_id=3,
        name="wrap",
        user_id=0,
        group_id=0,
        partition="debug",
        tres_per_job="gres:gpu:2",
        time_limit=NO_VAL,
    )
    c.add_job(job)
    rec = build_job_record(job, c, ShowFlags.DETAIL)
    assert (rec.gres_used, rec.gres_detail_str, rec.tres_per_job) == (None, (), "gres:gpu:2")


def test_memory_per_gpu_in_the_tres_request() -> None:
    # slurmctld 22.05: --gpus=k80:1 --mem-per-gpu=100 -> TRES=cpu=1,mem=100M,node=1,billing=1;
    # --gres=gpu:tesla --mem-per-gpu=1G -> mem=1G (per node x nodes)
    assert gres.requested_mem("gres:gpu:100", gres.GresAsk(tres_per_job="gres:gpu:k80:1")) == 100
    assert gres.requested_mem("gres:gpu:1024", gres.GresAsk(tres_per_node="gres:gpu:tesla")) == 1024
    assert gres.requested_mem("gres:gpu:100", gres.GresAsk(tres_per_node="gres:gpu:2", nodes=3)) == 600
    assert gres.requested_mem("gres:gpu:10", gres.GresAsk(tres_per_task="gres:gpu:1", num_tasks=4)) == 40
    assert gres.requested_mem(None, gres.GresAsk(tres_per_job="gres:gpu:1")) is None
    c = make_cluster()
    job = Job(
        job_id=4,
        name="wrap",
        user_id=0,
        group_id=0,
        partition="debug",
        tres_per_job="gres:gpu:k80:1",
        mem_per_tres="gres:gpu:100",
    )
    assert tres_req_string(job, c) == "cpu=1,mem=100M,node=1,billing=1"
    job.mem_set, job.pn_min_memory = True, 300  # --mem wins
    assert tres_req_string(job, c) == "cpu=1,mem=300M,node=1,billing=1"


def test_tres_per_task_of_24_11() -> None:
    # 24.11's sbatch -n1 --gpus-per-task=1 sends tres_per_task "gres/gpu=1" (and cpu=N for -c)
    assert gres.tres_items("gres/gpu=1") == [("gpu", None, 1)]
    assert gres.tres_items("cpu=2,gres/gpu:tesla=2") == [("gpu", "tesla", 2)]
    assert gres.job_requests(tres_per_task="gres/gpu=1", known_names=["gpu"])[0].per_task == 1


# -- GRES in the TRES strings, when AccountingStorageTRES counts them (slurmdbd only) -----------------

ACCT = "AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageTRES=gres/gpu\n"


def test_gres_tres_in_job_and_partition_records() -> None:
    # slurmctld 22.05 with slurmdbd and AccountingStorageTRES=gres/gpu (two_gpu_types):
    # -N2 --gpus-per-node=1 running: TRES=cpu=2,node=2,billing=2,gres/gpu=2;
    # --gres=gpu:tesla:2 pending: TRES=cpu=1,mem=1000M,node=1,billing=1,gres/gpu=2;
    # scontrol show partition: TRES=cpu=8,mem=2000M,node=2,billing=8,gres/gpu=4 (here 3 nodes: 6)
    c = Cluster(parse_text(textwrap.dedent(ACCT + CONF)), None, clock=lambda: T0)
    for node, inv in zip(c.node_list, (TESLA2, K80_2, MIXED), strict=True):
        node.registered = True
        node.gres_inv = {"gpu": gpus(*(t.type or "" for t in inv.topo))}
    job = start(
        c,
        1,
        ("n1", "n2"),
        ((GresUse("gpu", None, 1, (0,)),), (GresUse("gpu", None, 1, (0,)),)),
        tres_per_node="gres:gpu:1",
        min_nodes=2,
    )
    rec = build_job_record(job, c, 0)
    assert rec.tres_alloc_str == "cpu=2,node=2,billing=2,gres/gpu=2"
    waiting = Job(
        job_id=2, name="wrap", user_id=0, group_id=0, partition="debug", tres_per_node="gres:gpu:tesla:2"
    )
    assert tres_req_string(waiting, c) == "cpu=1,mem=1000M,node=1,billing=1,gres/gpu=2"
    part = build_partition_record(c.partitions["debug"], c)
    assert part.tres_fmt_str == "cpu=12,mem=3000M,node=3,billing=12,gres/gpu=6"
    # without slurmdbd (the default) no GRES in any TRES string
    plain = make_cluster()
    assert tres_req_string(waiting, plain) == "cpu=1,mem=1000M,node=1,billing=1"
    assert (
        build_partition_record(plain.partitions["debug"], plain).tres_fmt_str
        == "cpu=12,mem=3000M,node=3,billing=12"
    )


def test_typed_gres_tres() -> None:
    from flurm.state.records import gres_tres

    names = ("gres/gpu", "gres/gpu:tesla")
    assert gres_tres(names, [("gpu", "tesla", 1), ("gpu", "k80", 1)]) == ["gres/gpu=2", "gres/gpu:tesla=1"]
    assert gres_tres(names, [("gpu", "k80", 1)]) == ["gres/gpu=1"]
    assert gres_tres((), [("gpu", "k80", 1)]) == []


def test_step_tres() -> None:
    from flurm.state.records import step_tres_string

    # slurmctld 22.05: "TRES=cpu=1,mem=0,node=1"; with AccountingStorageTRES=gres/gpu and slurmdbd, a step
    # holding a GPU "TRES=cpu=1,gres/gpu=1,mem=0,node=1" (names in order)
    assert step_tres_string(1, 0, 1) == "cpu=1,mem=0,node=1"
    assert step_tres_string(2, 1000, 1) == "cpu=2,mem=1000M,node=1"
    assert step_tres_string(1, 0, 1, ["gres/gpu=1"]) == "cpu=1,gres/gpu=1,mem=0,node=1"


def test_requests_decide_the_records() -> None:
    # the scheduler keeps an untyped request as the typed uses it took; slurmctld still makes a record per
    # type of the node for the untyped request: --gres=gpu:1 on tesla+k80 -> gpu:tesla:1,gpu:k80:0(IDX:)
    recs = alloc([{"gpu": MIXED}], ((GresUse("gpu", "tesla", 1, (0,)),),), {"gpu"})
    assert gres_alloc.job_details(recs, 1) == (
        "gpu:tesla:1,gpu:k80:0",
        ("gpu:tesla:1(IDX:0),gpu:k80:0(IDX:)",),
    )
    # a typed request: its type alone
    recs = alloc([{"gpu": MIXED}], ((GresUse("gpu", "k80", 1, (1,)),),))
    assert gres_alloc.job_details(recs, 1) == ("gpu:k80:1", ("gpu:k80:1(IDX:1)",))


def test_shared_gres_keeps_the_request_type() -> None:
    # slurmd reports mps records with the GPU's type; slurmctld's job record is untyped: mps:50(IDX:0)
    mps = NodeGres(
        "mps", 200, found=200, topo=(GresTopo("tesla", 100, (0,)), GresTopo("tesla", 100, (1,))), bit_count=2
    )
    assert details([{"gpu": TESLA2, "mps": mps}], (GresUse("mps", None, 50, (0,)),)) == (
        "mps:50",
        ("mps:50(IDX:0)",),
    )


def test_node_without_topology() -> None:
    # gres.conf File= without Type= or Cores=: no topology, yet devices (bits)
    g = NodeGres("gpu", 2, found=2, bit_count=2)
    assert details([{"gpu": g}], (GresUse("gpu", None, 2, (0, 1)),)) == ("gpu:2", ("gpu:2(IDX:0-1)",))
    typed = NodeGres("gpu", 2, {"tesla": 2}, found=2, bit_count=2)
    assert details([{"gpu": typed}], (GresUse("gpu", None, 1, (1,)),)) == (
        "gpu:tesla:1",
        ("gpu:tesla:1(IDX:1)",),
    )


def test_job_record_uses_the_job_requests() -> None:
    c = make_cluster()
    job = start(c, 5, ("n3",), ((GresUse("gpu", "tesla", 1, (0,)),),), tres_per_node="gres:gpu:1")
    rec = build_job_record(job, c, ShowFlags.DETAIL)
    assert (rec.gres_used, rec.gres_detail_str) == (
        "gpu:tesla:1,gpu:k80:0",
        ("gpu:tesla:1(IDX:0),gpu:k80:0(IDX:)",),
    )


def test_cpus_per_gpu_count_in_the_job_resources() -> None:
    # slurmctld: --gpus=k80:1 --cpus-per-gpu=2 -> job_resources ncpus 2 (gres_select_util_job_min_cpus)
    assert gres.min_cpus("gres:gpu:2", gres.GresAsk(tres_per_job="gres:gpu:k80:1")) == 2
    assert gres.min_cpus("gres:gpu:1", gres.GresAsk(tres_per_task="gres:gpu:1", num_tasks=2)) == 2
    assert gres.min_cpus("gres:gpu:2", gres.GresAsk(tres_per_node="gres:gpu:1", nodes=2)) == 4
    assert gres.min_cpus(None, gres.GresAsk(tres_per_job="gres:gpu:1")) == 0
    c = make_cluster()
    job = start(
        c,
        6,
        ("n2",),
        ((GresUse("gpu", "k80", 1, (1,)),),),
        tres_per_job="gres:gpu:k80:1",
        cpus_per_tres="gres:gpu:2",
    )
    res = build_job_record(job, c, ShowFlags.DETAIL).job_resources
    assert res is not None and res.ncpus == 2

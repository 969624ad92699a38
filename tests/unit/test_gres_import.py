"""GRES across the migration: what slurmctld allocated becomes flurm's (migration/gres_import.py).

On real bytes (tests/golden/gres/RELEASE, SLURM 22.05, 24.11 and 26.05: compute-node-1 Gres=gpu:tesla:2,
compute-node-2 Gres=gpu:a100:2,shard:4; jobs 2 and 3 --gres=gpu:tesla:1 running on tesla 0 and tesla 1 when
slurmctld saved its state, the others ended): the saved job_state's gres_list_alloc and the job records'
gres_detail_str give each running job its devices, the takeover claims them on the nodes so that no new job
gets them until the job ends, and a node's GresUsed becomes its allocation in shadow. Then the text forms
slurmctld writes, and the step records, case by case.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flurm.config import parse_text
from flurm.migration import gres_import, saved_state
from flurm.migration.importer import apply_node_record, job_from_record
from flurm.migration.statefile import read_job_state
from flurm.migration.takeover import Takeover
from flurm.protocol.constants import (
    NO_CONSUME_VAL64,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobState,
    MsgType,
)
from flurm.protocol.frame import FrameDecoder
from flurm.protocol.messages import decode_body
from flurm.protocol.messages.credential import GresJobState, GresStepState
from flurm.protocol.messages.job_info import JobRecord, decode_job_record, split_job_info
from flurm.protocol.messages.nodes import NodeInfoResponse, NodeRecord
from flurm.protocol.wire import Bitmap
from flurm.state import gres
from flurm.state.cluster import Cluster
from flurm.state.gres import GresRequest, GresUse
from flurm.state.model import Job

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gres"
RELEASES = {
    "22.05": SLURM_22_05_PROTOCOL_VERSION,
    "24.11": SLURM_24_11_PROTOCOL_VERSION,
    "26.05": SLURM_26_05_PROTOCOL_VERSION,
}
GPU, SHARD = gres.plugin_id("gpu"), gres.plugin_id("shard")
TESLA0 = (GresUse("gpu", "tesla", 1, (0,)),)
TESLA1 = (GresUse("gpu", "tesla", 1, (1,)),)
NOW = 1_795_696_400


def make_cluster(tmp: Path) -> Cluster:
    config = parse_text(
        "ClusterName=test\nSlurmctldHost=localhost\nGresTypes=gpu,shard\n"
        f"StateSaveLocation={tmp}\n"
        "NodeName=compute-node-1 CPUs=4 Sockets=2 CoresPerSocket=2 Gres=gpu:tesla:2\n"
        "NodeName=compute-node-2 CPUs=4 Sockets=2 CoresPerSocket=2 Gres=gpu:a100:2,shard:4\n"
        "PartitionName=debug Nodes=ALL Default=YES\n"
    )
    return Cluster(config, None, lambda: NOW)


class Port:
    """What merge and the adopt step use of the controller."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.config = cluster.config


class Mirror:
    highest_job_id = 0


def adopt(cluster: Cluster) -> tuple[int, int]:
    async def own() -> None:
        return None

    takeover = Takeover(Port(cluster), None, Mirror(), own)  # type: ignore[arg-type]
    return takeover._adopt()


@pytest.fixture(params=list(RELEASES))
def release(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the saved state ------------------------------------------------------------------------------------


def test_saved_state_gives_each_running_job_its_devices(release: str, tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    saved = read_job_state(GOLDEN / release / "state" / "job_state")
    saved_state.merge(Port(cluster), saved)  # type: ignore[arg-type]
    running = {j.job_id: j for j in cluster.jobs.values() if j.is_running()}
    assert sorted(running) == [2, 3]
    assert running[2].gres_alloc == (TESLA0,)
    assert running[3].gres_alloc == (TESLA1,)
    # the ended jobs hold nothing (slurmctld shows no GRES detail for them either)
    assert all(not j.gres_alloc for j in cluster.jobs.values() if not j.is_running())
    # the allocation is persisted with the job
    assert Job.from_dict(running[3].to_dict()).gres_alloc == (TESLA1,)


def test_adopted_jobs_hold_their_devices_until_they_end(release: str, tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    saved_state.merge(Port(cluster), read_job_state(GOLDEN / release / "state" / "job_state"))  # type: ignore[arg-type]
    # what the mirror last took from slurmctld's GresUsed: gone at the takeover, the jobs claim afresh
    a100 = cluster.nodes["compute-node-2"].gres_inv["gpu"]
    a100.alloc, a100.type_alloc, a100.bit_alloc = 2, {"a100": 2}, {0: 1, 1: 1}
    adopted, _pending = adopt(cluster)
    assert adopted == 2
    tesla = cluster.nodes["compute-node-1"].gres_inv["gpu"]
    assert (tesla.alloc, tesla.type_alloc, tesla.bit_alloc) == (2, {"tesla": 2}, {0: 1, 1: 1})
    assert (a100.alloc, a100.type_alloc, a100.bit_alloc) == (0, {}, {})
    tesla.topo = (gres.GresTopo("tesla", 1, (0,)), gres.GresTopo("tesla", 1, (1,)))  # as slurmd registers
    tesla.bit_count = 2
    assert gres.pick(tesla, "tesla", 1) is None  # a new job waits: both devices are the adopted jobs'
    assert gres.pick(tesla, None, 1) is None
    cluster.release(cluster.jobs[2])  # job 2 ends: its device, and only it, is free again
    assert gres.pick(tesla, "tesla", 1) == GresUse("gpu", "tesla", 1, (0,))
    assert gres.pick(tesla, "tesla", 2) is None


def test_a_job_the_mirror_saw_takes_its_devices_from_the_saved_state(tmp_path: Path) -> None:
    """The mirror's job (same state) is kept; its GRES are the saved state's, exactly."""
    cluster = make_cluster(tmp_path)
    saved = read_job_state(GOLDEN / "22.05" / "state" / "job_state")
    saved_state.merge(Port(cluster), saved)  # type: ignore[arg-type]
    mirrored = cluster.jobs[3]
    mirrored.gres_alloc = ()  # as a wire record without details would have left it
    saved_state.merge(Port(cluster), saved)  # type: ignore[arg-type]
    assert cluster.jobs[3] is mirrored and cluster.jobs[3].gres_alloc == (TESLA1,)


def test_records_of_unknown_plugins_and_no_consume_counts_are_left_out() -> None:
    names = gres_import.known_names([], "gpu")
    states = (
        GresJobState(plugin_id=gres.plugin_id("fpga"), node_cnt=1, gres_cnt_node_alloc=(1,)),
        GresJobState(
            plugin_id=gres.plugin_id("bandwidth"),
            node_cnt=1,
            gres_cnt_node_alloc=(NO_CONSUME_VAL64,),
        ),
        GresJobState(
            plugin_id=GPU,
            type_name="k80",
            node_cnt=2,
            gres_cnt_node_alloc=(0, 2),
            gres_bit_alloc=(None, Bitmap(4, 0b1010)),
        ),
    )
    names[gres.plugin_id("bandwidth")] = "bandwidth"
    assert gres_import.uses_from_job_states(states, 2, names) == ((), (GresUse("gpu", "k80", 2, (1, 3)),))
    assert gres_import.uses_from_job_states(states[:2], 1, names) == ()


def test_a_step_keeps_its_devices_on_its_nodes() -> None:
    """A step's records span the job's nodes (node_in_use marks the step's); 22.05 packs no type."""
    names = gres_import.known_names([], "gpu,mps")
    job_nodes = ("n1", "n2", "n3")
    job_alloc = ((GresUse("gpu", "tesla", 2, (0, 1)),), (), (GresUse("gpu", "k80", 1, (1,)),))
    step = GresStepState(
        plugin_id=GPU,
        node_cnt=3,
        node_in_use=Bitmap(3, 0b101),
        gres_cnt_node_alloc=(1, 0, 1),
        gres_bit_alloc=(Bitmap(2, 0b10), None, Bitmap(2, 0b10)),
    )
    uses = gres_import.uses_from_step_states((step,), job_nodes, ("n1", "n3"), job_alloc, names)
    assert uses == ((GresUse("gpu", "tesla", 1, (1,)),), (GresUse("gpu", "k80", 1, (1,)),))
    # a step on n2 alone holds nothing there; 24.11 names the type itself
    assert gres_import.uses_from_step_states((step,), job_nodes, ("n2",), job_alloc, names) == ()
    typed = GresStepState(
        plugin_id=GPU,
        node_cnt=1,
        node_in_use=Bitmap(1, 1),
        gres_cnt_node_alloc=(1,),
        gres_bit_alloc=(Bitmap(2, 1),),
        type_name="a100",
    )
    assert gres_import.uses_from_step_states((typed,), ("n1",), ("n1",), ((),), names) == (
        (GresUse("gpu", "a100", 1, (0,)),),
    )


# -- the wire ---------------------------------------------------------------------------------------------


def _replies(release: str) -> Iterator[tuple[int, Any]]:
    for path in sorted((GOLDEN / release).glob("ctld-*-s2c.bin")):
        dec = FrameDecoder()
        dec.feed(path.read_bytes())
        while (f := dec.next_frame()) is not None:
            yield f.version, f


def job_records(release: str) -> dict[int, tuple[JobRecord, int]]:
    """The last record of each job the captured clients were sent (with SHOW_DETAIL: scontrol show job -d)."""
    out: dict[int, tuple[JobRecord, int]] = {}
    for version, f in _replies(release):
        if f.msg_type == MsgType.RESPONSE_JOB_INFO:
            for _job_id, raw in split_job_info(f.body, version)[2]:
                rec = decode_job_record(raw, version)
                out[rec.job_id] = (rec, version)
    return out


def node_records(release: str) -> list[tuple[NodeRecord, int]]:
    out = []
    for version, f in _replies(release):
        if f.msg_type == MsgType.RESPONSE_NODE_INFO:
            body = decode_body(f.msg_type, f.body, version)
            assert isinstance(body, NodeInfoResponse)
            out += [(n, version) for n in body.nodes]
    return out


def test_shadow_takes_a_running_jobs_devices_from_its_record(release: str, tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    records = job_records(release)
    rec, version = records[3]
    assert rec.job_state == JobState.RUNNING and rec.gres_detail_str == ("gpu:tesla:1(IDX:1)",)
    assert job_from_record(rec, cluster, version).gres_alloc == (TESLA1,)
    rec, version = records[2]
    assert job_from_record(rec, cluster, version).gres_alloc == (TESLA0,)
    # an ended job: no detail, nothing held
    rec, version = records[4]
    assert rec.job_state & 0xFF == JobState.COMPLETE
    assert job_from_record(rec, cluster, version).gres_alloc == ()


def test_shadow_takes_a_nodes_gres_used_as_its_allocation(release: str, tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    node = cluster.nodes["compute-node-1"]
    busy = [
        r
        for r, _ in node_records(release)
        if r.name == node.name and r.gres_used and "(IDX:0-1)" in r.gres_used
    ]
    assert busy, "the captures hold compute-node-1 with both GPUs in use"
    apply_node_record(node, busy[0])
    g = node.gres_inv["gpu"]
    assert (g.alloc, g.type_alloc, g.bit_alloc) == (2, {"tesla": 2}, {0: 1, 1: 1})
    idle = [
        r
        for r, _ in node_records(release)
        if r.name == node.name and r.gres_used and "IDX:N/A" in r.gres_used
    ]
    assert idle
    apply_node_record(node, idle[0])
    assert (g.alloc, g.type_alloc, g.bit_alloc) == (0, {}, {})


# -- the text forms ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "uses"),
    [
        ("gpu:tesla:1(IDX:0)", (GresUse("gpu", "tesla", 1, (0,)),)),
        ("gpu:2(IDX:0-1)", (GresUse("gpu", None, 2, (0, 1)),)),
        (
            "gpu:tesla:3(IDX:0,2-3),mps:50(IDX:1)",
            (GresUse("gpu", "tesla", 3, (0, 2, 3)), GresUse("mps", None, 50, (1,))),
        ),
        ("gpu:k80(CNT:1)", (GresUse("gpu", "k80", 1),)),
        ("gpu:k80(CNT:0)", ()),
        ("shard:2(2/2,0/2)", (GresUse("shard", None, 2, (0,)),)),  # 24.11: held/available per device
        ("shard:a100:3(1/2,2/2)", (GresUse("shard", "a100", 3, (0, 1)),)),
        ("gpu:tesla:0(IDX:)", ()),
        ("", ()),
        ("gpu:tesla:1(IDX:x),gpu:1(IDX:99999),nonsense,gpu:1(IDX:1)", (GresUse("gpu", None, 1, (1,)),)),
    ],
)
def test_gres_detail_forms(text: str, uses: tuple[GresUse, ...]) -> None:
    assert gres_import.parse_detail(text) == uses


def test_details_per_node_and_count_only_gres_from_the_request() -> None:
    details = ("gpu:tesla:1(IDX:1)", "gpu:k80:2(IDX:0-1)")
    nic = GresRequest("nic", None, per_node=1)
    assert gres_import.uses_from_details(details, ("n1", "n2"), (nic,)) == (
        (GresUse("gpu", "tesla", 1, (1,)), GresUse("nic", None, 1)),
        (GresUse("gpu", "k80", 2, (0, 1)), GresUse("nic", None, 1)),
    )
    assert gres_import.uses_from_details((), ("n1",)) == ()
    # more strings than nodes: only the job's nodes count
    assert gres_import.uses_from_details(("gpu:1(IDX:0)", "gpu:1(IDX:1)"), ("n1",)) == (
        (GresUse("gpu", None, 1, (0,)),),
    )


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("gpu:tesla:2(IDX:0-1),shard:0", {"gpu": (2, {"tesla": 2}, {0, 1}), "shard": (0, {}, set())}),
        ("gpu:a100:0(IDX:N/A),shard:a100:0(IDX:N/A)", {"gpu": (0, {}, set()), "shard": (0, {}, set())}),
        ("gpu:(null):1(IDX:1)", {"gpu": (1, {}, {1})}),  # untyped devices (22.05 prints the NULL type)
        ("gpu:tesla:1(IDX:0),gpu:k80:2(IDX:2-3)", {"gpu": (3, {"tesla": 1, "k80": 2}, {0, 2, 3})}),
        (
            "gpu:a100:1(IDX:1),shard:a100:2(0/2,2/2)",
            {"gpu": (1, {"a100": 1}, {1}), "shard": (2, {"a100": 2}, {1})},
        ),
        ("gpu:4,bandwidth:0", {"gpu": (4, {}, set()), "bandwidth": (0, {}, set())}),
    ],
)
def test_gres_used_forms(text: str, expect: dict[str, tuple[int, dict[str, int], set[int]]]) -> None:
    got = {n: (u.alloc, u.type_alloc, u.bits) for n, u in gres_import.parse_node_used(text).items()}
    assert got == expect


def test_items_split_outside_parentheses() -> None:
    assert gres_import.split_items("gpu:2(IDX:0,2),mps:0, nic:1") == ["gpu:2(IDX:0,2)", "mps:0", "nic:1"]
    assert gres_import.parse_index_list("0,2-3") == (0, 2, 3)
    assert gres_import.parse_index_list("3-1") is None
    assert gres_import.parse_index_list(f"0-{gres.MAX_BITS}") is None  # more devices than a node may have


def test_shadow_shows_a_jobs_gres_detail_as_slurmctld_did(tmp_path: Path) -> None:
    """Before slurmd registered with flurm (shadow), flurm cannot place a device in its node's types:
    slurmctld's per-node text is shown, with SHOW_DETAIL only, as slurmctld sends it."""
    from flurm.protocol.constants import ShowFlags
    from flurm.state import records

    cluster = make_cluster(tmp_path)
    rec, version = job_records("22.05")[3]
    job = job_from_record(rec, cluster, version)
    assert records.build_job_record(job, cluster, ShowFlags.DETAIL).gres_detail_str == ("gpu:tesla:1(IDX:1)",)
    assert records.build_job_record(job, cluster, 0).gres_detail_str == ()
    assert Job.from_dict(job.to_dict()).record_overrides == job.record_overrides  # kept in the store


def test_a_running_steps_devices_from_the_saved_state(release: str, tmp_path: Path) -> None:
    """Job 3's srun step 0 ran on tesla 1 when slurmctld saved it (22.05 names no type in a step's record:
    the job's use of that device gives it)."""
    cluster = make_cluster(tmp_path)
    saved = {j.job_id: j for j in read_job_state(GOLDEN / release / "state" / "job_state").jobs}[3]
    (step,) = [s for s in saved.steps if s.step_id == 0]
    assert step.layout is not None and step.layout.node_list == "compute-node-1"
    job = saved_state.job_from_saved(saved, cluster)
    names = saved_state.gres_names(cluster)
    uses = gres_import.uses_from_step_states(
        step.gres_list_alloc, job.nodes, ("compute-node-1",), job.gres_alloc, names
    )
    assert uses == (TESLA1,)


def test_without_the_saved_state_the_mirrors_allocation_is_adopted(release: str, tmp_path: Path) -> None:
    """If slurmctld's job_state cannot be read at the takeover, the devices the records showed are held."""
    cluster = make_cluster(tmp_path)
    for job_id in (2, 3):
        rec, version = job_records(release)[job_id]
        job = job_from_record(rec, cluster, version)
        job.state = JobState.RUNNING  # (the captures saw it running then)
        cluster.jobs[job_id] = job
    assert adopt(cluster) == (2, 0)
    g = cluster.nodes["compute-node-1"].gres_inv["gpu"]
    assert (g.alloc, g.type_alloc, g.bit_alloc) == (2, {"tesla": 2}, {0: 1, 1: 1})

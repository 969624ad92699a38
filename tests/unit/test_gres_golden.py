"""Real GRES traffic of SLURM 22.05, 24.11 and 26.05 (tests/golden/gres/RELEASE, made by capture.py there):
every frame decodes and re-encodes byte for byte; every GRES record and GRES-bearing body refuses each of its
truncations; and what slurmctld put in them is what docs and the binding rely on (the job credential's GRES
lists, the prolog/epilog GRES info, slurmd's registration blob, the clients' TRES strings, the saved state).

The cluster of the captures: compute-node-1 Gres=gpu:tesla:2, compute-node-2 Gres=gpu:a100:2,shard:4 (each
2 sockets x 2 cores). Job ids: 1 -N2 --gres=gpu:1 with srun -N2; 2 --gres=gpu:tesla:1 (index 0); 3 the same
(index 1); 4 --gpus=2 --cpus-per-gpu=1 --mem-per-gpu=100 with srun steps; 5 --gpus-per-node=a100:1; 6 -n2
--gpus-per-task=1; 7 --gres=shard:2; 8 --gpus-per-socket=1; 9 salloc --gres=gpu:1; 10 srun --gpus=1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flurm.migration.statefile import read_job_state
from flurm.protocol.constants import (
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import (
    GRES_MAGIC,
    GresEpilogInfo,
    GresJobState,
    GresNodeState,
    GresStepState,
    GresTopo,
    pack_gres_node_states,
    unpack_gres_node_states,
)
from flurm.protocol.messages.slurmd import GresNodeConfig, parse_gres_info
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "gres"
VERSIONS = {
    "22.05": SLURM_22_05_PROTOCOL_VERSION,
    "24.11": SLURM_24_11_PROTOCOL_VERSION,
    "26.05": SLURM_26_05_PROTOCOL_VERSION,
}
GPU, SHARD = 7696487, 1918986455
GresRecord = GresJobState | GresStepState | GresEpilogInfo


def gres_build_id(name: str) -> int:
    """SLURM's plugin id of a GRES name: its bytes shifted by 0, 8, 16, 24, 0... bits and summed."""
    return sum(ord(c) << (8 * (i % 4)) for i, c in enumerate(name)) & 0xFFFFFFFF


def _frames(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


def _messages(release: str, variant: str = "") -> Iterator[tuple[str, Frame, Any]]:
    """Every frame of a release's capture (variant "mixed": the capture of the mixed-type cluster)."""
    for path in sorted((GOLDEN / release / variant).glob("*.bin")):
        for f in _frames(path):
            yield path.name, f, decode_body(f.msg_type, f.body, f.version)


def _of_type(release: str, msg_type: MsgType, variant: str = "") -> list[Any]:
    return [body for _, f, body in _messages(release, variant) if f.msg_type == msg_type]


def _gres_records(obj: object) -> Iterator[GresRecord]:
    if isinstance(obj, GresJobState | GresStepState | GresEpilogInfo):
        yield obj
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for field in dataclasses.fields(obj):
            yield from _gres_records(getattr(obj, field.name))
    elif isinstance(obj, tuple | list):
        for item in obj:
            yield from _gres_records(item)


def _job_gres(body: Any) -> tuple[GresJobState, ...]:
    return tuple(body.credential.job_gres)


def _bits(*set_bits: int, size: int = 2) -> Bitmap:
    return Bitmap(size=size, value=sum(1 << b for b in set_bits))


def _alloc(
    type_name: str | None,
    cnt: tuple[int, ...],
    bits: tuple[Bitmap | None, ...],
    plugin_id: int = GPU,
    gres_per_node: int = 0,
    gres_per_bit_alloc: tuple[tuple[int, ...] | None, ...] | None = None,
) -> GresJobState:
    """A record of slurmctld's gres_list_alloc as the credential carries it: request fields 0."""
    return GresJobState(
        plugin_id=plugin_id,
        gres_per_node=gres_per_node,
        total_gres=sum(cnt),
        type_name=type_name,
        node_cnt=len(cnt),
        gres_cnt_node_alloc=cnt,
        gres_bit_alloc=bits,
        gres_per_bit_alloc=gres_per_bit_alloc,
    )


# -- byte for byte -------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["mixed", "shared"])
@pytest.mark.parametrize("release", list(VERSIONS))
def test_every_golden_frame_of_the_variants_round_trips(release: str, variant: str) -> None:
    frames = list(_messages(release, variant))
    assert len(frames) > 50
    for name, f, body in frames:
        assert f.version == VERSIONS[release], name
        assert encode_body(body, f.version) == f.body, name


@pytest.mark.parametrize("release", list(VERSIONS))
def test_every_golden_frame_round_trips(release: str) -> None:
    seen = set()
    for name, f, body in _messages(release):
        assert f.version == VERSIONS[release], name
        assert encode_body(body, f.version) == f.body, name
        seen.add(f.msg_type)
    assert {
        MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
        MsgType.REQUEST_BATCH_JOB_LAUNCH,
        MsgType.REQUEST_LAUNCH_PROLOG,
        MsgType.REQUEST_TERMINATE_JOB,
        MsgType.REQUEST_SUBMIT_BATCH_JOB,
        MsgType.REQUEST_RESOURCE_ALLOCATION,
        MsgType.REQUEST_JOB_STEP_CREATE,
        MsgType.RESPONSE_JOB_STEP_CREATE,
        MsgType.RESPONSE_JOB_INFO,
        MsgType.RESPONSE_NODE_INFO,
        MsgType.RESPONSE_JOB_STEP_INFO,
    } <= seen


@pytest.mark.parametrize("release", list(VERSIONS))
def test_every_gres_record_round_trips_and_refuses_truncation(release: str) -> None:
    version = VERSIONS[release]
    records: dict[bytes, GresRecord] = {}
    for _, _, body in [*_messages(release), *_messages(release, "mixed"), *_messages(release, "shared")]:
        for rec in _gres_records(body):
            w = Writer()
            rec.pack(w, version)
            records.setdefault(w.getvalue(), rec)
    kinds = {type(rec) for rec in records.values()}
    assert kinds == {GresJobState, GresStepState, GresEpilogInfo}
    for data, rec in records.items():
        r = Reader(data)
        assert type(rec).unpack(r, version) == rec
        assert r.remaining == 0
        for cut in range(len(data)):
            with pytest.raises(DecodeError):
                type(rec).unpack(Reader(data[:cut]), version)


GRES_BODIES = (
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_BATCH_JOB_LAUNCH,
    MsgType.REQUEST_LAUNCH_PROLOG,
    MsgType.REQUEST_TERMINATE_JOB,
    MsgType.RESPONSE_JOB_STEP_CREATE,
    MsgType.REQUEST_JOB_STEP_CREATE,
    MsgType.REQUEST_SUBMIT_BATCH_JOB,
)


@pytest.mark.parametrize("release", list(VERSIONS))
@pytest.mark.parametrize("msg_type", GRES_BODIES, ids=lambda t: t.name)
def test_gres_bodies_refuse_every_truncation(release: str, msg_type: MsgType) -> None:
    # of each capture, the biggest body of the kind (the two-node job's, or the one with most GRES)
    tested = 0
    for variant in ("", "mixed", "shared"):
        frames = [f for _, f, _ in _messages(release, variant) if f.msg_type == msg_type]
        if not frames:
            continue
        f = max(frames, key=lambda f: len(f.body))
        for cut in range(len(f.body)):
            with pytest.raises(DecodeError):
                decode_body(f.msg_type, f.body[:cut], f.version)
        tested += 1
    assert tested >= 2


@pytest.mark.parametrize("release", list(VERSIONS))
def test_registration_blob_refuses_every_truncation(release: str) -> None:
    blobs = {b.gres_info for b in _of_type(release, MsgType.MESSAGE_NODE_REGISTRATION_STATUS)}
    assert len(blobs) == 2
    for blob in blobs:
        assert blob is not None
        for cut in range(len(blob)):
            with pytest.raises(DecodeError):
                parse_gres_info(blob[:cut])
        with pytest.raises(DecodeError):
            parse_gres_info(blob + b"\0")


# -- what slurmctld and slurmd put in them ----------------------------------------------------------


def test_plugin_ids() -> None:
    assert gres_build_id("gpu") == GPU
    assert gres_build_id("shard") == SHARD


@pytest.mark.parametrize("release", list(VERSIONS))
def test_registration_blob(release: str) -> None:
    by_node = {}
    for body in _of_type(release, MsgType.MESSAGE_NODE_REGISTRATION_STATUS):
        blob_version, records = parse_gres_info(body.gres_info)
        assert blob_version == VERSIONS[release]
        by_node[body.node_name] = records
    # 0x9e6: HAS_FILE|HAS_TYPE|ENV_NVML|ENV_RSMI|ENV_OPENCL|ENV_DEF|ENV_ONEAPI; shard adds SHARED (0x200)
    tesla = GresNodeConfig(GPU, 1, 4, 0x9E6, None, None, "gpu", "tesla", None)
    assert by_node["compute-node-1"] == (tesla, tesla)
    # one record per device file; each GPU's shards follow its Cores= and type, split evenly, listed first
    assert by_node["compute-node-2"] == (
        GresNodeConfig(SHARD, 2, 4, 0xBE6, "0-1", None, "shard", "a100", None),
        GresNodeConfig(GPU, 1, 4, 0x9E6, "0-1", "-1,0", "gpu", "a100", None),
        GresNodeConfig(SHARD, 2, 4, 0xBE6, "2-3", None, "shard", "a100", None),
        GresNodeConfig(GPU, 1, 4, 0x9E6, "2-3", "0,-1", "gpu", "a100", None),
    )


def _launch(release: str, job_id: int) -> Any:
    (body,) = [b for b in _of_type(release, MsgType.REQUEST_BATCH_JOB_LAUNCH) if b.job_id == job_id]
    return body


@pytest.mark.parametrize("release", list(VERSIONS))
def test_credential_of_one_tesla_at_index_1(release: str) -> None:
    launch = _launch(release, 3)
    assert _job_gres(launch) == (_alloc("tesla", (1,), (_bits(1),)),)
    assert launch.credential.step_gres == ()
    # the prolog and the end of the job carry the same list, and the epilog info (no counts for gpu)
    for msg_type in (MsgType.REQUEST_LAUNCH_PROLOG, MsgType.REQUEST_TERMINATE_JOB):
        (body,) = [b for b in _of_type(release, msg_type) if b.credential.step_id.job_id == 3]
        assert _job_gres(body) == _job_gres(launch)
        assert body.job_gres_info == (GresEpilogInfo(GPU, 1, None, (_bits(1),)),)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_credential_of_untyped_request_over_two_types(release: str) -> None:
    tesla = _alloc("tesla", (1, 0), (_bits(0), None))
    a100 = _alloc("a100", (0, 1), (None, _bits(0)))
    assert _job_gres(_launch(release, 1)) == (tesla, a100)
    (step,) = [
        b for b in _of_type(release, MsgType.RESPONSE_JOB_STEP_CREATE) if b.credential.step_id.job_id == 1
    ]
    assert _job_gres(step) == (tesla, a100)
    newer = release != "22.05"
    assert step.credential.step_gres == (
        GresStepState(GPU, total_gres=1, node_cnt=2, node_in_use=_bits(0), gres_cnt_node_alloc=(1, 0),
                      gres_bit_alloc=(_bits(0), None), type_name="tesla" if newer else None),
        GresStepState(GPU, total_gres=1, node_cnt=2, node_in_use=_bits(1), gres_cnt_node_alloc=(0, 1),
                      gres_bit_alloc=(None, _bits(0)), type_name="a100" if newer else None),
    )  # fmt: skip
    prologs = [
        b for b in _of_type(release, MsgType.REQUEST_LAUNCH_PROLOG) if b.credential.step_id.job_id == 1
    ]
    assert len(prologs) == 2  # one per node, the same
    for prolog in prologs:
        if newer:  # one record per allocation record
            assert prolog.job_gres_info == (
                GresEpilogInfo(GPU, 2, None, (_bits(0), None)),
                GresEpilogInfo(GPU, 2, None, (None, _bits(0))),
            )
        else:  # 22.05 builds it from the request: one record, both nodes
            assert prolog.job_gres_info == (GresEpilogInfo(GPU, 2, None, (_bits(0), _bits(0))),)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_credential_of_shards(release: str) -> None:
    newer = release != "22.05"
    expected = _alloc(
        None,
        (2,),
        (_bits(0),),
        plugin_id=SHARD,
        gres_per_node=0 if newer else 2,
        gres_per_bit_alloc=((2, 0),) if newer else None,
    )
    assert _job_gres(_launch(release, 7)) == (expected,)
    (prolog,) = [
        b for b in _of_type(release, MsgType.REQUEST_LAUNCH_PROLOG) if b.credential.step_id.job_id == 7
    ]
    assert prolog.job_gres_info == (GresEpilogInfo(SHARD, 1, (2,), (_bits(0),)),)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_step_of_one_gpu_in_a_two_gpu_job(release: str) -> None:
    steps = [
        b for b in _of_type(release, MsgType.RESPONSE_JOB_STEP_CREATE) if b.credential.step_id.job_id == 4
    ]
    assert len(steps) == 2  # srun --gpus=1 twice (--gres=gpu:a100:1 is refused by srun itself)
    for step in steps:
        assert _job_gres(step) == (_alloc("a100", (2,), (_bits(0, 1),)),)
        assert step.credential.step_gres == (
            GresStepState(
                GPU,
                total_gres=1,
                node_cnt=1,
                node_in_use=_bits(0, size=1),
                gres_cnt_node_alloc=(1,),
                gres_bit_alloc=(_bits(0),),
                type_name=None if release == "22.05" else "a100",
            ),
        )


TRES_STRINGS = {
    # job name: (field, 22.05's string); 24.11 and 26.05 write "gres/" for "gres:" (and tres_per_task "=")
    "two": ("tres_per_node", "gres:gpu:1"),
    "idx1": ("tres_per_node", "gres:gpu:tesla:1"),
    "steps": ("tres_per_job", "gres:gpu:2"),
    "gpn": ("tres_per_node", "gres:gpu:a100:1"),
    "gpt": ("tres_per_task", "gres:gpu:1"),
    "shard": ("tres_per_node", "gres:shard:2"),
    "gps": ("tres_per_socket", "gres:gpu:1"),
    "bind": (
        "tres_per_node",
        "gres:gpu:1",
    ),  # with --gres-flags=enforce-binding --gpu-bind=closest --gpu-freq=low
    "wrap": ("tres_per_node", "gres:gpu:k80:1"),  # refused: Requested node configuration is not available
}


def _by_conn(release: str, msg_type: MsgType) -> list[Any]:
    """The bodies of a kind in the order the capture made them (its connection numbers)."""
    found = []
    for path in (GOLDEN / release).glob("ctld-conn*-c2s.bin"):
        for f in _frames(path):
            if f.msg_type == msg_type:
                conn = int(path.name.removeprefix("ctld-conn").split("-")[0])
                found.append((conn, decode_body(f.msg_type, f.body, f.version)))
    return [body for _, body in sorted(found, key=lambda item: item[0])]


@pytest.mark.parametrize("release", list(VERSIONS))
def test_tres_strings_clients_send(release: str) -> None:
    def newer(s: str) -> str:
        return s if release == "22.05" else s.replace("gres:", "gres/")

    submits = {b.name: b for b in _by_conn(release, MsgType.REQUEST_SUBMIT_BATCH_JOB)}
    assert len(submits) == 10  # "hold" and the nine of TRES_STRINGS
    for name, (field, text) in TRES_STRINGS.items():
        expected = newer(text)
        if field == "tres_per_task" and release != "22.05":
            expected = "gres/gpu=1"
        assert getattr(submits[name], field) == expected, (name, field)
    gpus = submits["steps"]
    assert (gpus.cpus_per_tres, gpus.mem_per_tres) == (newer("gres:gpu:1"), newer("gres:gpu:100"))
    assert submits["gpt"].tres_bind == (None if release == "22.05" else "gres/gpu:per_task:1")
    bind = submits["bind"]
    assert (bind.tres_bind, bind.tres_freq) == (
        "gpu:closest" if release == "22.05" else "gres/gpu:closest",
        "gpu:low",
    )
    salloc, srun = _by_conn(release, MsgType.REQUEST_RESOURCE_ALLOCATION)
    assert salloc.tres_per_node == newer("gres:gpu:1")
    assert srun.tres_per_job == newer("gres:gpu:1")
    step_creates = _by_conn(release, MsgType.REQUEST_JOB_STEP_CREATE)
    assert [s.tres_per_step for s in step_creates] == [
        "cpu:2",  # srun -N2 -n2 without GRES options in job 1
        "cpu:1",  # srun --gres=gpu:tesla:1 in job 3: the GRES go to tres_per_node
        newer("cpu:1,gres:gpu:1"),
        newer("cpu:1,gres:gpu:1"),
        "cpu:2",  # srun in the --gpus-per-task job
        newer("cpu:1,gres:gpu:1"),  # srun --gpus=1 (its own allocation)
    ]
    assert step_creates[1].tres_per_node == newer("gres:gpu:tesla:1")
    step_with_per_task = step_creates[4]
    assert step_with_per_task.tres_per_task == newer("gres:gpu:1").replace("gres/gpu:", "gres/gpu=")
    assert step_with_per_task.tres_bind == ("gpu:per_task:1" if release == "22.05" else "gres/gpu:per_task:1")
    assert (step_creates[2].cpus_per_tres, step_creates[2].mem_per_tres) == (
        newer("gres:gpu:1"),
        newer("gres:gpu:100"),
    )


@pytest.mark.parametrize("release", list(VERSIONS))
def test_job_info_gres_detail(release: str) -> None:
    details = {}
    for body in _of_type(release, MsgType.RESPONSE_JOB_INFO):
        for job in body.records:
            if job.gres_detail_str:
                details[job.job_id] = job.gres_detail_str
    assert details[2] == ("gpu:tesla:1(IDX:0)",)
    assert details[3] == ("gpu:tesla:1(IDX:1)",)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_node_info_gres_strings(release: str) -> None:
    seen = set()
    for body in _of_type(release, MsgType.RESPONSE_NODE_INFO):
        for node in body.nodes:
            seen.add((node.name, node.gres, node.gres_used))
    shard_idle = "shard:a100:0(IDX:N/A)" if release == "22.05" else "shard:a100:0(0/2,0/2)"
    assert (
        "compute-node-2",
        "gpu:a100:2(S:0-1),shard:a100:4(S:0-1)",
        f"gpu:a100:0(IDX:N/A),{shard_idle}",
    ) in seen
    tesla_idle = "gpu:tesla:0(IDX:N/A),shard:0" if release == "22.05" else "gpu:tesla:0(IDX:N/A)"
    assert ("compute-node-1", "gpu:tesla:2", tesla_idle) in seen
    tesla_busy = "gpu:tesla:2(IDX:0-1),shard:0" if release == "22.05" else "gpu:tesla:2(IDX:0-1)"
    assert ("compute-node-1", "gpu:tesla:2", tesla_busy) in seen


@pytest.mark.parametrize("release", list(VERSIONS))
def test_saved_job_state_gres(release: str) -> None:
    state = read_job_state(GOLDEN / release / "state" / "job_state")
    jobs = {j.job_id: j for j in state.jobs}
    running = jobs[3]
    assert running.gres_used == "gpu:tesla:1"
    (req,) = running.gres_list_req
    assert (req.type_name, req.gres_per_node, req.total_gres, req.ntasks_per_gres) == ("tesla", 1, 1, 0xFFFE)
    (alloc,) = running.gres_list_alloc
    assert (alloc.type_name, alloc.node_cnt, alloc.gres_cnt_node_alloc) == ("tesla", 1, (1,))
    assert alloc.gres_bit_alloc == (_bits(1),)
    # its srun step holds the device: the job's step fields say so
    assert alloc.gres_bit_step_alloc == (_bits(1),) and alloc.gres_cnt_step_alloc == (1,)
    (holder,) = jobs[2].gres_list_alloc  # no step of its own
    assert holder.gres_bit_step_alloc == (None,) and holder.gres_cnt_step_alloc == (0,)
    two = jobs[1]
    assert [(g.type_name, g.gres_bit_alloc) for g in two.gres_list_alloc] == [
        ("tesla", (_bits(0), None)),
        ("a100", (None, _bits(0))),
    ]


@pytest.mark.parametrize("cls", [GresJobState, GresStepState, GresEpilogInfo])
@pytest.mark.parametrize("release", list(VERSIONS))
def test_counts_must_match_the_node_count(cls: type[GresRecord], release: str) -> None:
    """gres_cnt_node_alloc holds one count per node: slurmd indexes it by the node's place in the job."""
    version = VERSIONS[release]
    rec = cls(GPU, node_cnt=2, gres_cnt_node_alloc=(1, 0), gres_bit_alloc=(_bits(0), None))
    w = Writer()
    rec.pack(w, version)
    good = w.getvalue()
    assert cls.unpack(Reader(good), version) == rec
    with pytest.raises(EncodeError):
        dataclasses.replace(rec, gres_cnt_node_alloc=(1,)).pack(Writer(), version)
    # the same bytes with a one-value array: the node count (u32 before the u8 "follows") says 2
    at = good.index(bytes([1]) + (2).to_bytes(4, "big") + (1).to_bytes(8, "big"))
    bad = good[:at] + bytes([1]) + (1).to_bytes(4, "big") + (1).to_bytes(8, "big") + good[at + 21 :]
    with pytest.raises(DecodeError, match="gres_cnt_node_alloc"):
        cls.unpack(Reader(bad), version)


def _node_state_gres(release: str, variant: str = "") -> list[tuple[bytes, tuple[GresNodeState, ...]]]:
    """Each node's GRES list in the saved node_state (found by its first record's magic); what follows
    it in the file is the node's u32 weight (1), which checks where the list ends."""
    data = (GOLDEN / release / variant / "state" / "node_state").read_bytes()
    magic = GRES_MAGIC.to_bytes(4, "big")
    out = []
    at = data.find(magic)
    while at >= 0:
        r = Reader(data[at - 2 :])
        states = unpack_gres_node_states(r, VERSIONS[release])
        end = len(data) - r.remaining
        assert r.u32() == 1  # weight
        out.append((data[at - 2 : end], states))
        at = data.find(magic, end)
    return out


@pytest.mark.parametrize("release", list(VERSIONS))
def test_saved_node_state_gres(release: str) -> None:
    version = VERSIONS[release]
    lists = _node_state_gres(release)
    assert len(lists) == 2
    for data, states in [*lists, *_node_state_gres(release, "mixed"), *_node_state_gres(release, "shared")]:
        w = Writer()
        pack_gres_node_states(w, states, version)
        assert w.getvalue() == data
        for cut in range(len(data)):
            with pytest.raises(DecodeError):
                unpack_gres_node_states(Reader(data[:cut]), version)
    (_, node1), (_, node2) = lists
    # saved while jobs 2 and 3 held both teslas; GresTypes=gpu,shard gives node 1 an empty shard record
    assert [(s.plugin_id, s.gres_cnt_avail, s.bitmap_size) for s in node1] == [(GPU, 2, 2), (SHARD, 0, 0)]
    assert [(s.plugin_id, s.gres_cnt_avail, s.bitmap_size) for s in node2] == [(GPU, 2, 2), (SHARD, 4, 2)]
    if release == "22.05":
        assert all(s.topo == () and s.config_flags == 0 for s in node1 + node2)
        return
    assert node1[0].config_flags == 0x9E6 and node2[1].config_flags == 0xBE6
    assert node1[0].topo == tuple(
        GresTopo(None, _bits(i), None, 1, 1, gres_build_id("tesla"), "tesla") for i in (0, 1)
    )
    a100 = gres_build_id("a100")
    assert node2[1].topo == (
        GresTopo(_bits(0, 1, size=4), _bits(0), None, 0, 2, a100, "a100"),
        GresTopo(_bits(2, 3, size=4), _bits(1), None, 0, 2, a100, "a100"),
    )


@pytest.mark.parametrize("release", list(VERSIONS))
def test_saved_step_gres(release: str) -> None:
    """Job 3 was saved with its batch step (no GRES) and step 0, srun --gres=gpu:tesla:1 on device 1."""
    state = read_job_state(GOLDEN / release / "state" / "job_state")
    steps = {s.step_id: s for s in {j.job_id: j for j in state.jobs}[3].steps}
    assert set(steps) == {0, SLURM_BATCH_SCRIPT}
    assert steps[SLURM_BATCH_SCRIPT].gres_list_req == steps[SLURM_BATCH_SCRIPT].gres_list_alloc == ()
    typed = None if release == "22.05" else "tesla"
    assert steps[0].gres_list_req == (
        GresStepState(GPU, gres_per_node=1, total_gres=1, node_cnt=1, type_name=typed),
    )
    assert steps[0].gres_list_alloc == (
        GresStepState(
            GPU,
            total_gres=1,
            node_cnt=1,
            node_in_use=_bits(0, size=1),
            gres_cnt_node_alloc=(1,),
            gres_bit_alloc=(_bits(1),),
            type_name=typed,
        ),
    )


# -- the mixed capture: compute-node-1 Gres=gpu:tesla:1,gpu:k80:1 (nvidia0 tesla, nvidia1 k80), compute-node-2
# Gres=gpu:2 untyped. Jobs: 1 -w node1 --gres=gpu:1; 2 -w node1 --gres=gpu:k80:1 with an srun step; 3 -w node2
# --gres=gpu:2 with srun -n1 --gres=gpu:1; 4 -N2 --gpus-per-node=1 (pending until 1 and 2 are cancelled).


def _mixed_launch(release: str, job_id: int) -> Any:
    (body,) = [b for b in _of_type(release, MsgType.REQUEST_BATCH_JOB_LAUNCH, "mixed") if b.job_id == job_id]
    return body


@pytest.mark.parametrize("release", list(VERSIONS))
def test_mixed_node_credentials(release: str) -> None:
    empty = _bits()  # a zero-count type of a node the job uses: an EMPTY bitmap, not NULL
    # untyped --gres=gpu:1 on the tesla+k80 node: one record per type of the node, in the node's order
    one = (_alloc("tesla", (1,), (_bits(0),)), _alloc("k80", (0,), (empty,)))
    assert _job_gres(_mixed_launch(release, 1)) == one
    # the bits are the node's device indexes across types: the k80 (nvidia1) is bit 1 of 2
    assert _job_gres(_mixed_launch(release, 2)) == (_alloc("k80", (1,), (_bits(1),)),)
    assert _job_gres(_mixed_launch(release, 3)) == (_alloc(None, (2,), (_bits(0, 1),)),)
    four = (
        _alloc("tesla", (1, 0), (_bits(0), None)),
        _alloc("k80", (0, 0), (empty, None)),
        _alloc(None, (0, 1), (None, _bits(0))),
    )
    assert _job_gres(_mixed_launch(release, 4)) == four
    prologs = {
        b.credential.step_id.job_id: b for b in _of_type(release, MsgType.REQUEST_LAUNCH_PROLOG, "mixed")
    }
    if release == "22.05":  # from the request: one record per request
        assert prologs[1].job_gres_info == (GresEpilogInfo(GPU, 1, None, (_bits(0),)),)
        assert prologs[4].job_gres_info == (GresEpilogInfo(GPU, 2, None, (_bits(0), _bits(0))),)
    else:  # from the allocation: one record per allocation record, zero ones included
        assert prologs[1].job_gres_info == (
            GresEpilogInfo(GPU, 1, None, (_bits(0),)),
            GresEpilogInfo(GPU, 1, None, (empty,)),
        )
        assert prologs[4].job_gres_info == tuple(
            GresEpilogInfo(GPU, 2, None, rec.gres_bit_alloc) for rec in four
        )
    steps = {
        b.credential.step_id.job_id: b for b in _of_type(release, MsgType.RESPONSE_JOB_STEP_CREATE, "mixed")
    }
    typed = release != "22.05"
    assert steps[2].credential.step_gres == (
        GresStepState(
            GPU,
            total_gres=1,
            node_cnt=1,
            node_in_use=_bits(0, size=1),
            gres_cnt_node_alloc=(1,),
            gres_bit_alloc=(_bits(1),),
            type_name="k80" if typed else None,
        ),
    )
    assert steps[3].credential.step_gres == (
        GresStepState(
            GPU,
            total_gres=1,
            node_cnt=1,
            node_in_use=_bits(0, size=1),
            gres_cnt_node_alloc=(1,),
            gres_bit_alloc=(_bits(0),),
        ),
    )


@pytest.mark.parametrize("release", list(VERSIONS))
def test_mixed_saved_state(release: str) -> None:
    jobs = {j.job_id: j for j in read_job_state(GOLDEN / release / "mixed" / "state" / "job_state").jobs}
    assert [(g.type_name, g.gres_cnt_node_alloc, g.gres_bit_alloc) for g in jobs[1].gres_list_alloc] == [
        ("tesla", (1,), (_bits(0),)),
        ("k80", (0,), (_bits(),)),
    ]
    pending = jobs[4]
    assert pending.gres_list_alloc == ()
    (req,) = pending.gres_list_req
    assert (req.type_name, req.gres_per_node, req.node_cnt, req.gres_bit_alloc) == (None, 1, 0, None)
    lists = [
        unpack_gres_node_states(Reader(data), VERSIONS[release]) for data, _ in _node_state_gres(release)
    ]
    assert lists  # the default capture's; the mixed one's node 1 has one record for both types
    data = (GOLDEN / release / "mixed" / "state" / "node_state").read_bytes()
    at = data.find(GRES_MAGIC.to_bytes(4, "big"))
    (node1,) = unpack_gres_node_states(Reader(data[at - 2 :]), VERSIONS[release])
    assert (node1.gres_cnt_avail, node1.bitmap_size) == (2, 2)
    if release != "22.05":
        assert [(t.type_name, t.gres_bitmap, t.cnt_alloc) for t in node1.topo] == [
            ("tesla", _bits(0), 1),
            ("k80", _bits(1), 1),
        ]


# -- the shared capture: compute-node-1 gpu:tesla:2,mps:200 (100 per GPU),bandwidth:no_consume:4G;
# compute-node-2 gpu:2 (untyped),bandwidth:no_consume:4G (gres.conf "Name=bandwidth Count=4G"). Jobs: 1
# --gres=mps:50 with srun --gres=mps:25; 2 --gres=gpu:1,bandwidth:1G; 3 --gres=bandwidth:2G on node 2; 4
# --gres=mps:100 and 5 --gres=gpu:1,bandwidth:3G (node 2) running when the state was saved.

MPS, BANDWIDTH = gres_build_id("mps"), gres_build_id("bandwidth")
NO_CONSUME_VAL64 = 0xFFFFFFFFFFFFFFFD


@pytest.mark.parametrize("release", list(VERSIONS))
def test_shared_registration(release: str) -> None:
    by_node = {}
    for body in _of_type(release, MsgType.MESSAGE_NODE_REGISTRATION_STATUS, "shared"):
        by_node[body.node_name] = parse_gres_info(body.gres_info)[1]
    bandwidth = GresNodeConfig(BANDWIDTH, 4 << 30, 4, 0, None, None, "bandwidth", None, None)
    # mps: 0x606 = HAS_FILE|HAS_TYPE|SHARED|ONE_SHARING; untyped gpu 0x9e2 (no HAS_TYPE)
    mps = GresNodeConfig(MPS, 100, 4, 0x606, None, None, "mps", "tesla", None)
    tesla = GresNodeConfig(GPU, 1, 4, 0x9E6, None, None, "gpu", "tesla", None)
    untyped = GresNodeConfig(GPU, 1, 4, 0x9E2, None, None, "gpu", None, None)
    assert by_node["compute-node-1"] == (bandwidth, mps, tesla, mps, tesla)
    assert by_node["compute-node-2"] == (bandwidth, untyped, untyped)


@pytest.mark.parametrize("release", list(VERSIONS))
def test_shared_credentials(release: str) -> None:
    newer = release != "22.05"
    launches = {b.job_id: b for b in _of_type(release, MsgType.REQUEST_BATCH_JOB_LAUNCH, "shared")}

    def mps(count: int) -> GresJobState:
        return _alloc(
            None,
            (count,),
            (_bits(0),),
            plugin_id=MPS,
            gres_per_node=0 if newer else count,
            gres_per_bit_alloc=((count, 0),) if newer else None,
        )

    assert _job_gres(launches[1]) == (mps(50),)
    assert _job_gres(launches[4]) == (mps(100),)
    # a no_consume GRES: NO_CONSUME_VAL64 as count and total, the bitmaps "present" but NULL
    no_consume = GresJobState(
        BANDWIDTH,
        total_gres=NO_CONSUME_VAL64,
        node_cnt=1,
        gres_cnt_node_alloc=(NO_CONSUME_VAL64,),
        gres_bit_alloc=(None,),
    )
    assert _job_gres(launches[2]) == (_alloc("tesla", (1,), (_bits(0),)), no_consume)
    assert _job_gres(launches[3]) == (no_consume,)
    assert _job_gres(launches[5]) == (_alloc(None, (1,), (_bits(0),)), no_consume)
    (step,) = _of_type(release, MsgType.RESPONSE_JOB_STEP_CREATE, "shared")
    assert step.credential.step_gres == (
        GresStepState(
            MPS,
            total_gres=25,
            node_cnt=1,
            node_in_use=_bits(0, size=1),
            gres_cnt_node_alloc=(25,),
            gres_bit_alloc=(_bits(0),),
            gres_per_bit_alloc=((25, 0),) if newer else None,
        ),
    )
    # prolog/epilog info: mps with its counts; no record at all for bandwidth (no plugin)
    prologs = {
        b.credential.step_id.job_id: b for b in _of_type(release, MsgType.REQUEST_LAUNCH_PROLOG, "shared")
    }
    assert prologs[1].job_gres_info == (GresEpilogInfo(MPS, 1, (50,), (_bits(0),)),)
    assert prologs[2].job_gres_info == (GresEpilogInfo(GPU, 1, None, (_bits(0),)),)
    assert prologs[3].job_gres_info == ()


@pytest.mark.parametrize("release", list(VERSIONS))
def test_shared_client_strings(release: str) -> None:
    sep = ":" if release == "22.05" else "/"
    submits = {b.name: b for b in _of_type(release, MsgType.REQUEST_SUBMIT_BATCH_JOB, "shared")}
    assert submits["gpubw"].tres_per_node == f"gres{sep}gpu:1,gres{sep}bandwidth:1G"
    assert submits["mps"].tres_per_node == f"gres{sep}mps:50"
    nodes = {
        n.name: n
        for b in _of_type(release, MsgType.RESPONSE_NODE_INFO, "shared")
        for n in b.nodes
        if n.gres_used
    }
    if release == "22.05":
        assert nodes["compute-node-1"].gres == "gpu:tesla:2,mps:tesla:200,bandwidth:4G"
    else:
        assert nodes["compute-node-1"].gres == "gpu:tesla:2,mps:tesla:200,bandwidth:no_consume:4G"
    details = {
        j.job_id: (j.gres_used, j.gres_detail_str)
        for b in _of_type(release, MsgType.RESPONSE_JOB_INFO, "shared")
        for j in b.records
        if j.gres_detail_str
    }
    mps_detail = "mps:100(IDX:0)" if release == "22.05" else "mps:100(100/100,0/100)"
    assert details[4] == ("mps:100", (mps_detail,))
    assert details[5] == ("gpu:1,bandwidth:0", ("gpu:1(IDX:0),bandwidth(CNT:0)",))


@pytest.mark.parametrize("release", list(VERSIONS))
def test_shared_saved_state(release: str) -> None:
    jobs = {j.job_id: j for j in read_job_state(GOLDEN / release / "shared" / "state" / "job_state").jobs}
    (mps,) = jobs[4].gres_list_alloc
    assert (mps.plugin_id, mps.gres_cnt_node_alloc, mps.gres_bit_alloc) == (MPS, (100,), (_bits(0),))
    assert mps.gres_per_bit_alloc == (None if release == "22.05" else ((100, 0),))
    _, bandwidth = jobs[5].gres_list_alloc
    assert (bandwidth.plugin_id, bandwidth.gres_cnt_node_alloc, bandwidth.gres_bit_alloc) == (
        BANDWIDTH,
        (NO_CONSUME_VAL64,),
        (None,),
    )
    node1, node2 = (states for _, states in _node_state_gres(release, "shared"))
    assert [(s.plugin_id, s.gres_cnt_avail, s.bitmap_size) for s in node1] == [
        (GPU, 2, 2),
        (MPS, 200, 2),
        (BANDWIDTH, 4 << 30, 0),
    ]
    assert [(s.plugin_id, s.gres_cnt_avail) for s in node2] == [(GPU, 2), (MPS, 0), (BANDWIDTH, 4 << 30)]


def test_record_counts_are_bounded_by_the_bytes_left() -> None:
    """A u16 count of records that could not fit what follows is refused before any record is read."""
    from flurm.protocol.messages.credential import (
        unpack_gres_epilog_infos,
        unpack_gres_job_states,
        unpack_gres_step_states,
    )

    for unpack, smallest in (
        (unpack_gres_job_states, 74),
        (unpack_gres_step_states, 70),
        (unpack_gres_epilog_infos, 14),
    ):
        data = (2).to_bytes(2, "big") + bytes(2 * smallest - 1)
        with pytest.raises(DecodeError, match="do not fit"):
            unpack(Reader(data), SLURM_22_05_PROTOCOL_VERSION)
    # the smallest records are that small: a 22.05 job record without arrays is 74 bytes
    w = Writer()
    GresJobState(GPU).pack(w, SLURM_22_05_PROTOCOL_VERSION)
    assert len(w.getvalue()) == 74
    w = Writer()
    GresStepState(GPU).pack(w, SLURM_22_05_PROTOCOL_VERSION)
    assert len(w.getvalue()) == 70
    w = Writer()
    GresEpilogInfo(GPU).pack(w, SLURM_22_05_PROTOCOL_VERSION)
    assert len(w.getvalue()) == 14


def test_registration_blob_count_is_bounded() -> None:
    """slurmd's count of GRES records is checked against the bytes that follow before any is read."""
    smallest = GresNodeConfig(GPU)
    blob = bytes.fromhex("26000002") + _node_config_bytes(smallest) * 2
    assert parse_gres_info(blob) == (0x2600, (smallest, smallest))
    with pytest.raises(DecodeError, match="do not fit"):
        parse_gres_info(bytes.fromhex("26000003") + _node_config_bytes(smallest) * 2)


def _node_config_bytes(rec: GresNodeConfig) -> bytes:
    w = Writer()
    w.u32(GRES_MAGIC)
    w.u64(rec.count)
    w.u32(rec.cpu_cnt)
    w.u32(rec.config_flags)
    w.u32(rec.plugin_id)
    for text in (rec.cpus, rec.links, rec.name, rec.type_name, rec.unique_id):
        w.string(text)
    data = w.getvalue()
    assert len(data) == 44 or rec.cpus or rec.links or rec.name or rec.type_name or rec.unique_id
    return data

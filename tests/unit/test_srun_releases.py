"""srun and salloc bodies of 24.11 and 26.05 against each release's real traffic (tests/golden/<release>/srun,
real srun/salloc <-> their own slurmctld): byte-exact round trips, the values each release's fields carry,
and what flurm packs for each release where the releases differ."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from flurm.auth import SLURM_AUTH_NOBODY
from flurm.protocol.constants import (
    INFINITE16,
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    JobState,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_control import CompleteJobAllocation, ResourceAllocationResponse
from flurm.protocol.messages.steps import (
    HetJobAllocationResponse,
    JobAllocInfoRequest,
    JobStepCreateRequest,
    LaunchParams,
    SrunJobComplete,
    SrunNodeFail,
    SrunPing,
    SrunTimeout,
    StepLayout,
)
from flurm.protocol.wire import DecodeError, EncodeError, Reader, Writer

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}
V22, V24, V26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION

# The family's bodies (every other type in these captures round-trips too: the whole exchange is checked).
OWN_TYPES = {
    MsgType.RESPONSE_RESOURCE_ALLOCATION,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO,
    MsgType.RESPONSE_HET_JOB_ALLOCATION,
    MsgType.REQUEST_JOB_STEP_CREATE,
    MsgType.RESPONSE_JOB_STEP_CREATE,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION,
    MsgType.RESPONSE_JOB_READY,
    MsgType.RESPONSE_SLURM_RC,
}


def frames(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert out, f"{path}: no frames"
    return out


def captured(release: str, name: str, msg_type: int) -> Any:
    (frame,) = [f for f in frames(GOLDEN / release / "srun" / f"{name}.bin") if f.msg_type == msg_type]
    assert frame.version == RELEASES[release]
    return decode_body(frame.msg_type, frame.body, frame.version)


def body_bytes(release: str, name: str, msg_type: int) -> bytes:
    (frame,) = [f for f in frames(GOLDEN / release / "srun" / f"{name}.bin") if f.msg_type == msg_type]
    return frame.body


def capture_files() -> list[tuple[str, Path]]:
    return [(rel, p) for rel in RELEASES for p in sorted((GOLDEN / rel / "srun").glob("*.bin"))]


def test_captures_are_present() -> None:
    for rel in RELEASES:
        assert len(list((GOLDEN / rel / "srun").glob("*.bin"))) == 66, rel


@pytest.mark.parametrize(
    ("release", "path"), capture_files(), ids=lambda x: x if isinstance(x, str) else x.name
)
def test_every_message_round_trips_byte_for_byte(release: str, path: Path) -> None:
    for frame in frames(path):
        assert frame.version == RELEASES[release]
        body = decode_body(frame.msg_type, frame.body, frame.version)
        assert encode_body(body, frame.version) == frame.body, f"{path.name}: {MsgType(frame.msg_type).name}"


def test_every_family_type_is_in_the_captures() -> None:
    for rel in RELEASES:
        seen = {f.msg_type for _, p in capture_files() if _ == rel for f in frames(p)}
        assert seen >= OWN_TYPES, rel


# -- the allocation reply -----------------------------------------------------------------------------


def test_24_11_allocation_carries_the_owner_and_no_select_plugin() -> None:
    a = captured("24.11", "srun_hostname-conn1-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION)
    assert isinstance(a, ResourceAllocationResponse)
    assert (a.job_id, a.node_cnt, a.node_list, a.batch_host) == (1, 1, "compute-node-1", "compute-node-1")
    assert (a.uid, a.user_name, a.gid, a.group_name) == (0, "root", 0, "root")
    assert a.alias_list is None and a.node_addr is None and a.environment == ()
    assert (a.cpus_per_node, a.cpu_count_reps, a.partition) == ((1,), (1,), "debug")
    assert (a.ntasks_per_board, a.ntasks_per_core, a.ntasks_per_tres, a.ntasks_per_socket) == (
        0,
        0xFFFF,
        0,
        0xFFFF,
    )
    # 22.05's fields the release has no more keep their defaults
    assert (a.segment_size, a.start_protocol_ver, a.sluid, a.tres_per_task) == (0, 0, 0, None)


def test_26_05_allocation_carries_a_step_id_and_the_client_version() -> None:
    a = captured("26.05", "srun_hostname-conn3-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION)
    assert isinstance(a, ResourceAllocationResponse)
    assert a.job_id == 1 and a.sluid != 0 and a.start_protocol_ver == V26
    assert a.environment == ("SLURM_TASKS_PER_NODE=1",)
    assert (a.uid, a.user_name, a.segment_size) == (0, "root", 0)
    # the step id of an allocation is the job's: step NO_VAL
    raw = body_bytes("26.05", "srun_hostname-conn3-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION)
    w = Writer()
    StepId(1, NO_VAL, NO_VAL, a.sluid).pack(w, V26)
    assert w.getvalue() in raw


@pytest.mark.parametrize("release", RELEASES)
def test_a_pending_allocation_has_no_nodes(release: str) -> None:
    name = "pending-conn26-s2c" if release == "24.11" else "pending-conn28-s2c"
    a = captured(release, name, MsgType.RESPONSE_RESOURCE_ALLOCATION)
    assert (a.node_cnt, a.node_list, a.batch_host, a.cpus_per_node, a.environment) == (0, None, None, (), ())


def allocation(**changes: Any) -> ResourceAllocationResponse:
    base = ResourceAllocationResponse(
        batch_host="n1",
        job_id=7,
        node_cnt=1,
        node_list="n1",
        ntasks_per_board=0,
        ntasks_per_core=0xFFFF,
        ntasks_per_tres=0,
        ntasks_per_socket=0xFFFF,
        cpus_per_node=(2,),
        cpu_count_reps=(1,),
        partition="debug",
        gid=100,
        group_name="users",
        uid=1000,
        user_name="alice",
        tres_per_node="gres/gpu:1",
        start_protocol_ver=V26,
        tres_per_task="cpu=2",
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize("version", [V22, V24, V26])
def test_an_allocation_round_trips_in_each_release(version: int) -> None:
    a = allocation()
    back = decode_body(MsgType.RESPONSE_RESOURCE_ALLOCATION, encode_body(a, version), version)
    kept = {
        V22: {"gid": 0, "group_name": None, "uid": 0, "user_name": None, "tres_per_node": None},
        V24: {},
        V26: {},
    }[version]
    newer_only = {} if version == V26 else {"start_protocol_ver": 0, "tres_per_task": None}
    assert back == dataclasses.replace(a, **kept, **newer_only)


def test_only_22_05_carries_node_addresses() -> None:
    from flurm.protocol.constants import AF_INET
    from flurm.protocol.frame import Address

    a = allocation(node_addr=(Address(AF_INET, 0x7F000001, 6818),))
    assert decode_body(MsgType.RESPONSE_RESOURCE_ALLOCATION, encode_body(a, V22), V22) == dataclasses.replace(
        a,
        gid=0,
        group_name=None,
        uid=0,
        user_name=None,
        tres_per_node=None,
        start_protocol_ver=0,
        tres_per_task=None,
    )
    for version in (V24, V26):
        with pytest.raises(EncodeError):
            encode_body(a, version)


def test_a_26_05_allocation_of_a_step_is_refused() -> None:
    raw = bytearray(encode_body(allocation(sluid=5), V26))
    w = Writer()
    StepId(7, NO_VAL, NO_VAL, 5).pack(w, V26)
    at = bytes(raw).index(w.getvalue())
    raw[at + 12 : at + 16] = (0).to_bytes(4, "big")  # step 0
    with pytest.raises(DecodeError):
        decode_body(MsgType.RESPONSE_RESOURCE_ALLOCATION, bytes(raw), V26)


def test_het_allocation_wraps_the_releases_allocation() -> None:
    for rel in RELEASES:
        name = "salloc_srun-conn11-s2c" if rel == "24.11" else "salloc_srun-conn13-s2c"
        h = captured(rel, name, MsgType.RESPONSE_HET_JOB_ALLOCATION)
        assert isinstance(h, HetJobAllocationResponse) and len(h.allocations) == 1
        assert h.allocations[0].node_list == "compute-node-1"
        # a lookup (build_job_info_resp) tells no start_protocol_ver: the client keeps its own
        assert h.allocations[0].start_protocol_ver == 0


# -- step creation ------------------------------------------------------------------------------------


def test_24_11_step_request_leaves_the_user_to_the_controller() -> None:
    req = captured("24.11", "srun_hostname-conn3-c2s", MsgType.REQUEST_JOB_STEP_CREATE)
    assert isinstance(req, JobStepCreateRequest)
    assert req.user_id == SLURM_AUTH_NOBODY
    assert req.step_id == StepId(1, NO_VAL, NO_VAL, 0)
    assert (req.array_task_id, req.container_id, req.ntasks_per_core) == (NO_VAL, None, INFINITE16)
    assert (req.num_tasks, req.min_nodes) == (1, 1) and req.submit_line == "srun hostname"
    # 26.05's fields are not on the 24.11 wire
    assert (req.cwd, req.std_out, req.launch_params) == (None, None, None)


def test_26_05_step_request_carries_its_streams_and_no_launch_parameters() -> None:
    req = captured("26.05", "srun_n2-conn9-c2s", MsgType.REQUEST_JOB_STEP_CREATE)
    assert isinstance(req, JobStepCreateRequest)
    assert req.step_id.job_id == 2 and req.step_id.sluid != 0 and req.step_id.step_id == NO_VAL
    assert req.num_tasks == 2 and req.submit_line == "srun -n2 hostname"
    assert req.cwd == "/tmp" and req.launch_params is None
    assert req.user_id == SLURM_AUTH_NOBODY


def test_26_05_async_launch_parameters_round_trip() -> None:
    params = LaunchParams(
        argv=("hostname",),
        env=("A=1", "B=2"),
        cwd="/tmp",
        cpt_compact_array=(2, 1),
        cpt_compact_reps=(3, 1),
        spank_job_env=("X=y",),
        labelio=1,
        tres_freq="gpu:high",
    )
    req = JobStepCreateRequest(StepId(3, NO_VAL, NO_VAL, 9), user_id=1000, cwd="/tmp", launch_params=params)
    raw = encode_body(req, V26)
    assert decode_body(MsgType.REQUEST_JOB_STEP_CREATE, raw, V26) == req
    # a release before 26.05 has no place for them: they are not packed
    assert decode_body(MsgType.REQUEST_JOB_STEP_CREATE, encode_body(req, V24), V24) == dataclasses.replace(
        req, cwd=None, launch_params=None
    )


@pytest.mark.parametrize("release", RELEASES)
def test_step_create_reply_up_to_the_credential(release: str) -> None:
    """The fields around the credential as each release packs them (the credential itself is the
    credential codec's)."""
    version = RELEASES[release]
    name = "srun_n2-conn7-s2c" if release == "24.11" else "srun_n2-conn9-s2c"
    raw = body_bytes(release, name, MsgType.RESPONSE_JOB_STEP_CREATE)
    r = Reader(raw)
    assert r.u32() == 0 and r.string() is None  # def_cpu_bind_type, resv_ports
    if version == V26:
        step = StepId.unpack(r, version)
        assert (step.job_id, step.step_id, step.step_het_comp) == (2, 0, NO_VAL) and step.sluid
    else:
        assert (r.u32(), r.u32()) == (2, 0)  # job id, step id
    layout = StepLayout.unpack_optional(r, version)
    assert layout == StepLayout("compute-node-1", 1, 2, 2, ((0, 1),), start_protocol_ver=version)
    assert r.string() is None  # stepmgr
    if version == V26:
        assert r.u8() == 1  # the credential follows
        assert raw[-4:] == int(JobState.RUNNING).to_bytes(4, "big")  # the step's state
    else:
        assert raw[-2:] == version.to_bytes(2, "big")  # use_protocol_ver: the srun's own
    # flurm packs the same layout bytes
    w = Writer()
    layout.pack(w, version)
    assert raw[raw.index(w.getvalue()) :].startswith(w.getvalue())


def test_step_layout_per_release() -> None:
    lay = StepLayout("n[1-2]", 2, 3, 2, ((0, 1), (2,)), start_protocol_ver=V24, front_end="fe")
    for version in (V22, V24):
        w = Writer()
        lay.pack(w, version)
        assert StepLayout.unpack_optional(Reader(w.getvalue()), version) == lay
    w = Writer()
    lay.pack(w, V26)  # 26.05 packs no front end
    assert StepLayout.unpack_optional(Reader(w.getvalue()), V26) == dataclasses.replace(lay, front_end=None)
    per_node = dataclasses.replace(lay, cpt_compact_array=(2,), cpt_compact_reps=(2,))
    w = Writer()
    per_node.pack(w, V24)
    assert StepLayout.unpack_optional(Reader(w.getvalue()), V24) == per_node
    with pytest.raises(EncodeError):
        per_node.pack(Writer(), V22)


# -- allocation end and lookups: 26.05's step ids ------------------------------------------------------


def test_26_05_completion_names_the_step_srun_ran_or_none_for_salloc() -> None:
    by_srun = captured("26.05", "srun_false-conn19-c2s", MsgType.REQUEST_COMPLETE_JOB_ALLOCATION)
    by_salloc = captured("26.05", "salloc_srun-conn15-c2s", MsgType.REQUEST_COMPLETE_JOB_ALLOCATION)
    assert isinstance(by_srun, CompleteJobAllocation) and isinstance(by_salloc, CompleteJobAllocation)
    assert (by_srun.job_id, by_srun.step_id, by_srun.job_rc) == (4, 0, 256)
    assert (by_salloc.job_id, by_salloc.step_id, by_salloc.job_rc) == (3, NO_VAL, 0)
    old = captured("24.11", "srun_false-conn17-c2s", MsgType.REQUEST_COMPLETE_JOB_ALLOCATION)
    assert (old.job_rc, old.step_id, old.sluid) == (256, NO_VAL, 0)


@pytest.mark.parametrize("release", RELEASES)
def test_alloc_lookup_of_srun_inside_salloc(release: str) -> None:
    name = "salloc_srun-conn11-c2s" if release == "24.11" else "salloc_srun-conn13-c2s"
    req = captured(release, name, MsgType.REQUEST_HET_JOB_ALLOC_INFO)
    assert isinstance(req, JobAllocInfoRequest) and req.job_id == 3 and req.req_cluster == "localtest"
    assert (req.sluid, req.step_id, req.step_het_comp) == (0, NO_VAL, NO_VAL)


# -- what flurm sends to srun and salloc ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "msg"),
    [
        (MsgType.SRUN_PING, SrunPing()),
        (MsgType.SRUN_JOB_COMPLETE, SrunJobComplete(StepId(5, NO_VAL, NO_VAL))),
        (MsgType.SRUN_TIMEOUT, SrunTimeout(StepId(5, 0, NO_VAL), 1_795_696_400)),
        (MsgType.SRUN_NODE_FAIL, SrunNodeFail(StepId(5, NO_VAL, NO_VAL), "n1")),
    ],
)
def test_srun_messages_carry_the_release_step_id(msg_type: int, msg: Any) -> None:
    old = encode_body(msg, V22)
    for version in (V24, V26):
        new = encode_body(msg, version)
        # pack_step_id: the u64 sluid (0: flurm's jobs have none) in front of 22.05's fields
        assert new == (b"\0" * 8 + old if old else old)
        assert decode_body(msg_type, new, version) == msg


@pytest.mark.parametrize("version", [V22, V24, V26])
def test_allocation_info_reply_is_the_allocation_layout(version: int) -> None:
    from flurm.protocol.messages.steps import JobAllocationInfoResponse

    a = allocation()
    info = JobAllocationInfoResponse(**{f.name: getattr(a, f.name) for f in dataclasses.fields(a)})
    raw = encode_body(info, version)
    assert raw == encode_body(a, version)
    back = decode_body(MsgType.RESPONSE_JOB_ALLOCATION_INFO, raw, version)
    assert isinstance(back, JobAllocationInfoResponse) and encode_body(back, version) == raw

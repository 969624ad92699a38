"""Step message codecs against real srun/salloc <-> slurmctld 22.05 traffic: byte-exact round trips,
the values srun depends on, and strict decoding of damaged bodies."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flurm.protocol.constants import NO_VAL, NO_VAL16, SLURM_PENDING_STEP, MsgType
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.credential import JobCredential, StepId
from flurm.protocol.messages.job_control import CompleteJobAllocation, JobStepKill, ResourceAllocationResponse
from flurm.protocol.messages.steps import (
    SSF_WHOLE,
    HetJobAllocationResponse,
    JobAllocationInfoResponse,
    JobAllocInfoRequest,
    JobStepCreateRequest,
    JobStepCreateResponse,
    JobStepInfoRequest,
    JobStepInfoResponse,
    SrunJobComplete,
    SrunPing,
    SrunStepSignal,
    SrunTimeout,
    StepLayout,
)
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError

REPO = Path(__file__).resolve().parents[2]
PROXY = REPO / "tests" / "golden" / "captures" / "proxy"
GOLDEN = REPO / "tests" / "golden" / "steps"

STEP_TYPES = {
    MsgType.REQUEST_JOB_STEP_CREATE,
    MsgType.RESPONSE_JOB_STEP_CREATE,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO,
    MsgType.RESPONSE_HET_JOB_ALLOCATION,
    MsgType.REQUEST_JOB_STEP_INFO,
    MsgType.RESPONSE_JOB_STEP_INFO,
}


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (frame := dec.next_frame()) is not None:
        out.append(frame)
    assert out, f"{path}: no frames"
    return out


def body(path: Path, msg_type: int) -> bytes:
    matching = [f.body for f in frames_of(path) if f.msg_type == msg_type]
    assert len(matching) == 1, f"{path}: {len(matching)} frames of type {msg_type}"
    return matching[0]


def all_files() -> list[Path]:
    files = sorted(PROXY.glob("srun-conn*.bin")) + sorted(GOLDEN.glob("*.bin"))
    return files


def test_captures_are_present() -> None:
    assert len(sorted(PROXY.glob("srun-conn*.bin"))) == 8, f"srun captures missing in {PROXY}"
    assert len(sorted(GOLDEN.glob("*.bin"))) == 20


@pytest.mark.parametrize("path", all_files(), ids=lambda p: p.name)
def test_every_srun_message_round_trips_byte_for_byte(path: Path) -> None:
    for frame in frames_of(path):
        decoded = decode_body(frame.msg_type, frame.body)
        assert encode_body(decoded) == frame.body, f"{path.name}: {MsgType(frame.msg_type).name}"


def test_the_step_types_are_all_covered() -> None:
    seen = {f.msg_type for p in all_files() for f in frames_of(p)}
    assert seen >= STEP_TYPES


# -- 5001 / 5002 (capture of `srun -N1 true`) ------------------------------------------------


def test_step_create_request_values() -> None:
    req = decode_body(MsgType.REQUEST_JOB_STEP_CREATE, body(PROXY / "srun-conn3-c2s.bin", 5001))
    assert isinstance(req, JobStepCreateRequest)
    assert req.step_id == StepId(5, NO_VAL, NO_VAL)
    assert (req.user_id, req.min_nodes, req.max_nodes, req.cpu_count, req.num_tasks) == (0, 1, 1, 1, 1)
    assert req.task_dist == 0x2000  # unknown: the controller picks block
    assert req.flags == SSF_WHOLE  # no --exact
    assert req.port != 0 and req.host == "vm" and req.name == "true"
    assert req.submit_line == "srun -N1 true" and req.tres_per_step == "cpu:1"
    assert req.pn_min_memory == 0 and req.time_limit == 0 and req.threads_per_core == NO_VAL16


def test_step_create_response_values() -> None:
    resp = decode_body(MsgType.RESPONSE_JOB_STEP_CREATE, body(PROXY / "srun-conn3-s2c.bin", 5002))
    assert isinstance(resp, JobStepCreateResponse)
    assert resp.job_step_id == 0
    assert resp.step_layout == StepLayout("compute-node-1", 1, 1, 2, ((0,),))  # block
    assert (resp.select_plugin_id, resp.switch_plugin_id, resp.use_protocol_ver) == (109, 100, 0x2600)
    cred = resp.credential
    assert cred.step_id == StepId(5, 0, NO_VAL)
    assert cred.step_hostlist == "compute-node-1" and cred.job_hostlist == "compute-node-1"
    assert cred.job_core_bitmap == Bitmap(2, 1) and cred.step_core_bitmap == Bitmap(2, 1)
    assert (cred.job_mem_alloc, cred.job_mem_alloc_rep_count) == ((0,), (1,))
    assert (cred.step_mem_alloc, cred.step_mem_alloc_rep_count) == ((0,), (1,))
    assert (
        cred.signature is not None
        and cred.signature.startswith(b"MUNGE:")
        and cred.signature.endswith(b":\0")
    )
    # the signature covers exactly the packed fields before it
    raw = body(PROXY / "srun-conn3-s2c.bin", 5002)
    payload = cred.signed_payload()
    assert payload in raw and raw.index(payload) + len(payload) + 4 + len(cred.signature) == raw.index(
        b"\0\0\0\x6d\0\0\0\x64"
    )


def test_a_response_with_a_new_signature_packs_it() -> None:
    resp = decode_body(MsgType.RESPONSE_JOB_STEP_CREATE, body(PROXY / "srun-conn3-s2c.bin", 5002))
    assert isinstance(resp, JobStepCreateResponse)
    other = dataclasses.replace(resp, credential=resp.credential.with_signature(b"MUNGE:x:\0"))
    again = decode_body(MsgType.RESPONSE_JOB_STEP_CREATE, encode_body(other))
    assert isinstance(again, JobStepCreateResponse)
    assert again.credential.signature == b"MUNGE:x:\0"
    assert again.credential.signed_payload() == resp.credential.signed_payload()


# -- allocations --------------------------------------------------------------------------------------


def test_het_job_allocation_lookup_of_srun_inside_salloc() -> None:
    req = decode_body(MsgType.REQUEST_HET_JOB_ALLOC_INFO, body(GOLDEN / "salloc_srun-conn3-c2s.bin", 4027))
    assert req == JobAllocInfoRequest(4, "localtest")
    resp = decode_body(MsgType.RESPONSE_HET_JOB_ALLOCATION, body(GOLDEN / "salloc_srun-conn3-s2c.bin", 4026))
    assert isinstance(resp, HetJobAllocationResponse)
    (alloc,) = resp.allocations
    assert (alloc.job_id, alloc.node_cnt, alloc.node_list, alloc.batch_host) == (
        4,
        1,
        "compute-node-1",
        "compute-node-1",
    )
    assert (alloc.cpus_per_node, alloc.cpu_count_reps, alloc.partition) == ((1,), (1,), "debug")


def test_a_pending_allocation_has_no_nodes() -> None:
    resp = decode_body(
        MsgType.RESPONSE_RESOURCE_ALLOCATION, body(GOLDEN / "srun_pending-conn1-s2c.bin", 4002)
    )
    assert isinstance(resp, ResourceAllocationResponse)
    assert (resp.node_cnt, resp.node_list, resp.batch_host, resp.error_code) == (0, None, None, 0)
    assert (resp.cpus_per_node, resp.partition) == ((), "debug")


def test_job_allocation_info_response_is_the_4002_layout() -> None:
    raw = body(PROXY / "srun-conn1-s2c.bin", 4002)
    alloc = decode_body(MsgType.RESPONSE_JOB_ALLOCATION_INFO, raw)
    assert isinstance(alloc, JobAllocationInfoResponse)
    assert alloc.job_id == 5 and encode_body(alloc) == raw


def test_srun_completes_after_scancel() -> None:
    kill = decode_body(MsgType.REQUEST_CANCEL_JOB_STEP, body(GOLDEN / "scancel_srun-conn7-c2s.bin", 5005))
    assert isinstance(kill, JobStepKill)
    assert (kill.job_id, kill.step_id, kill.signal) == (3, 0, 9)
    done = decode_body(
        MsgType.REQUEST_COMPLETE_JOB_ALLOCATION, body(GOLDEN / "scancel_srun-conn8-c2s.bin", 5017)
    )
    assert done == CompleteJobAllocation(3, 15)


# -- squeue -s ------------------------------------------------------------------------------------------


def test_step_info_values() -> None:
    req = decode_body(MsgType.REQUEST_JOB_STEP_INFO, body(GOLDEN / "squeue_steps-conn5-c2s.bin", 2005))
    assert req == JobStepInfoRequest(0, StepId(NO_VAL, NO_VAL, NO_VAL), 0x10)
    resp = decode_body(MsgType.RESPONSE_JOB_STEP_INFO, body(GOLDEN / "squeue_steps-conn5-s2c.bin", 2006))
    assert isinstance(resp, JobStepInfoResponse)
    (step,) = resp.steps
    assert step.step_id == StepId(2, 0, NO_VAL)
    assert (step.num_cpus, step.num_tasks, step.task_dist, step.state) == (2, 2, 2, 1)
    assert (step.nodes, step.node_bitmap, step.name) == ("compute-node-[1-2]", Bitmap(2, 3), "sleep")
    assert (step.tres_alloc_str, step.submit_line, step.srun_host) == (
        "cpu=2,mem=0,node=2",
        "srun -N2 sleep 4",
        "vm",
    )
    assert step.time_limit == 0xFFFFFFFF and step.cluster == "localtest" and step.partition == "debug"


# -- messages to srun (no capture: srun is their only reader) -----------------------------------------


@pytest.mark.parametrize(
    ("msg_type", "msg", "size"),
    [
        (MsgType.SRUN_PING, SrunPing(), 0),
        (MsgType.SRUN_JOB_COMPLETE, SrunJobComplete(StepId(7, NO_VAL, NO_VAL)), 12),
        (MsgType.SRUN_TIMEOUT, SrunTimeout(StepId(7, 0, NO_VAL), 1_800_000_000), 20),
        (MsgType.SRUN_STEP_SIGNAL, SrunStepSignal(7, SLURM_PENDING_STEP, NO_VAL, signal=0), 24),
    ],
)
def test_srun_messages(msg_type: int, msg: object, size: int) -> None:
    raw = encode_body(msg)  # type: ignore[arg-type]
    assert len(raw) == size
    assert decode_body(msg_type, raw) == msg


def test_srun_job_complete_layout() -> None:
    assert encode_body(SrunJobComplete(StepId(7, 2, NO_VAL))) == bytes.fromhex("00000007 00000002 fffffffe")


# -- strictness ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "msg_type"),
    [
        (PROXY / "srun-conn3-c2s.bin", MsgType.REQUEST_JOB_STEP_CREATE),
        (PROXY / "srun-conn3-s2c.bin", MsgType.RESPONSE_JOB_STEP_CREATE),
        (GOLDEN / "salloc_srun-conn3-s2c.bin", MsgType.RESPONSE_HET_JOB_ALLOCATION),
        (GOLDEN / "squeue_steps-conn5-s2c.bin", MsgType.RESPONSE_JOB_STEP_INFO),
    ],
    ids=lambda v: getattr(v, "name", str(v)),
)
def test_truncated_and_extended_bodies_are_refused(path: Path, msg_type: int) -> None:
    raw = body(path, msg_type)
    for cut in sorted({1, 2, 5, len(raw) // 3, len(raw) // 2, len(raw) - 1}):
        with pytest.raises(DecodeError):
            decode_body(msg_type, raw[:-cut])
    with pytest.raises(DecodeError):
        decode_body(msg_type, raw + b"\0")


def test_unknown_switch_plugin_is_refused() -> None:
    raw = bytearray(body(PROXY / "srun-conn3-s2c.bin", 5002))
    raw[-6:-2] = (101).to_bytes(4, "big")  # switch/cray_aries
    with pytest.raises(DecodeError, match="switch plugin"):
        decode_body(MsgType.RESPONSE_JOB_STEP_CREATE, bytes(raw))


def test_a_layout_needs_one_task_list_per_node() -> None:
    cred = JobCredential(StepId(1, 0), 0, 0)
    bad = JobStepCreateResponse(0, StepLayout("n[1-2]", 2, 1, 2, ((0,),)), cred)
    with pytest.raises(EncodeError):
        encode_body(bad)


u32 = st.integers(0, 0xFFFFFFFF)
u16 = st.integers(0, 0xFFFF)
text = st.none() | st.text(alphabet=st.characters(blacklist_characters="\0", codec="utf-8"), max_size=20)


@settings(max_examples=60, deadline=None)
@given(
    ids=st.tuples(u32, u32, u32),
    nums=st.tuples(u32, u32, u32, u32, u32),
    small=st.tuples(u16, u16, u16, u16),
    strings=st.tuples(text, text, text, text),
    mem=st.integers(0, 2**64 - 1),
)
def test_step_create_request_property_round_trip(
    ids: tuple[int, int, int],
    nums: tuple[int, int, int, int, int],
    small: tuple[int, int, int, int],
    strings: tuple[str | None, str | None, str | None, str | None],
    mem: int,
) -> None:
    req = JobStepCreateRequest(
        StepId(*ids),
        user_id=nums[0],
        min_nodes=nums[1],
        max_nodes=nums[2],
        cpu_count=nums[3],
        num_tasks=nums[4],
        pn_min_memory=mem,
        port=small[0],
        plane_size=small[1],
        threads_per_core=small[2],
        ntasks_per_tres=small[3],
        host=strings[0],
        name=strings[1],
        node_list=strings[2],
        submit_line=strings[3],
    )
    assert decode_body(MsgType.REQUEST_JOB_STEP_CREATE, encode_body(req)) == req


@settings(max_examples=60, deadline=None)
@given(tasks=st.lists(st.lists(u32, max_size=4), min_size=1, max_size=5), nodes=text, dist=u32)
def test_step_layout_property_round_trip(tasks: list[list[int]], nodes: str | None, dist: int) -> None:
    tids = tuple(tuple(t) for t in tasks)
    layout = StepLayout(nodes, len(tids), sum(len(t) for t in tids), dist, tids)
    resp = JobStepCreateResponse(3, layout, JobCredential(StepId(1, 3), 0, 0))
    again = decode_body(MsgType.RESPONSE_JOB_STEP_CREATE, encode_body(resp))
    assert isinstance(again, JobStepCreateResponse)
    assert again.step_layout == layout and again.step_layout.tasks == tuple(len(t) for t in tids)

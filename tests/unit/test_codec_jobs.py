"""Job message codecs against the real SLURM 22.05 captures: byte-exact round trips, documented values,
strict decoding of truncated or corrupted bodies, and property round trips."""

from __future__ import annotations

import contextlib
import dataclasses
import struct
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flurm.protocol.constants import (
    INFINITE,
    INFINITE16,
    NICE_OFFSET,
    NO_VAL,
    NO_VAL16,
    NO_VAL64,
    SLURM_21_08_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
    JobState,
    JobStateReason,
    MsgType,
)
from flurm.protocol.frame import Address, Frame, FrameDecoder
from flurm.protocol.messages import job_control, job_desc, job_info  # noqa: F401  (registers the bodies)
from flurm.protocol.messages.base import decode_body, encode_body
from flurm.protocol.messages.job_control import (
    CompleteJobAllocation,
    FedInfoResponse,
    JobArrayError,
    JobArrayErrors,
    JobStepKill,
    LastUpdateRequest,
    ResourceAllocationResponse,
    SubmitBatchJobResponse,
)
from flurm.protocol.messages.job_desc import JOB_DESC_LAYOUT, CronEntry, JobDesc
from flurm.protocol.messages.job_info import (
    JOB_RECORD,
    JobIdRequest,
    JobInfoRequest,
    JobInfoResponse,
    JobRecord,
    JobResources,
    JobUserInfoRequest,
    MultiCore,
    PackedJobInfoResponse,
    job_info_response_body,
    show_flags_offset,
    with_show_flags,
)
from flurm.protocol.messages.layout import (
    BITS,
    DOUBLE,
    STR,
    STRS,
    TIME,
    U8,
    U16,
    U32,
    U64,
    pack_bits,
    pack_str,
    pack_strs,
)
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader

CAPTURES = Path(__file__).resolve().parents[2] / "tests" / "golden" / "captures"

JOB_TYPES = {
    MsgType.REQUEST_BUILD_INFO,
    MsgType.REQUEST_JOB_INFO,
    MsgType.RESPONSE_JOB_INFO,
    MsgType.REQUEST_JOB_INFO_SINGLE,
    MsgType.REQUEST_JOB_USER_INFO,
    MsgType.RESPONSE_FED_INFO,
    MsgType.REQUEST_UPDATE_JOB,
    MsgType.REQUEST_RESOURCE_ALLOCATION,
    MsgType.RESPONSE_RESOURCE_ALLOCATION,
    MsgType.REQUEST_SUBMIT_BATCH_JOB,
    MsgType.RESPONSE_SUBMIT_BATCH_JOB,
    MsgType.REQUEST_JOB_WILL_RUN,
    MsgType.REQUEST_JOB_READY,
    MsgType.REQUEST_CANCEL_JOB_STEP,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION,
    MsgType.REQUEST_KILL_JOB,
    MsgType.RESPONSE_JOB_ARRAY_ERRORS,
}


def _capture_files() -> list[Path]:
    files = sorted((CAPTURES / "proxy").glob("*.bin")) + sorted((CAPTURES / "extra").glob("*.bin"))
    return files


@cache
def frames(name: str) -> tuple[Frame, ...]:
    """All frames of one capture file, e.g. frames("proxy/squeue-conn1-s2c")."""
    path = CAPTURES / f"{name}.bin"
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (frame := dec.next_frame()) is not None:
        out.append(frame)
    assert dec.needed() > 0 or not out, f"{name}: trailing bytes"
    return tuple(out)


def body_of(name: str, msg_type: int, index: int = 0) -> bytes:
    matching = [f for f in frames(name) if f.msg_type == msg_type]
    return matching[index].body


def decoded(name: str, msg_type: int, index: int = 0) -> Any:
    return decode_body(msg_type, body_of(name, msg_type, index))


# -- every captured job message round-trips byte for byte ----------------------------------------


def test_captures_are_present() -> None:
    files = _capture_files()
    assert len(files) >= 100, f"expected the captures under {CAPTURES}, found {len(files)} files"


@pytest.mark.parametrize("path", _capture_files(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_capture_round_trip(path: Path) -> None:
    for frame in frames(f"{path.parent.name}/{path.stem}"):
        if frame.msg_type not in JOB_TYPES:
            continue
        body = decode_body(frame.msg_type, frame.body)
        assert encode_body(body) == frame.body, f"{path.name}: {MsgType(frame.msg_type).name} differs"


def test_round_trip_covers_every_captured_job_message() -> None:
    seen: Counter[int] = Counter()
    for path in _capture_files():
        for frame in frames(f"{path.parent.name}/{path.stem}"):
            if frame.msg_type in JOB_TYPES:
                assert encode_body(decode_body(frame.msg_type, frame.body)) == frame.body
                seen[frame.msg_type] += 1
    assert seen == {
        2001: 1,
        2003: 8,
        2004: 11,
        2021: 4,
        2039: 1,
        2050: 7,
        3001: 6,
        4001: 1,
        4002: 1,
        4003: 10,
        4004: 8,
        4019: 1,
        5005: 2,
        5017: 1,
        5032: 8,
        5034: 1,
    }


# -- documented values ----------------------------------------------------------------------------


def test_sbatch_wrap_job_desc() -> None:
    body = body_of("proxy/sbatch-conn1-c2s", MsgType.REQUEST_SUBMIT_BATCH_JOB)
    assert len(body) == 1171
    d = decode_body(MsgType.REQUEST_SUBMIT_BATCH_JOB, body)
    assert isinstance(d, JobDesc)
    assert d.name == "wrap"
    assert d.script == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\necho hello-capture\n"
    assert d.submit_line == "sbatch --wrap=echo hello-capture"
    assert d.std_in == "/dev/null" and d.std_out is None and d.std_err is None
    assert d.argv == ()
    assert len(d.environment) == 19 and all("=" in e for e in d.environment)
    assert "SLURM_JOB_NAME=wrap" in d.environment
    assert d.spank_job_env == ()
    assert (d.task_dist, d.min_cpus, d.contiguous, d.job_id) == (0x2000, 1, 0, NO_VAL)
    assert (d.pn_min_memory, d.priority, d.nice, d.time_limit) == (NO_VAL64, NO_VAL, NO_VAL, NO_VAL)
    assert (d.user_id, d.group_id, d.site_factor) == (0, 0, NO_VAL)
    assert d.bitflags == 0x1E000000
    assert d.select_plugin_id == 109
    assert d.crontab_entry is None
    assert d.array_inx is None


def test_sbatch_arrays_and_options() -> None:
    assert decoded("proxy/sbatch_array-conn1-c2s", 4003).array_inx == "1-3"
    assert decoded("extra/arr6-conn1-c2s", 4003).array_inx == "1-6"
    d = decoded("extra/sbatch_opts-conn1-c2s", 4003)
    assert (d.name, d.partition, d.time_limit, d.num_tasks, d.min_cpus) == ("myname", "debug", 10, 2, 2)
    assert d.pn_min_memory == 0x8000000000000064  # --mem-per-cpu=100
    assert d.nice == NICE_OFFSET + 5
    assert d.comment == "hello"
    assert d.std_out is not None and d.std_out.endswith("/out-%j.txt")
    assert d.bitflags & (1 << 14) and d.bitflags & (1 << 15)  # JOB_NTASKS_SET, JOB_CPUS_SET
    assert "SLURM_EXPORT_ENV=NONE" in d.environment
    d2 = decoded("extra/sbatch_opts2-conn1-c2s", 4003)
    assert (d2.min_nodes, d2.max_nodes, d2.time_limit, d2.shared, d2.requeue) == (1, 1, 1440, 0, 1)
    assert (d2.pn_min_memory, d2.req_nodes) == (200, "compute-node-1")
    assert decoded("extra/hold-conn1-c2s", 4003).priority == 0
    assert decoded("extra/dep-conn1-c2s", 4003).dependency == "afterok:1"


def test_update_job_is_init_desc_plus_changes() -> None:
    """scontrol hold 5 = slurm_init_job_desc_msg values + job_id_str, priority 0, alloc_sid 0."""
    body = body_of("extra/hold5-conn1-c2s", MsgType.REQUEST_UPDATE_JOB)
    assert len(body) == 426
    hold = JobDesc(job_id_str="5", priority=0, alloc_sid=0, bitflags=0x1E000000)
    assert encode_body(hold) == body
    assert decode_body(MsgType.REQUEST_UPDATE_JOB, body) == hold
    assert decoded("extra/uhold7-conn1-c2s", 3001) == JobDesc(
        job_id_str="7", priority=0, alloc_sid=2, bitflags=0x1E000000
    )
    assert decoded("extra/release4-conn1-c2s", 3001).priority == INFINITE
    assert decoded("extra/update_tl-conn1-c2s", 3001).time_limit == 10


def test_srun_allocation_messages() -> None:
    req = decoded("proxy/srun-conn1-c2s", MsgType.REQUEST_RESOURCE_ALLOCATION)
    assert (req.argv, req.script, req.wait_all_nodes, req.origin_cluster) == (("true",), None, 1, "localtest")
    assert (req.min_nodes, req.max_nodes, req.environment) == (1, 1, ())
    resp = decoded("proxy/srun-conn1-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION)
    assert resp == ResourceAllocationResponse(
        batch_host="compute-node-1",
        job_id=resp.job_id,
        node_cnt=1,
        node_list="compute-node-1",
        ntasks_per_board=0,
        ntasks_per_core=INFINITE16,
        ntasks_per_tres=0,
        ntasks_per_socket=INFINITE16,
        cpus_per_node=(1,),
        cpu_count_reps=(1,),
        partition="debug",
    )
    ready = decoded("proxy/srun-conn2-c2s", MsgType.REQUEST_JOB_READY)
    assert ready == JobIdRequest(resp.job_id, 0)
    done = decoded("proxy/srun-conn4-c2s", MsgType.REQUEST_COMPLETE_JOB_ALLOCATION)
    assert done == CompleteJobAllocation(resp.job_id, 0)


def test_squeue_reply_records() -> None:
    req = decoded("proxy/squeue-conn1-c2s", MsgType.REQUEST_JOB_INFO)
    assert req == JobInfoRequest(0, 0x10, None)
    resp = decoded("proxy/squeue-conn1-s2c", MsgType.RESPONSE_JOB_INFO)
    assert isinstance(resp, JobInfoResponse)
    by_id = {r.job_id: r for r in resp.records}
    assert sorted(by_id) == [1, 2, 3, 4]
    assert by_id[1].job_state == JobState.COMPLETE
    assert by_id[3].job_state == JobState.RUNNING and by_id[4].job_state == JobState.RUNNING
    assert by_id[2].job_state == JobState.PENDING
    assert by_id[2].state_reason == JobStateReason.WAIT_RESOURCES
    assert (by_id[3].array_job_id, by_id[3].array_task_id) == (2, 1)
    assert (by_id[2].array_job_id, by_id[2].array_task_id) == (2, 3)
    assert (by_id[1].array_job_id, by_id[1].array_task_id) == (0, NO_VAL)
    for r in resp.records:
        assert (r.name, r.cluster, r.partition, r.work_dir) == (
            "wrap",
            "localtest",
            "debug",
            "/tmp/lscap/jobs",
        )
        assert (r.show_flags, r.time_limit, r.nice, r.site_factor) == (
            0x10,
            INFINITE,
            NICE_OFFSET,
            NICE_OFFSET,
        )
        assert (r.alloc_node, r.std_in, r.mail_user, r.start_protocol_ver) == (
            "localhost",
            "/dev/null",
            "root",
            0x2600,
        )
        assert r.tres_req_str == "cpu=1,mem=1000M,node=1,billing=1"
        assert r.job_resources is None and r.gres_detail_str == ()
        assert r.multi_core == MultiCore(0, 0, NO_VAL16, NO_VAL16, NO_VAL16, 0, INFINITE16, INFINITE16, 0)
        assert r.select_plugin_id == 109 and r.container is None
    assert by_id[1].billable_tres == 1.0 and by_id[2].billable_tres == float(NO_VAL)
    assert by_id[1].nodes == "compute-node-1" and by_id[2].nodes is None
    assert by_id[1].node_bitmap == Bitmap(1, 1) and by_id[2].node_bitmap is None
    assert by_id[1].batch_host == "compute-node-1" and by_id[2].batch_host is None
    assert by_id[1].tres_alloc_str == "cpu=1,node=1,billing=1" and by_id[2].tres_alloc_str is None
    assert by_id[1].bitflags == 0x9E000800
    assert (by_id[1].num_cpus, by_id[1].num_nodes, by_id[1].num_tasks, by_id[1].requeue) == (1, 1, 1, 1)
    assert by_id[2].priority == 0xFFFEFFFE


def test_squeue_json_job_resources() -> None:
    assert decoded("proxy/squeue_json-conn1-c2s", MsgType.REQUEST_JOB_INFO).show_flags == 0x13
    resp = decoded("proxy/squeue_json-conn1-s2c", MsgType.RESPONSE_JOB_INFO)
    by_id = {r.job_id: r for r in resp.records}
    assert by_id[1].job_resources == JobResources(
        nhosts=1,
        ncpus=1,
        node_req=1,
        nodes="compute-node-1",
        whole_node=0,
        threads_per_core=NO_VAL16,
        cr_type=4,
        cpu_array_reps=(1,),
        cpu_array_value=(1,),
        cpus=(1,),
        cpus_used=(0,),
        memory_allocated=(0,),
        memory_used=(0,),
        sockets_per_node=(1,),
        cores_per_socket=(2,),
        sock_core_rep_count=(1,),
        core_bitmap=Bitmap(2, 0x1),
        core_bitmap_used=Bitmap(2, 0x0),
    )
    assert by_id[4].job_resources is not None and by_id[4].job_resources.core_bitmap == Bitmap(2, 0x2)
    assert by_id[2].job_resources is None  # pending
    assert resp.last_backfill > 0


def test_array_meta_record_and_states() -> None:
    """--array=1-6 with tasks 1, 2 running: the meta record holds tasks 3-6 as "0x78"."""
    resp = decoded("extra/squeue-conn1-s2c", MsgType.RESPONSE_JOB_INFO)
    by_id = {r.job_id: r for r in resp.records}
    meta = by_id[1]
    assert (meta.array_job_id, meta.array_task_id, meta.array_task_str) == (1, NO_VAL, "0x78")
    assert meta.job_state == JobState.PENDING
    assert (by_id[2].array_task_id, by_id[3].array_task_id) == (1, 2)
    assert by_id[2].array_task_str is None
    assert (by_id[4].state_reason, by_id[4].priority) == (JobStateReason.WAIT_HELD_USER, 0)
    assert by_id[5].state_reason == JobStateReason.WAIT_DEPENDENCY
    assert by_id[5].dependency == "afterok:1_*(unfulfilled)"
    assert (by_id[6].job_state, by_id[6].state_reason) == (
        JobState.FAILED,
        JobStateReason.FAIL_BAD_CONSTRAINTS,
    )
    assert by_id[7].state_reason == JobStateReason.WAIT_PART_CONFIG


def test_single_and_user_requests() -> None:
    assert decoded("proxy/scontrol_show_job_1-conn2-c2s", 2021) == JobIdRequest(1, 0x10)
    assert decoded("extra/squeue_j-conn2-c2s", 2021) == JobIdRequest(4, 0x11)
    assert decoded("extra/squeue_unobody-conn2-c2s", 2039) == JobUserInfoRequest(65534, 0x10)
    empty = decoded("extra/squeue_unobody-conn2-s2c", 2004)
    assert empty.records == () and len(body_of("extra/squeue_unobody-conn2-s2c", 2004)) == 20
    assert decoded("proxy/scontrol_show_job_1-conn1-s2c", 2050) == FedInfoResponse()
    assert body_of("proxy/scontrol_show_job_1-conn1-s2c", 2050) == b"\0"
    assert decoded("extra/showconf-conn1-c2s", 2001) == LastUpdateRequest(0)


def test_control_messages() -> None:
    assert decoded("proxy/sbatch-conn1-s2c", 4004) == SubmitBatchJobResponse(1, SLURM_BATCH_SCRIPT, 0, None)
    assert decoded("extra/hold-conn1-s2c", 4004).error_code == 2042
    assert decoded("extra/badnodes-conn1-s2c", 4004).error_code == 2015
    assert decoded("proxy/scancel_array-conn1-c2s", 5032) == JobStepKill(
        NO_VAL, NO_VAL, NO_VAL, "2", None, 9, 0
    )
    assert decoded("extra/scancel_step-conn3-c2s", 5005) == JobStepKill(2, 0, NO_VAL, None, None, 9, 0)
    assert decoded("extra/scancel_sig-conn3-c2s", 5032).signal == 10
    assert decoded("extra/holdarr-conn1-s2c", 5034) == JobArrayErrors((JobArrayError(0, "1_1-6"),))
    assert decoded("extra/holdarr-conn1-c2s", 3001).job_id_str == "1"


# -- encoding from cached records -----------------------------------------------------------------


def _split_records(body: bytes) -> list[bytes]:
    r = Reader(body)
    count, _, _ = r.u32(), r.time(), r.time()
    _, start, _ = r.view()
    out = []
    for _ in range(count):
        JobRecord.unpack(r, 0x2600)
        out.append(body[start : r.pos])
        start = r.pos
    return out


@pytest.mark.parametrize(
    "name", ["proxy/squeue-conn1-s2c", "proxy/squeue_json-conn1-s2c", "extra/squeue-conn1-s2c"]
)
def test_reply_from_cached_record_bytes(name: str) -> None:
    body = body_of(name, MsgType.RESPONSE_JOB_INFO)
    resp = decode_body(MsgType.RESPONSE_JOB_INFO, body)
    assert isinstance(resp, JobInfoResponse)
    blobs = [rec.to_bytes() for rec in resp.records]
    assert blobs == _split_records(body)
    assert job_info_response_body(blobs, resp.last_update, resp.last_backfill) == body
    packed = PackedJobInfoResponse(resp.last_update, resp.last_backfill, tuple(blobs))
    assert encode_body(packed) == body
    assert PackedJobInfoResponse.unpack(Reader(body), 0x2600) == packed


def test_with_show_flags_patches_the_echoed_flags() -> None:
    resp = decoded("extra/squeue-conn1-s2c", MsgType.RESPONSE_JOB_INFO)
    for rec in resp.records:
        blob = rec.to_bytes()
        assert struct.unpack_from(">H", blob, show_flags_offset(blob))[0] == rec.show_flags
        assert with_show_flags(blob, 0x11) == dataclasses.replace(rec, show_flags=0x11).to_bytes()
        assert with_show_flags(blob, rec.show_flags) is blob
    # the meta record has a non-NULL array_task_str before the flags
    assert any(r.array_task_str for r in resp.records)
    with pytest.raises(DecodeError):
        show_flags_offset(b"\0" * 20)


# -- strict decoding -------------------------------------------------------------------------------

TRUNCATION_CASES = [
    ("proxy/sbatch-conn1-c2s", MsgType.REQUEST_SUBMIT_BATCH_JOB),
    ("extra/hold5-conn1-c2s", MsgType.REQUEST_UPDATE_JOB),
    ("proxy/squeue_json-conn1-s2c", MsgType.RESPONSE_JOB_INFO),
    ("extra/squeue-conn1-s2c", MsgType.RESPONSE_JOB_INFO),
    ("proxy/srun-conn1-s2c", MsgType.RESPONSE_RESOURCE_ALLOCATION),
    ("extra/holdarr-conn1-s2c", MsgType.RESPONSE_JOB_ARRAY_ERRORS),
    ("proxy/scancel_array-conn1-c2s", MsgType.REQUEST_KILL_JOB),
    ("proxy/sbatch-conn1-s2c", MsgType.RESPONSE_SUBMIT_BATCH_JOB),
    ("proxy/squeue-conn1-c2s", MsgType.REQUEST_JOB_INFO),
    ("proxy/srun-conn4-c2s", MsgType.REQUEST_COMPLETE_JOB_ALLOCATION),
    ("proxy/scontrol_show_job_1-conn1-s2c", MsgType.RESPONSE_FED_INFO),
]


@pytest.mark.parametrize(("name", "msg_type"), TRUNCATION_CASES, ids=[c[0] for c in TRUNCATION_CASES])
def test_every_prefix_and_any_trailing_byte_is_a_decode_error(name: str, msg_type: int) -> None:
    body = body_of(name, msg_type)
    for n in range(len(body)):
        with pytest.raises(DecodeError):
            decode_body(msg_type, body[:n])
    with pytest.raises(DecodeError):
        decode_body(msg_type, body + b"\0")


@pytest.mark.parametrize(("name", "msg_type"), TRUNCATION_CASES[:5], ids=[c[0] for c in TRUNCATION_CASES[:5]])
def test_corrupted_bytes_decode_or_raise_decode_error(name: str, msg_type: int) -> None:
    body = body_of(name, msg_type)
    for i in range(len(body)):
        for b in (0x00, 0x7F, 0xFF):
            bad = body[:i] + bytes([b]) + body[i + 1 :]
            with contextlib.suppress(DecodeError):
                decode_body(msg_type, bad)


def _patched(body: bytes, offset: int, new: bytes) -> bytes:
    return body[:offset] + new + body[offset + len(new) :]


def test_unsupported_variants_raise_decode_error() -> None:
    sbatch = body_of("proxy/sbatch-conn1-c2s", 4003)
    with pytest.raises(DecodeError, match="select plugin"):
        decode_body(4003, _patched(sbatch, 1104, struct.pack(">I", 107)))  # select/cray_aries linear
    with pytest.raises(DecodeError, match="crontab"):
        decode_body(4003, sbatch[:-1] + b"\x02")
    with pytest.raises(DecodeError, match="version"):
        JobDesc.unpack(Reader(sbatch), SLURM_21_08_PROTOCOL_VERSION)
    with pytest.raises(DecodeError, match="federation"):
        decode_body(2050, b"\x01")
    alloc = body_of("proxy/srun-conn1-s2c", 4002)
    with pytest.raises(DecodeError, match="working_cluster_rec"):
        decode_body(4002, alloc[:-1] + b"\x01")
    squeue = body_of("proxy/squeue-conn1-s2c", 2004)
    first = 20  # record 0 starts after u32 count, time, time
    with pytest.raises(DecodeError, match="multi-core"):
        decode_body(2004, _patched(squeue, first + 537, b"\x01"))
    # container is packed twice: make the first copy a 1-char string that differs from the second (NULL)
    rec = JobRecord(container="x").to_bytes()
    twice_differs = rec.replace(b"\0\0\0\x02x\0", b"\0\0\0\x02y\0", 1)
    with pytest.raises(DecodeError, match="container"):
        JobRecord.unpack(Reader(twice_differs), 0x2600)
    with pytest.raises(DecodeError):
        decode_body(2003, struct.pack(">qHI", 0, 0, 0xFFFFFFFF))  # count above NO_VAL


def test_bitmap_and_string_primitives_match_slurm() -> None:
    # bit_fmt_hexmask: ceil(size/4) upper-case digits, "0x0" for an empty bitmap; NULL is NO_VAL alone
    assert pack_bits(Bitmap(0, 0)) == b"\0\0\0\0" + b"\0\0\0\x040x0\0"
    assert pack_bits(Bitmap(12, 0xAB)) == struct.pack(">I", 12) + b"\0\0\0\x060x0AB\0"
    assert pack_bits(None) == struct.pack(">I", NO_VAL)
    with pytest.raises(EncodeError):
        pack_bits(Bitmap(4, 0x10))
    assert pack_str(None) == b"\0\0\0\0" and pack_str("") == b"\0\0\0\x01\0"
    assert pack_strs(()) == b"\0\0\0\0"
    with pytest.raises(EncodeError):
        pack_strs(("a", None))  # type: ignore[arg-type]
    with pytest.raises(DecodeError, match="NULL element"):
        decode_body(
            4003, encode_body(JobDesc(argv=("x",))).replace(b"\0\0\0\x01\0\0\0\x02x\0", b"\0\0\0\x01\0\0\0\0")
        )


def test_cron_entry_round_trip() -> None:
    entry = CronEntry(
        flags=1,
        minute=Bitmap(61, 1 << 5),
        hour=Bitmap(24, (1 << 24) - 1),
        day_of_month=Bitmap(32, 0),
        month=Bitmap(13, 0b1111111111110),
        day_of_week=None,
        cronspec="5 * * * *",
        line_start=3,
        line_end=4,
    )
    desc = JobDesc(name="cron", crontab_entry=entry)
    body = encode_body(desc)
    assert body.endswith(struct.pack(">II", 3, 4))
    assert decode_body(4003, body) == desc


def test_encode_errors_name_the_field() -> None:
    with pytest.raises(EncodeError, match=r"JobRecord\.job_id"):
        JobRecord(job_id=-1).to_bytes()
    with pytest.raises(EncodeError, match=r"JobDesc\.name"):
        encode_body(JobDesc(name=5))  # type: ignore[arg-type]
    with pytest.raises(EncodeError, match=r"JobDesc\.power_flags"):
        encode_body(JobDesc(power_flags=256))
    with pytest.raises(EncodeError):
        encode_body(JobStepKill(signal=70000))
    with pytest.raises(EncodeError, match="version"):
        JobRecord().to_bytes(SLURM_21_08_PROTOCOL_VERSION)
    with pytest.raises(EncodeError):
        JobRecord(job_resources=JobResources(nhosts=2, cpus=(1,))).to_bytes()
    with pytest.raises(EncodeError):
        encode_body(ResourceAllocationResponse(node_cnt=2, node_addr=(Address(2, 0x7F000001, 6818),)))


def test_allocation_with_node_addresses_round_trips() -> None:
    resp = ResourceAllocationResponse(
        job_id=9,
        node_cnt=2,
        node_addr=(Address(2, 0x7F000001, 6818), Address(10, b"\0" * 15 + b"\1", 6818)),
        environment=("A=1",),
        cpus_per_node=(4, 2),
        cpu_count_reps=(1, 1),
    )
    assert decode_body(4002, encode_body(resp)) == resp


# -- property round trips -------------------------------------------------------------------------

_text = st.one_of(st.none(), st.text(max_size=12))
_bitmaps = st.integers(0, 96).flatmap(
    lambda n: st.one_of(st.none(), st.integers(0, (1 << n) - 1).map(lambda v: Bitmap(n, v)))
)
_PRIMITIVE: dict[str, st.SearchStrategy[Any]] = {
    U8: st.integers(0, 0xFF),
    U16: st.integers(0, 0xFFFF),
    U32: st.integers(0, 0xFFFFFFFF),
    U64: st.integers(0, 0xFFFFFFFFFFFFFFFF),
    TIME: st.integers(-(1 << 63), (1 << 63) - 1),
    DOUBLE: st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
    STR: _text,
    STRS: st.lists(st.text(max_size=8), max_size=4).map(tuple),
    BITS: _bitmaps,
}
_u16s = st.lists(st.integers(0, 0xFFFF), max_size=3).map(tuple)


@st.composite
def _job_resources(draw: st.DrawFn) -> JobResources:
    cpus = draw(_u16s)
    reps = draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=3).map(tuple))
    return JobResources(
        nhosts=len(cpus),
        ncpus=draw(_PRIMITIVE[U32]),
        nodes=draw(_text),
        whole_node=draw(_PRIMITIVE[U8]),
        cpu_array_reps=reps,
        cpu_array_value=tuple(draw(st.integers(0, 0xFFFF)) for _ in reps),
        cpus=cpus,
        cpus_used=draw(_u16s),
        memory_allocated=draw(st.lists(_PRIMITIVE[U64], max_size=2).map(tuple)),
        sockets_per_node=draw(_u16s),
        sock_core_rep_count=draw(st.lists(_PRIMITIVE[U32], max_size=2).map(tuple)),
        core_bitmap=draw(_bitmaps),
        core_bitmap_used=draw(_bitmaps),
    )


_CUSTOM: dict[str, st.SearchStrategy[Any]] = {
    "select_plugin_id": st.sampled_from([101, 102, 109]),
    "crontab_entry": st.one_of(
        st.none(),
        st.builds(CronEntry, _PRIMITIVE[U32], _bitmaps, _bitmaps, _bitmaps, _bitmaps, _bitmaps, _text),
    ),
    "job_resources": st.one_of(st.none(), _job_resources()),
    "multi_core": st.one_of(st.none(), st.builds(MultiCore, *[_PRIMITIVE[U16]] * 9)),
}


def _strategy(cls: type, layout: tuple[tuple[Any, ...], ...]) -> st.SearchStrategy[Any]:
    """Every field of a layout table (a field several releases pack differently: its first entry)."""
    kwargs = {}
    for name, kind, *_ in layout:
        if name not in kwargs:
            kwargs[name] = _CUSTOM[name] if name in _CUSTOM else _PRIMITIVE[kind]
    return st.builds(cls, **kwargs)


@settings(max_examples=150, deadline=None)
@given(_strategy(JobDesc, JOB_DESC_LAYOUT))
def test_job_desc_property_round_trip(desc: JobDesc) -> None:
    # 22.05 packs every field but those later releases added
    desc = dataclasses.replace(desc, **{name: getattr(JobDesc(), name) for name in _LATER_JOB_DESC_FIELDS})
    body = encode_body(desc)
    assert decode_body(4003, body) == desc


_LATER_JOB_DESC_FIELDS = {e[0] for e in JOB_DESC_LAYOUT if len(e) == 3 and 0x2600 not in e[2]} - {
    e[0] for e in JOB_DESC_LAYOUT if len(e) == 2 or 0x2600 in e[2]
}


@settings(max_examples=150, deadline=None)
@given(_strategy(JobRecord, JOB_RECORD.layouts[0x2600]))
def test_job_record_property_round_trip(rec: JobRecord) -> None:
    blob = rec.to_bytes()
    back = JobRecord.unpack(Reader(blob), 0x2600)
    # billable_tres travels as value x 1e6: compare it through its wire form
    assert dataclasses.replace(back, billable_tres=rec.billable_tres) == rec
    assert back.to_bytes() == blob
    assert with_show_flags(blob, 0x13) == dataclasses.replace(rec, show_flags=0x13).to_bytes()


@given(
    st.builds(
        JobStepKill,
        _PRIMITIVE[U32],
        _PRIMITIVE[U32],
        _PRIMITIVE[U32],
        _text,
        _text,
        _PRIMITIVE[U16],
        _PRIMITIVE[U16],
    )
)
def test_kill_property_round_trip(msg: JobStepKill) -> None:
    assert decode_body(5032, encode_body(msg)) == msg

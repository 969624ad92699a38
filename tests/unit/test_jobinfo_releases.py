"""Job and step information in 24.11's and 26.05's layouts: the real traffic of each release round-trips
byte for byte, records round-trip per release, the handlers answer each asker in its release and cache
per release, and the mirror cuts a newer source's replies."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.test_codec_jobs import _CUSTOM, _PRIMITIVE, _text

from flurm.auth.authenticator import FakeAuthenticator, Identity
from flurm.config import parse_text
from flurm.controller.engine import Controller
from flurm.controller.handlers import jobs as job_handlers
from flurm.controller.handlers import steps as step_handlers
from flurm.daemon import Daemon
from flurm.migration.mirror import Mirror
from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL16,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.frame import Frame, FrameDecoder, Header
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import (
    JOB_RECORD,
    FedDetails,
    JobIdRequest,
    JobInfoRequest,
    JobInfoResponse,
    JobRecord,
    JobResources,
    PackedJobInfoResponse,
    decode_job_record,
    split_job_info,
)
from flurm.protocol.messages.layout import U32, U64, compile_skipper
from flurm.protocol.messages.steps import JobStepInfoRequest, JobStepInfoResponse
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader
from flurm.rpc.transport import Request, RpcServer
from flurm.state.cluster import Allocation, Cluster
from flurm.state.records import job_record_bytes, job_sluid

GOLDEN = Path(__file__).resolve().parents[2] / "tests" / "golden"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}
NEWER = tuple(RELEASES.values())
# step ids carry the job's sluid from 24.11 (the slurmd codecs' StepId)
STEP_ID_HAS_SLUID = any(f.name == "sluid" for f in dataclasses.fields(StepId))


def frames(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (frame := dec.next_frame()) is not None:
        out.append(frame)
    return out


def captured() -> list[tuple[str, Frame]]:
    out = []
    for release in RELEASES:
        folder = GOLDEN / release / "jobinfo"
        paths = sorted(folder.glob("*.bin"))
        if len(paths) < 16:
            raise RuntimeError(f"{folder}: the golden captures belong to the repo")
        for path in paths:
            out.extend((f"{release}/{path.name}", f) for f in frames(path))
    return out


CAPTURED = captured()
STEP_TYPES = (MsgType.REQUEST_JOB_STEP_INFO, MsgType.RESPONSE_JOB_STEP_INFO)


@pytest.mark.parametrize(
    "name,frame",
    [
        pytest.param(
            n,
            f,
            id=n,
            marks=pytest.mark.skipif(
                f.msg_type in STEP_TYPES and not STEP_ID_HAS_SLUID,
                reason="needs the step id of 24.11 (u64 sluid first) from the slurmd codecs",
            ),
        )
        for n, f in CAPTURED
    ],
)
def test_real_traffic_round_trips(name: str, frame: Frame) -> None:
    assert frame.version in NEWER
    body = decode_body(frame.msg_type, frame.body, frame.version)
    assert encode_body(body, frame.version) == frame.body


def _response(release: str, name: str) -> tuple[int, bytes]:
    (frame,) = frames(GOLDEN / release / "jobinfo" / f"{name}-s2c.bin")
    assert frame.msg_type == MsgType.RESPONSE_JOB_INFO
    return frame.version, frame.body


@pytest.mark.parametrize("release", RELEASES)
def test_the_captured_records_read_as_that_release_packed_them(release: str) -> None:
    version, body = _response(release, "show-job-detail")
    resp = decode_body(MsgType.RESPONSE_JOB_INFO, body, version)
    assert isinstance(resp, JobInfoResponse)
    by_id = {r.job_id: r for r in resp.records}
    assert sorted(by_id) == [1, 2, 3, 4, 5]
    long, held, meta, task = by_id[2], by_id[3], by_id[4], by_id[5]
    assert (long.name, long.time_limit, long.nodes, long.partition) == ("long", 30, "compute-node-1", "debug")
    assert held.state_reason == 16 and held.num_nodes == held.max_nodes == 1  # WAIT_HELD_USER, "1-1"
    assert meta.array_task_str == "0x1C" and meta.array_max_tasks == 1 and meta.state_reason == 72
    assert (task.array_job_id, task.array_task_id) == (4, 1)
    assert long.oom_kill_step == NO_VAL16 and long.has_details and long.fed_details is None
    assert long.start_protocol_ver == version
    res = long.job_resources
    assert res is not None and res.cpus == (1,) and res.core_bitmap == Bitmap(2, 1)
    if version == SLURM_24_11_PROTOCOL_VERSION:
        assert res.node_bitmap == Bitmap(1, 1) and long.sluid == 0
    else:
        assert res.node_bitmap is None and res.node_ranks == ()
        assert long.sluid >> 52 and long.step_id == NO_VAL and long.step_het_comp == NO_VAL
        assert long.submit_line is not None and long.submit_line.startswith("sbatch -D ")
        assert (long.exclusive, long.oversubscribe, long.shared) == (0, 0, NO_VAL16)


def test_a_26_05_job_id_request_carries_a_step_id() -> None:
    (frame,) = frames(GOLDEN / "26.05" / "jobinfo" / "show-job-single-c2s.bin")
    req = decode_body(frame.msg_type, frame.body, frame.version)
    assert req == JobIdRequest(2, 16, 0, NO_VAL, NO_VAL)
    assert encode_body(req, SLURM_24_11_PROTOCOL_VERSION) == (2).to_bytes(4, "big") + (16).to_bytes(2, "big")
    assert encode_body(req, SLURM_22_05_PROTOCOL_VERSION) == encode_body(req, SLURM_24_11_PROTOCOL_VERSION)


@pytest.mark.parametrize("release", RELEASES)
def test_split_matches_full_decode(release: str) -> None:
    """The mirror's fast path on a newer source: bytes per record and each one's job id."""
    for name in ("squeue", "show-job-detail", "show-job-array"):
        version, body = _response(release, name)
        full = decode_body(MsgType.RESPONSE_JOB_INFO, body, version)
        assert isinstance(full, JobInfoResponse)
        last_update, last_backfill, parts = split_job_info(body, version)
        assert (last_update, last_backfill) == (full.last_update, full.last_backfill)
        assert [job_id for job_id, _ in parts] == [r.job_id for r in full.records]
        assert [decode_job_record(raw, version) for _, raw in parts] == list(full.records)
        packed = decode_body(MsgType.RESPONSE_JOB_INFO, body, version)
        assert encode_body(
            PackedJobInfoResponse(last_update, last_backfill, tuple(r for _, r in parts)), version
        ) == (encode_body(packed, version))
        with pytest.raises(DecodeError):
            split_job_info(
                body, SLURM_22_05_PROTOCOL_VERSION if version != SLURM_22_05_PROTOCOL_VERSION else version
            )


def test_a_record_without_details_is_refused_not_guessed() -> None:
    with pytest.raises(EncodeError):
        JobRecord(has_details=False).to_bytes(SLURM_24_11_PROTOCOL_VERSION)
    blob = bytearray(JobRecord(job_id=7).to_bytes(SLURM_24_11_PROTOCOL_VERSION))
    layout = JOB_RECORD.layouts[SLURM_24_11_PROTOCOL_VERSION]
    lead = layout[: [n for n, _ in layout].index("has_details")]
    pos = compile_skipper(lead, "lead")(bytes(blob), 0, len(blob))
    assert blob[pos] == 1
    blob[pos] = 0
    with pytest.raises(DecodeError, match="without job details"):
        decode_job_record(bytes(blob), SLURM_24_11_PROTOCOL_VERSION)


@pytest.mark.parametrize("version", NEWER)
def test_job_resources_per_release(version: int) -> None:
    res = JobResources(
        nhosts=2,
        ncpus=3,
        node_req=1,
        nodes="n[1-2]",
        cpus=(1, 2),
        sockets_per_node=(1,),
        cores_per_socket=(2,),
        sock_core_rep_count=(2,),
        core_bitmap=Bitmap(4, 0b0111),
        core_bitmap_used=Bitmap(4, 0),
        next_step_node_inx=1,
        node_bitmap=Bitmap(3, 0b011) if version == SLURM_24_11_PROTOCOL_VERSION else None,
        node_ranks=(0, 1) if version == SLURM_26_05_PROTOCOL_VERSION else (),
    )
    rec = JobRecord(job_id=9, job_resources=res, fed_details=FedDetails("c1", 1, "c1", 3, "c1,c2"))
    blob = rec.to_bytes(version)
    assert decode_job_record(blob, version) == rec
    # 22.05 has neither the next step's node nor the trailing node list
    old = decode_job_record(rec.to_bytes(SLURM_22_05_PROTOCOL_VERSION), SLURM_22_05_PROTOCOL_VERSION)
    assert old.job_resources == dataclasses.replace(
        res, next_step_node_inx=0, node_bitmap=None, node_ranks=()
    )


_NEWER_KINDS: dict[str, st.SearchStrategy[Any]] = {
    "fed_details": st.one_of(
        st.none(), st.builds(FedDetails, _text, _PRIMITIVE[U64], _text, _PRIMITIVE[U64], _text)
    ),
    "priority_array": st.lists(_PRIMITIVE[U32], max_size=3).map(tuple),
    "has_details": st.just(True),
}


def _record_strategy(version: int) -> st.SearchStrategy[JobRecord]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {}
    for name, kind in JOB_RECORD.layouts[version]:
        if name in _NEWER_KINDS:
            kwargs[name] = _NEWER_KINDS[name]
        else:
            kwargs[name] = _CUSTOM[name] if name in _CUSTOM else _PRIMITIVE[kind]
    return st.builds(JobRecord, **kwargs)


@pytest.mark.parametrize("version", NEWER)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_job_record_property_round_trip(version: int, data: Any) -> None:
    rec = data.draw(_record_strategy(version))
    blob = rec.to_bytes(version)
    back = JobRecord.unpack(Reader(blob), version)
    assert dataclasses.replace(back, billable_tres=rec.billable_tres) == dataclasses.replace(
        rec, **{f: getattr(back, f) for f in _not_in(version)}
    )
    assert back.to_bytes(version) == blob


def _not_in(version: int) -> set[str]:
    """The fields a release does not pack (they read back as their default)."""
    return {f.name for f in dataclasses.fields(JobRecord)} - {n for n, _ in JOB_RECORD.layouts[version]}


def test_the_22_05_layout_is_what_it_was() -> None:
    names = [n for n, _ in JOB_RECORD.layouts[SLURM_22_05_PROTOCOL_VERSION]]
    assert names[:3] == ["array_job_id", "array_task_id", "array_task_str"] and names[-1] == "selinux_context"
    assert names.count("container") == 2 and "sluid" not in names and "show_flags" in names
    newer = [n for n, _ in JOB_RECORD.layouts[SLURM_24_11_PROTOCOL_VERSION]]
    assert "show_flags" not in newer and "select_plugin_id" not in newer and newer[0] == "account"
    assert [n for n, _ in JOB_RECORD.layouts[SLURM_26_05_PROTOCOL_VERSION]][:4] == [
        "sluid",
        "job_id",
        "step_id",
        "step_het_comp",
    ]


# -- the handlers ---------------------------------------------------------------------------------

NOW = 1_795_696_400
CONF = """
ClusterName=localtest
SlurmctldHost=localhost
NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    daemon = Daemon(parse_text(CONF), FakeAuthenticator(), state_dir=tmp_path, clock=lambda: NOW)
    c = daemon.controller
    c.store.open()
    c.schedule_soon = lambda: None  # type: ignore[method-assign]
    try:
        yield c
    finally:
        c.store.close()
        c.signer.close()


def _ask(ctl: Controller, body: Any, msg_type: int, version: int) -> tuple[int, bytes]:
    frame = Frame(Header(msg_type, version), 101, None, encode_body(body, version))
    req = Request(msg_type, body, Identity(0, 0), frame, ("127.0.0.1", 1))
    handler = job_handlers.HANDLERS[MsgType(msg_type)]
    reply = handler(ctl, req)
    assert not hasattr(reply, "__await__")
    assert reply.raw_body is not None and reply.raw_version == version  # type: ignore[union-attr]
    return reply.msg_type, RpcServer._encode(reply, version)  # type: ignore[arg-type]


def _jobs(ctl: Controller) -> None:
    ctl.jobs.create(JobDesc(script="#!/bin/sh\n", name="held", priority=0), 0, 0, "localhost")
    run, _ = ctl.jobs.create(
        JobDesc(script="#!/bin/sh\n", name="run", submit_line="sbatch run.sh"), 0, 0, "localhost"
    )
    ctl.cluster.start_job(run, Allocation(("compute-node-1",), ((0,),), (1,), (0,)), NOW - 60)


@pytest.mark.parametrize("version", (SLURM_22_05_PROTOCOL_VERSION, *NEWER))
def test_each_release_gets_its_layout_and_its_own_cache(ctl: Controller, version: int) -> None:
    _jobs(ctl)
    _, base = _ask(ctl, JobInfoRequest(0, 16), MsgType.REQUEST_JOB_INFO, SLURM_22_05_PROTOCOL_VERSION)
    old = decode_body(MsgType.RESPONSE_JOB_INFO, base, SLURM_22_05_PROTOCOL_VERSION)
    msg_type, body = _ask(ctl, JobInfoRequest(0, 16), MsgType.REQUEST_JOB_INFO, version)
    assert msg_type == MsgType.RESPONSE_JOB_INFO
    new = decode_body(MsgType.RESPONSE_JOB_INFO, body, version)
    assert isinstance(old, JobInfoResponse) and isinstance(new, JobInfoResponse)
    assert [r.job_id for r in new.records] == [r.job_id for r in old.records] == [1, 2]
    # the fields both releases pack agree (24.11 estimates a waiting job's maximum otherwise)
    common = {n for n, _ in JOB_RECORD.layouts[version]} & {
        n for n, _ in JOB_RECORD.layouts[SLURM_22_05_PROTOCOL_VERSION]
    }
    for a, b in zip(old.records, new.records, strict=True):
        for name in sorted(common - {"max_nodes"}):
            assert getattr(a, name) == getattr(b, name), name
    held, run = new.records
    if version >= SLURM_24_11_PROTOCOL_VERSION:
        assert held.max_nodes == held.num_nodes == 1 and run.oom_kill_step == NO_VAL16
    if version == SLURM_26_05_PROTOCOL_VERSION:
        job = ctl.cluster.jobs[2]
        assert run.sluid == job_sluid(job, ctl.cluster) and run.sluid >> 52 == held.sluid >> 52
        assert run.submit_line == "sbatch run.sh" and run.exclusive == 0 and run.oversubscribe == 0
    else:
        assert run.sluid == 0 and run.submit_line is None
    # the 22.05 answer is the same bytes after a newer one was cached beside it
    _, again = _ask(ctl, JobInfoRequest(0, 16), MsgType.REQUEST_JOB_INFO, SLURM_22_05_PROTOCOL_VERSION)
    assert again[20:] == base[20:]
    # a single job and a user's jobs in the same layout
    _, single = _ask(ctl, JobIdRequest(2, 16), MsgType.REQUEST_JOB_INFO_SINGLE, version)
    one = decode_body(MsgType.RESPONSE_JOB_INFO, single, version)
    assert isinstance(one, JobInfoResponse) and one.records == (run,)


def test_a_release_flurm_does_not_serve_gets_no_records(ctl: Controller) -> None:
    _jobs(ctl)
    frame = Frame(Header(MsgType.REQUEST_JOB_INFO, 0x2500), 101, None, b"")
    req = Request(MsgType.REQUEST_JOB_INFO, JobInfoRequest(0, 16), Identity(0, 0), frame, ("x", 1))
    reply = job_handlers.job_info(ctl, req)
    with pytest.raises(EncodeError):
        RpcServer._encode(reply, 0x2500)


@pytest.mark.parametrize("version", NEWER)
def test_step_info_response_ends_with_no_stepmgr_jobs(version: int) -> None:
    body = encode_body(JobStepInfoResponse(NOW, ()), version)
    assert body == (0).to_bytes(4, "big") + NOW.to_bytes(8, "big") + NO_VAL.to_bytes(4, "big")
    assert encode_body(JobStepInfoResponse(NOW, ()), SLURM_22_05_PROTOCOL_VERSION) == body[:12]
    with pytest.raises(DecodeError, match="stepmgr"):
        decode_body(MsgType.RESPONSE_JOB_STEP_INFO, body[:12] + (1).to_bytes(4, "big"), version)


# -- the mirror of a newer source ----------------------------------------------------------------


class _Source:
    """A source slurmctld of a newer release: its captured job list, nothing else."""

    def __init__(self, body: bytes, version: int) -> None:
        self.body = body
        self.version = version

    async def release(self) -> int:
        return self.version

    async def jobs_raw(self, last_update: int = 0) -> bytes | None:
        return self.body

    async def partitions(self, last_update: int = 0) -> None:
        return None

    async def nodes(self, last_update: int = 0) -> None:
        return None

    async def reservations(self, last_update: int = 0) -> None:
        return None


@pytest.mark.parametrize("release", RELEASES)
def test_the_mirror_of_a_newer_source_is_lossless_in_its_release(release: str) -> None:
    version, body = _response(release, "squeue")
    cluster = Cluster(parse_text(CONF), None, lambda: NOW)
    ctl: Any = SimpleNamespace(cluster=cluster, now=lambda: NOW, clock=lambda: float(NOW))
    mirror = Mirror(ctl, _Source(body, version))  # type: ignore[arg-type]
    counts = asyncio.run(mirror.sync())
    assert counts.new == 5 and list(cluster.jobs) == [1, 2, 3, 5, 4]
    _, _, parts = split_job_info(body, version)
    for job_id, raw in parts:
        # flurm answers a client of the source's release with the record the source gave
        mine = job_record_bytes(cluster.jobs[job_id], cluster, 16, version)
        assert decode_job_record(mine, version) == decode_job_record(raw, version)
        assert mine == raw


@pytest.mark.parametrize("version", NEWER)
def test_step_records_name_the_jobs_sluid_from_26_05(ctl: Controller, version: int) -> None:
    _jobs(ctl)
    body = JobStepInfoRequest()
    frame = Frame(Header(MsgType.REQUEST_JOB_STEP_INFO, version), 101, None, encode_body(body, version))
    reply = step_handlers.step_info(
        ctl, Request(MsgType.REQUEST_JOB_STEP_INFO, body, Identity(0, 0), frame, ("x", 1))
    )
    assert isinstance(reply.body, JobStepInfoResponse)
    back = decode_body(MsgType.RESPONSE_JOB_STEP_INFO, encode_body(reply.body, version), version)
    assert isinstance(back, JobStepInfoResponse)
    (batch,) = back.steps
    assert (batch.step_id.job_id, batch.name) == (2, "batch")
    want = job_sluid(ctl.cluster.jobs[2], ctl.cluster) if version == SLURM_26_05_PROTOCOL_VERSION else 0
    assert batch.step_id.sluid == want
    assert batch.job_name == ("run" if version == SLURM_26_05_PROTOCOL_VERSION else None)

"""Submit, kill, hold/release/update and requeue bodies in 24.11 and 26.05: the real releases' traffic
(tests/golden/<release>/submit) decodes and encodes to the same bytes, the fields each release adds
land where they belong, and what flurm does with them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from flurm.controller.job_update import unapplied_field
from flurm.controller.submit import refuse_unhonoured
from flurm.errors import SlurmError
from flurm.protocol.constants import NO_VAL, NO_VAL16, SLURM_BATCH_SCRIPT, MsgType, SlurmRC
from flurm.protocol.frame import Frame, FrameDecoder
from flurm.protocol.messages import body_class, decode_body, encode_body
from flurm.protocol.messages.common import ReturnCodeMsg
from flurm.protocol.messages.job_control import (
    JobArrayError,
    JobArrayErrors,
    JobStepKill,
    KillJobResult,
    KillJobs,
    KillJobsResponse,
    SubmitBatchJobResponse,
    WillRunResponse,
)
from flurm.protocol.messages.job_desc import JOB_DESC_LAYOUT, JobDesc
from flurm.protocol.messages.slurmd import JobRequeue

V22, V24, V26 = 0x2600, 0x2A00, 0x2D00
GOLDEN = Path(__file__).resolve().parents[1] / "golden"
RELEASES = {"24.11": V24, "26.05": V26}


def frames_of(path: Path) -> list[Frame]:
    dec = FrameDecoder()
    dec.feed(path.read_bytes())
    out = []
    while (f := dec.next_frame()) is not None:
        out.append(f)
    assert dec.needed() == 4, f"{path.name}: trailing bytes"
    return out


def golden(release: str, name: str) -> list[Frame]:
    return frames_of(GOLDEN / release / "submit" / f"{name}.bin")


def body(release: str, name: str, index: int = 0) -> object:
    f = golden(release, name)[index]
    return decode_body(f.msg_type, f.body, f.version)


@pytest.mark.parametrize("release", RELEASES)
def test_every_captured_body_of_the_family_round_trips(release: str) -> None:
    files = sorted((GOLDEN / release / "submit").glob("*.bin"))
    assert len(files) == 18
    seen = set()
    for path in files:
        for f in frames_of(path):
            assert f.version == RELEASES[release], path.name
            if f.msg_type in (MsgType.REQUEST_FED_INFO, MsgType.RESPONSE_FED_INFO) or body_class(
                f.msg_type
            ).__name__.startswith("JobInfo"):
                continue  # (the job listing scancel reads first is the job information's family)
            decoded = decode_body(f.msg_type, f.body, f.version)
            assert encode_body(decoded, f.version) == f.body, path.name
            seen.add(type(decoded).__name__)
    assert seen >= {
        "JobDesc",
        "SubmitBatchJobResponse",
        "WillRunResponse",
        "ReturnCodeMsg",
        "ReturnCode",
        "JobArrayErrors",
        "JobStepKill",
        "JobRequeue",
        "KillJobs",
        "KillJobsResponse",
    }


@pytest.mark.parametrize("release", RELEASES)
def test_sbatch_job_desc_of_a_newer_release(release: str) -> None:
    desc = body(release, "sbatch-hold-c2s")
    assert isinstance(desc, JobDesc)
    assert desc.name == "hold1" and desc.priority == 0  # --hold
    assert desc.submit_line == "sbatch --hold -J hold1 -o /dev/null --wrap sleep 100"
    assert desc.script is not None and "sleep 100" in desc.script
    # "no uid/gid given" is SLURM_AUTH_NOBODY on this wire, NO_VAL in the dataclass as in 22.05
    assert (desc.user_id, desc.group_id) == (NO_VAL, NO_VAL)
    assert desc.job_id == NO_VAL and desc.job_id_str is None
    # sbatch's "not given" of the options 24.11 added
    assert (desc.oom_kill_step, desc.resv_port_cnt, desc.segment_size) == (NO_VAL16, NO_VAL16, 0)
    assert desc.container_id is None and desc.job_size_str is None
    if release == "26.05":
        assert (desc.sluid, desc.step_id, desc.step_het_comp) == (0, NO_VAL, NO_VAL)
    refuse_unhonoured(desc)  # nothing flurm refuses


@pytest.mark.parametrize("release", RELEASES)
def test_replies_of_a_newer_release(release: str) -> None:
    submitted = body(release, "sbatch-hold-s2c")
    assert isinstance(submitted, SubmitBatchJobResponse)
    assert (submitted.job_id, submitted.step_id, submitted.error_code) == (7, SLURM_BATCH_SCRIPT, 2042)
    assert (submitted.sluid != 0) == (release == "26.05")  # 26.05 numbers the job's SLUID
    will_run = body(release, "sbatch-test-only-s2c")
    assert isinstance(will_run, WillRunResponse)
    assert (will_run.job_id, will_run.node_list, will_run.part_name) == (8, "compute-node-1", "debug")
    # the update of a job id answers RESPONSE_SLURM_RC_MSG without a message from 24.11
    f = golden(release, "scontrol-release-s2c")[0]
    assert f.msg_type == MsgType.RESPONSE_SLURM_RC_MSG
    assert decode_body(f.msg_type, f.body, f.version) == ReturnCodeMsg(0, None)
    release_1 = body(release, "scontrol-release-c2s")
    assert isinstance(release_1, JobDesc) and release_1.job_id_str == "1" and release_1.priority == 0xFFFFFFFF
    assert unapplied_field(release_1) is None
    # the array's tasks in 26.05's brackets read as 22.05's and 24.11's text
    assert body(release, "scontrol-update-array-s2c") == JobArrayErrors((JobArrayError(0, "3_1-3"),))


@pytest.mark.parametrize("release", RELEASES)
def test_kill_requests_of_a_newer_release(release: str) -> None:
    assert body(release, "scancel-unknown-c2s") == JobStepKill(sjob_id="99999", signal=9)
    assert body(release, "scancel-task-c2s") == JobStepKill(sjob_id="3_1", signal=9)
    assert body(release, "scancel-step-c2s") == JobStepKill(2, 0, NO_VAL, None, None, 9, 0)
    requeue = body(release, "scontrol-requeue-c2s")
    assert isinstance(requeue, JobRequeue) and (requeue.job_id, requeue.job_id_str) == (NO_VAL, "2")
    kill = body(release, "scancel-ctld-c2s")
    assert isinstance(kill, KillJobs) and kill.jobs == ("1",) and kill.signal == 9
    assert body(release, "scancel-ctld-s2c") == KillJobsResponse()


def _every_field_set() -> JobDesc:
    """A job description whose every field differs from its default (ids: not the 'not given' ones)."""
    changes: dict[str, object] = {}
    for f in dataclasses.fields(JobDesc):
        default = getattr(JobDesc(), f.name)
        if f.name == "select_plugin_id":
            changes[f.name] = 101
        elif f.name == "crontab_entry":
            continue
        elif isinstance(default, tuple):
            changes[f.name] = (f"{f.name}=1",)
        elif isinstance(default, int):
            changes[f.name] = 3
        else:
            changes[f.name] = f.name
    return dataclasses.replace(JobDesc(), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", [V22, V24, V26])
def test_job_desc_round_trips_in_each_release_with_its_own_fields(version: int) -> None:
    full = _every_field_set()
    back = decode_body(MsgType.REQUEST_SUBMIT_BATCH_JOB, encode_body(full, version), version)
    carried = {e[0] for e in JOB_DESC_LAYOUT if len(e) == 2 or version in e[2]}
    for f in dataclasses.fields(JobDesc):
        expected = getattr(full, f.name) if f.name in carried else getattr(JobDesc(), f.name)
        assert getattr(back, f.name) == expected, f.name
    # 24.11 dropped power_flags and the select plugin; 26.05 moved the job id into a step id in front
    assert ("power_flags" in carried, "select_plugin_id" in carried) == (
        (True, True) if version == V22 else (False, False)
    )
    assert ("sluid" in carried) == (version == V26)
    raw = encode_body(JobDesc(job_id=7), version)
    if version == V26:
        assert raw[:20] == bytes(8) + (7).to_bytes(4, "big") + b"\xff\xff\xff\xfe" * 2
    else:
        assert raw[:4] == (NO_VAL).to_bytes(4, "big")  # site_factor first


@pytest.mark.parametrize("version", [V24, V26])
def test_the_uid_not_given_is_nobody_from_24_11(version: int) -> None:
    raw = encode_body(JobDesc(user_id=NO_VAL, group_id=0), version)
    back = decode_body(MsgType.REQUEST_UPDATE_JOB, raw, version)
    assert isinstance(back, JobDesc) and (back.user_id, back.group_id) == (NO_VAL, 0)
    assert (99).to_bytes(4, "big") + bytes(4) in raw
    assert (99).to_bytes(4, "big") not in encode_body(JobDesc(user_id=NO_VAL), V22)


@pytest.mark.parametrize(
    ("change", "rc"),
    [
        ({"job_size_str": "1,3"}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"oom_kill_step": 1}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"container_id": "abc"}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"container_type": "oci"}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"mem_update_margin": 10, "mem_update_delay": 30}, SlurmRC.ESLURM_NOT_SUPPORTED),
        ({"resv_port_cnt": 2}, SlurmRC.ESLURM_PORTS_INVALID),
    ],
)
def test_newer_options_flurm_cannot_honour_are_refused_with_slurms_text(
    change: dict[str, object], rc: int
) -> None:
    with pytest.raises(SlurmError) as info:
        refuse_unhonoured(dataclasses.replace(JobDesc(), **change))  # type: ignore[arg-type]
    assert info.value.rc == rc
    # the values the clients send when the option is not given are no refusal
    refuse_unhonoured(JobDesc(oom_kill_step=NO_VAL16, resv_port_cnt=NO_VAL16, segment_size=NO_VAL16))


def test_an_update_of_what_newer_update_job_ignores_changes_nothing_and_is_no_refusal() -> None:
    ignored = JobDesc(oom_kill_step=1, segment_size=4, resv_port_cnt=2, container_id="x", sluid=5)
    assert unapplied_field(ignored) is None
    assert unapplied_field(JobDesc(job_size_str="1,3")) == "job_size_str"


@pytest.mark.parametrize("version", [V22, V24, V26])
def test_reply_bodies_round_trip_in_each_release(version: int) -> None:
    cases: list[object] = [
        SubmitBatchJobResponse(5, error_code=2042, job_submit_user_msg="m"),
        JobStepKill(5, 1, NO_VAL, "5", None, 10, 1),
        JobArrayErrors((JobArrayError(0, "3_1-3"), JobArrayError(2017, "3_7"))),
        WillRunResponse(4, "n1", "debug", 2, 100, (1, 2)),
    ]
    if version != V22:
        cases += [
            KillJobs(jobs=("1", "2_3"), signal=10, flags=0x800),
            KillJobsResponse((KillJobResult(2017, 9, error_msg="Invalid job id specified"),)),
        ]
    for case in cases:
        raw = encode_body(case, version)  # type: ignore[arg-type]
        assert decode_body(_type_of(case), raw, version) == case
    # 26.05 writes an array entry's tasks in brackets
    raw = encode_body(JobArrayErrors((JobArrayError(0, "3_1-3"),)), version)
    assert (b"3_[1-3]" in raw) == (version == V26)


def _type_of(case: object) -> int:
    return {
        SubmitBatchJobResponse: MsgType.RESPONSE_SUBMIT_BATCH_JOB,
        JobStepKill: MsgType.REQUEST_KILL_JOB,
        JobArrayErrors: MsgType.RESPONSE_JOB_ARRAY_ERRORS,
        WillRunResponse: MsgType.RESPONSE_JOB_WILL_RUN,
        KillJobs: MsgType.REQUEST_KILL_JOBS,
        KillJobsResponse: MsgType.RESPONSE_KILL_JOBS,
    }[type(case)]

"""The slurmd bodies and the job credential in 24.11 and 26.05 (slurm_protocol_pack.c, cred_common.c of
each release): each round-trips in every served release, and the fields a release added or dropped are
where its packer puts them."""

from __future__ import annotations

import pytest

from flurm.protocol.constants import (
    NO_VAL,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
)
from flurm.protocol.messages import decode_body, encode_body
from flurm.protocol.messages.credential import (
    GresEpilogInfo,
    GresJobState,
    GresStepState,
    JobCredential,
    StepId,
)
from flurm.protocol.messages.nodes import AcctGatherEnergy
from flurm.protocol.messages.slurmd import (
    BatchJobLaunch,
    CompleteBatchScript,
    CompleteProlog,
    EpilogComplete,
    JobAcctInfo,
    JobRequeue,
    KillJobMsg,
    LaunchProlog,
    NodeRegistrationResponse,
    NodeRegistrationStatus,
    PingSlurmdResponse,
    SignalTasks,
    StepComplete,
)
from flurm.protocol.versions import served_version_of_release
from flurm.protocol.wire import Bitmap, Reader, Writer

V22, V24, V26 = SLURM_22_05_PROTOCOL_VERSION, SLURM_24_11_PROTOCOL_VERSION, SLURM_26_05_PROTOCOL_VERSION
ALL = [V22, V24, V26]


def _cred(**kw: object) -> JobCredential:
    base: dict[str, object] = dict(
        step_id=StepId(7, SLURM_BATCH_SCRIPT, NO_VAL),
        uid=1000,
        gid=1000,
        pw_name="alice",
        pw_dir="/home/alice",
        pw_shell="/bin/sh",
        gids=(1000,),
        job_partition="debug",
        job_hostlist="n1",
        job_nhosts=1,
        ctime=1_700_000_000,
        job_core_bitmap=Bitmap(2, 0b11),
        cores_per_socket=(2,),
        sockets_per_node=(1,),
        sock_core_rep_count=(1,),
        cpu_array=(2,),
        cpu_array_reps=(1,),
        job_mem_alloc=(100,),
        job_mem_alloc_rep_count=(1,),
    )
    base.update(kw)
    return JobCredential(**base)  # type: ignore[arg-type]


# fields a release does not pack decode to their defaults there
NEWER_CRED = dict(
    job_start_time=1_700_000_000,
    job_end_time=1_700_003_600,
    job_licenses="lic:1",
    job_extra="x",
    job_oversubscribe=1,
    switch_step=b"sw",
)
CRED_26 = dict(job_exclusive=1, job_qos="normal")


@pytest.mark.parametrize("version", ALL)
def test_credential_round_trips_with_what_each_release_packs(version: int) -> None:
    newer = NEWER_CRED if version >= V24 else {}
    v26 = CRED_26 if version >= V26 else {}
    sluid = {"step_id": StepId(7, SLURM_BATCH_SCRIPT, NO_VAL, sluid=99)} if version >= V24 else {}
    cred = _cred(**newer, **v26, **sluid, signature=b"MUNGE:abc:\0")
    assert JobCredential.decode(cred.encode(version), version) == cred
    # every field packed: nothing of the newer fields is lost, nothing extra is read
    full = _cred(**NEWER_CRED, **CRED_26)
    assert JobCredential.decode(full.encode(version), version) == _cred(**newer, **v26)


def test_credential_24_11_adds_its_fields_where_cred_create_packs_them() -> None:
    plain, full = _cred(), _cred(**NEWER_CRED)
    b22, b24 = plain.encode(V22), plain.encode(V24)
    # sluid u64, addr count u32, end time u64, extra NULL u32, oversubscribe u16, start time u64,
    # licenses NULL u32, switch info length u32
    assert len(b24) - len(b22) == 8 + 4 + 8 + 4 + 2 + 8 + 4 + 4
    assert b24[:8] == b"\0" * 8  # the sluid leads the step id
    # 26.05: exclusive u16 and qos NULL u32 more
    assert len(plain.encode(V26)) - len(b24) == 2 + 4
    assert b"lic:1" in full.encode(V24) and b"lic:1" not in full.encode(V22)


def test_signed_payload_is_what_precedes_the_signature() -> None:
    cred = _cred(**NEWER_CRED)
    for v in (V24, V26):
        payload = cred.signed_payload(v)
        wire = cred.with_signature(b"MUNGE:sig:\0").encode(v)
        assert wire.startswith(payload) and wire[len(payload) :] == b"\0\0\0\x0bMUNGE:sig:\0"


def test_gres_records_carry_24_11_per_bit_counts_and_step_type() -> None:
    job = GresJobState(
        plugin_id=7696487,
        node_cnt=1,
        gres_bit_alloc=(Bitmap(2, 0b01),),
        gres_per_bit_alloc=((3, 0),),
    )
    step = GresStepState(plugin_id=7696487, node_cnt=1, type_name="a100", gres_per_bit_alloc=None)
    for v in (V24, V26):
        cred = _cred(job_gres=(job,), step_gres=(step,))
        assert JobCredential.decode(cred.encode(v), v) == cred
    # 22.05 has neither: they decode to None there
    old = JobCredential.decode(_cred(job_gres=(job,), step_gres=(step,)).encode(V22), V22)
    assert old.job_gres[0].gres_per_bit_alloc is None and old.step_gres[0].type_name is None


def _launch(**kw: object) -> BatchJobLaunch:
    base: dict[str, object] = dict(
        job_id=7,
        uid=1000,
        gid=1000,
        user_name="alice",
        credential=_cred(),
        partition="debug",
        cpus_per_node=(2,),
        cpu_count_reps=(1,),
        nodes="n1",
        script="#!/bin/sh\ntrue\n",
        environment=("A=1",),
    )
    base.update(kw)
    return BatchJobLaunch(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ALL)
def test_batch_launch_round_trips(version: int) -> None:
    extra: dict[str, object] = {}
    if version >= V24:
        extra = dict(cpu_freq_min=1, cpu_freq_max=2, cpu_freq_gov=3, oom_kill_step=True)
    if version >= V26:
        extra["tres_per_task"] = "cpu=1"
    msg = _launch(**extra)
    got = decode_body(4005, encode_body(msg, version), version)
    assert got == msg


def test_batch_launch_24_11_takes_user_from_the_credential_26_05_the_job_id_too() -> None:
    msg = _launch(uid=5, gid=6, user_name="bob", alias_list="n1:1.2.3.4:n1")
    got24 = decode_body(4005, encode_body(msg, V24), V24)
    assert isinstance(got24, BatchJobLaunch)
    assert (got24.uid, got24.gid, got24.user_name, got24.alias_list) == (1000, 1000, "alice", None)
    raw26 = encode_body(msg, V26)
    assert raw26[:4] == b"\0\0\0\0"  # het_job_id first: no job id
    got26 = decode_body(4005, raw26, V26)
    assert isinstance(got26, BatchJobLaunch) and got26.job_id == 7


@pytest.mark.parametrize("version", ALL)
def test_kill_and_prolog_round_trip(version: int) -> None:
    gres = (GresEpilogInfo(plugin_id=7696487, node_cnt=1, gres_cnt_node_alloc=(1,)),)
    kill = KillJobMsg(StepId(7), 0x8003, 1000, 1000, 1_700_000_100, credential=_cred(), job_gres_info=gres)
    assert decode_body(6011, encode_body(kill, version), version) == kill
    prolog = LaunchProlog(7, 1000, 1000, _cred(), job_gres_info=gres, nodes="n1", work_dir="/w")
    got = decode_body(6017, encode_body(prolog, version), version)
    assert isinstance(got, LaunchProlog) and got.nodes == "n1" and got.job_id == 7
    if version >= V24:  # no user name on the wire: the credential's
        assert got.user_name == "alice"


def test_kill_without_gres_in_26_05_is_a_slurm_pack_list_of_none() -> None:
    kill = KillJobMsg(StepId(7), 0x8003, 1000, 1000, 1)
    w = encode_body(kill, V26)
    # has_cred 0, details NULL, derived_ec, exit_code, then u32 NO_VAL for no GRES list
    assert w[:17] == b"\0" + b"\0\0\0\0" + b"\0" * 8 + b"\xff\xff\xff\xfe"[:4]


@pytest.mark.parametrize("version", ALL)
def test_node_side_messages_round_trip(version: int) -> None:
    acct = JobAcctInfo(user_cpu_sec=1, tres_ids=(1, 2), tres_usage_in_max=(3, 4))
    step = StepId(7, SLURM_BATCH_SCRIPT, NO_VAL, sluid=5 if version >= V24 else 0)
    v26 = version >= V26
    msgs: list[tuple[int, object]] = [
        (5018, CompleteBatchScript(7, 256, 0, 1000, "n1", acct, step if v26 else None)),
        (6012, EpilogComplete(7, 0, "n1", StepId(7, sluid=5) if v26 else None)),
        (5016, StepComplete(step, 0, 0, 0, acct, send_to_stepmgr=version >= V24)),
        (5023, JobRequeue(7, "7", 0x900, StepId(7, sluid=5) if v26 else None)),
        (6018, CompleteProlog(7, "n1", 0, StepId(7, sluid=5) if v26 else None)),
        (6004, SignalTasks(step, 9, 1)),
        (1016, PingSlurmdResponse(50, 1000, "n1" if v26 else None)),
        (1024, NodeRegistrationResponse(node_name="n1")),
    ]
    for msg_type, msg in msgs:
        assert decode_body(msg_type, encode_body(msg, version), version) == msg, msg_type  # type: ignore[arg-type]


@pytest.mark.parametrize("version", ALL)
def test_registration_round_trips(version: int) -> None:
    kw: dict[str, object] = {}
    if version >= V24:
        kw = dict(extra="e", instance_id="i", instance_type="t")
    if version >= V26:
        kw.update(mem_spec_limit=64, parameters="p")
    energy = AcctGatherEnergy(poll_time=5, slurmd_start_time=9 if version >= V24 else 0)
    reg = NodeRegistrationStatus(
        node_name="n1",
        version="24.11.5",
        cpus=2,
        steps=(StepId(7, SLURM_BATCH_SCRIPT, NO_VAL),),
        energy=energy,
        **kw,  # type: ignore[arg-type]
    )
    assert decode_body(1002, encode_body(reg, version), version) == reg


def test_energy_ends_with_the_slurmd_start_time_from_24_11() -> None:
    e = AcctGatherEnergy(slurmd_start_time=9)
    w22, w24 = Writer(), Writer()
    e.pack(w22, V22)
    e.pack(w24, V24)
    assert w24.getvalue() == w22.getvalue() + (9).to_bytes(8, "big")
    assert AcctGatherEnergy.unpack(Reader(w24.getvalue()), V24) == e


def test_release_strings_name_the_protocol_a_slurmd_is_talked_to_in() -> None:
    assert served_version_of_release("24.11.5") == V24
    assert served_version_of_release("26.05.5") == V26
    assert served_version_of_release("22.05.8") == V22
    assert served_version_of_release("23.02.7") is None and served_version_of_release(None) is None

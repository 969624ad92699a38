"""The job and step records of real slurmctld 22.05 <-> slurmdbd 22.05 traffic (tests/golden/dbd/22.05, conn1)
decode and re-encode byte for byte, the messages inside every DBD_SEND_MULT_MSG / DBD_GOT_MULT_MSG too, and
every cut of each body fails with a DecodeError only."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL64,
    SLURM_23_02_PROTOCOL_VERSION,
    SLURM_25_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.dbd_jobs import (
    DBD_JOB_BODIES,
    DbdGotMultJobStart,
    DbdIdRc,
    DbdJobComplete,
    DbdJobHeavy,
    DbdJobStart,
    DbdJobSuspend,
    DbdMultJobStart,
    DbdMultMsg,
    DbdStepComplete,
    DbdStepStart,
    decode_dbd_msg,
    split_dbd_msg,
)
from flurm.protocol.messages.persist import persist_msg
from flurm.protocol.versions import VersionError
from flurm.protocol.wire import DecodeError, WireError

V2205 = 0x2600
GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "dbd" / "22.05"


def connection(side: str) -> list[bytes]:
    """The messages of conn1 one side sent (u32 length + message each); the first c2s one is the init."""
    data = (GOLDEN / f"dbd-conn1-{side}.bin").read_bytes()
    out, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + n])
        i += 4 + n
    return out[1:] if side == "c2s" else out


def job_messages() -> list[tuple[str, bytes]]:
    """Every message of this module's types, those inside the MULT_MSG containers included."""
    out = []
    for side in ("c2s", "s2c"):
        for k, msg in enumerate(connection(side)):
            msg_type, _ = split_dbd_msg(msg)
            if msg_type not in DBD_JOB_BODIES:
                continue  # the connection's and the queries' messages: other codecs
            out.append((f"{side}#{k}", msg))
            if msg_type in (DbdMsgType.DBD_SEND_MULT_MSG, DbdMsgType.DBD_GOT_MULT_MSG):
                _, body = decode_dbd_msg(msg, V2205)
                assert isinstance(body, DbdMultMsg) and body.messages is not None
                for j, inner in enumerate(body.messages):
                    if split_dbd_msg(inner)[0] in DBD_JOB_BODIES:
                        out.append((f"{side}#{k}.{j}", inner))
    return out


MESSAGES = job_messages()


def test_the_capture_holds_every_record_slurmctld_sends() -> None:
    seen = {split_dbd_msg(m)[0] for _, m in MESSAGES}
    for t in (
        DbdMsgType.DBD_JOB_START,
        DbdMsgType.DBD_ID_RC,
        DbdMsgType.DBD_JOB_COMPLETE,
        DbdMsgType.DBD_JOB_SUSPEND,
        DbdMsgType.DBD_STEP_START,
        DbdMsgType.DBD_STEP_COMPLETE,
        DbdMsgType.DBD_SEND_MULT_JOB_START,
        DbdMsgType.DBD_GOT_MULT_JOB_START,
        DbdMsgType.DBD_SEND_MULT_MSG,
        DbdMsgType.DBD_GOT_MULT_MSG,
    ):
        assert t in seen, t.name
    assert len(MESSAGES) >= 40


@pytest.mark.parametrize(("where", "msg"), MESSAGES, ids=[w for w, _ in MESSAGES])
def test_round_trip(where: str, msg: bytes) -> None:
    msg_type, body = decode_dbd_msg(msg, V2205)
    assert persist_msg(msg_type, body, V2205) == msg


@pytest.mark.parametrize(("where", "msg"), MESSAGES, ids=[w for w, _ in MESSAGES])
def test_every_cut_is_a_decode_error(where: str, msg: bytes) -> None:
    for n in range(len(msg)):
        with pytest.raises(DecodeError):
            decode_dbd_msg(msg[:n], V2205)


def test_fields_of_a_job_start_and_its_id() -> None:
    """Job 3 (-N2, two srun steps) as it started: db_index 5 learned from DBD_GOT_MULT_JOB_START."""
    starts = [b for _, m in MESSAGES if isinstance(b := decode_dbd_msg(m, V2205)[1], DbdJobStart)]
    start = next(s for s in starts if s.job_id == 3)
    assert (start.db_index, start.job_state, start.node_inx) == (5, 1, "0-1")
    assert start.nodes == "compute-node-[1-2]" and (start.alloc_nodes, start.req_cpus) == (2, 2)
    assert start.het_job_offset == NO_VAL and start.array_task_id == NO_VAL
    assert start.tres_alloc_str == "1=2,3=18446744073709551614,4=2,5=2"
    assert start.tres_req_str == "1=2,2=2000,4=2,5=2"
    assert start.submit_line == (
        "sbatch --parsable -J steps -N2 -n2 --wrap srun hostname; srun -n1 -N1 false; exit 0"
    )
    got = [b for _, m in MESSAGES if isinstance(b := decode_dbd_msg(m, V2205)[1], DbdGotMultJobStart)]
    assert DbdIdRc(3, 5) in (got[0].ids or ())
    mult = [b for _, m in MESSAGES if isinstance(b := decode_dbd_msg(m, V2205)[1], DbdMultJobStart)]
    assert all(s.db_index == NO_VAL64 for b in mult for s in b.starts or ())


def test_fields_of_steps() -> None:
    bodies = [decode_dbd_msg(m, V2205)[1] for _, m in MESSAGES]
    batch = next(b for b in bodies if isinstance(b, DbdStepComplete) and b.step_id.job_id == 2)
    assert batch.is_batch and batch.exit_code == 3 << 8 and batch.jobacct is not None
    srun = next(b for b in bodies if isinstance(b, DbdStepStart) and b.step_id == StepId(3, 0))
    assert (srun.name, srun.node_cnt, srun.total_tasks) == ("hostname", 2, 2)
    assert srun.nodes == "compute-node-[1-2]" and srun.node_inx == "0-1"
    assert srun.submit_line == "srun hostname" and srun.tres_alloc_str == "1=2,2=0,4=2"
    suspends = [b for b in bodies if isinstance(b, DbdJobSuspend)]
    assert [(s.job_id, s.job_state) for s in suspends] == [(6, 2), (6, 1)]
    done = [b for b in bodies if isinstance(b, DbdJobComplete)]
    assert {(c.job_id, c.job_state, c.exit_code) for c in done} >= {(1, 3, 0), (2, 5, 768), (6, 4, 0)}


def test_job_heavy_round_trip() -> None:
    """DBD_JOB_HEAVY is sent only with AccountingStoreFlags=job_script,job_env (not in the capture)."""
    body = DbdJobHeavy("A=1\nB=2\n", "1:ab", "#!/bin/sh\ntrue\n", "1:cd")
    msg = persist_msg(DbdMsgType.DBD_JOB_HEAVY, body, V2205)
    assert decode_dbd_msg(msg, V2205) == (DbdMsgType.DBD_JOB_HEAVY, body)
    for n in range(len(msg)):
        with pytest.raises(DecodeError):
            decode_dbd_msg(msg[:n], V2205)


def test_no_list_and_a_negative_return_code() -> None:
    for body in (DbdMultMsg(None, -1), DbdGotMultJobStart(None, 7), DbdMultJobStart((), 0)):
        msg_type = {
            DbdMultMsg: DbdMsgType.DBD_GOT_MULT_MSG,
            DbdGotMultJobStart: DbdMsgType.DBD_GOT_MULT_JOB_START,
            DbdMultJobStart: DbdMsgType.DBD_SEND_MULT_JOB_START,
        }[type(body)]
        assert decode_dbd_msg(persist_msg(msg_type, body, V2205), V2205) == (msg_type, body)


@pytest.mark.parametrize(
    "msg_type",
    [DbdMsgType.DBD_SEND_MULT_MSG, DbdMsgType.DBD_SEND_MULT_JOB_START, DbdMsgType.DBD_GOT_MULT_JOB_START],
)
def test_a_hostile_count_is_refused_before_reading(msg_type: DbdMsgType) -> None:
    msg = struct.pack(">HII", msg_type, 0xFFFFFFF0, 0)
    with pytest.raises(DecodeError, match="do not fit"):
        decode_dbd_msg(msg, V2205)


def test_an_empty_inner_message_is_refused() -> None:
    msg = struct.pack(">HIII", DbdMsgType.DBD_SEND_MULT_MSG, 1, 1, 0) + b"\x05"
    with pytest.raises(DecodeError):
        decode_dbd_msg(msg, V2205)


def test_unknown_and_foreign_types_are_decode_errors() -> None:
    with pytest.raises(DecodeError):
        decode_dbd_msg(struct.pack(">H", 1399), V2205)
    with pytest.raises(DecodeError):
        decode_dbd_msg(struct.pack(">H", DbdMsgType.DBD_NODE_STATE) + b"\0" * 40, V2205)
    with pytest.raises(DecodeError):
        decode_dbd_msg(b"\x05", V2205)


@pytest.mark.parametrize("version", [SLURM_23_02_PROTOCOL_VERSION, SLURM_25_05_PROTOCOL_VERSION])
def test_a_release_flurm_does_not_speak_to_slurmdbd_is_refused_both_ways(version: int) -> None:
    step = DbdStepComplete(StepId(1, SLURM_BATCH_SCRIPT), 1, 1, 1, 1, 3)
    with pytest.raises(WireError):
        persist_msg(DbdMsgType.DBD_STEP_COMPLETE, step, version)
    raw = persist_msg(DbdMsgType.DBD_STEP_COMPLETE, step, V2205)
    with pytest.raises(VersionError):
        decode_dbd_msg(raw, version)
    with pytest.raises(VersionError):
        decode_dbd_msg(persist_msg(DbdMsgType.DBD_JOB_SUSPEND, DbdJobSuspend(1, 2, 3, 4, 5), V2205), version)

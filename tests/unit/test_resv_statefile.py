"""flurm.migration.resv_statefile on a real slurmctld 22.05 resv_state file (tests/golden/resv_statefile).

The golden file was written by slurmctld on SIGTERM (see tests/golden/resv_statefile/capture.py) with two
4-CPU nodes and these reservations, in list order: root_1 (Users=root, one node, now, 30 min); maint
(Users=root, all nodes, MAINT,IGNORE_JOBS); acct1_4 (Accounts=acct1, node 2, DAILY, an end time);
root_5 (Users=-root, node 1, PURGE_COMP=10:00); cores (Users=root, 2 cores of node 2). A reservation
"gone" took id 3 and was deleted, so the counter (top_suffix) is 6 with five reservations.
"""

from __future__ import annotations

import contextlib
import random
import struct
from pathlib import Path

import pytest

from flurm.migration import resv_statefile
from flurm.migration.resv_statefile import (
    ResvStateFile,
    decode_resv_state,
    read_resv_state,
    resv_state_path,
)
from flurm.protocol.constants import NO_VAL
from flurm.protocol.messages.reservations import ReserveFlag as F
from flurm.protocol.wire import Bitmap, DecodeError, Reader, Writer

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "resv_statefile" / "resv_state"
WRITTEN = 1796197756


@pytest.fixture(scope="module")
def data() -> bytes:
    return GOLDEN.read_bytes()


@pytest.fixture(scope="module")
def state(data: bytes) -> ResvStateFile:
    return decode_resv_state(data)


def test_header(state: ResvStateFile) -> None:
    assert state.version_str == "PROTOCOL_VERSION"
    assert state.protocol_version == 0x2600
    assert state.time == WRITTEN
    assert state.top_suffix == 6
    assert [r.name for r in state.reservations] == ["root_1", "maint", "acct1_4", "root_5", "cores"]
    assert [r.resv_id for r in state.reservations] == [1, 2, 4, 5, 6]


def test_now_for_thirty_minutes(state: ResvStateFile) -> None:
    r = state.reservation("root_1")
    rec = r.record
    assert (rec.users, rec.accounts, rec.groups, rec.partition) == ("root", None, None, "debug")
    assert (rec.node_list, rec.node_cnt, rec.core_cnt, rec.tres_fmt_str) == ("compute-node-1", 1, 4, "cpu=4")
    assert rec.flags == 0
    assert rec.start_time == r.start_time == r.start_time_prev == WRITTEN
    assert rec.end_time == WRITTEN + 30 * 60
    assert r.duration == 30
    assert (rec.purge_comp_time, rec.max_start_delay, rec.resv_watts) == (300, 0, NO_VAL)
    assert (r.tres_str, r.core_resources, r.assoc_list, r.idle_start_time) == ("1=4", None, None, 0)
    assert r.ctld_flags == resv_statefile.CTLD_FULL_NODE and not r.user_not and not r.account_not


def test_named_maintenance_on_all_nodes(state: ResvStateFile) -> None:
    rec = state.reservation("maint").record
    assert rec.flags == F.MAINT | F.IGN_JOBS | F.SPEC_NODES | F.ALL_NODES
    assert (rec.node_list, rec.node_cnt, rec.partition) == ("compute-node-[1-2]", 2, None)
    assert rec.start_time == WRITTEN + 3600 and rec.end_time == WRITTEN + 7200


def test_daily_with_an_end_time(state: ResvStateFile) -> None:
    r = state.reservation("acct1_4")
    assert (r.record.accounts, r.record.users) == ("acct1", None)
    assert r.record.flags == F.DAILY | F.SPEC_NODES
    assert r.duration == NO_VAL  # an end time was given, not a duration
    assert (r.record.start_time, r.record.end_time) == (WRITTEN + 2 * 3600, WRITTEN + 3 * 3600)


def test_negated_users_and_purge_time(state: ResvStateFile) -> None:
    r = state.reservation("root_5")
    assert r.record.users == "-root" and r.user_not and not r.account_not
    assert r.record.flags == F.PURGE_COMP | F.SPEC_NODES
    assert r.record.purge_comp_time == 600


def test_cores_are_a_job_resources_block(state: ResvStateFile) -> None:
    r = state.reservation("cores")
    assert (r.record.core_cnt, r.record.tres_fmt_str, r.ctld_flags) == (2, "cpu=2", 0)
    jr = r.core_resources
    assert jr is not None
    assert (jr.nhosts, jr.nodes, jr.cpus) == (1, "compute-node-2", (2,))
    assert jr.core_bitmap == Bitmap(4, 0b11)


def test_no_machine_path(data: bytes) -> None:
    for needle in (b"/work", b"/root", b"/home", b"/tmp", b"flurm-it-"):
        assert needle not in data


def _record_spans(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    r = Reader(data)
    r.string(), r.u16(), r.time(), r.u32()
    header, spans = r.pos, []
    while not r.at_end():
        start = r.pos
        resv_statefile._reservation(r)
        spans.append((start, r.pos))
    return header, spans


def test_every_prefix_is_a_decode_error_or_whole_records(data: bytes, state: ResvStateFile) -> None:
    header, spans = _record_spans(data)
    assert len(spans) == len(state.reservations) and spans[-1][1] == len(data)
    for n in range(header):
        with pytest.raises(DecodeError):
            decode_resv_state(data[:n])
    assert decode_resv_state(data[:header]).reservations == ()
    for k, (start, end) in enumerate(spans):
        assert decode_resv_state(data[:end]).reservations == state.reservations[: k + 1]
        for n in range(start + 1, end):
            with pytest.raises(DecodeError):
                decode_resv_state(data[:n])


def test_corrupted_bytes_never_raise_anything_else(data: bytes) -> None:
    rng = random.Random(2205)
    for _ in range(400):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(buf))
            buf[pos] = rng.choice([0, 0xFF, 0xFE, rng.randrange(256)])
        with contextlib.suppress(DecodeError):
            decode_resv_state(bytes(buf))


def _header(top_suffix: int = 1, version: int = 0x2600) -> Writer:
    w = Writer()
    w.string("PROTOCOL_VERSION")
    w.u16(version)
    w.time(WRITTEN)
    w.u32(top_suffix)
    return w


def test_bad_headers(data: bytes) -> None:
    with pytest.raises(DecodeError, match="header"):
        decode_resv_state(data.replace(b"PROTOCOL_VERSION", b"PROTOCOL_VERSIOX", 1))
    old = data[:21] + struct.pack(">H", 0x2500) + data[23:]
    with pytest.raises(DecodeError, match="protocol version 0x2500"):
        decode_resv_state(old)
    with pytest.raises(DecodeError):
        decode_resv_state(b"")
    with pytest.raises(DecodeError, match="top_suffix 10000"):
        decode_resv_state(_header(top_suffix=10000).getvalue())


def test_bad_records(data: bytes) -> None:
    header, spans = _record_spans(data)
    first = data[spans[0][0] : spans[0][1]]
    # the same reservation twice
    with pytest.raises(DecodeError, match="root_1 saved twice"):
        decode_resv_state(data[:header] + first + first)
    # no name: the name is the 9th field (after 2 strings, u32, time, string, u64, string, u32)
    r = Reader(first)
    r.string(), r.string(), r.u32(), r.time(), r.string(), r.u64(), r.string(), r.u32()
    at = r.pos
    assert r.string() == "root_1"
    nameless = first[:at] + struct.pack(">I", 0) + first[r.pos :]
    with pytest.raises(DecodeError, match="without a name"):
        decode_resv_state(data[:header] + nameless)


def test_files(tmp_path: Path, data: bytes) -> None:
    assert resv_state_path(tmp_path) is None
    assert read_resv_state(tmp_path) is None
    (tmp_path / "resv_state.old").write_bytes(data)
    assert resv_state_path(tmp_path) == tmp_path / "resv_state.old"
    assert read_resv_state(tmp_path) == decode_resv_state(data)
    (tmp_path / "resv_state").write_bytes(data[: header_len(data)])
    assert resv_state_path(tmp_path) == tmp_path / "resv_state"
    state = read_resv_state(tmp_path)
    assert state is not None and state.reservations == ()
    assert read_resv_state(tmp_path / "resv_state.old") == decode_resv_state(data)


def header_len(data: bytes) -> int:
    return _record_spans(data)[0]

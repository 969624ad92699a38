"""The job_state readers compiled from layouts (flurm.migration.statefile) on every golden file, its
records replicated as a big takeover would see them, and cut or damaged: a bad file is a DecodeError
naming the job record and its offset, never another exception."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flurm.migration.statefile import JobStateFile, decode_job_state
from flurm.protocol.wire import DecodeError, Reader

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "statefile"
FILES = {
    "22.05": GOLDEN / "job_state",
    "24.11": GOLDEN / "24.11" / "job_state",
    "26.05": GOLDEN / "26.05" / "job_state",
}
COPIES = 50


@pytest.fixture(scope="module", params=sorted(FILES))
def data(request: pytest.FixtureRequest) -> bytes:
    return FILES[request.param].read_bytes()


def header_end(data: bytes) -> int:
    r = Reader(data)
    r.string(), r.u16(), r.time(), r.u32(), r.time()
    return r.pos


def replicated(data: bytes) -> bytes:
    head = header_end(data)
    return data[:head] + data[head:] * COPIES


def test_replicated_records_decode_as_the_original(data: bytes) -> None:
    one = decode_job_state(data)
    many = decode_job_state(replicated(data))
    assert len(one.jobs) > 1
    assert many.jobs == one.jobs * COPIES
    assert many.jobs[: len(one.jobs)] == one.jobs
    assert (many.protocol_version, many.job_id_sequence, many.time) == (
        one.protocol_version,
        one.job_id_sequence,
        one.time,
    )


def _record_error(buf: bytes) -> tuple[int, int]:
    with pytest.raises(DecodeError) as info:
        decode_job_state(buf)
    m = re.search(r"job record (\d+) at offset (\d+)", str(info.value))
    assert m, str(info.value)
    return int(m.group(1)), int(m.group(2))


def test_a_cut_names_the_record_it_falls_in(data: bytes) -> None:
    one: JobStateFile = decode_job_state(data)
    head = header_end(data)
    body = len(data) - head
    big = replicated(data)
    for copy in (0, 1, COPIES // 2, COPIES - 1):
        for inside in (1, 5, body // 3, body // 2, body - 1):
            cut = head + copy * body + inside
            index, offset = _record_error(big[:cut])
            assert copy * len(one.jobs) <= index < (copy + 1) * len(one.jobs)
            assert head + copy * body <= offset < cut


@pytest.mark.parametrize("garbage", [b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff", b"\x80"])
def test_garbage_is_a_decode_error_or_a_decode(data: bytes, garbage: bytes) -> None:
    head = header_end(data)
    for at in range(head, len(data) - len(garbage), 29):
        buf = data[:at] + garbage + data[at + len(garbage) :]
        try:
            decode_job_state(buf)
        except DecodeError as e:
            assert re.search(r"job record \d+ at offset \d+", str(e)), str(e)

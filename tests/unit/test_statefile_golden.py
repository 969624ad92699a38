"""flurm.migration.statefile on a real slurmctld 22.05 job_state file (tests/golden/statefile).

The golden file was written by slurmctld on SIGTERM (see tests/golden/statefile/capture.py) with two
2x4-CPU nodes and these jobs, in job_list order:
1 running -N 2 --mem=100 -t 10 --comment="two nodes"; 2 running -c 2 --mem=200 -t 5;
7 = task 0 of array 3 (--array=0-3%1 -t 3), running; 4 held (-H --nice=10 -J held);
5 pending --dependency=afterok:1; 6 completed; 3 = the array's meta record, tasks 1-3 pending.
"""

from __future__ import annotations

import contextlib
import random
import struct
import sys
from pathlib import Path
from typing import Literal

import pytest

from flurm.config import hostlists
from flurm.migration import statefile
from flurm.migration.statefile import (
    JobResources,
    JobStateFile,
    decode_environment,
    decode_job_state,
    decode_script,
    job_files_dir,
    job_state_path,
    read_job_environment,
    read_job_script,
    read_job_state,
)
from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    NO_VAL16,
    SLURM_BATCH_SCRIPT,
    JobState,
    JobStateReason,
)
from flurm.protocol.wire import Bitmap, DecodeError, Reader, Writer

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "statefile" / "job_state"
SUBMIT = 1795697148
START = 1795697150


@pytest.fixture(scope="module")
def data() -> bytes:
    return GOLDEN.read_bytes()


@pytest.fixture(scope="module")
def state(data: bytes) -> JobStateFile:
    return decode_job_state(data)


def test_header(state: JobStateFile) -> None:
    assert state.version_str == "PROTOCOL_VERSION"
    assert state.protocol_version == 0x2600
    assert state.time == 1795697152
    assert state.job_id_sequence == 8
    assert state.last_backfill == 0
    assert [j.job_id for j in state.jobs] == [1, 2, 7, 4, 5, 6, 3]


def test_common_fields(state: JobStateFile) -> None:
    for j in state.jobs:
        assert (j.user_id, j.group_id, j.partition, j.alloc_node, j.alloc_sid) == (
            0,
            0,
            "debug",
            "localhost",
            30301,
        )
        assert j.submit_time == SUBMIT
        assert j.batch_flag == 1
        assert j.select_plugin_id == 109
        assert j.details is not None
        assert j.details.work_dir == "/tmp/x"
        assert j.details.std_in == "/dev/null" and j.details.std_out == "/dev/null"
        assert j.details.requeue == 1
        assert j.details.submit_line is not None and j.details.submit_line.startswith(
            "sbatch --parsable -D /tmp/x"
        )
        assert j.restart_cnt == 0 and j.exit_code == 0 and j.derived_ec == 0


def test_running_two_nodes(state: JobStateFile) -> None:
    j = state.job(1)
    assert j.base_state == JobState.RUNNING and j.is_running() and not j.is_completing()
    assert j.name == "wrap" and j.comment == "two nodes"
    assert j.priority == 4294901759 and j.reason == JobStateReason.WAIT_NO_REASON
    assert (j.time_limit, j.start_time, j.end_time, j.last_sched_eval) == (10, START, START + 600, START)
    assert j.nodes == "compute-node-[1-2]" and j.batch_host == "compute-node-1"
    assert (j.total_cpus, j.total_nodes) == (2, 2)
    assert j.tres_fmt_alloc_str == "cpu=2,node=2,billing=2"
    assert j.tres_fmt_req_str == "cpu=2,mem=200M,node=2,billing=2"
    assert j.billable_tres == 2.0
    d = j.details
    assert d is not None
    assert (d.min_nodes, d.max_nodes, d.pn_min_memory, d.min_cpus) == (2, 2, 100, 2)
    assert d.cpus_per_task == NO_VAL16 and d.cpus_per_task_value == 1
    assert j.eligible_time == SUBMIT
    assert d.accrue_time == SUBMIT
    assert d.nice_value == 0 and j.nice == 0
    assert d.argv == () and d.env_sup == ()
    r = j.job_resources
    assert r is not None
    assert (r.nhosts, r.ncpus, r.nodes, r.cpus) == (2, 2, "compute-node-[1-2]", (1, 1))
    assert hostlists.expand(r.nodes or "") == ["compute-node-1", "compute-node-2"]
    assert r.cores_per_node() == (4, 4)
    assert r.core_bitmap == Bitmap(8, 0x11)
    assert r.cores_by_node() == ((0,), (0,))
    assert r.memory_allocated == (0, 0)  # CR_Core: memory is not a consumable resource here
    # the batch step runs on the batch host
    (step,) = j.steps
    assert step.step_id == SLURM_BATCH_SCRIPT and step.name == "batch"
    assert step.state == JobState.RUNNING and step.exit_code == NO_VAL and step.start_time == START
    assert step.layout is not None and step.layout.node_list == "compute-node-1"
    assert step.layout.tids == ((0,),)


def test_running_cpus_per_task(state: JobStateFile) -> None:
    j = state.job(2)
    assert j.is_running() and j.time_limit == 5 and j.end_time == START + 300
    assert j.details is not None
    assert (j.details.cpus_per_task, j.details.pn_min_memory, j.details.pn_min_cpus) == (2, 200, 2)
    assert j.job_resources is not None
    assert j.job_resources.cpus == (2,)
    assert j.job_resources.cores_by_node() == ((1, 2),)
    assert j.nodes == "compute-node-1" and len(j.steps) == 1


def test_array(state: JobStateFile) -> None:
    task = state.job(7)
    assert (task.array_job_id, task.array_task_id, task.array) == (3, 0, None)
    assert task.is_running() and not task.is_array_meta()
    assert task.script_job_id == 3
    assert task.job_resources is not None and task.job_resources.cores_by_node() == ((3,),)
    assert task.eligible_time == START  # a split-off task becomes eligible when it is split
    meta = state.job(3)
    assert meta.is_array_meta() and meta.is_pending() and meta.array_task_id == NO_VAL
    assert meta.script_job_id == 3
    assert meta.reason == JobStateReason.WAIT_ARRAY_TASK_LIMIT
    assert meta.array is not None
    assert meta.array.task_id_bitmap == Bitmap(4, 0b1110)
    assert meta.array.pending_task_ids == (1, 2, 3)
    assert (meta.array.max_run_tasks, meta.array.tot_run_tasks, meta.array.tot_comp_tasks) == (1, 1, 0)
    assert meta.time_limit == 3 and meta.priority == task.priority
    assert meta.job_resources is None and meta.steps == () and meta.nodes is None
    assert meta.details is not None
    assert meta.details.env_sup == (
        "SLURM_ARRAY_TASK_COUNT=4",
        "SLURM_ARRAY_TASK_MIN=0",
        "SLURM_ARRAY_TASK_MAX=3",
        "SLURM_ARRAY_TASK_STEP=1",
    )


def test_held(state: JobStateFile) -> None:
    j = state.job(4)
    assert j.is_held() and j.priority == 0 and j.name == "held"
    assert j.reason == JobStateReason.WAIT_HELD_USER
    assert j.nice == 10
    assert j.time_limit == NO_VAL and j.eligible_time == 0 and j.start_time == 0
    assert j.job_resources is None and j.steps == ()


def test_dependency(state: JobStateFile) -> None:
    j = state.job(5)
    assert j.is_pending() and not j.is_held() and j.reason == JobStateReason.WAIT_DEPENDENCY
    assert j.details is not None
    assert j.details.dependency == "afterok:1(unfulfilled)"
    assert j.details.orig_dependency == "afterok:1(unfulfilled)"
    (dep,) = j.details.depend_list
    assert (dep.job_id, dep.depend_type, dep.array_task_id) == (1, 4, NO_VAL)  # 4 = SLURM_DEPEND_AFTER_OK


def test_completed(state: JobStateFile) -> None:
    j = state.job(6)
    assert j.base_state == JobState.COMPLETE and j.exit_code == 0
    assert (j.start_time, j.end_time) == (START, START)
    assert j.time_limit == INFINITE and j.limit_set.time == 1
    assert j.nodes == "compute-node-2" and j.steps == ()
    assert j.job_resources is not None and j.job_resources.cores_by_node() == ((1,),)


def test_no_machine_path(data: bytes) -> None:
    for needle in (b"/work", b"/root", b"/home", b"flurm-it-", b"SLURM_CONF"):
        assert needle not in data


def _record_spans(data: bytes) -> tuple[int, list[tuple[int, int]]]:
    """Where the header ends and each job record starts and ends."""
    r = Reader(data)
    r.string(), r.u16(), r.time(), r.u32(), r.time()
    header, spans = r.pos, []
    while not r.at_end():
        start = r.pos
        statefile._job(r)
        spans.append((start, r.pos))
    return header, spans


def test_every_prefix_is_a_decode_error_or_whole_records(data: bytes, state: JobStateFile) -> None:
    header, spans = _record_spans(data)
    assert len(spans) == len(state.jobs) and spans[-1][1] == len(data)
    for n in range(header):
        with pytest.raises(DecodeError):
            decode_job_state(data[:n])
    assert decode_job_state(data[:header]).jobs == ()
    # A prefix of the file is whole records then part of one: the whole ones decode as in the full file,
    # so each cut record is tried behind the header alone (the same bytes reach the same code).
    for k, (start, end) in enumerate(spans):
        assert decode_job_state(data[:header] + data[start:end]).jobs == (state.jobs[k],)
        assert decode_job_state(data[:end]).jobs == state.jobs[: k + 1]
        for n in range(start + 1, end):
            with pytest.raises(DecodeError):
                decode_job_state(data[:header] + data[start:n])


def test_corrupted_bytes_never_raise_anything_else(data: bytes) -> None:
    rng = random.Random(2205)
    for _ in range(400):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(buf))
            buf[pos] = rng.choice([0, 0xFF, 0xFE, rng.randrange(256)])
        with contextlib.suppress(DecodeError):
            decode_job_state(bytes(buf))


def test_bad_headers(data: bytes) -> None:
    with pytest.raises(DecodeError, match="header"):
        decode_job_state(data.replace(b"PROTOCOL_VERSION", b"PROTOCOL_VERSIOX", 1))
    old = data[:21] + struct.pack(">H", 0x2500) + data[23:]
    with pytest.raises(DecodeError, match="protocol version"):
        decode_job_state(old)
    with pytest.raises(DecodeError):
        decode_job_state(b"")


def test_bad_record_flags(data: bytes, state: JobStateFile) -> None:
    # a record whose job id is 0 is rejected, as slurmctld does
    w = Writer()
    w.string("PROTOCOL_VERSION")
    w.u16(0x2600)
    w.time(1)
    w.u32(2)
    w.time(0)
    header = w.getvalue()
    assert decode_job_state(header).jobs == ()
    first = data[len(header) :]
    # array_job_id, array_task_id, NO_VAL (no array record), assoc_id, batch_features, container, delay_boot,
    # then job_id: 3*4 + 4 + 4 + 4 + 4 bytes in
    job_id_at = 12 + 4 + 4 + 4 + 4
    assert struct.unpack_from(">I", first, job_id_at)[0] == 1
    zero = first[:job_id_at] + b"\0\0\0\0" + first[job_id_at + 4 :]
    with pytest.raises(DecodeError, match="job id 0"):
        decode_job_state(header + zero)


def test_cores_by_node_checks_sizes() -> None:
    r = JobResources(
        nhosts=2,
        ncpus=2,
        node_req=1,
        nodes="n[1-2]",
        whole_node=0,
        threads_per_core=1,
        cr_type=4,
        cpu_array_reps=(2,),
        cpu_array_value=(1,),
        cpus=(1, 1),
        cpus_used=(0, 0),
        memory_allocated=(0, 0),
        memory_used=(0, 0),
        sockets_per_node=(1, 2),
        cores_per_socket=(4, 2),
        sock_core_rep_count=(1, 1),
        core_bitmap=Bitmap(8, 0b0010_0001),
        core_bitmap_used=None,
    )
    assert r.cores_per_node() == (4, 4)
    assert r.cores_by_node() == ((0,), (1,))
    with pytest.raises(DecodeError):
        JobResources(
            **{**{f: getattr(r, f) for f in r.__slots__}, "core_bitmap": Bitmap(9, 1)}
        ).cores_by_node()
    with pytest.raises(DecodeError):
        JobResources(
            **{**{f: getattr(r, f) for f in r.__slots__}, "sock_core_rep_count": (1,)}
        ).cores_per_node()


# -- script and environment -----------------------------------------------------------------------
def _env_file(items: list[str], order: Literal["little", "big"] = "little") -> bytes:
    return len(items).to_bytes(4, order) + b"".join(s.encode() + b"\0" for s in items)


def test_decode_environment() -> None:
    items = ["PATH=/bin", "A=", "B=x=y"]
    assert decode_environment(_env_file(items), "little") == tuple(items)
    assert decode_environment(_env_file(items, "big"), "big") == tuple(items)
    assert decode_environment(_env_file([]), "little") == ()
    for bad in (b"", b"\1\0", _env_file(items)[:-1], _env_file(items) + b"Z\0", b"\0\0\0\0x"):
        with pytest.raises(DecodeError):
            decode_environment(bad, "little")
    with pytest.raises(DecodeError):
        decode_environment(_env_file(items), "big")


def test_decode_script() -> None:
    assert decode_script(b"#!/bin/sh\ntrue\n\0") == "#!/bin/sh\ntrue\n"
    assert decode_script(b"\xff\0") == "\udcff"
    with pytest.raises(DecodeError):
        decode_script(b"#!/bin/sh\n")


def test_files(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(FileNotFoundError):
        job_state_path(tmp_path)
    (tmp_path / "job_state.old").write_bytes(data)
    assert job_state_path(tmp_path) == tmp_path / "job_state.old"
    assert read_job_state(tmp_path).job_id_sequence == 8
    (tmp_path / "job_state").write_bytes(data[:30])
    assert job_state_path(tmp_path) == tmp_path / "job_state"
    with pytest.raises(DecodeError):  # a damaged job_state is an error, not a silent fallback
        read_job_state(tmp_path)
    assert read_job_state(GOLDEN).jobs[0].job_id == 1

    d = job_files_dir(tmp_path, 123)
    assert d == tmp_path / "hash.3" / "job.123"
    assert read_job_script(tmp_path, 123) is None and read_job_environment(tmp_path, 123) is None
    d.mkdir(parents=True)
    (d / "script").write_bytes(b"#!/bin/sh\necho hi\n\0")
    (d / "environment").write_bytes(_env_file(["X=1", "Y=2"], sys.byteorder))
    assert read_job_script(tmp_path, 123) == "#!/bin/sh\necho hi\n"
    assert read_job_environment(tmp_path, 123) == ("X=1", "Y=2")

"""TaskSet: the set of array task ids, checked against Python sets."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flurm.errors import SlurmError
from flurm.protocol.constants import SlurmRC
from flurm.state.jobids import parse_job_id
from flurm.state.model import Job
from flurm.state.tasks import TaskSet, TaskSetError

LIMIT = 200

ids = st.sets(st.integers(min_value=0, max_value=LIMIT - 1), max_size=40)
progressions = st.tuples(
    st.integers(min_value=0, max_value=LIMIT - 1),
    st.integers(min_value=0, max_value=LIMIT - 1),
    st.integers(min_value=1, max_value=LIMIT - 1),
).map(lambda t: (min(t[0], t[1]), max(t[0], t[1]), t[2]))


def expression(parts: list[tuple[int, int, int]]) -> str:
    return ",".join(f"{a}-{b}:{s}" if s != 1 else (f"{a}-{b}" if a != b else str(a)) for a, b, s in parts)


@given(st.lists(progressions, min_size=1, max_size=8))
def test_parse_is_the_union_of_its_progressions(parts: list[tuple[int, int, int]]) -> None:
    expected = {i for a, b, s in parts for i in range(a, b + 1, s)}
    tasks = TaskSet.parse(expression(parts), LIMIT)
    assert list(tasks) == sorted(expected)
    assert len(tasks) == len(expected)
    assert tasks.first() == min(expected) and tasks.last() == max(expected)
    assert all((i in tasks) == (i in expected) for i in range(-1, LIMIT + 2))


@given(ids, ids)
def test_set_algebra(a: set[int], b: set[int]) -> None:
    x, y = TaskSet.of(a), TaskSet.of(b)
    assert set(x | y) == a | b
    assert set(x & y) == a & b
    assert set(x - y) == a - b
    assert x.isdisjoint(y) == a.isdisjoint(b)
    assert (x <= y) == (a <= b) and (x >= y) == (a >= b)
    assert (x == y) == (a == b)
    for i in a | {0, LIMIT}:
        assert set(x.without(i)) == a - {i}


@given(ids, st.integers(min_value=0, max_value=3 * LIMIT))
def test_text_forms(a: set[int], size: int) -> None:
    x = TaskSet.of(a)
    assert TaskSet.from_text(x.to_text()) == x
    assert TaskSet.from_hex(x.hex(size)) == x
    assert len(x.hex(size)) == 2 + max((max(size, max(a, default=-1) + 1) + 3) // 4, 1)
    runs: list[list[int]] = []
    for i in sorted(a):
        if runs and runs[-1][1] == i - 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    assert x.ranges() == ",".join(f"{p}-{q}" if p != q else str(p) for p, q in runs)


def test_hex_is_slurmctlds_mask() -> None:
    assert TaskSet.of((0, 1, 2, 3, 4)).hex() == "0x1F"
    assert TaskSet.of((1, 2)).hex(12) == "0x006"
    assert TaskSet().hex() == "0x0"


@settings(max_examples=30)
@given(st.lists(progressions, min_size=1, max_size=30))
def test_text_form_stays_short(parts: list[tuple[int, int, int]]) -> None:
    # the persistent form is never longer than the hex mask
    x = TaskSet.parse(expression(parts), LIMIT)
    assert len(x.to_text()) <= len(x.hex())


@pytest.mark.parametrize(
    "text", ["", "x", "5-1", "1-200", "200", "0-10:0", "0-10:200", "1-", "-1", "12345678901", "1-3%2"]
)
def test_invalid_expressions(text: str) -> None:
    with pytest.raises(TaskSetError):
        TaskSet.parse(text, LIMIT)


def test_a_huge_expression_is_refused_before_it_is_built() -> None:
    # every bound is MaxArraySize: a task id above it is an invalid job id, as in slurmctld
    with pytest.raises(SlurmError) as info:
        parse_job_id("1_[0-20000000]", 4_000_001)
    assert info.value.rc == SlurmRC.ESLURM_INVALID_JOB_ID
    with pytest.raises(SlurmError):
        parse_job_id("7_1001", 1001)
    target = parse_job_id("7_[0-4000000]", 4_000_001)
    assert target.job_id == 7 and target.tasks is not None and len(target.tasks) == 4_000_001
    assert parse_job_id("7_*", 1001).tasks is None and parse_job_id("7", 1001).tasks is None
    assert target.tasks == TaskSet.progression(0, 4_000_000)


def test_many_tokens_cost_one_bitmap() -> None:
    # a long list of overlapping ranges is merged, not built token by token
    text = ",".join(f"{2 * i}-3999999:2" for i in range(2000)) + ",1-3999999"
    assert TaskSet.parse(text, 4_000_001) == TaskSet.progression(0, 3_999_999)


def test_job_persists_its_task_set_compactly() -> None:
    base: dict[str, Any] = {"job_id": 5, "name": "a", "user_id": 1000, "group_id": 1000, "partition": "debug"}
    job = Job(**base, array_job_id=5, array_task_pending=TaskSet.progression(0, 4_000_000))
    data = job.to_dict()
    assert data["array_task_pending"] == "0-4000000"
    assert Job.from_dict(json.loads(json.dumps(data))).array_task_pending == job.array_task_pending
    sparse = TaskSet.progression(0, 4_000_000, 2)
    job.array_task_pending = sparse
    data = job.to_dict()
    assert data["array_task_pending"].startswith("0x") and len(data["array_task_pending"]) <= 1_000_003
    assert Job.from_dict(data).array_task_pending == sparse
    # state written before task sets: a list of ids
    assert Job.from_dict({**base, "array_task_pending": [3, 1, 2]}).array_task_pending == TaskSet.of(
        (1, 2, 3)
    )
    assert Job.from_dict(base).array_task_pending == TaskSet()


@given(progressions, st.lists(st.integers(min_value=0, max_value=LIMIT), max_size=30))
def test_known_runs_follow_removals(part: tuple[int, int, int], removed: list[int]) -> None:
    # runs kept through without() are the runs of the bitmap, and survive the persistent form
    first, last, _ = part
    x = TaskSet.progression(first, last)
    expected = set(range(first, last + 1))
    for i in removed:
        x = x.without(i)
        expected.discard(i)
        assert x.runs() == TaskSet(x.bits).runs()
        assert set(x) == expected and len(x) == len(expected)
        if expected:
            assert x.first() == min(expected)
        again = TaskSet.from_text(x.to_text())
        assert again == x and again.runs() == x.runs()


def test_runs_across_chunks_of_the_bitmap() -> None:
    ids = [0, 32767, 32768, 32769, 40000, 65535, 65536, 4_000_000]
    assert list(TaskSet.of(ids)) == ids
    assert TaskSet.of(ids).ranges() == "0,32767-32769,40000,65535-65536,4000000"
    dense = TaskSet.progression(1, 200_001, 2)
    assert len(dense.runs()) == 100_001 and dense.runs()[-1] == (200_001, 200_001)
    assert dense.to_text().startswith("0x")  # more runs than hex digits

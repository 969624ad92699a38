"""flurm.migration.statefile and resv_statefile on job_state and resv_state files of real slurmctld 24.11
and 26.05 (tests/golden/statefile/<release>/, made by capture_release.py), checked against the
`scontrol show job -o` listing the same slurmctld printed just before it saved them (show_job.txt).

Jobs, one 4-CPU node: 1 running (-c 2 --mem=100 -t 10 --comment=running); 2 an array 0-3%1 -t 3 whose
task 0 runs as job 6 and whose meta record holds tasks 1-3; 3 held (-H --nice=10 -J held); 4 pending
on afterok:1; 5 pending for resources (-c 4 -t 5 -J pending).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flurm.migration.resv_statefile import decode_resv_state, read_resv_state
from flurm.migration.statefile import JobStateFile, SavedJob, decode_job_state
from flurm.protocol.constants import (
    INFINITE,
    NO_VAL,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    SLURM_BATCH_SCRIPT,
)
from flurm.protocol.messages.reservations import ReserveFlag
from flurm.protocol.wire import DecodeError

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "statefile"
RELEASES = {"24.11": SLURM_24_11_PROTOCOL_VERSION, "26.05": SLURM_26_05_PROTOCOL_VERSION}


def listing(release: str) -> dict[int, dict[str, str]]:
    """show_job.txt as {job id: {key: value}} (values up to the next space)."""
    out: dict[int, dict[str, str]] = {}
    for line in (GOLDEN / release / "show_job.txt").read_text().splitlines():
        fields = dict(re.findall(r"(\S+?)=(\S*)", line))
        out[int(fields["JobId"])] = fields
    return out


@pytest.fixture(scope="module", params=sorted(RELEASES))
def release(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def state(release: str) -> JobStateFile:
    return decode_job_state((GOLDEN / release / "job_state").read_bytes())


def minutes(text: str) -> int:
    if text == "UNLIMITED":
        return INFINITE
    parts = [int(p) for p in text.replace("-", ":").split(":")]
    h, m, s = parts[-3:] if len(parts) >= 3 else [0, *parts]
    return h * 60 + m + (1 if s else 0)


def test_header_and_every_job(state: JobStateFile, release: str) -> None:
    assert state.protocol_version == RELEASES[release]
    shown = listing(release)
    assert sorted(j.job_id for j in state.jobs) == sorted(shown)
    assert state.job_id_sequence > max(shown)


def test_each_job_as_scontrol_showed_it(state: JobStateFile, release: str) -> None:
    for job_id, s in listing(release).items():
        j: SavedJob = state.job(job_id)
        assert j.details is not None
        assert (j.name, j.user_id, j.group_id, j.partition) == (s["JobName"], 0, 0, s["Partition"])
        assert j.base_state.name == s["JobState"], job_id
        assert j.priority == int(s["Priority"]) and j.nice == int(s["Nice"]), job_id
        assert j.details.work_dir == s["WorkDir"] and j.details.std_out == s["StdOut"]
        expected_limit = minutes(s["TimeLimit"])
        assert j.time_limit == expected_limit or (expected_limit == INFINITE and j.time_limit == NO_VAL)
        assert j.details.cpus_per_task_value == int(s.get("CPUs/Task", "1")), job_id
        assert (j.details.dependency or "(null)") == s["Dependency"]
        assert (j.comment or "(null)") == s.get("Comment", "(null)")
        assert j.is_held() == (s["Reason"] == "JobHeldUser")


def test_running_jobs_keep_their_allocation_and_batch_step(state: JobStateFile, release: str) -> None:
    shown = listing(release)
    running = [j for j in state.jobs if j.is_running()]
    assert sorted(j.job_id for j in running) == sorted(
        i for i, s in shown.items() if s["JobState"] == "RUNNING"
    )
    for j in running:
        s = shown[j.job_id]
        assert j.nodes == s["NodeList"] and j.batch_host == s["BatchHost"]
        res = j.job_resources
        assert res is not None and res.nodes == s["NodeList"] and sum(res.cpus) == int(s["NumCPUs"])
        (step,) = j.steps
        assert step.step_id == SLURM_BATCH_SCRIPT and step.exit_code == NO_VAL
        assert step.layout is not None and step.layout.node_list == s["NodeList"]
    assert state.job(1).details is not None and state.job(1).details.pn_min_memory == 100  # --mem=100


def test_the_array(state: JobStateFile) -> None:
    meta, task = state.job(2), state.job(6)
    assert (task.array_job_id, task.array_task_id) == (2, 0) and task.is_running()
    assert meta.is_array_meta() and meta.array is not None
    assert meta.array.pending_task_ids == (1, 2, 3) and meta.array.max_run_tasks == 1
    assert task.script_job_id == meta.script_job_id == 2


def test_the_dependency_is_parsed(state: JobStateFile) -> None:
    d = state.job(4).details
    assert d is not None and d.orig_dependency == "afterok:1(unfulfilled)"  # as 22.05 keeps it
    (spec,) = d.depend_list
    assert spec.job_id == 1


def test_a_truncated_file_is_a_decode_error(release: str) -> None:
    data = (GOLDEN / release / "job_state").read_bytes()
    for cut in range(30, len(data), 97):
        with pytest.raises(DecodeError):
            decode_job_state(data[:cut])


def test_the_saved_reservation(release: str) -> None:
    """resv_state of the same slurmctld: "maint" (MAINT, all nodes, tomorrow for 60 minutes, users root)."""
    saved = read_resv_state(GOLDEN / release / "resv_state")
    assert saved is not None and saved.protocol_version == RELEASES[release] and saved.top_suffix == 1
    (maint,) = saved.reservations
    rec = maint.record
    assert (maint.name, rec.users, rec.node_list, maint.duration) == ("maint", "root", "compute-node-1", 60)
    assert rec.flags & ReserveFlag.MAINT and rec.end_time - rec.start_time == 3600
    data = (GOLDEN / release / "resv_state").read_bytes()
    for cut in range(30, len(data), 13):
        with pytest.raises(DecodeError):
            decode_resv_state(data[:cut])

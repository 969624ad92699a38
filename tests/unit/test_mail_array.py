"""An array mails as one job unless ARRAY_TASKS (mail_job_info): its summary's exit codes, as
_set_job_term_info words them, and the INVALID_DEPEND mail, sent once while the reason holds."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_jobctl import controller

from flurm.controller import mail
from flurm.controller.engine import Controller
from flurm.protocol.constants import JobState, JobStateReason
from flurm.state.model import Job


@pytest.fixture
def ctl(tmp_path: Path) -> Iterator[Controller]:
    yield from controller(tmp_path)


def array(ctl: Controller, *ends: tuple[int, int, int]) -> Job:
    """An ended array of 7: one record per task, (state, wait status, restarts)."""
    for i, (state, status, restarts) in enumerate(ends):
        job_id = 7 if i == 0 else 7 + i
        ctl.cluster.jobs[job_id] = Job(
            job_id=job_id,
            name="a",
            partition="debug",
            user_id=0,
            group_id=0,
            array_job_id=7,
            array_task_id=i,
            state=state,
            exit_code=status,
            restart_cnt=restarts,
            mail_type=mail.MAIL_JOB_END,
        )
    return ctl.cluster.jobs[8]


C, F, X = JobState.COMPLETE, JobState.FAILED, JobState.CANCELLED


@pytest.mark.parametrize(
    ("ends", "term"),
    [
        (((C, 0, 0), (C, 0, 0)), ", COMPLETED, ExitCode [0-0]"),
        (((C, 0, 0), (F, 3 << 8, 0)), ", Mixed, ExitCode [0-3]"),
        (((F, 1 << 8, 0), (F, 3 << 8, 1)), ", FAILED, ExitCode [1-3], with requeued tasks"),
        (((C, 0, 0), (X, 0, 0)), ", Mixed, MaxSignal [9]"),  # cancelled: counted as status 9
        (((X, 0, 0), (F, 2 << 8, 0)), ", Mixed, MaxExitCode [2]"),
    ],
)
def test_summary_of_an_ended_array(
    ctl: Controller, ends: tuple[tuple[int, int, int], ...], term: str
) -> None:
    task = array(ctl, *ends)
    subject, _ = mail.subject_and_env(ctl, task, mail.MAIL_JOB_END)
    assert subject == f"Slurm Array Summary Job_id=7_* (7) Name=a Ended{term}"


def test_invalid_dependency_mails_once(ctl: Controller, monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(mail, "send", lambda _ctl, job, kind: sent.append(kind))
    job = Job(
        job_id=3, name="d", partition="debug", user_id=0, group_id=0, mail_type=mail.MAIL_INVALID_DEPEND
    )
    job.state_reason = JobStateReason.WAIT_DEP_INVALID
    mail.dependency_checked(ctl, job)
    mail.dependency_checked(ctl, job)
    assert sent == [mail.MAIL_INVALID_DEPEND]
    subject, _ = mail.subject_and_env(ctl, job, mail.MAIL_INVALID_DEPEND)
    assert subject == "Slurm Job_id=3 Name=d Invalid dependency"

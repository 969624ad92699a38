"""Mail about jobs through MailProg (``--mail-type``/``--mail-user``), as slurmctld's mail_job_info.

slurmctld runs ``MailProg -s SUBJECT USER`` with the job's environment (job_common_env_vars plus
SLURM_JOB_STATE, SLURM_JOB_MAIL_TYPE and the times), e.g. "Slurm Job_id=5 Name=wrap Began, Queued
time 00:00:01" or "Slurm Job_id=5 Name=wrap Ended, Run time 00:00:03, COMPLETED, ExitCode 0".
Begin is sent when the job starts, End/Fail/Requeue when a run ends (job_completion_logger).

TIME_LIMIT_50/80/90/100 go out as the job uses that much of its limit; INVALID_DEPEND when its
dependency can no longer be satisfied. An array mails as one job ("Slurm Array Summary
Job_id=7_* (7) ..."): Began for its first task, then once every task has ended Requeued (if any
task was), Failed (if any exited non-zero) or Ended, with the range of its tasks' exit codes;
``--mail-type=ARRAY_TASKS`` makes each task mail as a job of its own.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from flurm.controller.job_env import job_common_env, state_name
from flurm.protocol.constants import NO_VAL, JobState, JobStateReason
from flurm.state.model import Job
from flurm.users import user_name

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.mail")

MAIL_JOB_BEGIN = 1 << 0
MAIL_JOB_END = 1 << 1
MAIL_JOB_FAIL = 1 << 2
MAIL_JOB_REQUEUE = 1 << 3
MAIL_JOB_TIME100 = 1 << 4
MAIL_JOB_TIME90 = 1 << 5
MAIL_JOB_TIME80 = 1 << 6
MAIL_JOB_TIME50 = 1 << 7
MAIL_ARRAY_TASKS = 1 << 9
MAIL_INVALID_DEPEND = 1 << 10
MAIL_PROG_TIMEOUT = 120  # seconds (slurmctld's MAIL_PROG_TIMEOUT)

_TYPE_NAMES = {
    MAIL_JOB_BEGIN: "Began",
    MAIL_JOB_END: "Ended",
    MAIL_JOB_FAIL: "Failed",
    MAIL_JOB_REQUEUE: "Requeued",
    MAIL_JOB_TIME100: "Reached time limit",
    MAIL_JOB_TIME90: "Reached 90% of time limit",
    MAIL_JOB_TIME80: "Reached 80% of time limit",
    MAIL_JOB_TIME50: "Reached 50% of time limit",
    MAIL_INVALID_DEPEND: "Invalid dependency",
}
# TIME_LIMIT_*: the mail and the part of the limit left when it is due
_TIME_MAILS = (
    (MAIL_JOB_TIME100, 0.0),
    (MAIL_JOB_TIME90, 0.1),
    (MAIL_JOB_TIME80, 0.2),
    (MAIL_JOB_TIME50, 0.5),
)
_TIME_MAIL_BITS = MAIL_JOB_TIME100 | MAIL_JOB_TIME90 | MAIL_JOB_TIME80 | MAIL_JOB_TIME50


def duration(seconds: int) -> str:
    """secs2time_str: HH:MM:SS, or D-HH:MM:SS."""
    if seconds < 0:
        return "INVALID"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days}-{text}" if days else text


def job_began(ctl: Controller, job: Job) -> None:
    """The job started (select_nodes): Began, for an array's first task only unless ARRAY_TASKS."""
    if not job.mail_type & MAIL_JOB_BEGIN:
        return
    if job.array_task_id != NO_VAL and not job.mail_type & MAIL_ARRAY_TASKS:
        others = [
            j
            for j in ctl.cluster.jobs.values()
            if j.array_job_id == job.array_job_id and j is not job and j.start_time and not j.is_pending()
        ]
        if others:
            return
    send(ctl, job, MAIL_JOB_BEGIN)


def job_ended(ctl: Controller, job: Job, *, requeue: bool = False) -> None:
    """A run of the job ended (job_completion_logger): Failed, Requeued, Ended as asked; an array's
    task mails for the array once all of its tasks have ended."""
    if job.array_task_id != NO_VAL and not job.mail_type & MAIL_ARRAY_TASKS:
        _array_ended(ctl, job)
        return
    base = job.base_state
    if (
        job.mail_type & MAIL_JOB_FAIL
        and base >= JobState.FAILED
        and (base != JobState.PREEMPTED or not requeue)
    ):
        send(ctl, job, MAIL_JOB_FAIL)
    if requeue and job.mail_type & MAIL_JOB_REQUEUE:
        send(ctl, job, MAIL_JOB_REQUEUE)
    if job.mail_type & MAIL_JOB_END and base in (JobState.COMPLETE, JobState.CANCELLED):
        send(ctl, job, MAIL_JOB_END)


def _array_ended(ctl: Controller, job: Job) -> None:
    """A task of an array ended: once the whole array has, one mail for it (job_completion_logger
    with test_job_array_finished)."""
    records = _array_records(ctl, job.array_job_id)
    master = ctl.cluster.jobs.get(job.array_job_id)
    if master is None or not all(j.is_finished() for j in records):
        return
    if any(j.restart_cnt for j in records) and job.mail_type & MAIL_JOB_REQUEUE:
        send(ctl, master, MAIL_JOB_REQUEUE)
    _, highest = _exit_range(records)
    if highest & 0x7F == 0 and highest >> 8 & 0xFF and job.mail_type & MAIL_JOB_FAIL:
        send(ctl, master, MAIL_JOB_FAIL)
    elif job.mail_type & MAIL_JOB_END:
        send(ctl, job, MAIL_JOB_END)


def _array_records(ctl: Controller, array_job_id: int) -> list[Job]:
    return [j for j in ctl.cluster.jobs.values() if j.array_job_id == array_job_id]


def _exit_range(records: list[Job]) -> tuple[int, int]:
    """The lowest and highest wait status of the array's ended tasks (_job_array_comp): a task
    that ended with status 0 but did not complete (cancelled, node failure) counts as 9."""
    statuses = [
        j.exit_code or (0 if j.base_state == JobState.COMPLETE else 9) for j in records if j.is_finished()
    ]
    return (min(statuses), max(statuses)) if statuses else (0, 0)


# jobs mailed about their dependency while it stays DependencyNeverSatisfied
_DEPEND_MAILED: weakref.WeakKeyDictionary[Controller, set[int]] = weakref.WeakKeyDictionary()


def dependency_checked(ctl: Controller, job: Job) -> None:
    """The job's reason may have changed: once its dependency can never be satisfied, the
    INVALID_DEPEND mail (handle_invalid_dependency), once while it stays so."""
    mailed = _DEPEND_MAILED.setdefault(ctl, set())
    if job.state_reason != JobStateReason.WAIT_DEP_INVALID or not job.is_pending():
        mailed.discard(job.job_id)
        return
    if job.job_id in mailed:
        return
    mailed.add(job.job_id)
    if job.mail_type & MAIL_INVALID_DEPEND:
        send(ctl, job, MAIL_INVALID_DEPEND)


def time_limit_due(ctl: Controller, job: Job, now: int) -> None:
    """A running job with TIME_LIMIT_* mails (slurmctld's job_time_limit): each once, when that
    much of its limit is used."""
    if not job.mail_type & _TIME_MAIL_BITS:
        return
    part = ctl.cluster.partitions.get(job.partition)
    limit = job.limit_seconds(part.max_time if part else None)
    if limit is None or not job.end_time:
        return
    for mail_type, left in _TIME_MAILS:
        if job.mail_type & mail_type and now + limit * left >= job.end_time:
            job.mail_type &= ~mail_type
            ctl.cluster.job_changed(job)
            send(ctl, job, mail_type)


def subject_and_env(ctl: Controller, job: Job, mail_type: int) -> tuple[str, dict[str, str]]:
    """The subject line and environment slurmctld gives MailProg for this mail."""
    ended = mail_type in (MAIL_JOB_END, MAIL_JOB_FAIL)
    summary = None  # an array mails as its own record, with its tasks' results (mail_job_info)
    if job.array_job_id and not job.mail_type & MAIL_ARRAY_TASKS:
        summary = ctl.cluster.jobs.get(job.array_job_id)
    if summary is not None:
        job = summary
    env = job_common_env(ctl, job, ended)
    env["SLURM_JOB_STATE"] = state_name(job.base_state)
    env["SLURM_JOB_MAIL_TYPE"] = _TYPE_NAMES.get(mail_type, "unknown")
    job_time = ""
    if mail_type == MAIL_JOB_BEGIN and job.start_time and job.submit_time:
        env["SLURM_JOB_QUEUED_TIME"] = duration(job.start_time - job.submit_time)
        job_time = ", Queued time " + env["SLURM_JOB_QUEUED_TIME"]
    elif mail_type in (MAIL_JOB_END, MAIL_JOB_FAIL, MAIL_JOB_REQUEUE) and job.start_time and job.end_time:
        if job.suspend_time:
            run = job.end_time - job.suspend_time + job.pre_sus_time
        else:
            run = job.end_time - job.start_time
        env["SLURM_JOB_RUN_TIME"] = duration(run)
        job_time = ", Run time " + env["SLURM_JOB_RUN_TIME"]
    elif (
        mail_type in (MAIL_JOB_TIME100, MAIL_JOB_TIME90, MAIL_JOB_TIME80, MAIL_JOB_TIME50) and job.start_time
    ):
        now = ctl.now()
        run = now - job.suspend_time + job.pre_sus_time if job.suspend_time else now - job.start_time
        env["SLURM_JOB_RUN_TIME"] = duration(run)
        job_time = ", Run time " + env["SLURM_JOB_RUN_TIME"]
    term = ""
    if ended and summary is not None:
        term = _summary_term(ctl, job, env)
    elif ended:
        status = job.exit_code
        if status & 0x7F == 0:  # WIFEXITED
            term = f", {state_name(job.base_state)}, ExitCode {status >> 8 & 0xFF}"
            env["SLURM_JOB_EXIT_CODE_MAX"] = str(status >> 8 & 0xFF)
        else:
            term = f", {state_name(job.base_state)}"
            env["SLURM_JOB_EXIT_CODE_MAX"] = "0"
    what = _TYPE_NAMES.get(mail_type, "unknown")
    if summary is not None:
        subject = (
            f"Slurm Array Summary Job_id={job.array_job_id}_* ({job.job_id}) Name={job.name} {what}{term}"
        )
    elif job.array_task_id != NO_VAL:
        subject = (
            f"Slurm Array Task Job_id={job.array_job_id}_{job.array_task_id} ({job.job_id}) "
            f"Name={job.name} {what}{job_time}{term}"
        )
    else:
        subject = f"Slurm Job_id={job.job_id} Name={job.name} {what}{job_time}{term}"
    return subject, env


def _summary_term(ctl: Controller, master: Job, env: dict[str, str]) -> str:
    """How the array's tasks ended (_set_job_term_info for an array): ", COMPLETED, ExitCode [0-0]",
    ", Mixed, ExitCode [0-3]", ", Mixed, MaxSignal [9]" ..., and whether any was requeued."""
    records = _array_records(ctl, master.array_job_id)
    lowest, highest = _exit_range(records)
    if lowest & 0x7F == 0 and highest & 0x7F == 0:
        low, high = lowest >> 8 & 0xFF, highest >> 8 & 0xFF
        state = "Mixed" if low == 0 and high > 0 else state_name(master.base_state)
        term = f", {state}, ExitCode [{low}-{high}]"
        env["SLURM_JOB_EXIT_CODE_MIN"] = str(low)
        env["SLURM_JOB_EXIT_CODE_MAX"] = str(high)
    elif highest & 0x7F not in (0, 0x7F):
        term = f", Mixed, MaxSignal [{highest & 0x7F}]"
        env["SLURM_JOB_TERM_SIGNAL_MAX"] = str(highest & 0x7F)
    elif highest & 0x7F == 0:
        term = f", Mixed, MaxExitCode [{highest >> 8 & 0xFF}]"
        env["SLURM_JOB_EXIT_CODE_MAX"] = str(highest >> 8 & 0xFF)
    else:
        term = f", {state_name(master.base_state)}"
        env["SLURM_JOB_EXIT_CODE_MAX"] = "0"
    if any(j.restart_cnt for j in records):
        term += ", with requeued tasks"
    return term


def mail_user(ctl: Controller, job: Job) -> str:
    """--mail-user, or the job's user (at MailDomain when set)."""
    if job.mail_user:
        return job.mail_user
    domain = ctl.config.raw.get("maildomain")
    return f"{user_name(job.user_id)}@{domain}" if domain else user_name(job.user_id)


# slurmctld runs at most MAX_MAIL_THREADS MailProgs at once; the others wait their turn
MAX_MAIL_PROGS = 64
_SLOTS: weakref.WeakKeyDictionary[Controller, asyncio.Semaphore] = weakref.WeakKeyDictionary()


def send(ctl: Controller, job: Job, mail_type: int) -> None:
    prog = ctl.config.mail_prog
    if not prog:
        return
    subject, env = subject_and_env(ctl, job, mail_type)
    slots = _SLOTS.get(ctl)
    if slots is None:
        slots = _SLOTS[ctl] = asyncio.Semaphore(MAX_MAIL_PROGS)
    ctl.spawn(_run(slots, prog, subject, mail_user(ctl, job), env), "MailProg")


async def _run(slots: asyncio.Semaphore, prog: str, subject: str, user: str, env: dict[str, str]) -> None:
    async with slots:
        await _run_one(prog, subject, user, env)


async def _run_one(prog: str, subject: str, user: str, env: dict[str, str]) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            prog,
            "-s",
            subject,
            user,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        log.error("MailProg %s could not run: %s", prog, exc)
        return
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), MAIL_PROG_TIMEOUT)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.error("MailProg %s timed out", prog)
        return
    if proc.returncode:
        log.error("MailProg returned error, it's output was '%s'", out.decode(errors="replace").strip())

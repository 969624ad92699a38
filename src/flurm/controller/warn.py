"""``--signal=[B:][R:]SIG@TIME``: the job's warning signal before its time limit (slurmctld's
send_job_warn_signal, from job_time_limit).

slurmctld looks every PERIODIC_TIMEOUT (30 s) and sends the signal once the end is at most TIME +
30 s away: SIGCONT first, then SIG, to the job's steps only unless ``B:`` asked for the batch shell.
"""

from __future__ import annotations

import signal as signals
from typing import TYPE_CHECKING

from flurm.protocol.constants import INFINITE, KillFlags
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

WARN_SENT = 1 << 15  # in warn_flags: the warning went out (cleared when the job is requeued)
PERIODIC_TIMEOUT = 30  # slurmctld's period of job_time_limit


def send_due(ctl: Controller, job: Job, now: int) -> None:
    """Signal a running job whose warning is due (once)."""
    if not job.warn_signal or job.warn_flags & WARN_SENT or not job.warn_time:
        return
    if job.time_limit == INFINITE or not job.end_time:
        return
    if job.warn_time + PERIODIC_TIMEOUT + now < job.end_time:
        return
    if not job.warn_flags & KillFlags.BATCH:
        job.warn_flags |= KillFlags.STEPS_ONLY
    flags = job.warn_flags & 0xFFFF & ~WARN_SENT
    ctl.agent.signal_job(job, signals.SIGCONT, flags)
    ctl.agent.signal_job(job, job.warn_signal, flags)
    job.warn_flags |= WARN_SENT
    ctl.cluster.job_changed(job)

"""Why a batch job that a signal ended failed, as each release's slurmctld says it (job_mgr.c
_job_complete).

22.05 gives such a job FAIL_LAUNCH ("JobLaunchFailure"), as for a launch that failed; from 23.02 (so
24.11 and 26.05) it is FAIL_SIGNAL, in the enum slot 22.05 called WAIT_BLOCK_MAX_ERR (33), with the
description "RaisedSignal:N(name)" that scontrol shows in its place. flurm keeps 22.05's reason in the
job; a job record for a newer release's client takes this one's.
"""

from __future__ import annotations

import signal

from flurm.protocol.constants import SLURM_24_11_PROTOCOL_VERSION, JobState, JobStateReason
from flurm.state.model import Job

FAIL_SIGNAL = 33  # 23.02 on; 22.05's defunct WAIT_BLOCK_MAX_ERR slot


def signalled(wait_status: int) -> int:
    """WTERMSIG of a wait status that WIFSIGNALED, else 0."""
    sig = wait_status & 0x7F
    return sig if sig not in (0, 0x7F) else 0


def failed_reason(wait_status: int) -> int:
    """The reason of a job that ended FAILED with this wait status (22.05's)."""
    return JobStateReason.FAIL_LAUNCH if signalled(wait_status) else JobStateReason.FAIL_EXIT_CODE


def shown_reason(job: Job, version: int) -> tuple[int, str | None]:
    """(state_reason, state_desc) of the job as the slurmctld of ``version`` packs them."""
    sig = signalled(job.exit_code)
    if (
        version >= SLURM_24_11_PROTOCOL_VERSION
        and sig
        and job.base_state == JobState.FAILED
        and job.state_reason == JobStateReason.FAIL_LAUNCH
    ):
        try:
            name = signal.strsignal(sig) or f"Unknown signal {sig}"
        except ValueError:
            name = f"Unknown signal {sig}"
        return FAIL_SIGNAL, f"RaisedSignal:{sig}({name})"
    return job.state_reason, job.state_desc

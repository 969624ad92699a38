"""Job id texts as clients write them (``N``, ``N_T``, ``N_[expr]``, ``N_*``) and what they name."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flurm.errors import SlurmError
from flurm.protocol.constants import SlurmRC
from flurm.state.tasks import TaskSet, TaskSetError

_JOB_ID_TEXT = re.compile(r"^(\d{1,10})(?:_(.+))?$")


@dataclass(frozen=True, slots=True)
class Target:
    """What a job id text names: a job, one array task, some tasks, or a whole array."""

    job_id: int
    tasks: TaskSet | None = None  # None: the job / the whole array


def parse_job_id(text: str, max_array_size: int) -> Target:
    """``N``, ``N_*``, ``N_T`` or ``N_[expr]`` (job_str_signal, update_job_str): task ids at or
    above MaxArraySize make the text invalid, as slurmctld's bitmap of MaxArraySize bits does, so
    no text names more tasks than an array can have."""
    m = _JOB_ID_TEXT.match(text.strip())
    if m is None or int(m.group(1)) == 0:
        raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
    job_id = int(m.group(1))
    spec = m.group(2)
    if spec is None or spec == "*":
        return Target(job_id)
    try:
        return Target(job_id, TaskSet.parse(spec, max_array_size))
    except TaskSetError:
        raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID) from None

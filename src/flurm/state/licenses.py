"""Cluster licenses (slurm.conf ``Licenses=``) and the jobs that hold them, as slurmctld 22.05 counts them.

The text of both the configuration and a job's ``--licenses`` is read by config/licenses.py.

A job holds its licenses from its start until the end of its completion (slurmctld takes them in
select_nodes and gives them back in cleanup_completing): what is in use is therefore counted from
the jobs that run or complete, never stored.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from flurm.config.licenses import LicenseError, parse
from flurm.protocol.constants import JobState
from flurm.state.model import Job

__all__ = [
    "LicenseError",
    "LicenseState",
    "Pool",
    "configured",
    "holds",
    "in_use",
    "parse",
    "report",
    "validate",
]


def validate(text: str | None, configured: dict[str, int]) -> dict[str, int]:
    """A job's request checked against the cluster (license_validate): every license must be
    configured, and no more of one asked than the cluster has."""
    wanted = parse(text)
    for name, count in wanted.items():
        if name not in configured or count > configured[name]:
            raise LicenseError(text or "")
    return wanted


def holds(job: Job) -> bool:
    """Does the job hold its licenses now (started and not done completing)?"""
    return bool(job.licenses) and (
        job.is_running() or job.is_completing() or job.base_state == JobState.SUSPENDED
    )


def job_licenses(job: Job) -> dict[str, int]:
    try:
        return parse(job.licenses)
    except LicenseError:
        return {}


def in_use(jobs: Iterable[Job]) -> dict[str, int]:
    """Licenses held, by name."""
    used: dict[str, int] = {}
    for job in jobs:
        if holds(job):
            for name, count in job_licenses(job).items():
                used[name] = used.get(name, 0) + count
    return used


@dataclass(frozen=True, slots=True)
class LicenseState:
    """One configured license as ``scontrol show licenses`` reports it."""

    name: str
    total: int
    used: int

    @property
    def free(self) -> int:
        return max(0, self.total - self.used)


def report(configured: dict[str, int], jobs: Iterable[Job]) -> list[LicenseState]:
    used = in_use(jobs)
    return [LicenseState(name, total, used.get(name, 0)) for name, total in configured.items()]


class Pool:
    """Licenses left during one scheduling cycle: the jobs it starts take theirs at once."""

    def __init__(self, configured: dict[str, int], jobs: Iterable[Job], starting: Iterable[Job] = ()) -> None:
        used = in_use(jobs) if configured else {}  # (no licenses: no need to look at the jobs)
        self.free = {name: total - used.get(name, 0) for name, total in configured.items()}
        for job in starting:
            self.take(job)

    def fits(self, job: Job) -> bool:
        """license_job_test: every license of the job is free in the amount asked."""
        if not job.licenses:
            return True
        return all(count <= self.free.get(name, -1) for name, count in job_licenses(job).items())

    def take(self, job: Job) -> None:
        if job.licenses:
            for name, count in job_licenses(job).items():
                if name in self.free:
                    self.free[name] -= count


@functools.lru_cache(maxsize=8)
def configured(text: str | None) -> dict[str, int]:
    """The cluster's licenses from slurm.conf's Licenses= (checked when the file was read)."""
    try:
        return parse(text)
    except LicenseError:
        return {}

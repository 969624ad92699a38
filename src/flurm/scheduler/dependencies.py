"""Job dependencies (``--dependency``): parsing, evaluation, and the text slurmctld shows for them.

Grammar (sbatch(1)): ``TYPE:ID[:ID...]`` items joined by ``,`` (all must hold) or ``?`` (any may
hold); ``singleton`` stands alone. An ID is ``123``, ``123_4`` (one array task) or ``123_*``.
A dependency on a job the controller no longer knows counts as satisfied, as in slurmctld.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from flurm.errors import FlurmError
from flurm.protocol.constants import JobState, SlurmRC
from flurm.state.model import Job

DEP_TYPES = ("after", "afterany", "afterok", "afternotok", "aftercorr", "afterburstbuffer", "singleton")
_ID = re.compile(r"^(\d+)(?:_(\d+|\*))?(?:\+(\d+))?$")


class DependencyError(FlurmError, ValueError):
    """The dependency text does not parse (slurmctld answers ESLURM_DEPENDENCY)."""

    rc = SlurmRC.ESLURM_DEPENDENCY


@dataclass(frozen=True, slots=True)
class Dep:
    kind: str
    job_id: int = 0
    task: int | None = None  # None = the whole job (or whole array)
    all_tasks: bool = False  # written as ID_*
    delay_min: int = 0  # after:ID+minutes


@dataclass(frozen=True, slots=True)
class DependencySpec:
    deps: tuple[Dep, ...]
    any_of: bool = False  # joined by '?'


def parse(text: str) -> DependencySpec:
    text = text.strip()
    if not text:
        raise DependencyError("empty dependency")
    any_of = "?" in text
    if any_of and "," in text:
        raise DependencyError("cannot mix ',' and '?' in a dependency")
    deps: list[Dep] = []
    for item in text.split("?" if any_of else ","):
        item = item.strip()
        if item == "singleton":
            deps.append(Dep("singleton"))
            continue
        kind, sep, ids = item.partition(":")
        if not sep or kind not in DEP_TYPES or kind == "singleton" or not ids:
            raise DependencyError(f"invalid dependency {item!r}")
        for ref in ids.split(":"):
            m = _ID.match(ref)
            if m is None:
                raise DependencyError(f"invalid job id {ref!r} in dependency")
            task_txt = m.group(2)
            deps.append(
                Dep(
                    kind,
                    int(m.group(1)),
                    None if task_txt in (None, "*") else int(task_txt),
                    task_txt == "*",
                    int(m.group(3) or 0),
                )
            )
    return DependencySpec(tuple(deps), any_of)


def _targets(dep: Dep, jobs: Mapping[int, Job]) -> list[Job]:
    """The job records a dependency refers to."""
    if dep.task is not None:
        return [j for j in jobs.values() if j.array_job_id == dep.job_id and j.array_task_id == dep.task] or [
            j for j in jobs.values() if j.array_job_id == dep.job_id and dep.task in j.array_task_pending
        ]
    job = jobs.get(dep.job_id)
    if job is not None and job.array_job_id == 0:
        return [job]
    return [j for j in jobs.values() if j.array_job_id == dep.job_id]


def _one(dep: Dep, job: Job, jobs: Mapping[int, Job]) -> str:
    """'satisfied', 'waiting' or 'failed' for one dependency."""
    if dep.kind == "singleton":
        for other in jobs.values():
            if (
                other.job_id != job.job_id
                and other.user_id == job.user_id
                and other.name == job.name
                and not other.is_finished()
                and (other.is_running() or other.job_id < job.job_id)
            ):
                return "waiting"
        return "satisfied"
    targets = _targets(dep, jobs)
    if not targets:
        return "satisfied"
    results = []
    for t in targets:
        pending_tasks = t.is_array_meta() and t.array_task_pending
        base = t.base_state
        if dep.kind == "after":
            results.append("waiting" if t.is_pending() or pending_tasks else "satisfied")
        elif not t.is_finished() or pending_tasks or t.is_completing():
            # slurmctld waits until the job is completed: finished and its epilog done
            results.append("waiting")
        elif dep.kind in ("afterany", "afterburstbuffer"):
            results.append("satisfied")
        elif dep.kind in ("afterok", "aftercorr"):
            ok = base == JobState.COMPLETE and t.exit_code == 0
            results.append("satisfied" if ok else "failed")
        elif dep.kind == "afternotok":
            ok = base != JobState.COMPLETE or t.exit_code != 0
            results.append("satisfied" if ok else "failed")
    if "failed" in results:
        return "failed"
    if "waiting" in results:
        return "waiting"
    return "satisfied"


def evaluate(spec: DependencySpec, job: Job, jobs: Mapping[int, Job]) -> tuple[str, list[tuple[Dep, str]]]:
    """Overall state ('satisfied', 'waiting', 'failed') and each dependency's own state."""
    each = [(d, _one(d, job, jobs)) for d in spec.deps]
    states = [s for _, s in each]
    if spec.any_of:
        if "satisfied" in states:
            return "satisfied", each
        return ("failed" if all(s == "failed" for s in states) else "waiting"), each
    if "failed" in states:
        return "failed", each
    if "waiting" in states:
        return "waiting", each
    return "satisfied", each


def describe(spec: DependencySpec, each: list[tuple[Dep, str]], jobs: Mapping[int, Job]) -> str | None:
    """The dependency string slurmctld reports: unsatisfied items with their state, or None."""
    parts = []
    for dep, state in each:
        if state == "satisfied":
            continue
        if dep.kind == "singleton":
            parts.append("singleton(unfulfilled)")
            continue
        ref = str(dep.job_id)
        if dep.task is not None:
            ref += f"_{dep.task}"
        elif dep.all_tasks or _is_array(dep.job_id, jobs):
            ref += "_*"
        if dep.delay_min:
            ref += f"+{dep.delay_min}"
        label = "unfulfilled" if state == "waiting" else "failed"
        parts.append(f"{dep.kind}:{ref}({label})")
    if not parts:
        return None
    return ("?" if spec.any_of else ",").join(parts)


def _is_array(job_id: int, jobs: Mapping[int, Job]) -> bool:
    job = jobs.get(job_id)
    if job is not None and job.array_job_id == job_id:
        return True
    return any(j.array_job_id == job_id for j in jobs.values())

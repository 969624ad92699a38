"""PrologSlurmctld and EpilogSlurmctld: programs the controller runs for a job, as slurmctld 22.05
(prep/script, prep_slurmctld.c).

PrologSlurmctld runs when a job is given its nodes, with the job's environment and
SLURM_SCRIPT_CONTEXT=prolog_slurmctld; the job shows CONFIGURING, a batch job is launched only once
it succeeded and srun/salloc wait for it (REQUEST_JOB_READY). A prolog that fails (or times out)
requeues the job; one that cannot be requeued (``--no-requeue``, an allocation) is cancelled, its
srun/salloc told why. EpilogSlurmctld runs when a job gives its nodes back
(SLURM_SCRIPT_CONTEXT=epilog_slurmctld); the job stays COMPLETING until both it and the nodes'
epilogs are done. Both run as the controller's user; the timeout is PrologEpilogTimeout (none by
default).
"""

from __future__ import annotations

import asyncio
import logging
import signal as signals
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flurm.controller.job_env import job_common_env
from flurm.protocol.constants import JobStateFlag, SlurmRC
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.prep")


@dataclass
class _Running:
    prologs: set[int] = field(default_factory=set)
    epilogs: set[int] = field(default_factory=set)


_RUNNING: weakref.WeakKeyDictionary[Controller, _Running] = weakref.WeakKeyDictionary()


def _running(ctl: Controller) -> _Running:
    found = _RUNNING.get(ctl)
    if found is None:
        found = _RUNNING[ctl] = _Running()
    return found


def _timeout(ctl: Controller) -> float | None:
    text = ctl.config.raw.get("prologepilogtimeout")
    try:
        value = int(text) if text else 0
    except ValueError:
        value = 0
    return float(value) if 0 < value < 0xFFFE else None


def prolog_start(ctl: Controller, job: Job) -> bool:
    """The job was given its nodes: run PrologSlurmctld. True when the batch launch waits for it."""
    prog = ctl.config.prolog_slurmctld
    if not prog:
        return False
    gated = job.script is not None
    job.state |= JobStateFlag.CONFIGURING
    ctl.cluster.job_changed(job)
    _running(ctl).prologs.add(job.job_id)
    env = {**job_common_env(ctl, job, False), "SLURM_SCRIPT_CONTEXT": "prolog_slurmctld"}
    ctl.spawn(_prolog(ctl, job, prog, env, job.restart_cnt, gated), "PrologSlurmctld")
    return gated


async def _prolog(ctl: Controller, job: Job, prog: str, env: dict[str, str], run: int, gated: bool) -> None:
    try:
        ok = await _run(prog, env, _timeout(ctl), f"prolog_slurmctld JobId={job.job_id}")
    finally:
        _running(ctl).prologs.discard(job.job_id)
    if job.restart_cnt != run or not (job.is_running() and job.state & JobStateFlag.CONFIGURING):
        return  # the job moved on meanwhile (cancelled, requeued)
    job.state &= ~JobStateFlag.CONFIGURING
    ctl.cluster.job_changed(job)
    if not ok:
        from flurm.controller.job_control import notify, tell_srun
        from flurm.controller.requeue import requeue_job

        rc = requeue_job(ctl, job, 0, 0)
        if rc and rc != SlurmRC.ESLURM_JOB_PENDING:
            log.info("unable to requeue JobId=%s: rc %s", job.job_id, rc)
            told = tell_srun(ctl, job, "PrologSlurmctld failed, job killed")
            if told is not None:
                await told  # before the kill revokes its allocation: srun would exit without printing it
            else:
                notify(ctl, job.job_id, "PrologSlurmctld failed, job killed", 0)  # a batch job's node
            ctl.jobs.kill(None, job.job_id, signals.SIGKILL, 0, 0)
        return
    ctl.agent.job_started(job)  # PrologFlags=Alloc: the node prologs follow (job_config_fini)
    if gated:
        ctl.agent.launch_batch(job)


def prolog_running(ctl: Controller, job_id: int) -> bool:
    """PrologSlurmctld still runs for the job (job_node_ready leaves READY_PROLOG_STATE out)."""
    return job_id in _running(ctl).prologs


def epilog_start(ctl: Controller, job: Job) -> None:
    """The job gives its nodes back: run EpilogSlurmctld; the job completes when it is done too."""
    prog = ctl.config.epilog_slurmctld
    if not prog or not job.nodes or job.job_id in _running(ctl).epilogs:
        return
    _running(ctl).epilogs.add(job.job_id)
    env = {**job_common_env(ctl, job, True), "SLURM_SCRIPT_CONTEXT": "epilog_slurmctld"}
    ctl.spawn(_epilog(ctl, job, prog, env), "EpilogSlurmctld")


async def _epilog(ctl: Controller, job: Job, prog: str, env: dict[str, str]) -> None:
    try:
        await _run(prog, env, _timeout(ctl), f"epilog_slurmctld JobId={job.job_id}")
    finally:
        _running(ctl).epilogs.discard(job.job_id)
    if job.is_completing() and not job.completing_nodes:
        ctl.jobs.node_epilog_done(job.job_id, "")  # the nodes were done first: complete it now


def holds_completion(ctl: Controller, job: Job, node_name: str) -> bool:
    """The last node of the job finished its epilog while EpilogSlurmctld still runs: that node
    is done, the job stays COMPLETING until the controller's epilog ends too."""
    if job.job_id not in _running(ctl).epilogs:
        return False
    if job.completing_nodes not in ((node_name,), ()):
        return False
    job.completing_nodes = ()
    ctl.cluster.release(job, [node_name])
    ctl.cluster.job_changed(job)
    return True


async def _run(prog: str, env: dict[str, str], timeout: float | None, what: str) -> bool:
    """Run the program; True when it exited 0."""
    try:
        proc = await asyncio.create_subprocess_exec(
            prog,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError as exc:
        log.error("%s could not run %s: %s", what, prog, exc)
        return False
    try:
        status = await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.error("%s failed due to timing out", what)
        return False
    if status:
        log.error("%s exit status %s", what, status)
    return status == 0

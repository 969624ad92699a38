"""A running job that loses a node and runs on (``--no-kill``), as slurmctld 22.05.

A node of a running or suspended job went DOWN (kill_running_job_by_node_name). A job submitted
with ``-k`` (kill_on_node_fail 0) that holds more than that node and is not configuring keeps
running on the others: its steps on the node end there (step_partial_comp, rc 9) and are killed
(everywhere, unless the step itself is ``--no-kill``), the node is taken from the job
(excise_node_from_job: nodes, CPUs, memory and TRES shrink) and the job shows a ResizeTime. Its
sruns heard of the failure first (steps.py srun_node_fail). Any other job is requeued or ends
NODE_FAIL (jobs.py, requeue.py).
"""

from __future__ import annotations

import logging
import signal as signals
from typing import TYPE_CHECKING

from flurm.protocol.constants import NO_VAL, SLURM_BATCH_SCRIPT, JobFlag, JobState, JobStateFlag, MsgType
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.steps import SSF_NO_KILL
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

# the return code of a step's part on a failed node (kill_step_on_node: SIGKILL)
_STEP_RC_ON_FAILED_NODE = 9


def runs_on_without(ctl: Controller, job: Job, node_name: str) -> bool:
    """Take the failed node from a ``--no-kill`` job that runs on the others; False: the job may
    not run on (it is killed or requeued as any other)."""
    suspended = job.base_state == JobState.SUSPENDED
    if (
        job.kill_on_node_fail
        or len(job.nodes) < 2
        or node_name not in job.nodes
        or job.state & JobStateFlag.CONFIGURING
        or not (job.is_running() or suspended)
    ):
        return False
    log.error("Removing failed node %s from JobId=%s", node_name, job.job_id)
    job.resize_time = ctl.now()
    job.bitflags &= ~JobFlag.JOB_WAS_RUNNING  # job_pre_resize_acctg logs the run so far as ended
    had_steps = job.script is not None or bool(ctl.steps.table(job).steps)  # (the batch step counts)
    _kill_steps_on(ctl, job, node_name)
    _excise(ctl, job, node_name)
    if had_steps:
        job.bitflags |= JobFlag.JOB_RESIZED  # job_post_resize_acctg: resized while steps ran
    ctl.cluster.job_changed(job)
    return True


def _kill_steps_on(ctl: Controller, job: Job, node_name: str) -> None:
    """kill_step_on_node(node_fail=true): each step on the node ends there and is killed."""
    steps = ctl.steps.table(job).steps
    for step in list(steps.values()):
        if node_name not in step.nodes:
            continue
        index = step.nodes.index(node_name)
        nodes, step_id, no_kill = step.nodes, step.step_id, bool(step.flags & SSF_NO_KILL)
        ctl.steps.step_complete(
            StepId(job.job_id, step_id, NO_VAL), index, index, _STEP_RC_ON_FAILED_NODE, job.user_id
        )
        log.info(
            "Killing StepId=%s.%s %s failed node %s",
            job.job_id,
            step_id,
            "on" if no_kill else "due to",
            node_name,
        )
        ctl.agent.signal_step(
            job,
            step_id,
            (node_name,) if no_kill else nodes,
            signals.SIGKILL,
            0,
            MsgType.REQUEST_TERMINATE_TASKS,
        )
    if job.script is not None and job.batch_host == node_name:
        ctl.agent.signal_step(
            job, SLURM_BATCH_SCRIPT, (node_name,), signals.SIGKILL, 0, MsgType.REQUEST_TERMINATE_TASKS
        )


def _excise(ctl: Controller, job: Job, node_name: str) -> None:
    """excise_node_from_job: the node is given back and the job holds the others only."""
    ctl.cluster.release(job, [node_name])
    keep = [i for i, name in enumerate(job.nodes) if name != node_name]

    job.cores_alloc = tuple(job.cores_alloc[i] for i in keep if i < len(job.cores_alloc))
    job.cpus_alloc = tuple(job.cpus_alloc[i] for i in keep if i < len(job.cpus_alloc))
    job.mem_alloc = tuple(job.mem_alloc[i] for i in keep if i < len(job.mem_alloc))
    job.nodes = tuple(job.nodes[i] for i in keep)

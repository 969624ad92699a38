"""The environment slurmctld gives the programs it runs for a job (job_common_env_vars): MailProg,
PrologSlurmctld and EpilogSlurmctld."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flurm.config.hostlists import compress
from flurm.protocol.constants import NO_VAL, JobState
from flurm.state import multicore
from flurm.state.model import Job
from flurm.users import group_name, user_name

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

_STATE_NAMES = {JobState.COMPLETE: "COMPLETED", JobState.OOM: "OUT_OF_MEMORY"}


def state_name(base_state: int) -> str:
    """job_state_string of a base state: PENDING, RUNNING, COMPLETED, OUT_OF_MEMORY ..."""
    state = JobState(base_state)
    return _STATE_NAMES.get(state, state.name)


def cpus_per_node_text(cpus: tuple[int, ...]) -> str:
    """uint32_compressed_to_str: "2(x3),1"."""
    out: list[str] = []
    i = 0
    while i < len(cpus):
        j = i
        while j + 1 < len(cpus) and cpus[j + 1] == cpus[i]:
            j += 1
        count = j - i + 1
        out.append(f"{cpus[i]}(x{count})" if count > 1 else str(cpus[i]))
        i = j + 1
    return ",".join(out)


def job_common_env(ctl: Controller, job: Job, is_complete: bool) -> dict[str, str]:
    """job_common_env_vars: the job's SPANK_* variables, then SLURM_JOB_* and the like."""
    env: dict[str, str] = {}
    for item in job.spank_job_env:
        name, sep, value = item.partition("=")
        if sep:
            # the user's words, in a program run as root: never a variable of its own (LD_PRELOAD,
            # PATH ...), as slurmctld's valid_spank_job_env
            env[name if name.startswith("SPANK_") else f"SPANK_{name}"] = value
    env["SLURM_JOB_ACCOUNT"] = job.account or "(null)"
    if is_complete:
        status = job.exit_code
        exit_code = status >> 8 & 0xFF if status & 0x7F == 0 else 0
        signal = status & 0x7F if status & 0x7F not in (0, 0x7F) else 0
        env["SLURM_JOB_DERIVED_EC"] = str(job.derived_ec)
        env["SLURM_JOB_EXIT_CODE2"] = f"{exit_code}:{signal}"
        env["SLURM_JOB_EXIT_CODE"] = str(status)
    if job.array_task_id != NO_VAL:
        env["SLURM_ARRAY_JOB_ID"] = str(job.array_job_id)
        env["SLURM_ARRAY_TASK_ID"] = str(job.array_task_id)
    env["SLURM_CLUSTER_NAME"] = ctl.config.cluster_name
    if job.comment:
        env["SLURM_JOB_COMMENT"] = job.comment
    env["SLURM_JOB_GID"] = str(job.group_id)
    env["SLURM_JOB_GROUP"] = group_name(job.group_id)
    env["SLURM_JOBID"] = str(job.job_id)
    env["SLURM_JOB_ID"] = str(job.job_id)
    if job.licenses:
        env["SLURM_JOB_LICENSES"] = job.licenses
    env["SLURM_JOB_NAME"] = job.name
    env["SLURM_JOB_NODELIST"] = (compress(job.nodes) if job.nodes else None) or "(null)"
    if job.nodes:
        env["SLURM_JOB_CPUS_PER_NODE"] = cpus_per_node_text(multicore.cpu_array(job, ctl.cluster.nodes))
        env["SLURM_JOB_NUM_NODES"] = str(len(job.nodes))
    env["SLURM_JOB_PARTITION"] = job.partition
    if job.reservation:
        env["SLURM_JOB_RESERVATION"] = job.reservation
    env["SLURM_JOB_RESTART_COUNT"] = str(job.restart_cnt)
    env["SLURM_JOB_UID"] = str(job.user_id)
    env["SLURM_JOB_USER"] = user_name(job.user_id)
    if job.features:
        env["SLURM_JOB_CONSTRAINTS"] = job.features
    for key, path in (
        ("SLURM_JOB_STDERR", job.std_err),
        ("SLURM_JOB_STDIN", job.std_in),
        ("SLURM_JOB_STDOUT", job.std_out),
        ("SLURM_JOB_WORK_DIR", job.work_dir),
    ):
        if path:
            env[key] = path
    return env

"""``scontrol update job``: the placement fields flurm changes, and the refusal of every field it does not.

A job update (REQUEST_UPDATE_JOB) carries a job description whose fields are unset (the values of
SLURM's slurm_init_job_desc_msg, which are :class:`JobDesc`'s defaults) except those the user
changes. flurm applies some of them (controller/jobs.py: limits, priority, hold, nice, name,
comment, dependency, begin time, partition, reservation, node count, requeue, but not TimeMin,
which it only checks a new limit against; here: features, licenses, required and excluded nodes,
contiguous, sharing, the maximum node count). An update that sets any other field is refused with
ESLURM_NOT_SUPPORTED ("Requested operation not supported on this system", slurmctld's answer to an
update its configuration does not permit) before anything of it is applied, instead of answering
success for a change that never happens.

A field applied elsewhere must be listed in APPLIED; so are the fields slurmctld itself ignores.
"""

from __future__ import annotations

import logging
from dataclasses import fields

from flurm.config import hostlists
from flurm.protocol.constants import NO_VAL, NO_VAL16, JobFlag, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.scheduler import constraints
from flurm.state import licenses
from flurm.state.cluster import Cluster
from flurm.state.model import Job

log = logging.getLogger("flurm.controller")

# what names the job and who asks (checked by rights.py), and what the clients always pack; of the
# bitflags (the client library sets its USE_DEFAULT_* bits) slurmctld acts on RESET_ACCRUE_TIME only
_NOT_CHANGES = frozenset({"job_id", "job_id_str", "user_id", "select_plugin_id", "bitflags"})
# applied by JobOps._update_one (alloc_sid: which kind of hold)
_APPLIED_BY_JOBS = frozenset(
    {
        "time_limit",
        "priority",
        "alloc_sid",
        "nice",
        "name",
        "comment",
        "dependency",
        "begin_time",
        "partition",
        "reservation",
        "min_nodes",
        "requeue",
    }
)
_APPLIED_HERE = frozenset(
    {"features", "licenses", "req_nodes", "exc_nodes", "contiguous", "shared", "max_nodes"}
)
# what slurmctld's _update_job() never reads (job_mgr.c, 22.05): set or not, it answers success and
# changes nothing, and so does flurm (a crafted update of the group id, say, is no refusal there)
_IGNORED_BY_SLURMCTLD = frozenset(
    """
    batch_features container task_dist kill_on_node_fail fed_siblings_active alloc_node power_flags
    cpu_freq_min cpu_freq_max cpu_freq_gov profile mcs_label origin_cluster open_mode overcommit
    acctg_freq req_context environment spank_job_env script argv std_err std_in submit_line immediate
    ntasks_per_board ntasks_per_core plane_size cpu_bind_type mem_bind_type cpu_bind mem_bind
    boards_per_node sockets_per_board group_id alloc_resp_port resp_host other_port restart_cnt
    warn_flags warn_signal warn_time wait4switch wait_all_nodes extra x11 x11_magic_cookie x11_target
    x11_target_port crontab_entry
    """.split()  # noqa: SIM905 (the C field names, as a list to compare with job_mgr.c)
)
APPLIED = _NOT_CHANGES | _APPLIED_BY_JOBS | _APPLIED_HERE | _IGNORED_BY_SLURMCTLD

_UNSET = JobDesc()
_FIELDS = tuple(f.name for f in fields(JobDesc) if f.name not in APPLIED)


def unapplied_field(desc: JobDesc) -> str | None:
    """The first field the update sets that flurm does not apply, or None."""
    for name in _FIELDS:
        if getattr(desc, name) != getattr(_UNSET, name):
            return name
    if desc.bitflags & JobFlag.RESET_ACCRUE_TIME:
        return "bitflags"
    return None


def refusal(job: Job, desc: JobDesc) -> int:
    """ESLURM_NOT_SUPPORTED for an update flurm would not carry out, else 0: a field it does not
    apply, or a change of the node count of a job that runs (slurmctld without job expansion or
    shrinking permitted)."""
    field = unapplied_field(desc)
    if field is not None:
        log.info("JobId=%d: update of %s refused, flurm does not apply it", job.job_id, field)
        return SlurmRC.ESLURM_NOT_SUPPORTED
    running = not job.is_pending() and not job.is_finished()
    if running and desc.min_nodes != NO_VAL and desc.min_nodes != len(job.nodes):
        return SlurmRC.ESLURM_NOT_SUPPORTED
    return 0


def apply_placement(job: Job, desc: JobDesc, cluster: Cluster) -> tuple[int, bool]:
    """The placement fields of an update, as slurmctld's _update_job takes them: only while the job
    is pending (ESLURM_JOB_NOT_PENDING otherwise; licenses also while it runs, an operator's right:
    rights.py); "" clears features and node lists; a value equal to the job's is no change.
    Returns (error, changed); the first error stops the rest."""
    changed = False
    pending = job.is_pending()

    def differs(new: str | None, old: str | None) -> bool:
        return new is not None and new != (old or "")

    if differs(desc.licenses, job.licenses):
        try:
            licenses.validate(desc.licenses, licenses.configured(cluster.config.licenses))
        except licenses.LicenseError:
            return SlurmRC.ESLURM_INVALID_LICENSES, changed
        if job.is_finished():
            return SlurmRC.ESLURM_JOB_FINISHED, changed
        # (a running job holds its new licenses at once, even beyond what is free, as in slurmctld:
        # what is in use is counted from the jobs' licenses)
        job.licenses = desc.licenses or None
        changed = True
    if differs(desc.exc_nodes, job.exc_nodes):
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING, changed
        if desc.exc_nodes and not _known_nodes(desc.exc_nodes, cluster):
            return SlurmRC.ESLURM_INVALID_NODE_NAME, changed
        job.exc_nodes = desc.exc_nodes or None
        changed = True
    if differs(desc.req_nodes, job.req_nodes):
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING, changed
        if desc.req_nodes and not _known_nodes(desc.req_nodes, cluster):
            return SlurmRC.ESLURM_INVALID_NODE_NAME, changed
        job.req_nodes = desc.req_nodes or None
        changed = True
    if desc.max_nodes != NO_VAL:
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING, changed
        if desc.max_nodes and desc.max_nodes < job.min_nodes:
            return SlurmRC.ESLURM_INVALID_NODE_COUNT, changed
        job.max_nodes = desc.max_nodes
        changed = True
    for name in ("shared", "contiguous"):
        value = getattr(desc, name)
        if value == NO_VAL16:
            continue
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING, changed
        setattr(job, name, min(value, 1) if name == "shared" else value)
        changed = True
    if desc.features is not None and desc.features != (job.features or ""):
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING, changed
        features = constraints.normalized(desc.features) or None
        if features:
            try:
                constraints.validate(features, constraints.cluster_features(cluster.node_list))
            except constraints.ConstraintError:
                return SlurmRC.ESLURM_INVALID_FEATURE, changed
        job.features = features
        changed = True
    return 0, changed


def _known_nodes(expr: str, cluster: Cluster) -> bool:
    try:
        names = hostlists.expand(expr)
    except hostlists.HostlistError:
        return False
    return all(n in cluster.nodes for n in names)

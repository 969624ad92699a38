"""``scontrol update job``: the fields flurm changes, and the refusal of every field it does not.

A job update (REQUEST_UPDATE_JOB) carries a job description whose fields are unset (the values of
SLURM's slurm_init_job_desc_msg, which are :class:`JobDesc`'s defaults) except those the user
changes. flurm applies them with slurmctld's rules (_update_job): controller/jobs.py the limits,
priority, hold, nice, name, comment, dependency, begin time, partition, reservation, node count and
requeue; here the placement fields (features, licenses, node lists, contiguous, sharing, the maximum
node count) and the rest (:class:`DetailUpdate`: CPU and task counts, memory, TimeMin, EndTime,
Deadline, output and working directory, mail, WCKey, AdminComment, SiteFactor, the array throttle,
DelayBoot, switches, network; and Account and QOS as slurmctld without accounting takes them:
success without a change). An update that sets any other field is refused with ESLURM_NOT_SUPPORTED
("Requested operation not supported on this system", slurmctld's answer to an update its
configuration does not permit) before anything of it is applied, instead of answering success for
a change that never happens.

A field applied elsewhere must be listed in APPLIED; so are the fields slurmctld itself ignores.
"""

from __future__ import annotations

import logging
from dataclasses import fields

from flurm.config import hostlists
from flurm.controller.submit import gres_names, tres_req_string
from flurm.protocol.constants import INFINITE, MEM_PER_CPU, NO_VAL, NO_VAL16, NO_VAL64, JobFlag, SlurmRC
from flurm.protocol.messages.job_desc import JobDesc
from flurm.scheduler import constraints, gres_fit
from flurm.state import gres, licenses
from flurm.state.cluster import Cluster
from flurm.state.model import Job
from flurm.state.records import format_mem

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
    """
    features licenses req_nodes exc_nodes contiguous shared max_nodes
    account qos admin_comment mail_type mail_user std_out work_dir deadline end_time site_factor
    wckey num_tasks cpus_per_task min_cpus max_cpus pn_min_cpus pn_min_memory time_min
    ntasks_per_node array_inx network delay_boot req_switch wait4switch burst_buffer
    cluster_features clusters cpus_per_tres mem_per_tres tres_per_job tres_per_node tres_per_socket
    tres_per_task
    """.split()  # noqa: SIM905 (the C field names)
)
# read by _update_job, and answered as there up to the point where the job would have to be
# scheduled with them, which flurm's scheduler cannot do (the same options are refused at submit):
# a pending job's update of them is refused with ESLURM_NOT_SUPPORTED
_UNHONOURED_HERE = frozenset(
    """
    pn_min_tmp_disk sockets_per_node cores_per_socket threads_per_core ntasks_per_socket prefer
    core_spec reboot
    """.split()  # noqa: SIM905
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
    container_id oom_kill_step resv_port_cnt segment_size
    sluid step_id step_het_comp container_type mem_update_delay mem_update_margin alloc_tls_cert
    """.split()  # noqa: SIM905 (the C field names, as a list to compare with job_mgr.c; the last two
    # lines: what 24.11's and 26.05's _update_job never read either. Their job_size_str is read, and
    # refused here as it is at submit)
)
APPLIED = _NOT_CHANGES | _APPLIED_BY_JOBS | _APPLIED_HERE | _UNHONOURED_HERE | _IGNORED_BY_SLURMCTLD

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


# the TRES a job asks for, as its tres_req string counts them: memory in MiB
_MEM_UNITS = {"M": 1, "G": 1024, "T": 1024**2, "P": 1024**3, "E": 1024**4}
_SUPER_USER_ONLY_ERROR = SlurmRC.ESLURM_ACCESS_DENIED
_DEFAULT_MAX_SWITCH_WAIT = 300  # seconds: SchedulerParameters max_switch_wait


def tres_counts(tres_req: str | None) -> dict[str, int]:
    """``cpu=2,mem=1000M,node=1,billing=2`` as counts (memory in MiB)."""
    out: dict[str, int] = {}
    for part in (tres_req or "").split(","):
        key, _, value = part.partition("=")
        if not value:
            continue
        if key == "mem" and value[-1:] in _MEM_UNITS:
            out[key] = int(value[:-1]) * _MEM_UNITS[value[-1]]
        elif value.isdigit():
            out[key] = int(value)
    return out


def tres_text(counts: dict[str, int]) -> str:
    """The tres_req string of counts (set_job_tres_req_str): billing is the CPU count (no weights)."""
    parts = [f"cpu={counts.get('cpu', 0)}"]
    if counts.get("mem"):
        parts.append(f"mem={format_mem(counts['mem'])}")
    parts.append(f"node={counts.get('node', 0)}")
    parts.append(f"billing={counts.get('cpu', 0)}")
    return ",".join(parts)


def max_switch_wait(scheduler_parameters: str | None) -> int:
    """SchedulerParameters max_switch_wait= (seconds, 300 by default; a negative value is ignored)."""
    for item in (scheduler_parameters or "").split(","):
        key, _, value = item.strip().partition("=")
        if key.lower() == "max_switch_wait":
            number = _leading_int(value)
            if number >= 0:
                return number
    return _DEFAULT_MAX_SWITCH_WAIT


def _leading_int(text: str) -> int:
    """strtoll(text, NULL, 10): the leading (signed) digits, 0 if none."""
    text = text.strip()
    sign = -1 if text.startswith("-") else 1
    digits = text.lstrip("+-")
    n = len(digits) - len(digits.lstrip("0123456789"))
    return sign * int(digits[:n]) if n else 0


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


_GRES_FIELDS = (
    "cpus_per_tres",
    "mem_per_tres",
    "tres_per_job",
    "tres_per_node",
    "tres_per_socket",
    "tres_per_task",
)


# the GresRequest field each GRES option sets
_REQUEST_FIELD = {
    "cpus_per_tres": "cpus_per_gres",
    "mem_per_tres": "mem_per_gres",
    "tres_per_job": "per_job",
    "tres_per_node": "per_node",
    "tres_per_socket": "per_socket",
    "tres_per_task": "per_task",
}


class DetailUpdate:
    """The fields of an update beyond limits, priority and placement, in _update_job's order.

    :meth:`before_limits` takes what slurmctld takes before the time limit (burst buffer, array
    throttle, the finished job, account, QOS, GRES, the CPU and task counts with the TRES they ask
    for), :meth:`after_limits` the rest, and :meth:`finish` the TRES request once all succeeded. Each
    returns slurmctld's error for the first field it refuses, with what came before it applied (its
    goto fini); ``changed`` tells whether the job changed.
    """

    def __init__(self, job: Job, desc: JobDesc, cluster: Cluster, operator: bool, now: int) -> None:
        self.job = job
        self.desc = desc
        self.cluster = cluster
        self.operator = operator
        self.now = now
        self.changed = False
        self.tres: dict[str, int] = {}  # the counts the update asks for (0: unchanged)
        self.gres_new: dict[str, str] = {}  # GRES options validated, set in after_limits
        self.base_tres = tres_counts(job.tres_req or tres_req_string(job, cluster))
        # what _update_job rewrites in its copy of the request
        self.min_cpus = desc.min_cpus
        self.num_tasks = desc.num_tasks
        self.pn_min_memory = desc.pn_min_memory

    def _set(self, name: str, value: object) -> None:
        if getattr(self.job, name) != value:
            setattr(self.job, name, value)
            self.changed = True

    # -- before the time limit --------------------------------------------------------------------
    def before_limits(self) -> int:
        job, desc = self.job, self.desc
        # flurm has no burst buffer: slurmctld only clears a finished job's, which is then
        # ESLURM_JOB_FINISHED below
        cleared = job.is_finished() and self.operator and desc.burst_buffer == ""
        if desc.burst_buffer is not None and not cleared:
            return SlurmRC.ESLURM_NOT_SUPPORTED
        if desc.array_inx is not None and job.array_job_id and job.array_job_id == job.job_id:
            throttle = _leading_int(desc.array_inx)
            if throttle < 0:
                return SlurmRC.ESLURM_BAD_TASK_COUNT
            self._set("array_max_tasks", throttle)
            if job.is_finished():
                return 0  # the throttle still holds for the array's other tasks
        if job.is_finished():
            return SlurmRC.ESLURM_JOB_FINISHED
        pending = job.is_pending()
        # Account: slurmctld without accounting finds no association for any account, and changes
        # nothing; QOS likewise (not even the pending test: no QOS record is found)
        if desc.account is not None and not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING
        asked = {name: getattr(desc, name) for name in _GRES_FIELDS if getattr(desc, name) is not None}
        if asked:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            rc = self._gres(asked)
            if rc:
                return rc
        self._count_tres()
        return self._cpu_counts()

    def _gres(self, new: dict[str, str]) -> int:
        """gres_job_state_validate of the update's GRES options over the job's requests ("" clears
        an option; the others set the records of the names and types they give). An item neither
        ``gres:NAME...`` nor ``gres/NAME...`` of a configured GRES is no TRES (ESLURM_INVALID_TRES).
        The options are set later (after_limits), where _update_job sets them."""
        job = self.job
        known = gres_names(self.cluster)
        for value in new.values():
            for item in value.split(",") if value else ():
                name = item[5:].split(":", 1)[0].split("=", 1)[0]
                if not (item.startswith("gres:") or (item.startswith("gres/") and name in known)):
                    return SlurmRC.ESLURM_INVALID_TRES
        spn = job.sockets_per_node if job.sockets_per_node not in (0, NO_VAL16) else 0
        shape = gres.JobShape(
            num_tasks=job.num_tasks if job.tasks_set else 0, min_nodes=job.min_nodes, sockets_per_node=spn
        )
        try:
            base = gres_fit.requests_of(job)
            if base is gres_fit.UNSATISFIABLE:
                base = ()
            given = {name: value for name, value in new.items() if value}
            gres.job_requests(
                **given,
                known_names=known,
                shape=shape,
                base=base,
                cleared=[_REQUEST_FIELD[name] for name, value in new.items() if not value],
            )
        except gres.GresError as e:
            return e.rc
        self.gres_new = new
        return 0

    def _count_tres(self) -> None:
        """The TRES the updated request asks for (_update_job before the licenses)."""
        job, desc = self.job, self.desc
        old = self.base_tres
        tres = self.tres
        if desc.min_nodes not in (NO_VAL, INFINITE):
            pn_min_cpus = desc.pn_min_cpus if desc.pn_min_cpus != NO_VAL16 else job.pn_min_cpus
            min_cpus = pn_min_cpus * desc.min_nodes
            if self.min_cpus != NO_VAL:
                num_cpus = self.min_cpus
            else:
                num_cpus = old.get("cpu", 0) if job.is_pending() else sum(job.cpus_alloc)
            asked_tasks = job.num_tasks if job.tasks_set else 0  # (details->num_tasks)
            num_tasks = self.num_tasks if self.num_tasks != NO_VAL else asked_tasks
            if not num_tasks:
                num_tasks = desc.min_nodes
            elif num_tasks < desc.min_nodes:
                num_tasks = desc.min_nodes
                if job.is_pending():
                    self.num_tasks = num_tasks
            num_tasks *= desc.cpus_per_task if desc.cpus_per_task != NO_VAL16 else job.cpus_per_task
            num_tasks = max(num_tasks, min_cpus)
            if num_tasks > num_cpus:
                self.min_cpus = num_tasks
                if self.pn_min_memory == NO_VAL64:
                    self.pn_min_memory = job.pn_min_memory
            tres["node"] = desc.min_nodes
        if self.min_cpus != NO_VAL:
            tres["cpu"] = self.min_cpus
        elif desc.pn_min_cpus not in (NO_VAL16, 0):
            nodes = desc.min_nodes if desc.min_nodes != NO_VAL else job.min_nodes
            tres["cpu"] = desc.pn_min_cpus * nodes
            self.min_cpus = tres["cpu"]
        if self.pn_min_memory != NO_VAL64:
            cpus = tres.get("cpu") or old.get("cpu", 0)
            nodes = desc.min_nodes if desc.min_nodes not in (NO_VAL, INFINITE) else job.min_nodes
            mem = self.pn_min_memory or self._partition_node_memory()
            tres["mem"] = (mem & ~MEM_PER_CPU) * cpus if mem & MEM_PER_CPU else mem * nodes

    def _partition_node_memory(self) -> int:
        part = self.cluster.partitions.get(self.job.partition.split(",")[0])
        first = self.cluster.partition_nodes(part)[:1] if part is not None else []
        return first[0].real_memory if first else 0

    def _cpu_counts(self) -> int:
        job, desc = self.job, self.desc
        pending = job.is_pending()
        error = 0
        old_min, old_max = job.min_cpus, job.max_cpus
        if self.min_cpus != NO_VAL:
            if not pending:
                error = SlurmRC.ESLURM_JOB_NOT_PENDING
            elif self.min_cpus < 1:
                error = SlurmRC.ESLURM_INVALID_CPU_COUNT
            else:
                job.min_cpus = self.min_cpus
        if desc.max_cpus != NO_VAL:
            if not pending:
                error = SlurmRC.ESLURM_JOB_NOT_PENDING
            else:
                job.max_cpus = desc.max_cpus
        touched = (old_min, old_max) != (job.min_cpus, job.max_cpus)
        if touched and job.max_cpus and job.max_cpus < job.min_cpus:
            error = SlurmRC.ESLURM_INVALID_CPU_COUNT
            job.min_cpus, job.max_cpus = old_min, old_max
        if (old_min, old_max) != (job.min_cpus, job.max_cpus):
            self.changed = True
        if error:
            return error
        if desc.pn_min_cpus not in (NO_VAL16, 0):
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            self._set("pn_min_cpus", desc.pn_min_cpus)
        if desc.cpus_per_task != NO_VAL16:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            self._set("cpus_per_task", desc.cpus_per_task)
            self._set("cpus_set", True)
        if self.num_tasks != NO_VAL:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            if self.num_tasks < 1:
                return SlurmRC.ESLURM_BAD_TASK_COUNT
            self._set("num_tasks", self.num_tasks)
            self._set("tasks_set", True)
        return 0

    # -- after the time limit ---------------------------------------------------------------------
    def after_limits(self, max_switch_wait_s: int) -> int:
        job, desc = self.job, self.desc
        pending, running = job.is_pending(), job.is_running()
        if desc.time_min != NO_VAL and pending:
            if desc.time_min > self._time_limit():
                return SlurmRC.ESLURM_INVALID_TIME_MIN_LIMIT
            self._set("time_min", desc.time_min)
        if desc.end_time:
            rc = self._end_time(running)
            if rc:
                return rc
        if desc.deadline and not running:
            if desc.deadline < self.now:
                return SlurmRC.ESLURM_INVALID_TIME_VALUE
            if not self.operator:
                return SlurmRC.ESLURM_ACCESS_DENIED
            self._set("deadline", desc.deadline)
        if desc.delay_boot != NO_VAL:
            self._set("delay_boot", desc.delay_boot)
        if desc.req_switch != NO_VAL:
            self._set("req_switch", desc.req_switch)
        if desc.wait4switch != NO_VAL:
            self._set("wait4switch", min(desc.wait4switch, max_switch_wait_s))
        if desc.admin_comment is not None:
            if not self.operator:
                return _SUPER_USER_ONLY_ERROR
            self._set("admin_comment", desc.admin_comment)
        rc = self._memory(pending)
        if rc:
            return rc
        rc = self._unhonoured(pending)
        if rc:
            return rc
        if desc.cluster_features is not None or desc.clusters is not None:
            return SlurmRC.SLURM_ERROR  # not a federated job ("Unspecified error")
        for name in ("work_dir", "std_out"):
            value = getattr(desc, name)
            if value is not None and value != getattr(job, name):
                if not pending:
                    return SlurmRC.ESLURM_JOB_NOT_PENDING
                self._set(name, value)
        if desc.wckey is not None and desc.wckey != (job.wckey or ""):
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            self._set("wckey", desc.wckey or None)
        if desc.ntasks_per_node != NO_VAL16:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            if not self.operator:
                return SlurmRC.ESLURM_ACCESS_DENIED
            self._set("ntasks_per_node", desc.ntasks_per_node)
        if desc.network is not None and desc.network != (job.network or ""):
            self._set("network", None if desc.network in ("", "none") else desc.network)
        for name, value in self.gres_new.items():
            self._set(name, value or None)
        if desc.mail_type != NO_VAL16:
            self._set("mail_type", desc.mail_type)
        if desc.mail_user is not None:
            # "" is the job's user, as slurmctld names it (Job.mail_user None shows the user name)
            self._set("mail_user", desc.mail_user or None)
        if desc.site_factor != NO_VAL:
            if not self.operator:
                return SlurmRC.ESLURM_ACCESS_DENIED
            self._set("site_factor", desc.site_factor)
        return 0

    def _time_limit(self) -> int:
        """The job's limit in minutes as slurmctld holds it (a job without one has its partition's)."""
        job = self.job
        if job.time_limit != NO_VAL:
            return job.time_limit
        part = self.cluster.partitions.get(job.partition.split(",")[0])
        return INFINITE if part is None or part.max_time is None else part.max_time

    def _end_time(self, running: bool) -> int:
        job, new = self.job, self.desc.end_time
        if not running:
            return SlurmRC.ESLURM_JOB_NOT_RUNNING
        if new < self.now:
            return SlurmRC.ESLURM_INVALID_TIME_VALUE
        if not self.operator and job.end_time <= new:
            return SlurmRC.ESLURM_ACCESS_DENIED
        delta = new - job.end_time
        self._set("time_limit", (self._time_limit() + _c_div(delta + 30, 60)) & 0xFFFFFFFF)
        self._set("end_time", new)
        return 0

    def _memory(self, pending: bool) -> int:
        job = self.job
        mem = self.pn_min_memory
        if mem == NO_VAL64 or mem == job.pn_min_memory:
            return 0
        if not pending:
            return SlurmRC.ESLURM_JOB_NOT_PENDING
        if mem == MEM_PER_CPU:
            mem = 0  # --mem-per-cpu=0 is --mem=0
        self._set("pn_min_memory", mem)
        self._set("mem_set", True)
        self._set("bitflags", job.bitflags | JobFlag.JOB_MEM_SET)
        return 0

    def _unhonoured(self, pending: bool) -> int:
        """Fields slurmctld applies to a pending job that flurm's scheduler would not honour: the
        answer to a job that is not pending is slurmctld's, to a pending one ESLURM_NOT_SUPPORTED
        (after slurmctld's own validation: an unknown preferred feature, an operator's right)."""
        desc = self.desc
        for name, unset in (
            ("pn_min_tmp_disk", NO_VAL),
            ("sockets_per_node", NO_VAL16),
            ("cores_per_socket", NO_VAL16),
            ("threads_per_core", NO_VAL16),
        ):
            if getattr(desc, name) != unset:
                return SlurmRC.ESLURM_JOB_NOT_PENDING if not pending else SlurmRC.ESLURM_NOT_SUPPORTED
        if desc.core_spec != NO_VAL16:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            # slurmctld lets an operator change it only with AllowSpecResourcesUsage, which flurm
            # does not implement
            return SlurmRC.ESLURM_ACCESS_DENIED
        if desc.prefer:  # ("" clears what flurm never holds)
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            try:
                constraints.validate(
                    constraints.normalized(desc.prefer), constraints.cluster_features(self.cluster.node_list)
                )
            except constraints.ConstraintError:
                return SlurmRC.ESLURM_INVALID_PREFER
            return SlurmRC.ESLURM_NOT_SUPPORTED
        if desc.ntasks_per_socket != NO_VAL16:
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            return SlurmRC.ESLURM_NOT_SUPPORTED if self.operator else SlurmRC.ESLURM_ACCESS_DENIED
        if desc.reboot != NO_VAL16:
            if not self.operator:
                return SlurmRC.ESLURM_ACCESS_DENIED
            if not pending:
                return SlurmRC.ESLURM_JOB_NOT_PENDING
            return SlurmRC.ESLURM_NOT_SUPPORTED  # flurm does not reboot nodes for a job
        return 0

    # -- at the end -------------------------------------------------------------------------------
    def finish(self) -> None:
        """The TRES request after a successful update: each count that changed (and is not 0)."""
        if not self.tres:
            return
        counts = self.base_tres
        new = dict(counts)
        for key, value in self.tres.items():
            if value:
                new[key] = value
        if new != counts:
            self._set("tres_req", tres_text(new))
            self.job.sched_node_count = 0  # the scheduler's last guess no longer holds (node_cnt_wag)

"""AccountingStorageEnforce as slurmctld applies it (job_mgr.c _job_create, acct_policy.c,
partition_mgr.c part_policy_valid_*), over the association cache. Pure: the jobs are counted from the
cluster's records each time a pass or a submission asks.

At submit: the association (an unknown account, or a user without one, is ESLURM_INVALID_ACCOUNT), the
account and QOS defaults (the user's default association; its DefQOS, else its only QOS, else "normal"),
the QOS the association may use (ESLURM_INVALID_QOS), and the submit limits (MaxSubmitJobs, GrpSubmitJobs:
ESLURM_ACCOUNTING_POLICY with the reason as the message, as sbatch prints it; a QOS with DenyOnLimit also
refuses a job over a per-job or group TRES limit). In a scheduling pass, in slurmctld's order: the QOS's
then the associations' job and wall limits (pre_select), the partition's AllowQos then AllowAccounts, and
the TRES limits (post_select: QOS, then GrpTRES along the parent chain and the association's MaxTRESPerJob).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from flurm.accounting.assoc_cache import (
    QOS_FLAG_DENY_LIMIT,
    TRES_CPU,
    TRES_MEM,
    TRES_NODE,
    Assoc,
    AssocCache,
    Qos,
)
from flurm.errors import SlurmError
from flurm.protocol.constants import (
    MEM_PER_CPU,
    NO_VAL,
    REASON_TEXT,
    JobState,
    SlurmRC,
)
from flurm.protocol.constants import JobStateReason as R
from flurm.state.model import Job, Partition

# AccountingStorageEnforce bits (slurmdb.h ACCOUNTING_ENFORCE_*)
ENFORCE_ASSOCS = 0x01
ENFORCE_LIMITS = 0x02
ENFORCE_WCKEYS = 0x04
ENFORCE_QOS = 0x08
ENFORCE_SAFE = 0x10

Reason = tuple[int, str | None]

# the reason of each TRES limit, per kind (acct_policy.c _get_tres_state_reason)
_TRES_REASONS: dict[str, dict[int, int]] = {
    "qos_grp": {TRES_CPU: R.WAIT_QOS_GRP_CPU, TRES_MEM: R.WAIT_QOS_GRP_MEM, TRES_NODE: R.WAIT_QOS_GRP_NODE},
    "qos_pj": {
        TRES_CPU: R.WAIT_QOS_MAX_CPU_PER_JOB,
        TRES_MEM: R.WAIT_QOS_MAX_MEM_PER_JOB,
        TRES_NODE: R.WAIT_QOS_MAX_NODE_PER_JOB,
    },
    "qos_pu": {
        TRES_CPU: R.WAIT_QOS_MAX_CPU_PER_USER,
        TRES_MEM: R.WAIT_QOS_MAX_MEM_PER_USER,
        TRES_NODE: R.WAIT_QOS_MAX_NODE_PER_USER,
    },
    "assoc_grp": {
        TRES_CPU: R.WAIT_ASSOC_GRP_CPU,
        TRES_MEM: R.WAIT_ASSOC_GRP_MEM,
        TRES_NODE: R.WAIT_ASSOC_GRP_NODE,
    },
    "assoc_pj": {
        TRES_CPU: R.WAIT_ASSOC_MAX_CPU_PER_JOB,
        TRES_MEM: R.WAIT_ASSOC_MAX_MEM_PER_JOB,
        TRES_NODE: R.WAIT_ASSOC_MAX_NODE_PER_JOB,
    },
}


def job_tres(job: Job, cpus: int | None = None, nodes: int | None = None) -> dict[int, int]:
    """The cpu, mem (MiB) and node counts a job asks for (or was given)."""
    n_cpus = cpus if cpus is not None else (sum(job.cpus_alloc) or job.min_cpus)
    n_nodes = nodes if nodes is not None else (len(job.nodes) or job.min_nodes)
    if job.mem_alloc:
        mem = sum(job.mem_alloc)
    elif job.pn_min_memory & MEM_PER_CPU:
        mem = (job.pn_min_memory & ~MEM_PER_CPU) * n_cpus
    else:
        mem = job.pn_min_memory * n_nodes
    return {TRES_CPU: n_cpus, TRES_MEM: mem, TRES_NODE: n_nodes}


def tasks(job: Job) -> int:
    """How many jobs a record counts for: an array's pending record, each task it holds."""
    return max(len(job.array_task_pending), 1) if job.array_task_pending else 1


@dataclass
class Counts:
    """Jobs and TRES of one association, QOS, or QOS user/account."""

    running: int = 0
    submitted: int = 0  # pending or running
    tres: dict[int, int] = field(default_factory=dict)

    def add(self, tres: dict[int, int]) -> None:
        self.running += 1
        for k, v in tres.items():
            self.tres[k] = self.tres.get(k, 0) + v


@dataclass
class Usage:
    """What the jobs use now, per association id, QOS id, (QOS id, uid) and (QOS id, account)."""

    assoc: dict[int, Counts] = field(default_factory=dict)
    qos: dict[int, Counts] = field(default_factory=dict)
    qos_user: dict[tuple[int, int], Counts] = field(default_factory=dict)
    qos_acct: dict[tuple[int, str], Counts] = field(default_factory=dict)

    def _all(self, chain: list[Assoc], qos: Qos | None, uid: int) -> list[Counts]:
        """The counters a job of this association chain (the association and its parents) counts in."""
        out = [self.assoc.setdefault(a.id, Counts()) for a in chain]
        if qos is not None:
            out.append(self.qos.setdefault(qos.id, Counts()))
            out.append(self.qos_user.setdefault((qos.id, uid), Counts()))
            if chain:
                out.append(self.qos_acct.setdefault((qos.id, chain[0].acct), Counts()))
        return out

    def count(self, job: Job, chain: list[Assoc], qos: Qos | None) -> None:
        targets = self._all(chain, qos, job.user_id)
        for c in targets:
            c.submitted += tasks(job)
        if job.is_running() or job.base_state == JobState.SUSPENDED:
            for c in targets:
                c.add(job_tres(job))

    def start(self, job: Job, chain: list[Assoc], qos: Qos | None, tres: dict[int, int]) -> None:
        for c in self._all(chain, qos, job.user_id):
            c.add(tres)


class Policy:
    """The rules for one AccountingStorageEnforce over one cache."""

    def __init__(self, cache: AssocCache, enforce: int) -> None:
        self.cache = cache
        self.enforce = enforce

    # -- what a job is charged to ----------------------------------------------------------------
    def assoc_of(self, job: Job) -> Assoc | None:
        return self.cache.find(job.user_id, job.account, job.partition.split(",")[0] or None)

    def qos_of(self, job: Job) -> Qos | None:
        return self.cache.qos_named(job.qos) if job.qos else None

    def usage(self, jobs: Iterable[Job]) -> Usage:
        use = Usage()
        cache = self.cache
        # many jobs share a user, account, partition and QOS: each is looked up once
        seen: dict[tuple[int, str | None, str, str | None], tuple[list[Assoc], Qos | None]] = {}
        for job in jobs:
            if not (job.is_pending() or job.is_running() or job.base_state == JobState.SUSPENDED):
                continue
            key = (job.user_id, job.account, job.partition, job.qos)
            found = seen.get(key)
            if found is None:
                assoc = self.assoc_of(job)
                found = seen[key] = (cache.parents(assoc) if assoc is not None else [], self.qos_of(job))
            use.count(job, *found)
        return use

    # -- submit (_job_create) ----------------------------------------------------------------------
    def submit(self, job: Job, jobs: Iterable[Job], part_max_time: int | None = None) -> None:
        """Fill the job's account and QOS as slurmctld does, or refuse it (SlurmError). A job with no
        time limit gets the MaxWall that applies to it (capped by its partition's MaxTime). Nothing
        enforced, the defaults still come from the associations slurmdbd holds (_job_create)."""
        part = job.partition.split(",")[0] or None
        assoc = self.cache.find(job.user_id, job.account, part)
        if assoc is None and self.enforce & ENFORCE_ASSOCS:
            raise SlurmError(SlurmRC.ESLURM_INVALID_ACCOUNT)
        if assoc is None and job.account:
            # not enforced: an account without an association gives way to the user's default one, "to
            # avoid getting trash in the accounting records" (and none at all leaves the job as it is)
            assoc = self.cache.find(job.user_id, None, part)
        if assoc is not None:
            job.account = assoc.acct
        qos = self._qos_for(job, assoc)
        if qos is not None:
            job.qos = qos.name
        if self.enforce & ENFORCE_LIMITS:
            refused = self._submit_limits(job, assoc, qos, self.usage(jobs))
            if refused is not None:
                raise SlurmError(SlurmRC.ESLURM_ACCOUNTING_POLICY, _reason_name(refused))
            wall = qos.max_wall_pj if qos is not None and qos.max_wall_pj is not None else None
            if wall is None and assoc is not None:
                wall = assoc.max_wall_pj
            if job.time_limit == NO_VAL and wall is not None:
                job.time_limit = min(wall, part_max_time) if part_max_time is not None else wall

    def _qos_for(self, job: Job, assoc: Assoc | None) -> Qos | None:
        """_determine_and_validate_qos: the asked QOS, else the association's default one."""
        cache = self.cache
        if job.qos:
            qos = cache.qos_named(job.qos)
        elif assoc is not None and assoc.def_qos_id:
            qos = cache.qos.get(assoc.def_qos_id)
        elif assoc is not None and len(assoc.qos) == 1:
            qos = cache.qos.get(next(iter(assoc.qos)))
        else:
            qos = cache.qos_named("normal")
        if self.enforce & ENFORCE_QOS and (qos is None or (assoc is not None and qos.id not in assoc.qos)):
            raise SlurmError(SlurmRC.ESLURM_INVALID_QOS)
        return qos

    def _submit_limits(self, job: Job, assoc: Assoc | None, qos: Qos | None, use: Usage) -> int | None:
        """acct_policy_validate: the submit counts (an array counts each task), and the limits a
        DenyOnLimit QOS refuses at once."""
        uid = job.user_id
        new = tasks(job)
        if qos is not None:
            qc = use.qos.get(qos.id, Counts())
            if qos.grp_submit_jobs is not None and qc.submitted + new > qos.grp_submit_jobs:
                return R.WAIT_QOS_GRP_SUB_JOB
            quc = use.qos_user.get((qos.id, uid), Counts())
            if qos.max_submit_jobs_pu is not None and quc.submitted + new > qos.max_submit_jobs_pu:
                return R.WAIT_QOS_MAX_SUB_JOB
            if qos.max_submit_jobs_pa is not None and assoc is not None:
                qac = use.qos_acct.get((qos.id, assoc.acct), Counts())
                if qac.submitted + new > qos.max_submit_jobs_pa:
                    return R.WAIT_QOS_MAX_SUB_JOB_PER_ACCT
            if qos.flags & QOS_FLAG_DENY_LIMIT:
                tres = job_tres(job)
                for limits, kind in ((qos.max_tres_pj, "qos_pj"), (qos.grp_tres, "qos_grp")):
                    over = _over(tres, limits)
                    if over is not None:
                        return _TRES_REASONS[kind][over]
                if qos.max_wall_pj is not None and _minutes(job) > qos.max_wall_pj:
                    return R.WAIT_QOS_MAX_WALL_PER_JOB
        if assoc is None:
            return None
        for level, a in enumerate(self.cache.parents(assoc)):
            ac = use.assoc.get(a.id, Counts())
            if a.grp_submit_jobs is not None and ac.submitted + new > a.grp_submit_jobs:
                return R.WAIT_ASSOC_GRP_SUB_JOB
            if level == 0 and a.max_submit_jobs is not None and ac.submitted + new > a.max_submit_jobs:
                return R.WAIT_ASSOC_MAX_SUB_JOB
        return None

    # -- a scheduling pass ------------------------------------------------------------------------
    def pass_limits(self, jobs: Iterable[Job]) -> PassLimits | None:
        """The checker of one scheduling pass (None: nothing is enforced)."""
        if not self.enforce:
            return None
        return PassLimits(self, self.usage(jobs))


class PassLimits:
    """One pass's limits (scheduler.Limits): the usage counted at its start, plus what it starts."""

    def __init__(self, policy: Policy, use: Usage) -> None:
        self.policy = policy
        self.use = use

    def before(self, job: Job, part: Partition) -> Reason | None:
        """pre_select, then the partition's AllowQos and AllowAccounts."""
        p = self.policy
        assoc, qos = p.assoc_of(job), p.qos_of(job)
        if assoc is None and p.enforce & ENFORCE_ASSOCS:
            return R.FAIL_ACCOUNT, None
        if p.enforce & ENFORCE_LIMITS:
            reason = self._pre_select(job, assoc, qos)
            if reason is not None:
                return reason, None
        if part.allow_qos and part.allow_qos.upper() != "ALL":
            allowed = part.allow_qos.split(",")
            if qos is None:
                return (
                    R.WAIT_QOS,
                    f"Job's QOS not known, so it can't use this partition "
                    f"({part.name} allows {part.allow_qos})",
                )
            if qos.name not in allowed:
                return R.WAIT_QOS, (
                    f"Job's QOS not permitted to use this partition "
                    f"({part.name} allows {part.allow_qos} not {qos.name})"
                )
        elif part.deny_qos and qos is not None and qos.name in part.deny_qos.split(","):
            return R.WAIT_QOS, (
                f"Job's QOS not permitted to use this partition "
                f"({part.name} denies {part.deny_qos} including {qos.name})"
            )
        if part.allow_accounts and part.allow_accounts.upper() != "ALL":
            acct = assoc.acct if assoc is not None else None
            if acct is None:
                return R.WAIT_ACCOUNT, (
                    f"Job's account not known, so it can't use this partition "
                    f"({part.name} allows {part.allow_accounts})"
                )
            if acct not in part.allow_accounts.split(","):
                return R.WAIT_ACCOUNT, (
                    f"Job's account not permitted to use this partition "
                    f"({part.name} allows {part.allow_accounts} not {acct})"
                )
        elif part.deny_accounts and assoc is not None and assoc.acct in part.deny_accounts.split(","):
            return R.WAIT_ACCOUNT, (
                f"Job's account not permitted to use this partition "
                f"({part.name} denies {part.deny_accounts} including {assoc.acct})"
            )
        return None

    def _pre_select(self, job: Job, assoc: Assoc | None, qos: Qos | None) -> int | None:
        use = self.use
        minutes = _minutes(job)
        set_grp_jobs = set_max_jobs = set_wall = False
        if qos is not None:
            if qos.grp_jobs is not None:
                set_grp_jobs = True
                if use.qos.get(qos.id, Counts()).running >= qos.grp_jobs:
                    return R.WAIT_QOS_GRP_JOB
            if qos.max_jobs_pa is not None and assoc is not None:
                set_max_jobs = True
                if use.qos_acct.get((qos.id, assoc.acct), Counts()).running >= qos.max_jobs_pa:
                    return R.WAIT_QOS_MAX_JOB_PER_ACCT
            if qos.max_jobs_pu is not None:
                set_max_jobs = True
                if use.qos_user.get((qos.id, job.user_id), Counts()).running >= qos.max_jobs_pu:
                    return R.WAIT_QOS_MAX_JOB_PER_USER
            if qos.max_wall_pj is not None:
                set_wall = True
                if minutes > qos.max_wall_pj:
                    return R.WAIT_QOS_MAX_WALL_PER_JOB
        if assoc is None:
            return None
        for level, a in enumerate(self.policy.cache.parents(assoc)):
            ac = use.assoc.get(a.id, Counts())
            if not set_grp_jobs and a.grp_jobs is not None and ac.running >= a.grp_jobs:
                return R.WAIT_ASSOC_GRP_JOB
            if level:
                continue  # the Max limits of the parents are already in the association's own
            if not set_max_jobs and a.max_jobs is not None and ac.running >= a.max_jobs:
                return R.WAIT_ASSOC_MAX_JOBS
            if not set_wall and a.max_wall_pj is not None and minutes > a.max_wall_pj:
                return R.WAIT_ASSOC_MAX_WALL_PER_JOB
        return None

    def after(self, job: Job, part: Partition, cpus: int, nodes: int) -> Reason | None:
        """post_select: the TRES limits, with what the job would be given."""
        p = self.policy
        if not p.enforce & ENFORCE_LIMITS:
            return None
        assoc, qos = p.assoc_of(job), p.qos_of(job)
        tres = job_tres(job, cpus, nodes)
        use = self.use
        set_grp: set[int] = set()
        set_pj: set[int] = set()
        if qos is not None:
            over = _over(tres, qos.grp_tres, use.qos.get(qos.id, Counts()).tres)
            if over is not None:
                return _TRES_REASONS["qos_grp"][over], None
            over = _over(tres, qos.max_tres_pj)
            if over is not None:
                return _TRES_REASONS["qos_pj"][over], None
            over = _over(tres, qos.max_tres_pu, use.qos_user.get((qos.id, job.user_id), Counts()).tres)
            if over is not None:
                return _TRES_REASONS["qos_pu"][over], None
            set_grp, set_pj = set(qos.grp_tres), set(qos.max_tres_pj)
        for level, a in enumerate(p.cache.parents(assoc) if assoc is not None else ()):
            grp = {k: v for k, v in a.grp_tres.items() if k not in set_grp}
            over = _over(tres, grp, use.assoc.get(a.id, Counts()).tres)
            if over is not None:
                return _TRES_REASONS["assoc_grp"][over], None
            if level == 0:
                over = _over(tres, {k: v for k, v in a.max_tres_pj.items() if k not in set_pj})
                if over is not None:
                    return _TRES_REASONS["assoc_pj"][over], None
        return None

    def started(self, job: Job, part: Partition, cpus: int, nodes: int) -> None:
        p = self.policy
        assoc = p.assoc_of(job)
        chain = p.cache.parents(assoc) if assoc is not None else []
        self.use.start(job, chain, p.qos_of(job), job_tres(job, cpus, nodes))


def _over(tres: dict[int, int], limits: dict[int, int], used: dict[int, int] | None = None) -> int | None:
    """The first TRES (cpu, mem, node) whose limit the request (plus ``used``) passes."""
    for t in (TRES_CPU, TRES_MEM, TRES_NODE):
        limit = limits.get(t)
        if limit is not None and tres.get(t, 0) + (used or {}).get(t, 0) > limit:
            return t
    return None


def _minutes(job: Job) -> int:
    """The job's time limit in minutes: none given (NO_VAL) passes every MaxWall (submit gave it the
    limit), INFINITE passes none."""
    return 0 if job.time_limit == NO_VAL else job.time_limit


def _reason_name(reason: int) -> str:
    return REASON_TEXT.get(reason, str(reason))

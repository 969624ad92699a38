"""The priority plugin slurm.conf names, where slurmctld calls it.

priority/basic is the cluster's counter (state/cluster.py ``new_priority``); priority/multifactor is
scheduler/multifactor.py, fed here with the job, its partitions, the cluster's size and what accounting
knows (``inputs``, attached by daemon.py when accounting runs). The factors of each job are kept for
sprio as slurmctld keeps them (not saved: a restart recomputes them, as slurmctld's plugin does when
it starts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from flurm.protocol.constants import NO_VAL
from flurm.protocol.messages.reports import PriorityFactorsRecord
from flurm.scheduler import multifactor as mf
from flurm.scheduler.scheduler import job_partitions
from flurm.state.model import Job, Partition

_MEM_UNITS = {"M": 1, "G": 1024, "T": 1024**2, "P": 1024**3, "E": 1024**4}


def parse_tres(text: str | None) -> dict[str, int]:
    """A TRES string as slurmctld shows it ("cpu=2,mem=2000M,node=1,billing=2"): counts, memory in MiB."""
    out: dict[str, int] = {}
    for item in (text or "").split(","):
        name, _, value = item.partition("=")
        if not value:
            continue
        unit = _MEM_UNITS.get(value[-1].upper(), 0)
        try:
            out[name] = int(value[:-1]) * unit if unit else int(value)
        except ValueError:
            continue
    return out


USAGE_META = "priority_usage"  # the store's record of fair share's usage

if TYPE_CHECKING:
    from flurm.controller.engine import Controller
    from flurm.controller.ports import PriorityInputs


class Priorities:
    def __init__(self, ctl: Controller) -> None:
        self.ctl = ctl
        self.inputs: PriorityInputs | None = None
        self.factors: dict[int, mf.Factors] = {}
        self.last_calc = 0
        self._settings: tuple[object, mf.Settings] | None = None
        self._fs: dict[int, mf.FairShare] = {}
        self._reset_done = False
        self._last_reset = 0
        self._next_reset = 0
        self.last_usage = 0  # slurmctld's g_last_ran: when usage was last decayed and charged

    def restore(self, saved: Mapping[str, Any] | None) -> None:
        """The usage and the decay's clock as the store kept them (slurmctld's assoc_usage and
        priority_last_decay_ran): the first pass after a restart decays over the time flurm was away."""
        if not saved or self.inputs is None:
            return
        self.last_usage = int(saved.get("last_ran", 0))
        self._last_reset = int(saved.get("last_reset", 0))
        self.inputs.load_usage({int(k): float(v) for k, v in dict(saved.get("usage", {})).items()})

    # -- configuration --------------------------------------------------------------------------
    @property
    def multifactor(self) -> bool:
        return self.ctl.config.priority_type.lower() == "priority/multifactor"

    @property
    def settings(self) -> mf.Settings:
        config = self.ctl.config
        if self._settings is None or self._settings[0] is not config:
            self._settings = (config, mf.Settings.from_config(config))
        return self._settings[1]

    # -- slurmctld's set_job_prio ---------------------------------------------------------------
    def set_job_prio(self, job: Job) -> None:
        """A job's priority computed anew (submit, release, requeue, resume, update)."""
        if job.is_finished():
            return
        if not self.multifactor:
            job.priority = self.ctl.cluster.new_priority(job.nice)
            return
        if job.direct_prio and job.priority > 0:
            self.factors.pop(job.job_id, None)  # an operator's priority: sprio shows it as such
            return
        job.priority = self._compute(job, self.ctl.now())

    def release(self, job: Job) -> None:
        """slurmctld's _release_job_rec: the operator's priority (the hold) is dropped."""
        job.direct_prio = False
        self.set_job_prio(job)

    def _compute(self, job: Job, now: int) -> int:
        s = self.settings
        parts = self._partitions(job)
        first = parts[0] if parts else None
        f = mf.factors(self._job_input(job), first, self._cluster_size(), s, now)
        self.factors[job.job_id] = f
        return f.total()

    # -- the decay thread's pass ----------------------------------------------------------------
    def start(self, now: int) -> None:
        """The plugin starts: its decay thread's first pass runs at once (with slurmdbd: it only
        starts the usage's clock, or decays over the time flurm was away), then every pending job's
        priority is computed anew."""
        if self.multifactor and mf.recalculates(self.settings):
            self._usage(now)
        self.recalculate(now)

    def tick(self, now: int) -> None:
        """Every PriorityCalcPeriod, when slurmctld runs its decay thread (with slurmdbd)."""
        if not self.multifactor:
            return
        s = self.settings
        if not mf.recalculates(s):
            return
        if self.last_calc and now - self.last_calc < s.calc_period:
            return
        self._usage(now)
        self.recalculate(now)

    def _usage(self, now: int) -> None:
        """The decay thread's accounting: PriorityUsageResetPeriod, then the decay of every
        association's usage over the period, then what each running job used in it. A job that ended
        since the last pass is charged up to its end only with AccountingStorageEnforce=limits: only
        then does slurmctld add a job's usage when it ends (acct_policy's job_fini)."""
        inputs = self.inputs
        if inputs is None:
            return
        s = self.settings
        if s.reset_period == mf.RESET_NOW and not self._reset_done:
            inputs.reset()  # once, when the plugin starts
            self._reset_done = True
        elif s.reset_period >= mf.RESET_DAILY:
            if not self._next_reset:
                self._next_reset = mf.next_reset(s.reset_period, self._last_reset or now, now)
            if self._next_reset and now >= self._next_reset:
                inputs.reset()
                self._last_reset = self._next_reset
                self._next_reset = mf.next_reset(s.reset_period, self._last_reset, now)
        last = self.last_usage
        if not last or now <= last:
            self._saved(now)
            return
        inputs.decay(mf.period_decay(s.decay_half_life, now - last))
        for job in self.ctl.cluster.jobs.values():
            if not job.start_time or job.is_pending():
                continue
            if job.is_finished() and (job.end_time <= last or not s.enforce_limits):
                continue
            end = min(now, job.end_time) if job.is_finished() else now
            seconds = end - max(last, job.start_time)
            if seconds > 0:
                billable = float(sum(job.cpus_alloc) or job.requeued_cpus)  # TRESBillingWeights unset
                inputs.charge(
                    job, mf.run_usage(seconds, billable, s.decay_half_life, inputs.usage_factor(job))
                )
        self._saved(now)

    def _saved(self, now: int) -> None:
        self.last_usage = now
        if self.inputs is not None:
            usage = {str(k): v for k, v in self.inputs.usage_state().items()}
            state = {"last_ran": now, "last_reset": self._last_reset, "usage": usage}
            self.ctl.store.set_meta(USAGE_META, state)

    def recalculate(self, now: int, jobs: Iterable[Job] | None = None) -> None:
        """decay_apply_weighted_factors for every job: a pending job that is not held (nor set by an
        operator) gets its priority anew (PriorityFlags=INCR_ONLY: never lower)."""
        if not self.multifactor:
            return
        self.last_calc = now
        self._fs = self._fair_share()
        s = self.settings
        running = bool(s.flags & mf.CALCULATE_RUNNING)
        for job in list(self.ctl.cluster.jobs.values()) if jobs is None else jobs:
            if job.priority == 0 or job.is_finished() or job.is_completing():
                continue
            if not job.is_pending() and not running:
                continue
            if job.direct_prio:
                self.factors.pop(job.job_id, None)
                continue
            new = mf.next_priority(job.priority, self._compute(job, now), s)
            if new != job.priority:
                job.priority = new
                self.ctl.cluster.job_changed(job)

    # -- inputs ---------------------------------------------------------------------------------
    def _partitions(self, job: Job) -> list[mf.PartInput]:
        cluster = self.ctl.cluster
        norms = mf.norm_priorities({name: p.priority_job_factor for name, p in cluster.partitions.items()})
        # the first partition named is the job's own (part_ptr): its priority is computed there
        return [self._part_input(p, norms) for p in job_partitions(job, cluster)]

    def _part_input(self, p: Partition, norms: dict[str, float]) -> mf.PartInput:
        tres: dict[str, int] = {}
        if self.settings.weight_tres:
            nodes = self.ctl.cluster.partition_nodes(p)
            cpus = sum(n.cpus for n in nodes)
            tres = {
                "cpu": cpus,
                "mem": sum(n.real_memory for n in nodes),
                "node": len(nodes),
                "billing": cpus,
            }
        return mf.PartInput(p.priority_job_factor, norms.get(p.name, 0.0), mf.unlimited(p.max_time), tres)

    def _job_tres(self, job: Job) -> dict[str, int]:
        """What _get_tres_factors reads: the allocated TRES of a job that has some, else those asked."""
        if not self.settings.weight_tres:
            return {}
        if job.nodes and not job.is_pending():
            cpus = sum(job.cpus_alloc)
            return {"cpu": cpus, "mem": sum(job.mem_alloc), "node": len(job.nodes), "billing": cpus}
        return parse_tres(job.tres_req)

    def _cluster_size(self) -> mf.ClusterSize:
        nodes = self.ctl.cluster.node_list
        return mf.ClusterSize(len(nodes), sum(n.cpus for n in nodes))

    def _fair_share(self) -> dict[int, mf.FairShare]:
        if self.inputs is None:
            return {}
        s = self.settings
        if s.flags & mf.FAIR_TREE:
            return mf.fair_tree(self.inputs.associations())
        return mf.fair_share(self.inputs.associations(), s.damp_factor)

    def _job_input(self, job: Job) -> mf.JobInput:
        s = self.settings
        fs: float | None = None
        qos_norm = 0.0
        if self.inputs is not None:
            assoc = self.inputs.job_assoc_id(job)
            if assoc is not None:
                share = self._fs.get(assoc) or self._fair_share().get(assoc)
                fs = share.factor if share is not None else 0.0
            prios = self.inputs.qos_priorities()
            prio = prios.get(job.qos or "", 0)
            top = max(prios.values(), default=0)
            if prio and top:
                qos_norm = float(prio) if s.flags & mf.NO_NORMAL_QOS else prio / top
        # a pending job's total_cpus: those of its run before a requeue (slurmctld keeps them)
        total = job.requeued_cpus if job.is_pending() else sum(job.cpus_alloc)
        return mf.JobInput(
            accrue_time=job.accrue_time,
            min_nodes=job.min_nodes,
            total_cpus=total,
            max_cpus=job.max_cpus or NO_VAL,
            min_cpus=job.min_cpus,
            time_limit=job.time_limit,
            nice=job.nice,
            site_factor=job.site_factor,
            fs_factor=fs,
            qos_norm=qos_norm,
            tres=self._job_tres(job),
        )

    # -- sprio ----------------------------------------------------------------------------------
    def records(self, job: Job) -> list[PriorityFactorsRecord]:
        """The job's records, one per partition (_filter_job); empty when it has none."""
        # in the order of slurmctld's part_ptr_list: by PriorityTier, highest first
        names = sorted(job_partitions(job, self.ctl.cluster), key=lambda p: -p.priority_tier)
        if not names:
            return []
        if job.direct_prio:
            f = mf.Factors(site=0, nice=0)  # slurmctld sends a zeroed record with the priority
            direct = float(job.priority)
        else:
            direct = 0.0
            known = self.factors.get(job.job_id)
            if known is None:
                self._compute(job, self.ctl.now())
                known = self.factors[job.job_id]
            f = known
        s = self.settings
        multi = len(names) > 1
        weights = mf.tres_weights(s.weight_tres) if f.tres else ()
        tres_names = mf.TRES_NAMES if weights else ()
        job_tres = self._job_tres(job) if multi and weights else {}
        out = []
        norms = mf.norm_priorities({n: p.priority_job_factor for n, p in self.ctl.cluster.partitions.items()})
        for p in names:
            pin = self._part_input(p, norms)
            part = mf.weighted_part(pin, s) if multi and not direct else f.part
            tres = mf.tres_factors(job_tres, pin, s) if job_tres else f.tres
            out.append(
                PriorityFactorsRecord(
                    job.job_id,
                    job.user_id,
                    p.name,
                    f.age,
                    f.assoc,
                    f.fs,
                    f.js,
                    part,
                    f.qos,
                    direct,
                    f.site,
                    f.nice,
                    account=job.account,
                    qos_name=job.qos,
                    sluid=job.sluid,
                    tres=tres,
                    tres_names=tres_names,
                    tres_weights=weights,
                )
            )
        return out

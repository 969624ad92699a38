"""priority/multifactor as slurmctld 22.05 computes it (src/plugins/priority/multifactor): pure, takes
``now``, returns numbers.

A job's priority is the sum of its weighted factors (age, association, fair share, job size,
partition, QOS) plus its site factor minus its nice value, floored at 1 (0 means held) and capped at
2**32 - 1. The factors are kept as slurmctld keeps them after weighting (``priority_factors_object``),
which is what sprio receives and re-adds on its side.

Without slurmdbd (``AccountingStorageType`` other than accounting_storage/slurmdbd) slurmctld ignores
PriorityWeightAge and PriorityWeightFairshare ("can only be used with SlurmDBD") and runs no decay
thread: a job's priority is computed when it is submitted, released, updated, requeued or resumed, and
once for every job when slurmctld starts, never on a timer. With slurmdbd the decay thread recomputes
every pending job each PriorityCalcPeriod (see :func:`recalculates`).

Fair share (the classic algorithm, PriorityFlags=NO_FAIR_TREE) is computed from plain data, a tree of
:class:`AssocUsage`, by :func:`fair_share`; the accounting room owns the associations and their usage.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from flurm.config.ctl_conf import slurmctld_conf
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import INFINITE, NICE_OFFSET, NO_VAL

# PriorityFlags bits (slurm.h PRIORITY_FLAGS_*)
ACCRUE_ALWAYS = 1 << 0
MAX_TRES = 1 << 1
SIZE_RELATIVE = 1 << 2
DEPTH_OBLIVIOUS = 1 << 3
CALCULATE_RUNNING = 1 << 4
FAIR_TREE = 1 << 5
INCR_ONLY = 1 << 6
NO_NORMAL_ASSOC = 1 << 7
NO_NORMAL_PART = 1 << 8
NO_NORMAL_QOS = 1 << 9
NO_NORMAL_TRES = 1 << 10
# the flags this module acts on; the others are named in state/support.py
SUPPORTED_FLAGS = (
    ACCRUE_ALWAYS
    | SIZE_RELATIVE
    | CALCULATE_RUNNING
    | FAIR_TREE
    | INCR_ONLY
    | NO_NORMAL_ASSOC
    | NO_NORMAL_PART
    | NO_NORMAL_QOS
    | NO_NORMAL_TRES
)

ENFORCE_LIMITS = 0x02  # ACCOUNTING_ENFORCE_LIMITS
FS_USE_PARENT = 0x7FFFFFFF  # SLURMDB_FS_USE_PARENT: FairShare=parent
MAX_PRIORITY = 0xFFFFFFFF
# the TRES slurmctld counts without AccountingStorageTRES extras, in its order (assoc_mgr's names)
TRES_NAMES = ("cpu", "mem", "energy", "node", "billing", "fs/disk", "vmem", "pages")

# PriorityUsageResetPeriod values (PRIORITY_RESET_*)
RESET_NONE, RESET_NOW, RESET_DAILY, RESET_WEEKLY, RESET_MONTHLY, RESET_QUARTERLY, RESET_YEARLY = range(7)
_DAY = 24 * 3600


@dataclass(frozen=True, slots=True)
class Settings:
    """What the plugin reads from slurm.conf (its _internal_setup), with the slurmdbd rule applied."""

    weight_age: int = 0
    weight_assoc: int = 0
    weight_fs: int = 0
    weight_js: int = 0
    weight_part: int = 0
    weight_qos: int = 0
    max_age: int = 7 * _DAY  # seconds
    favor_small: bool = False
    flags: int = FAIR_TREE
    calc_period: int = 300  # seconds
    decay_half_life: int = 7 * _DAY  # seconds; 0: no decay
    reset_period: int = RESET_NONE
    damp_factor: int = 1
    with_slurmdbd: bool = False
    weight_tres: str | None = None
    # AccountingStorageEnforce=limits: only then does slurmctld add a job's usage when it ends
    enforce_limits: bool = False

    @classmethod
    def from_config(cls, config: SlurmConfig) -> Settings:
        info = slurmctld_conf(config)
        dbd = config.accounting_storage_type == "accounting_storage/slurmdbd"
        return cls(
            # without slurmdbd the plugin zeroes these two ("can only be used with SlurmDBD, ignoring")
            weight_age=info.priority_weight_age if dbd else 0,
            weight_assoc=info.priority_weight_assoc,
            weight_fs=info.priority_weight_fs if dbd else 0,
            weight_js=info.priority_weight_js,
            weight_part=info.priority_weight_part,
            weight_qos=info.priority_weight_qos,
            max_age=info.priority_max_age,
            favor_small=bool(info.priority_favor_small),
            flags=info.priority_flags,
            calc_period=info.priority_calc_period,
            decay_half_life=info.priority_decay_hl,
            reset_period=info.priority_reset_period,
            damp_factor=max(1, info.fs_dampening_factor),
            with_slurmdbd=dbd,
            weight_tres=info.priority_weight_tres,
            enforce_limits=bool(info.accounting_storage_enforce & ENFORCE_LIMITS),
        )


@dataclass(frozen=True, slots=True)
class Factors:
    """A job's factors, weighted, as slurmctld packs them for sprio (priority_factors_object_t).
    ``site`` and ``nice`` are as packed: NICE_OFFSET plus the value."""

    age: float = 0.0
    assoc: float = 0.0
    fs: float = 0.0
    js: float = 0.0
    part: float = 0.0
    qos: float = 0.0
    site: int = NICE_OFFSET
    nice: int = NICE_OFFSET
    tres: tuple[float, ...] = ()  # weighted, one per TRES of the cluster (PriorityWeightTRES)

    def total(self) -> int:
        """The job's priority from these factors (_get_priority_internal)."""
        weighted = self.age + self.assoc + self.fs + self.js + self.part + self.qos + sum(self.tres)
        return clamp_priority(weighted + self._site_nice())

    def _site_nice(self) -> float:
        return float((self.site - NICE_OFFSET) - (self.nice - NICE_OFFSET))

    def with_part(self, part: float, tres: tuple[float, ...]) -> Factors:
        """The same job in another of its partitions (a record per partition in sprio)."""
        return Factors(self.age, self.assoc, self.fs, self.js, part, self.qos, self.site, self.nice, tres)


def clamp_priority(value: float) -> int:
    """Priority 0 is kept for held jobs; 32 bits at most."""
    if value < 1:
        value = 1
    return min(int(value), MAX_PRIORITY)


@dataclass(frozen=True, slots=True)
class JobInput:
    """What set_priority_factors reads of a job, in SLURM's units."""

    accrue_time: int  # 0: not accruing
    min_nodes: int
    total_cpus: int  # CPUs of its allocation (kept while requeued), 0: none yet
    max_cpus: int  # NO_VAL: none asked
    min_cpus: int
    time_limit: int  # minutes, NO_VAL: the partition's
    nice: int  # signed
    site_factor: int = NICE_OFFSET  # as packed
    fs_factor: float | None = None  # fair share of its association, None: no association
    qos_norm: float = 0.0  # its QOS's priority normalised (or raw with NO_NORMAL_QOS); 0: no QOS
    assoc_norm: float = 0.0  # its association's priority normalised
    tres: Mapping[str, int] = field(default_factory=dict)  # allocated (else requested) TRES counts


@dataclass(frozen=True, slots=True)
class PartInput:
    priority_job_factor: int
    norm_priority: float  # priority_job_factor / the highest of every partition (at least 1)
    max_time: int  # minutes, INFINITE when unlimited
    tres: Mapping[str, int] = field(default_factory=dict)  # its nodes' TRES: cpu, mem (MiB), node, billing


@dataclass(frozen=True, slots=True)
class ClusterSize:
    nodes: int  # node_record_count
    cpus: int  # cluster_cpus: effective CPUs of every node


def norm_priorities(job_factors: Mapping[str, int]) -> dict[str, float]:
    """Each partition's PriorityJobFactor over the highest (slurmctld starts that maximum at 1)."""
    top = max([1, *job_factors.values()])
    return {name: factor / top for name, factor in job_factors.items()}


def assoc_norm(priority: int, top: int, s: Settings) -> float:
    """The association factor: its Priority over the highest of all associations (assoc_mgr's
    priority_norm; 0 when none has one), or the Priority itself with NO_NORMAL_ASSOC."""
    if s.flags & NO_NORMAL_ASSOC:
        return float(priority)
    return priority / top if top else 0.0


def age_factor(accrue_time: int, now: int, max_age: int) -> float:
    """The time accrued since ``accrue_time`` over PriorityMaxAge, at most 1."""
    diff = now - accrue_time if now > accrue_time else 0
    diff &= 0xFFFFFFFF  # slurmctld keeps the difference in 32 bits
    if diff < max_age:
        return diff / max_age
    return 1.0


def job_size_factor(job: JobInput, part: PartInput | None, size: ClusterSize, s: Settings) -> float:
    """The job size factor, 0..1 (set_priority_factors)."""
    if size.nodes <= 0 or size.cpus <= 0:
        return 0.0
    if job.total_cpus:
        cpus = job.total_cpus
    elif job.max_cpus != NO_VAL:
        cpus = job.max_cpus
    else:
        cpus = job.min_cpus
    if s.flags & SIZE_RELATIVE:
        js = max(job.min_nodes * size.cpus / size.nodes, float(cpus))
        if job.time_limit != NO_VAL:
            limit = job.time_limit
        elif part is not None:
            limit = part.max_time
        else:
            limit = 1
        js /= limit & 0xFFFFFFFF
        js /= size.cpus
        if s.favor_small:
            js = 1.0 - js
    elif s.favor_small:
        js = (size.nodes - job.min_nodes) / size.nodes
        if cpus:
            js = (js + (size.cpus - cpus) / size.cpus) / 2
    else:
        js = job.min_nodes / size.nodes
        if cpus:
            js = (js + cpus / size.cpus) / 2
    return min(max(js, 0.0), 1.0)


def part_factor(part: PartInput | None, s: Settings) -> float:
    """The partition factor, unweighted."""
    if part is None or not part.priority_job_factor:
        return 0.0
    return float(part.priority_job_factor) if s.flags & NO_NORMAL_PART else part.norm_priority


def factors(
    job: JobInput,
    part: PartInput | None,
    size: ClusterSize,
    s: Settings,
    now: int,
    tres_names: tuple[str, ...] = TRES_NAMES,
) -> Factors:
    """set_priority_factors then the weighting of _get_priority_internal."""
    age = 0.0
    if s.weight_age and job.accrue_time:
        age = age_factor(job.accrue_time, now, s.max_age) * s.weight_age
    fs = 0.0
    if s.weight_fs and job.fs_factor is not None:
        fs = job.fs_factor * s.weight_fs
    js = job_size_factor(job, part, size, s) * s.weight_js if s.weight_js else 0.0
    part_value = part_factor(part, s) * s.weight_part if s.weight_part else 0.0
    qos = job.qos_norm * s.weight_qos if s.weight_qos else 0.0
    assoc = job.assoc_norm * s.weight_assoc if s.weight_assoc else 0.0
    tres = tres_factors(job.tres, part, s, tres_names)
    nice = (job.nice + NICE_OFFSET) & 0xFFFFFFFF
    return Factors(age, assoc, fs, js, part_value, qos, job.site_factor, nice, tres)


_MEM_UNITS = {"M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def tres_weights(text: str | None, names: tuple[str, ...] = TRES_NAMES) -> tuple[float, ...]:
    """PriorityWeightTRES ("CPU=1000,Mem=2000,...", names case-insensitive; a unit on a memory weight
    makes it per that unit) as one weight per TRES of ``names``; () when not set."""
    if not text:
        return ()
    weights = [0.0] * len(names)
    lowered = [n.lower() for n in names]
    for item in text.split(","):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name not in lowered or not value:
            continue  # slurmctld refuses to start on a TRES it does not count
        number = value.strip()
        unit = 1
        if number and number[-1].upper() in _MEM_UNITS and name == "mem":
            unit = _MEM_UNITS[number[-1].upper()]
            number = number[:-1]
        try:
            weights[lowered.index(name)] = float(number) / unit
        except ValueError:
            continue
    return tuple(weights)


def tres_factors(
    counts: Mapping[str, int], part: PartInput | None, s: Settings, names: tuple[str, ...] = TRES_NAMES
) -> tuple[float, ...]:
    """Each TRES's count over the partition's (its count itself with NO_NORMAL_TRES), weighted."""
    weights = tres_weights(s.weight_tres, names)
    if not weights:
        return ()
    out = []
    for name, weight in zip(names, weights, strict=True):
        value = counts.get(name, 0)
        if s.flags & NO_NORMAL_TRES:
            factor = float(value)
        elif value and part is not None and part.tres.get(name):
            factor = value / part.tres[name]
        else:
            factor = 0.0
        out.append(factor * weight)
    return tuple(out)


def weighted_part(part: PartInput, s: Settings) -> float:
    """The weighted partition factor of one of a multi-partition job's partitions."""
    norm = float(part.priority_job_factor) if s.flags & NO_NORMAL_PART else part.norm_priority
    return norm * s.weight_part


def next_priority(old: int, new: int, s: Settings) -> int:
    """PriorityFlags=INCR_ONLY: a recalculation never lowers a priority."""
    if s.flags & INCR_ONLY and old >= new:
        return old
    return new


def recalculates(s: Settings) -> bool:
    """Does slurmctld run its decay thread (a recalculation every PriorityCalcPeriod)? With slurmdbd,
    where it has the cluster's root association (slurmdbd makes one when the cluster is added; a
    slurmctld that never had association data exits at start if PriorityWeightFairshare is set)."""
    return s.with_slurmdbd


# -- fair share (classic: PriorityFlags=NO_FAIR_TREE) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class AssocUsage:
    """One association as fair share needs it. The root has ``parent`` None."""

    id: int
    parent: int | None
    user: str | None  # None: an account
    shares_raw: int  # FairShare=; FS_USE_PARENT for "parent"
    usage_raw: float  # decayed usage (billable TRES seconds)


@dataclass(frozen=True, slots=True)
class ShareAssoc:
    """An association as sshare shows it besides its fair share: ``shares_raw`` None for root (sent as
    NO_VAL), ``parent`` the parent account's name (a user's: its account), ``grp_tres_mins`` one
    value per TRES of the cache (INFINITE64: no limit)."""

    id: int
    cluster: str | None
    acct: str
    user: str | None
    uid: int | None
    partition: str | None
    parent: str | None
    shares_raw: int | None
    grp_tres_mins: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FairShare:
    """What sshare shows of an association and the factor its jobs get."""

    level_shares: int
    shares_norm: float
    usage_norm: float
    usage_efctv: float
    factor: float
    level_fs: float = 0.0  # Fair Tree's LevelFS


@dataclass(frozen=True, slots=True)
class _ShareTree:
    """The association tree both fair-share algorithms walk: each association under the first ancestor
    whose shares count (an ancestor with FairShare=parent passes its children up)."""

    by_id: dict[int, AssocUsage]
    root: AssocUsage
    children: dict[int, list[AssocUsage]]

    @classmethod
    def of(cls, assocs: Iterable[AssocUsage]) -> _ShareTree | None:
        by_id = {a.id: a for a in assocs}
        root = next((a for a in by_id.values() if a.parent is None), None)
        if root is None:
            return None
        tree = cls(by_id, root, {})
        for a in by_id.values():
            if a is not root:
                p = tree.fs_parent(a)
                if p is not None:
                    tree.children.setdefault(p.id, []).append(a)
        return tree

    def fs_parent(self, a: AssocUsage) -> AssocUsage | None:
        """The first ancestor (of a FairShare=parent association: the first above it) whose shares count."""
        p = self.by_id.get(a.parent) if a.parent is not None else None
        while p is not None and p.shares_raw == FS_USE_PARENT and p.parent is not None:
            p = self.by_id.get(p.parent)
        return p


def fair_share(assocs: Iterable[AssocUsage], damp_factor: int = 1) -> dict[int, FairShare]:
    """Classic fair share of every association (assoc_mgr's level shares and normalised shares, the
    multifactor plugin's normalised and effective usage, F = 2**(-U_E / S / damp))."""
    tree = _ShareTree.of(assocs)
    if tree is None:
        return {}
    by_id, root, children, fs_parent = tree.by_id, tree.root, tree.children, tree.fs_parent

    def level_sum(a: AssocUsage) -> int:
        total = 0
        for c in children.get(a.id, []):
            total += level_sum(c) if c.shares_raw == FS_USE_PARENT else c.shares_raw
        return total

    level: dict[int, int] = {}
    for pid, kids in children.items():
        shares = level_sum(by_id[pid])
        for c in kids:
            level[c.id] = shares

    def shares_norm(a: AssocUsage) -> float:
        if a.shares_raw == FS_USE_PARENT:
            p = fs_parent(a)
            return shares_norm(p) if p is not None and p is not root else 1.0
        norm = 1.0
        cur: AssocUsage | None = a
        while cur is not None and cur.parent is not None:
            if cur.shares_raw != FS_USE_PARENT:
                lv = level.get(cur.id, 0)
                norm = 0.0 if not lv else norm * cur.shares_raw / lv
            cur = by_id.get(cur.parent)
        return norm

    root_usage = root.usage_raw
    out: dict[int, FairShare] = {}
    efctv: dict[int, float] = {root.id: 1.0}

    def visit(a: AssocUsage) -> None:
        usage_norm = min(a.usage_raw / root_usage, 1.0) if root_usage else 0.0
        p = fs_parent(a)
        if p is None or p is root:
            ue = usage_norm
        elif a.shares_raw == FS_USE_PARENT:
            ue = efctv[p.id]
        else:
            siblings = level.get(a.id, 0)
            ue_parent = efctv[p.id]
            ue = (
                ue_parent
                if not siblings
                else usage_norm + (ue_parent - usage_norm) * (a.shares_raw / siblings)
            )
        efctv[a.id] = ue
        norm = shares_norm(a)
        factor = 0.0 if norm <= 0 else math.pow(2.0, -((ue / norm) / damp_factor))
        out[a.id] = FairShare(level.get(a.id, 0), norm, usage_norm, ue, factor)
        for c in children.get(a.id, []):
            visit(c)

    for c in children.get(root.id, []):
        visit(c)
    return out


def fair_tree(assocs: Iterable[AssocUsage]) -> dict[int, FairShare]:
    """Fair Tree (the default: PriorityFlags without NO_FAIR_TREE), fair_tree.c's rules: at each level
    an association's LevelFS is S / U, its shares over its siblings' (S) and its usage over its
    parent's (U; a user with FairShare=parent ranks first); siblings are visited by LevelFS, highest
    first (a user before an account when equal), depth first, and users are ranked as met: the factor
    is rank / number of user associations, tied users sharing a rank."""
    tree = _ShareTree.of(assocs)
    if tree is None:
        return {}
    by_id, root, children, fs_parent = tree.by_id, tree.root, tree.children, tree.fs_parent

    def level_sum(a: AssocUsage) -> int:
        return sum(
            level_sum(c) if c.shares_raw == FS_USE_PARENT else c.shares_raw for c in children.get(a.id, [])
        )

    level: dict[int, int] = {}
    for pid, kids in children.items():
        shares = level_sum(by_id[pid])
        for c in kids:
            level[c.id] = shares

    out: dict[int, FairShare] = {}
    level_fs: dict[int, float] = {}

    def measure(a: AssocUsage) -> None:
        p = fs_parent(a)
        fs_assoc = p if a.shares_raw == FS_USE_PARENT and p is not None else a
        lv = level.get(fs_assoc.id, 0)
        norm = fs_assoc.shares_raw / lv if lv else 0.0
        ue = a.usage_raw / p.usage_raw if p is not None and p.usage_raw else 0.0
        if a.shares_raw == FS_USE_PARENT:
            lf = math.inf if a.user is not None else float(NO_VAL)
        elif norm == 0:
            lf = 0.0
        else:
            lf = norm / ue if ue else math.inf
        level_fs[a.id] = lf
        usage_norm = min(a.usage_raw / root.usage_raw, 1.0) if root.usage_raw else 0.0
        out[a.id] = FairShare(level.get(a.id, 0), norm, usage_norm, ue, 0.0, lf)

    users = sum(1 for a in by_id.values() if a.user is not None)
    rank = [users, users]  # the rank given, the rank next to give

    def visit(siblings: list[AssocUsage], account_tied: bool) -> None:
        for a in siblings:
            measure(a)
        ordered = sorted(siblings, key=lambda a: (-level_fs[a.id], a.user is None))
        prev = float(NO_VAL)
        i = 0
        while i < len(ordered):
            a = ordered[i]
            tied = account_tied if i == 0 else prev == level_fs[a.id]
            if a.user is not None:
                if not tied:
                    rank[0] = rank[1]
                out[a.id] = FairShare(
                    out[a.id].level_shares,
                    out[a.id].shares_norm,
                    out[a.id].usage_norm,
                    out[a.id].usage_efctv,
                    rank[0] / users,
                    level_fs[a.id],
                )
                rank[1] -= 1
                i += 1
            else:
                # fair_tree.c merges the accounts tied with this one, counting the users after it
                # that tie (none: users sort first), so each account is walked on its own
                merged = 0
                while i + merged + 1 < len(ordered):
                    nxt = ordered[i + merged + 1]
                    if nxt.user is None or level_fs[nxt.id] != level_fs[a.id]:
                        break
                    merged += 1
                kids = [c for acct in ordered[i : i + merged + 1] for c in children.get(acct.id, [])]
                if kids:
                    visit(kids, tied)
                i += merged + 1
            prev = level_fs[a.id]

    visit(children.get(root.id, []), False)
    return out


# -- usage decay ------------------------------------------------------------------------------------


def decay_factor(half_life: int) -> float:
    """Per second: the plugin's first-order approximation of 2**(-1/half_life)."""
    return 1 - (0.693 / half_life) if half_life > 0 else 1.0


def period_decay(half_life: int, seconds: float) -> float:
    """What usage is multiplied by over ``seconds`` (never below the smallest double)."""
    if seconds <= 0:
        return 1.0
    return max(math.pow(decay_factor(half_life), seconds), 2.2250738585072014e-308)


def run_usage(run_seconds: float, billable_tres: float, half_life: int, usage_factor: float = 1.0) -> float:
    """The decayed usage a running job adds over ``run_seconds`` (_apply_new_usage)."""
    decayed = run_seconds * math.pow(decay_factor(half_life), run_seconds)
    return decayed * billable_tres * (usage_factor if usage_factor >= 0 else 1.0)


def next_reset(period: int, last_reset: int, now: int, tz_offset: int | None = None) -> int:
    """When usage is next cleared by PriorityUsageResetPeriod, from the last reset (local midnight
    boundaries as _next_reset; 0: never). ``tz_offset`` (seconds east of UTC) for tests."""

    def local(t: int) -> time.struct_time:
        return time.gmtime(t + tz_offset) if tz_offset is not None else time.localtime(t)

    def mktime(y: int, mon: int, d: int) -> int:
        if tz_offset is not None:
            return calendar.timegm((y, mon, d, 0, 0, 0, 0, 0, 0)) - tz_offset
        return int(time.mktime((y, mon, d, 0, 0, 0, 0, 0, -1)))

    tm = local(last_reset)
    midnight = mktime(tm.tm_year, tm.tm_mon, tm.tm_mday)
    if period == RESET_DAILY:
        t = midnight + _DAY
        while t + _DAY < now:
            t += _DAY
        return t
    if period == RESET_WEEKLY:
        wday = (tm.tm_wday + 1) % 7  # struct_time counts from Monday, C from Sunday
        t = midnight + _DAY * (7 - wday)
        while t + 7 * _DAY < now:
            t += 7 * _DAY
        return t
    year, month = tm.tm_year, tm.tm_mon
    if period == RESET_MONTHLY:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    elif period == RESET_QUARTERLY:
        month0 = month - 1
        nxt = next((q for q in (3, 6, 9) if month0 < q), None)
        year, month = (year + 1, 1) if nxt is None else (year, nxt + 1)
    elif period == RESET_YEARLY:
        year, month = year + 1, 1
    else:
        return 0
    return mktime(year, month, 1)


def unlimited(minutes: int | None) -> int:
    """A partition's MaxTime in SLURM's units (INFINITE when unlimited)."""
    return INFINITE if minutes is None else minutes

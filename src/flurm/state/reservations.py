"""Advanced reservations, as slurmctld 22.05 keeps them (src/slurmctld/reservation.c).

A reservation holds whole nodes for a time window, for some users and/or accounts. This module
owns every rule about them: creation (its checks and their return codes, the generated name
``<account|user>_<n>``, the node pick), update, deletion, the window of a recurring (DAILY,
WEEKLY...) reservation rolling forward, expiry after the end time, the RESERVED/MAINT flags of the
nodes in an active one, and who may use one. Pure: every entry point takes ``now``; the caller
persists (``changed``/``removed`` name what to write) and answers clients.

Not modelled: core-based reservations (CoreCnt), floating start times (TIME_FLOAT), licenses, burst
buffers and watts: refused with ESLURM_NOT_SUPPORTED; FLEX, MAGNETIC, REPLACE, PURGE_COMP,
NO_HOLD_JOBS are stored and shown.
"""

from __future__ import annotations

import contextlib
import grp
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Protocol

from flurm.config import hostlists
from flurm.errors import SlurmError
from flurm.protocol.constants import INFINITE, NO_VAL, NO_VAL64, JobState, NodeState, NodeStateFlag, SlurmRC
from flurm.protocol.messages.reservations import ReservationDesc, ReserveFlag
from flurm.state.model import Job, Node, Partition

F = ReserveFlag
RC = SlurmRC

MAX_RESV_DELAY = 600  # a start or end this far in the past is still accepted (seconds)
YEAR_SECONDS = 365 * 24 * 3600
MAX_RESV_COUNT = 9999
DEFAULT_PURGE_COMP_TIME = 300
MAINT_DESC = "ReqNodeNotAvail, Reserved for maintenance"

# what a create request may set (create_resv's mask)
_CREATE_FLAGS = (
    F.MAINT
    | F.FLEX
    | F.OVERLAP
    | F.IGN_JOBS
    | F.HOURLY
    | F.DAILY
    | F.WEEKDAY
    | F.WEEKEND
    | F.WEEKLY
    | F.STATIC
    | F.ANY_NODES
    | F.PART_NODES
    | F.FIRST_CORES
    | F.TIME_FLOAT
    | F.PURGE_COMP
    | F.REPLACE
    | F.REPLACE_DOWN
    | F.NO_HOLD_JOBS
    | F.MAGNETIC
)
# update: (flag a request sets, flag a request clears)
_UPDATE_PAIRS = (
    (F.FLEX, F.NO_FLEX),
    (F.MAINT, F.NO_MAINT),
    (F.OVERLAP, 0),
    (F.IGN_JOBS, F.NO_IGN_JOB),
    (F.HOURLY, F.NO_HOURLY),
    (F.DAILY, F.NO_DAILY),
    (F.WEEKDAY, F.NO_WEEKDAY),
    (F.WEEKEND, F.NO_WEEKEND),
    (F.WEEKLY, F.NO_WEEKLY),
    (F.ANY_NODES, F.NO_ANY_NODES),
    (F.STATIC, F.NO_STATIC),
    (F.FIRST_CORES, 0),
    (F.PURGE_COMP, F.NO_PURGE_COMP),
    (F.NO_HOLD_JOBS, 0),
    (F.MAGNETIC, F.NO_MAGNETIC),
)
_NOT_MODELLED = F.TIME_FLOAT | F.REPLACE | F.REPLACE_DOWN | F.FIRST_CORES


@dataclass(slots=True)
class Reservation:
    """One reservation record (slurmctld_resv_t, the part flurm uses). Times are epoch seconds,
    ``duration`` minutes as asked (NO_VAL: the end time was given)."""

    name: str
    resv_id: int
    start_time: int
    end_time: int
    duration: int = NO_VAL
    flags: int = 0
    nodes: tuple[str, ...] = ()  # in node-table order
    node_list: str | None = None
    partition: str | None = None
    users: str | None = None
    user_ids: tuple[int, ...] = ()
    user_not: bool = False
    accounts: str | None = None
    account_list: tuple[str, ...] = ()
    account_not: bool = False
    groups: str | None = None
    features: str | None = None
    licenses: str | None = None
    burst_buffer: str | None = None
    purge_comp_time: int = DEFAULT_PURGE_COMP_TIME
    max_start_delay: int = 0
    resv_watts: int = NO_VAL
    core_cnt: int = 0
    cpu_cnt: int = 0
    comment: str | None = None  # given by a 24.11 or 26.05 scontrol
    seq: int = 0  # position in the reservation list (the order of `scontrol show reservation`)
    record_overrides: dict[str, Any] = field(default_factory=dict)  # as slurmctld reported it (import)

    def is_active(self, now: int) -> bool:
        return self.start_time <= now < self.end_time

    def overlaps(self, start: int, end: int) -> bool:
        """Does the window [start, end) meet this reservation's current window?"""
        return self.start_time < end and start < self.end_time

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("nodes", "user_ids", "account_list"):
            d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Reservation:
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {
            k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in known
        }
        return cls(**kwargs)


def _refuse_unmodelled(desc: ReservationDesc) -> None:
    """What a 24.11 or 26.05 scontrol may ask that flurm does not hold: TRES counts (TRES=, which
    is also how they send CoreCnt), QOS and allowed partitions."""
    if desc.tres_str or desc.qos or desc.allowed_parts:
        raise SlurmError(RC.ESLURM_NOT_SUPPORTED)


class ClusterView(Protocol):
    """What the reservation rules look at: the node table, partitions, jobs (the Cluster)."""

    nodes: dict[str, Node]
    node_list: list[Node]
    partitions: dict[str, Partition]
    default_partition: str | None
    jobs: dict[int, Job]


def _is_up(node: Node) -> bool:
    return node.registered and node.base_state in (NodeState.IDLE, NodeState.ALLOCATED, NodeState.MIXED)


def _holds_nodes(job: Job) -> bool:
    return job.base_state in (JobState.RUNNING, JobState.SUSPENDED)


def uid_of_user(name: str) -> int | None:
    from flurm.users import uid_of

    return uid_of(name)


def _group_members(groups: str) -> tuple[int, ...]:
    out: list[int] = []
    for name in groups.split(","):
        try:
            gr = grp.getgrnam(name)
        except KeyError:
            continue
        for member in gr.gr_mem:
            uid = uid_of_user(member)
            if uid is not None and uid not in out:
                out.append(uid)
    return tuple(out)


def _split_not(text: str, invalid: int, valid: Callable[[str], bool]) -> tuple[list[str], bool]:
    """A "a,b" or "-a,-b" list (all negated or none), each name checked: (names, negated)."""
    names: list[str] = []
    negated = False
    for i, tok in enumerate(t for t in text.split(",") if t):
        if tok.startswith("-"):
            if i == 0:
                negated = True
            elif not negated:
                raise SlurmError(invalid)
            tok = tok[1:]
        elif negated:
            raise SlurmError(invalid)
        if not valid(tok):
            raise SlurmError(invalid)
        names.append(tok)
    return names, negated


def parse_users(text: str) -> tuple[tuple[int, ...], bool]:
    """_build_uid_list (strict): every name must resolve; ESLURM_USER_ID_MISSING otherwise."""
    names, negated = _split_not(text, RC.ESLURM_USER_ID_MISSING, lambda n: uid_of_user(n) is not None)
    if not names:
        raise SlurmError(RC.ESLURM_USER_ID_MISSING)
    return tuple(uid_of_user(n) or 0 for n in names), negated


def parse_accounts(text: str) -> tuple[tuple[str, ...], bool]:
    """_build_account_list: flurm enforces no associations, so every account name is valid."""
    names, negated = _split_not(text, RC.ESLURM_INVALID_ACCOUNT, lambda n: True)
    return tuple(names), negated


def _edit_list(current: str | None, change: str) -> str | None:
    """``+a,-b`` adds and removes names (_update_uid_list/_update_account_list); a plain list
    replaces the current one."""
    if not change.startswith(("+", "-")):
        return change or None
    names = [n for n in (current or "").split(",") if n]
    for tok in (t for t in change.split(",") if t):
        name = tok.lstrip("+-")
        if tok.startswith("-"):
            if name in names:
                names.remove(name)
        elif name not in names:
            names.append(name)
    return ",".join(names) or None


def advance_time(t: int, days: int = 0, hours: int = 0) -> int:
    """_advance_time: the same local wall-clock time ``days``/``hours`` later (across DST)."""
    tm = time.localtime(t)
    return int(
        time.mktime(
            (tm.tm_year, tm.tm_mon, tm.tm_mday + days, tm.tm_hour + hours, tm.tm_min, tm.tm_sec, 0, 0, -1)
        )
    )


def _advance_days(flags: int, now: int) -> tuple[int, int]:
    """(days, hours) a recurring reservation moves by when its window ends (_advance_resv_time)."""
    if flags & F.HOURLY:
        return 0, 1
    if flags & F.DAILY:
        return 1, 0
    if flags & F.WEEKDAY:
        wday = (time.localtime(now).tm_wday + 1) % 7  # C tm_wday: Sunday 0
        return {5: 3, 6: 2}.get(wday, 1), 0
    if flags & F.WEEKEND:
        wday = (time.localtime(now).tm_wday + 1) % 7
        return (6 if wday == 0 else 1 if wday == 6 else 6 - wday), 0
    if flags & F.WEEKLY:
        return 7, 0
    return 0, 0


def _windows_overlap(a_start: int, a_end: int, a_flags: int, b: Reservation) -> bool:
    """_resv_time_overlap: compare the two windows over a week of their repetitions."""
    a_steps = 7 * 24 if a_flags & F.HOURLY else 7
    b_steps = 7 * 24 if b.flags & F.HOURLY else 7
    for i in range(a_steps):
        s1 = advance_time(a_start, *((i, 0) if a_steps == 7 else (0, i)))
        e1 = advance_time(a_end, *((i, 0) if a_steps == 7 else (0, i)))
        for j in range(b_steps):
            s2 = advance_time(b.start_time, *((j, 0) if b_steps == 7 else (0, j)))
            e2 = advance_time(b.end_time, *((j, 0) if b_steps == 7 else (0, j)))
            if s1 < e2 and e1 > s2:
                return True
            if not b.flags & (F.HOURLY | F.DAILY):
                break
        if not a_flags & (F.HOURLY | F.DAILY) or a_steps == b_steps:
            break
    return False


class Reservations:
    """The reservation list and its rules. ``changed``/``removed``: names to persist since the
    caller last drained them (:meth:`drain`)."""

    def __init__(self) -> None:
        self.items: dict[str, Reservation] = {}
        self.top_suffix = 0
        self.last_update = 0
        self.changed: set[str] = set()
        self.removed: set[str] = set()
        self._seq = 0

    # -- persistence ----------------------------------------------------------------------------
    def restore(self, saved: Iterable[Mapping[str, Any]], top_suffix: int = 0) -> None:
        for d in sorted(saved, key=lambda d: int(d.get("seq", 0))):
            resv = Reservation.from_dict(d)
            self.items[resv.name] = resv
            self._seq = max(self._seq, resv.seq)
            self.top_suffix = max(self.top_suffix, resv.resv_id)
        self.top_suffix = max(self.top_suffix, top_suffix)

    def drain(self) -> tuple[list[Reservation], list[str]]:
        """What changed (to write) and what went (to delete) since the last call."""
        changed = [self.items[n] for n in sorted(self.changed) if n in self.items]
        removed = sorted(self.removed - set(self.items))
        self.changed.clear()
        self.removed.clear()
        return changed, removed

    def _touch(self, resv: Reservation, now: int) -> None:
        resv.record_overrides = {}
        self.changed.add(resv.name)
        self.last_update = now

    def _add(self, resv: Reservation, now: int) -> None:
        self._seq += 1
        resv.seq = self._seq
        self.items[resv.name] = resv
        self._touch(resv, now)

    def _drop(self, name: str, now: int) -> None:
        if self.items.pop(name, None) is not None:
            self.removed.add(name)
            self.changed.discard(name)
            self.last_update = now

    def replace_all(self, resvs: Iterable[Reservation], now: int) -> None:
        """Take slurmctld's list as it is (the mirror): flurm's own is not kept beside it. Its id
        counter is not on the wire: each live reservation took an id of its own, so it is at least
        their number (and the highest generated suffix)."""
        fresh = {r.name: r for r in resvs}
        self.top_suffix = max(self.top_suffix, len(fresh))
        for name in list(self.items):
            if name not in fresh:
                self._drop(name, now)
        for resv in fresh.values():
            old = self.items.get(resv.name)
            if old is None:
                self._add(resv, now)
                self.top_suffix = max(self.top_suffix, resv.resv_id)
            elif old != replace(resv, seq=old.seq):
                resv.seq = old.seq
                self.items[resv.name] = resv
                self.changed.add(resv.name)
                self.last_update = now

    # -- ids and names ----------------------------------------------------------------------------
    def _next_id(self) -> int:
        """_generate_resv_id: the next suffix no reservation uses (1..9999, wrapping)."""
        used = {r.resv_id for r in self.items.values()}
        for _ in range(MAX_RESV_COUNT):
            self.top_suffix = 1 if self.top_suffix >= MAX_RESV_COUNT else self.top_suffix + 1
            if self.top_suffix not in used:
                return self.top_suffix
        raise SlurmError(RC.ESLURM_RESERVATION_INVALID)

    @staticmethod
    def _name_key(desc: ReservationDesc) -> str:
        """_generate_resv_name's prefix: the first account, else the first user, else group."""
        for text in (desc.accounts, desc.users, desc.groups):
            if text:
                return text.lstrip("-").split(",")[0] if text.startswith("-") else text.split(",")[0]
        return "resv"

    # -- node picking -----------------------------------------------------------------------------
    def _node_names(self, view: ClusterView, expr: str) -> tuple[str, ...]:
        """node_name2bitmap: every name must be a node; returned in node-table order."""
        try:
            names = hostlists.expand(expr)
        except hostlists.HostlistError:
            raise SlurmError(RC.ESLURM_INVALID_NODE_NAME) from None
        if any(n not in view.nodes for n in names):
            raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
        wanted = set(names)
        return tuple(n.name for n in view.node_list if n.name in wanted)

    @staticmethod
    def _active_nodes(view: ClusterView) -> tuple[str, ...]:
        return tuple(n.name for n in view.node_list if n.base_state != NodeState.FUTURE)

    def _pick(
        self,
        view: ClusterView,
        part: Partition,
        counts: tuple[int, ...],
        flags: int,
        start: int,
        end: int,
        skip: Reservation | None,
    ) -> tuple[str, ...]:
        """_select_nodes/_pick_nodes_ordered with cons_tres's sequential pick, whole nodes."""
        in_part = [view.nodes[n] for n in part.nodes if n in view.nodes]
        in_part.sort(key=lambda n: n.index)
        every = [n.name for n in in_part]
        online = [n.name for n in in_part if _is_up(n)]
        avail = [n.name for n in in_part if n.is_usable()]
        reserved = {
            n
            for r in self.items.values()
            if r is not skip and r.nodes and _windows_overlap(start, end, flags, r)
            for n in r.nodes
        }
        not_reserved = [n for n in avail if n not in reserved]
        tiers = [not_reserved, list(not_reserved)]
        if flags & F.MAINT:
            tiers += [avail, online, every]
        elif flags & F.OVERLAP:
            tiers.append(avail)
        busy_jobs = [j for j in view.jobs.values() if _holds_nodes(j) and j.end_time >= start]
        selected: list[str] = []
        for want in counts:
            remain = want
            for tier in tiers:
                if not remain:
                    break
                pool = [n for n in tier if n not in selected]
                if not pool:
                    continue
                picked = self._pick_count(pool, remain, flags, busy_jobs)
                if picked is None:
                    continue
                picked = [n for n in picked if n not in selected]
                remain = max(0, remain - len(picked))
                selected.extend(picked)
        if not selected:
            raise SlurmError(RC.ESLURM_NODES_BUSY)
        order = {n.name: n.index for n in view.node_list}
        return tuple(sorted(selected, key=order.__getitem__))

    @staticmethod
    def _pick_count(pool: list[str], count: int, flags: int, busy_jobs: list[Job]) -> list[str] | None:
        """_pick_node_cnt: the first ``count`` nodes no running job holds (fewer if the pool is
        smaller); with IGNORE_JOBS, nodes of running jobs too."""
        count = min(count, len(pool))
        if count == 0:
            return None
        if count == len(pool) and flags & F.IGN_JOBS:
            return pool[:count]
        busy = {n for j in busy_jobs for n in j.nodes}
        free = [n for n in pool if n not in busy]
        if len(free) >= count:
            return free[:count]
        if flags & F.IGN_JOBS:
            return pool[:count]
        return None

    def _overlaps_other(
        self, nodes: Iterable[str], start: int, end: int, flags: int, skip: Reservation | None
    ) -> bool:
        """_resv_overlap: nodes held by another full-node reservation in an overlapping window."""
        if flags & (F.MAINT | F.OVERLAP):
            return False
        wanted = set(nodes)
        for r in self.items.values():
            if r is skip or not r.nodes or r.flags & (F.MAINT | F.OVERLAP):
                continue
            if wanted.isdisjoint(r.nodes):
                continue
            if _windows_overlap(start, end, flags, r):
                return True
        return False

    @staticmethod
    def _overlaps_jobs(
        view: ClusterView, nodes: Iterable[str], start: int, flags: int, name: str | None
    ) -> bool:
        """_job_overlap: a running job on these nodes ends after the start (IGNORE_JOBS: never)."""
        if flags & F.IGN_JOBS:
            return False
        wanted = set(nodes)
        return any(
            j.is_running()
            and j.end_time > start
            and not wanted.isdisjoint(j.nodes)
            and (name is None or j.reservation != name)
            for j in view.jobs.values()
        )

    @staticmethod
    def _count_cpus(view: ClusterView, resv: Reservation) -> None:
        resv.core_cnt = sum(view.nodes[n].total_cores for n in resv.nodes if n in view.nodes)
        resv.cpu_cnt = sum(view.nodes[n].cpus for n in resv.nodes if n in view.nodes)

    # -- create / update / delete -------------------------------------------------------------------
    def create(self, desc: ReservationDesc, view: ClusterView, now: int) -> Reservation:
        """create_resv: the checks in slurmctld's order, each with its return code."""
        flags = 0 if desc.flags == NO_VAL64 else desc.flags & _CREATE_FLAGS
        start = desc.start_time
        if start != NO_VAL:
            if start < now - MAX_RESV_DELAY:
                raise SlurmError(RC.ESLURM_INVALID_TIME_VALUE)
        else:
            start = now
        if desc.end_time != NO_VAL:
            if desc.end_time < now - MAX_RESV_DELAY:
                raise SlurmError(RC.ESLURM_INVALID_TIME_VALUE)
            end = desc.end_time
        elif desc.duration == INFINITE:
            end = start + YEAR_SECONDS
        elif desc.duration:
            end = start + desc.duration * 60
        else:
            end = INFINITE
        if flags & (F.REPLACE | F.REPLACE_DOWN):
            if desc.node_list:
                raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
            if desc.core_cnt:
                raise SlurmError(RC.ESLURM_INVALID_CPU_COUNT)
        part: Partition | None = None
        if desc.partition:
            part = view.partitions.get(desc.partition)
            if part is None:
                raise SlurmError(RC.ESLURM_INVALID_PARTITION_NAME)
        elif flags & F.PART_NODES:
            raise SlurmError(RC.ESLURM_INVALID_PARTITION_NAME)
        if flags & F.PART_NODES and (desc.node_list or "").upper() != "ALL":
            raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
        if desc.users and desc.groups:
            raise SlurmError(RC.ESLURM_RESERVATION_USER_GROUP)
        if not desc.accounts and not desc.users and not desc.groups:
            raise SlurmError(RC.ESLURM_RESERVATION_EMPTY)
        account_list, account_not = parse_accounts(desc.accounts) if desc.accounts else ((), False)
        user_ids, user_not = parse_users(desc.users) if desc.users else ((), False)
        if desc.groups:
            user_ids = _group_members(desc.groups)
            if not user_ids:
                raise SlurmError(RC.ESLURM_GROUP_ID_MISSING)
        if desc.licenses or desc.burst_buffer or desc.core_cnt or flags & _NOT_MODELLED:
            raise SlurmError(RC.ESLURM_NOT_SUPPORTED)
        _refuse_unmodelled(desc)
        counts = tuple(sorted((c for c in desc.node_cnt if c), reverse=True))
        node_list = desc.node_list
        nodes: tuple[str, ...] = ()
        partition = desc.partition
        if node_list:
            flags |= F.SPEC_NODES
            if node_list.upper() == "ALL":
                if part is not None and flags & F.PART_NODES:
                    nodes = tuple(n.name for n in view.node_list if n.name in set(part.nodes))
                else:
                    flags = (flags & ~F.PART_NODES) | F.ALL_NODES
                    nodes = self._active_nodes(view)
            else:
                flags &= ~F.PART_NODES
                nodes = self._node_names(view, node_list)
            if not nodes:
                raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
            if self._overlaps_other(nodes, start, end, flags, None):
                raise SlurmError(RC.ESLURM_RESERVATION_OVERLAP)
            if self._overlaps_jobs(view, nodes, start, flags, None):
                raise SlurmError(RC.ESLURM_NODES_BUSY)
        elif not flags & F.ANY_NODES:
            flags &= ~F.PART_NODES
            if not counts:
                raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
            if part is None:
                if view.default_partition is None:
                    raise SlurmError(RC.ESLURM_DEFAULT_PARTITION_NOT_SET)
                part = view.partitions[view.default_partition]
                partition = part.name
            nodes = self._pick(view, part, counts, flags, start, end, None)
        if flags & F.ANY_NODES and not nodes:
            raise SlurmError(RC.ESLURM_RESERVATION_INVALID)
        resv_id = self._next_id()
        if desc.name:
            if desc.name in self.items:
                raise SlurmError(RC.ESLURM_RESERVATION_NAME_DUP)
            name = desc.name
        else:
            key = self._name_key(desc)
            name = f"{key}_{resv_id}"
            while name in self.items:
                resv_id = self._next_id()
                name = f"{key}_{resv_id}"
        resv = Reservation(
            name=name,
            resv_id=resv_id,
            start_time=start,
            end_time=end,
            duration=desc.duration,
            flags=flags,
            nodes=nodes,
            node_list=hostlists.compress(nodes) if nodes else None,
            partition=partition,
            users=desc.users,
            user_ids=user_ids,
            user_not=user_not,
            accounts=desc.accounts,
            account_list=account_list,
            account_not=account_not,
            groups=desc.groups,
            features=desc.features,
            purge_comp_time=(
                desc.purge_comp_time if desc.purge_comp_time != NO_VAL else DEFAULT_PURGE_COMP_TIME
            ),
            max_start_delay=desc.max_start_delay if desc.max_start_delay != NO_VAL else 0,
            resv_watts=desc.resv_watts,
            comment=desc.comment or None,
        )
        self._count_cpus(view, resv)
        self._add(resv, now)
        return resv

    def update(self, desc: ReservationDesc, view: ClusterView, now: int) -> Reservation:
        """update_resv: applied to a copy, kept only if every check passes."""
        if not desc.name or desc.name not in self.items:
            raise SlurmError(RC.ESLURM_RESERVATION_INVALID)
        if desc.core_cnt:
            raise SlurmError(RC.ESLURM_CORE_RESERVATION_UPDATE)
        old = self.items[desc.name]
        resv = replace(old)
        node_list = desc.node_list
        if desc.flags != NO_VAL64:
            for on, off in _UPDATE_PAIRS:
                if desc.flags & on:
                    resv.flags |= on
                if off and desc.flags & off:
                    resv.flags &= ~on
            if desc.flags & (F.REPLACE | F.REPLACE_DOWN | F.TIME_FLOAT):
                raise SlurmError(
                    RC.ESLURM_INVALID_TIME_VALUE if desc.flags & F.TIME_FLOAT else RC.ESLURM_NOT_SUPPORTED
                )
            if desc.flags & F.PART_NODES:
                if resv.partition is None and desc.partition is None:
                    raise SlurmError(RC.ESLURM_INVALID_PARTITION_NAME)
                if (node_list or "").upper() != "ALL":
                    raise SlurmError(RC.ESLURM_INVALID_NODE_NAME)
                resv.flags |= F.PART_NODES
                node_list = "ALL"
            if desc.flags & F.NO_PART_NODES:
                resv.flags &= ~F.PART_NODES
            if desc.flags & F.NO_PURGE_COMP and desc.purge_comp_time == NO_VAL:
                resv.purge_comp_time = DEFAULT_PURGE_COMP_TIME
            if desc.flags & F.SKIP and not resv.flags & F.REOCCURRING:
                raise SlurmError(RC.ESLURM_RESERVATION_NO_SKIP)
        if desc.max_start_delay != NO_VAL:
            resv.max_start_delay = desc.max_start_delay
        if desc.purge_comp_time != NO_VAL:
            resv.purge_comp_time = desc.purge_comp_time
        if desc.partition is not None:
            if desc.partition == "":
                resv.partition = None
            elif desc.partition not in view.partitions:
                raise SlurmError(RC.ESLURM_INVALID_PARTITION_NAME)
            else:
                resv.partition = desc.partition
        if desc.resv_watts != NO_VAL:
            resv.resv_watts = desc.resv_watts
        if desc.accounts is not None:
            resv.accounts = _edit_list(resv.accounts, desc.accounts)
            resv.account_list, resv.account_not = (
                parse_accounts(resv.accounts) if resv.accounts else ((), False)
            )
        if desc.licenses or desc.burst_buffer:
            raise SlurmError(RC.ESLURM_NOT_SUPPORTED)
        _refuse_unmodelled(desc)
        if desc.comment is not None:
            resv.comment = desc.comment or None
        if desc.features:
            raise SlurmError(RC.ESLURM_NOT_SUPPORTED)
        if desc.features == "":
            resv.features = None
        if desc.groups is not None:
            resv.groups = desc.groups or None
            resv.user_ids = _group_members(desc.groups) if desc.groups else ()
            if desc.groups and not resv.user_ids:
                raise SlurmError(RC.ESLURM_GROUP_ID_MISSING)
        if desc.users is not None:
            resv.users = _edit_list(resv.users, desc.users)
            resv.user_ids, resv.user_not = parse_users(resv.users) if resv.users else ((), False)
        if resv.users and resv.groups:
            raise SlurmError(RC.ESLURM_RESERVATION_USER_GROUP)
        if not resv.users and not resv.accounts and not resv.groups:
            raise SlurmError(RC.ESLURM_RESERVATION_EMPTY)
        if desc.start_time != NO_VAL:
            if resv.start_time <= now:
                raise SlurmError(RC.ESLURM_RSV_ALREADY_STARTED)
            if desc.start_time < now - 60:
                raise SlurmError(RC.ESLURM_INVALID_TIME_VALUE)
            resv.start_time = desc.start_time
            if resv.duration != NO_VAL:
                resv.end_time = resv.start_time + resv.duration * 60
        if desc.end_time != NO_VAL:
            if desc.end_time < now - 60:
                raise SlurmError(RC.ESLURM_INVALID_TIME_VALUE)
            resv.end_time = desc.end_time
            resv.duration = NO_VAL
        if desc.duration == INFINITE:
            resv.duration = YEAR_SECONDS // 60
            resv.end_time = resv.start_time + YEAR_SECONDS
        elif desc.duration != NO_VAL:
            current = 0 if resv.duration == NO_VAL else resv.duration
            if desc.flags != NO_VAL64 and desc.flags & F.DUR_PLUS:
                resv.duration = current + desc.duration
            elif desc.flags != NO_VAL64 and desc.flags & F.DUR_MINUS:
                resv.duration = max(0, current - desc.duration)
            else:
                resv.duration = desc.duration
            resv.end_time = max(now, resv.start_time + resv.duration * 60)
        if resv.start_time >= resv.end_time:
            raise SlurmError(RC.ESLURM_INVALID_TIME_VALUE)
        counts = tuple(c for c in desc.node_cnt if c)
        if node_list == "":
            resv.flags &= ~(F.SPEC_NODES | F.ALL_NODES)
            if not counts:
                counts = (len(resv.nodes),)
            resv.nodes, resv.node_list = (), None
        elif node_list:
            resv.flags |= F.SPEC_NODES
            if node_list.upper() == "ALL":
                part = view.partitions.get(resv.partition or "")
                if part is not None and resv.flags & F.PART_NODES:
                    resv.nodes = tuple(n.name for n in view.node_list if n.name in set(part.nodes))
                else:
                    resv.flags = (resv.flags | F.ALL_NODES) & ~F.PART_NODES
                    resv.nodes = self._active_nodes(view)
            else:
                resv.flags &= ~(F.PART_NODES | F.ALL_NODES)
                resv.nodes = self._node_names(view, node_list)
            resv.node_list = hostlists.compress(resv.nodes) if resv.nodes else None
        if counts:
            resv.flags &= ~(F.PART_NODES | F.ALL_NODES)
            self._resize(resv, sum(counts), view, now)
        if self._overlaps_other(resv.nodes, resv.start_time, resv.end_time, resv.flags, old):
            raise SlurmError(RC.ESLURM_RESERVATION_OVERLAP)
        if self._overlaps_jobs(view, resv.nodes, resv.start_time, resv.flags, resv.name):
            raise SlurmError(RC.ESLURM_NODES_BUSY)
        if not resv.nodes:
            raise SlurmError(RC.ESLURM_RESERVATION_INVALID)
        if desc.flags != NO_VAL64 and desc.flags & F.SKIP:
            if self.in_use(resv.name, view):
                raise SlurmError(RC.ESLURM_RESERVATION_BUSY)
            self._advance(resv, now)
        self._count_cpus(view, resv)
        # _post_resv_update: a started reservation whose nodes, CPUs or flags change begins anew now
        # (accounting keeps each period's row; StartTime shows it)
        if old.start_time < now and (
            (resv.node_list, resv.cpu_cnt, resv.flags) != (old.node_list, old.cpu_cnt, old.flags)
        ):
            resv.start_time = now
        resv.seq = old.seq
        self.items[resv.name] = resv
        self._touch(resv, now)
        return resv

    def _resize(self, resv: Reservation, count: int, view: ClusterView, now: int) -> None:
        """_resize_resv: drop nodes from the end (idle ones first), or pick more."""
        if count == len(resv.nodes):
            return
        if count < len(resv.nodes):
            busy = {n for j in view.jobs.values() if _holds_nodes(j) for n in j.nodes}
            keep = list(resv.nodes)
            for n in reversed(resv.nodes):
                if len(keep) <= count:
                    break
                if n not in busy:
                    keep.remove(n)
            while len(keep) > count:
                keep.pop()
            resv.nodes = tuple(keep)
        else:
            part = view.partitions.get(resv.partition or view.default_partition or "")
            if part is None:
                raise SlurmError(RC.ESLURM_RESERVATION_INVALID)
            others = self.items.get(resv.name)
            extra = self._pick(
                view,
                replace(part, nodes=tuple(n for n in part.nodes if n not in resv.nodes)),
                (count - len(resv.nodes),),
                resv.flags,
                resv.start_time,
                resv.end_time,
                others,
            )
            order = {n.name: n.index for n in view.node_list}
            resv.nodes = tuple(sorted({*resv.nodes, *extra}, key=order.__getitem__))
        resv.node_list = hostlists.compress(resv.nodes) if resv.nodes else None

    @staticmethod
    def in_use(name: str, view: ClusterView) -> bool:
        """_is_resv_used: a job not yet finished (pending too) names it."""
        return any(not j.is_finished() and _names(j, name) for j in view.jobs.values())

    @staticmethod
    def runs_in(name: str, view: ClusterView) -> bool:
        """job_resv_check's job_run_cnt: a running (or suspended) job runs in it."""
        return any(_holds_nodes(j) and _names(j, name) for j in view.jobs.values())

    def delete(self, name: str | None, view: ClusterView, now: int) -> list[Job]:
        """delete_resv. Returns the pending jobs that asked for it: slurmctld holds them (the caller
        applies :func:`hold_for_deleted` and records them)."""
        resv = self.items.get(name or "")
        if resv is None:
            raise SlurmError(RC.ESLURM_RESERVATION_INVALID)
        if self.in_use(resv.name, view):
            self.last_update = now
            raise SlurmError(RC.ESLURM_RESERVATION_BUSY)
        self._drop(resv.name, now)
        return self._named_by(resv, view)

    @staticmethod
    def _named_by(resv: Reservation, view: ClusterView) -> list[Job]:
        return [j for j in view.jobs.values() if _names(j, resv.name) or _maint_reason(j, resv)]

    # -- time -----------------------------------------------------------------------------------------
    def _advance(self, resv: Reservation, now: int) -> bool:
        days, hours = _advance_days(resv.flags, now)
        if not days and not hours:
            return False
        with contextlib.suppress(SlurmError):  # out of ids: it keeps its own
            resv.resv_id = self._next_id()
        resv.start_time = advance_time(resv.start_time, days, hours)
        resv.end_time = advance_time(resv.end_time, days, hours)
        return True

    def check(self, view: ClusterView, now: int) -> list[tuple[Reservation, list[Job]]]:
        """job_resv_check: a recurring reservation whose window ended moves on; any other one is
        gone once its end time passed and no job runs in it. Returns the removed ones and the jobs
        that named them."""
        gone: list[tuple[Reservation, list[Job]]] = []
        for resv in list(self.items.values()):
            if resv.end_time >= now:
                continue
            if resv.flags & F.REOCCURRING:
                while resv.end_time < now and self._advance(resv, now):
                    pass
                self._touch(resv, now)
                continue
            if not self.runs_in(resv.name, view) or resv.flags & F.FLEX:
                self._drop(resv.name, now)
                gone.append((resv, self._named_by(resv, view)))
        return gone

    def node_flags(self, now: int) -> dict[str, int]:
        """set_node_maint_mode: RESERVED for every node of an active reservation, MAINT too for a
        maintenance one."""
        out: dict[str, int] = {}
        for resv in self.items.values():
            if not resv.is_active(now):
                continue
            bits = NodeStateFlag.RES | (NodeStateFlag.MAINT if resv.flags & F.MAINT else 0)
            for n in resv.nodes:
                out[n] = out.get(n, 0) | bits
        return out

    def node_names(self, now: int) -> dict[str, str]:
        """The node's resv_name of set_node_maint_mode: the active reservation that marked it last, in
        list order (overlapping ones are possible with OVERLAP)."""
        return {n: resv.name for resv in self.items.values() if resv.is_active(now) for n in resv.nodes}

    # -- jobs -------------------------------------------------------------------------------------------
    def job_access(self, job: Job) -> int:
        """validate_job_resv for a job record."""
        return self.access(job.reservation, job.user_id, job.account)

    def access(self, names: str | None, uid: int, account: str | None) -> int:
        """validate_job_resv/_valid_job_access_resv: 0, ESLURM_RESERVATION_INVALID (no such one)
        or ESLURM_RESERVATION_ACCESS (this user/account may not use it)."""
        if not names:
            return 0
        for name in names.split(","):
            resv = self.items.get(name)
            if resv is None:
                return RC.ESLURM_RESERVATION_INVALID
            if not may_use(resv, uid, account):
                return RC.ESLURM_RESERVATION_ACCESS
        return 0


def may_use(resv: Reservation, uid: int, account: str | None) -> bool:
    """The user/account test of _valid_job_access_resv (no association enforcement)."""
    if resv.flags & F.TIME_FLOAT:
        return False
    user_good = not resv.user_ids or resv.user_not
    if uid in resv.user_ids:
        user_good = not resv.user_not
    if not user_good:
        return False
    if resv.user_ids and not resv.account_list:
        return True
    account_good = not resv.account_list or resv.account_not
    if account and account in resv.account_list:
        account_good = not resv.account_not
    return account_good


def _names(job: Job, name: str) -> bool:
    return bool(job.reservation) and name in (job.reservation or "").split(",")


def _maint_reason(job: Job, resv: Reservation) -> bool:
    return bool(resv.flags & F.MAINT) and job.is_pending() and job.state_desc == MAINT_DESC


def clear_for_removed(job: Job, resv: Reservation) -> None:
    """_foreach_clear_job_resv: a pending job left waiting for maintenance loses that reason; a job
    that named the reservation loses it, and a pending one is held (unless NO_HOLD_JOBS)."""
    from flurm.protocol.constants import JobStateFlag, JobStateReason

    if _maint_reason(job, resv):
        job.state_reason = 0
        job.state_desc = None
    if job.reservation != resv.name:
        return
    job.reservation = None
    if not resv.flags & F.NO_HOLD_JOBS and job.is_pending() and job.state_reason != JobStateReason.WAIT_HELD:
        job.state_reason = JobStateReason.WAIT_RESV_DELETED
        job.state_desc = f"Reservation {resv.name} was deleted"
        job.state |= JobStateFlag.RESV_DEL_HOLD
        job.priority = 0

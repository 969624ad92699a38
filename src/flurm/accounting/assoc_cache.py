"""What slurmctld's assoc_mgr keeps of slurmdbd's associations, QOS, users and TRES, as flurm keeps it:
built from the DBD_GOT_* answers at start and kept current by ACCOUNTING_UPDATE_MSG's update objects.

Pure: no socket, no clock, no passwd lookup (the caller gives ``uid_of``). slurmdbd sends each user
association its inherited Max* limits and QOS list already resolved; Grp* limits stay on the level that
set them and are read along the parent chain (acct_policy.c). In a MODIFY, NO_VAL (NO_VAL16, a NULL
string) means "unchanged" and INFINITE "cleared"; a TRES string names only the TRES it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from flurm.protocol.constants import INFINITE, NO_VAL, NO_VAL16, NO_VAL64
from flurm.protocol.messages.dbd_assoc import (
    QOS_FLAG_NOTSET,
    AccountingUpdate,
    AssocRec,
    QosRec,
    TresRec,
    UpdateType,
    UserRec,
    double,
)

# TRES ids fixed by SLURM (slurmdb_defs.h TRES_CPU ...)
TRES_CPU, TRES_MEM, TRES_ENERGY, TRES_NODE, TRES_BILLING = 1, 2, 3, 4, 5
QOS_FLAG_DENY_LIMIT = 0x40  # QOS_FLAG_DENY_LIMIT: a job over a Max limit is refused, not held
QOS_FLAG_BASE = 0x0FFFFFFF
ADMIN_OPERATOR, ADMIN_SUPER_USER = 2, 3  # slurmdb_admin_level_t

UidOf = Callable[[str], "int | None"]


def parse_tres(text: str | None) -> dict[int, int]:
    """ "1=2,4=1" -> {1: 2, 4: 1}; an entry that does not parse is skipped, as slurmctld skips it."""
    out: dict[int, int] = {}
    for item in (text or "").split(","):
        key, _, value = item.partition("=")
        try:
            out[int(key)] = int(value)
        except ValueError:
            continue
    return out


def _merge_tres(old: dict[int, int], change: str | None) -> dict[int, int]:
    """A MODIFY's TRES string replaces the counts it names; -1 or INFINITE64 removes one."""
    if change is None:
        return old
    out = dict(old)
    for tres, count in parse_tres(change).items():
        if count < 0 or count >= NO_VAL64:
            out.pop(tres, None)
        else:
            out[tres] = count
    return out


def _limit(value: int) -> int | None:
    """A u32 limit as the cache keeps it: None when unset (INFINITE or NO_VAL)."""
    return None if value in (INFINITE, NO_VAL) else value


def _modified(old: int | None, value: int) -> int | None:
    if value == NO_VAL:
        return old
    return None if value == INFINITE else value


@dataclass
class Assoc:
    """One association: an account's (user None) or a user's in an account (and maybe a partition)."""

    id: int
    acct: str
    user: str | None = None
    partition: str | None = None
    parent_id: int = 0
    is_def: bool = False
    uid: int | None = None
    def_qos_id: int = 0
    qos: frozenset[int] = frozenset()
    grp_jobs: int | None = None
    grp_submit_jobs: int | None = None
    grp_wall: int | None = None
    grp_tres: dict[int, int] = field(default_factory=dict)
    max_jobs: int | None = None
    max_submit_jobs: int | None = None
    max_wall_pj: int | None = None
    max_tres_pj: dict[int, int] = field(default_factory=dict)
    max_tres_pn: dict[int, int] = field(default_factory=dict)
    priority: int | None = None
    shares_raw: int | None = None


@dataclass
class Qos:
    id: int
    name: str
    flags: int = 0
    priority: int = 0
    grp_jobs: int | None = None
    grp_submit_jobs: int | None = None
    grp_wall: int | None = None
    grp_tres: dict[int, int] = field(default_factory=dict)
    max_jobs_pa: int | None = None
    max_jobs_pu: int | None = None
    max_submit_jobs_pa: int | None = None
    max_submit_jobs_pu: int | None = None
    max_wall_pj: int | None = None
    max_tres_pj: dict[int, int] = field(default_factory=dict)
    max_tres_pn: dict[int, int] = field(default_factory=dict)
    max_tres_pu: dict[int, int] = field(default_factory=dict)
    max_tres_pa: dict[int, int] = field(default_factory=dict)
    usage_factor: float = 1.0


@dataclass
class User:
    name: str
    uid: int | None = None
    admin_level: int = 1
    coord_accts: frozenset[str] = frozenset()


def _qos_ids(items: tuple[str, ...] | None, old: frozenset[int]) -> frozenset[int]:
    """An association's QOS list: ids; in a MODIFY, "+id"/"-id" add to or take from the old list."""
    if items is None:
        return old
    if items and all(i[:1] in "+-" and i[:1] for i in items):
        out = set(old)
        for item in items:
            if item[1:].isdigit():
                (out.add if item[0] == "+" else out.discard)(int(item[1:]))
        return frozenset(out)
    return frozenset(int(i) for i in items if i.isdigit())


class AssocCache:
    """assoc_mgr's lists: associations by id, QOS by id, users by name, TRES by id."""

    def __init__(self, uid_of: UidOf, cluster: str | None = None) -> None:
        self.uid_of = uid_of
        self.cluster = cluster
        self.assocs: dict[int, Assoc] = {}
        self.qos: dict[int, Qos] = {}
        self.users: dict[str, User] = {}
        self.tres: dict[int, TresRec] = {}
        self.loaded = False
        # lookups of every submission and every pending job of a pass: built again after each change
        self._by_uid: dict[int, list[Assoc]] | None = None
        self._qos_by_name: dict[str, Qos] | None = None

    def _changed(self) -> None:
        self._by_uid = None
        self._qos_by_name = None

    # -- building --------------------------------------------------------------------------------
    def load(
        self,
        tres: Iterable[TresRec],
        qos: Iterable[QosRec],
        users: Iterable[UserRec],
        assocs: Iterable[AssocRec],
    ) -> None:
        """Replace everything with slurmdbd's answers to slurmctld's start queries."""
        self.tres = {t.id: t for t in tres}
        self.qos = {}
        for q in qos:
            self._add_qos(q)
        self.users = {}
        for u in users:
            self._add_user(u)
        self.assocs = {}
        for a in assocs:
            self._add_assoc(a)
        self.loaded = True
        self._changed()

    def _add_qos(self, rec: QosRec) -> None:
        q = Qos(rec.id, rec.name or "")
        self._set_qos(q, rec)
        self.qos[rec.id] = q

    def _set_qos(self, q: Qos, rec: QosRec) -> None:
        if rec.name:
            q.name = rec.name
        if not rec.flags & QOS_FLAG_NOTSET:
            q.flags = rec.flags & QOS_FLAG_BASE
        if rec.priority != NO_VAL:
            q.priority = rec.priority
        for name in (
            "grp_jobs",
            "grp_submit_jobs",
            "grp_wall",
            "max_jobs_pa",
            "max_jobs_pu",
            "max_submit_jobs_pa",
            "max_submit_jobs_pu",
            "max_wall_pj",
        ):
            setattr(q, name, _modified(getattr(q, name), getattr(rec, name)))
        for name in ("grp_tres", "max_tres_pj", "max_tres_pn", "max_tres_pu", "max_tres_pa"):
            setattr(q, name, _merge_tres(getattr(q, name), getattr(rec, name)))
        factor = double(rec.usage_factor)
        if factor < NO_VAL:  # NO_VAL: unchanged
            q.usage_factor = factor

    def _add_user(self, rec: UserRec) -> None:
        name = rec.name or ""
        coords = frozenset(c.name for c in rec.coord_accts or () if c.name)
        self.users[name] = User(name, self.uid_of(name), rec.admin_level, coords)

    def _add_assoc(self, rec: AssocRec) -> None:
        if self.cluster and rec.cluster and rec.cluster != self.cluster:
            return  # another cluster's
        a = Assoc(
            rec.id,
            rec.acct or "",
            rec.user,
            rec.partition,
            rec.parent_id,
            rec.is_def == 1,
            self.uid_of(rec.user) if rec.user else None,
        )
        self._set_assoc(a, rec)
        self.assocs[rec.id] = a
        if a.is_def:
            self._only_default(a)

    def _set_assoc(self, a: Assoc, rec: AssocRec) -> None:
        if rec.def_qos_id != NO_VAL:
            a.def_qos_id = 0 if rec.def_qos_id == INFINITE else rec.def_qos_id
        a.qos = _qos_ids(rec.qos_list, a.qos)
        for name in (
            "grp_jobs",
            "grp_submit_jobs",
            "grp_wall",
            "max_jobs",
            "max_submit_jobs",
            "max_wall_pj",
            "priority",
            "shares_raw",
        ):
            setattr(a, name, _modified(getattr(a, name), getattr(rec, name)))
        for name in ("grp_tres", "max_tres_pj", "max_tres_pn"):
            setattr(a, name, _merge_tres(getattr(a, name), getattr(rec, name)))
        if rec.parent_id and rec.parent_id != NO_VAL:
            a.parent_id = rec.parent_id

    def _only_default(self, a: Assoc) -> None:
        """A user has one default account: the association just made default takes it from the others."""
        for other in self.assocs.values():
            if other.user == a.user and other is not a and other.partition == a.partition:
                other.is_def = False

    # -- keeping current (assoc_mgr_update) --------------------------------------------------------
    def apply(self, msg: AccountingUpdate) -> None:
        for update in msg.updates:
            for rec in update.objects or ():
                self._apply_one(update.type, rec)
        self._changed()

    def _apply_one(self, kind: UpdateType, rec: object) -> None:
        if isinstance(rec, AssocRec):
            if kind == UpdateType.SLURMDB_ADD_ASSOC:
                self._add_assoc(rec)
            elif kind == UpdateType.SLURMDB_MODIFY_ASSOC:
                a = self.assocs.get(rec.id)
                if a is None:
                    return
                self._set_assoc(a, rec)
                if rec.is_def not in (NO_VAL16, 0xFFFF):
                    a.is_def = rec.is_def == 1
                    if a.is_def:
                        self._only_default(a)
            elif kind == UpdateType.SLURMDB_REMOVE_ASSOC:
                self.assocs.pop(rec.id, None)
        elif isinstance(rec, QosRec):
            if kind == UpdateType.SLURMDB_ADD_QOS:
                self._add_qos(rec)
            elif kind == UpdateType.SLURMDB_MODIFY_QOS and rec.id in self.qos:
                self._set_qos(self.qos[rec.id], rec)
            elif kind == UpdateType.SLURMDB_REMOVE_QOS:
                self.qos.pop(rec.id, None)
                for a in self.assocs.values():
                    a.qos = a.qos - {rec.id}
                    if a.def_qos_id == rec.id:
                        a.def_qos_id = 0
        elif isinstance(rec, UserRec) and rec.name:
            user = self.users.get(rec.name)
            if kind == UpdateType.SLURMDB_ADD_USER:
                self._add_user(rec)
            elif kind == UpdateType.SLURMDB_REMOVE_USER:
                self.users.pop(rec.name, None)
            elif user is None:
                return
            elif kind == UpdateType.SLURMDB_MODIFY_USER:
                if rec.admin_level:  # SLURMDB_ADMIN_NOTSET (0): unchanged
                    user.admin_level = rec.admin_level
                if rec.old_name and rec.old_name in self.users:
                    self.users[rec.name] = self.users.pop(rec.old_name)
            elif kind in (UpdateType.SLURMDB_ADD_COORD, UpdateType.SLURMDB_REMOVE_COORD):
                names = {c.name for c in rec.coord_accts or () if c.name}
                if kind == UpdateType.SLURMDB_ADD_COORD:
                    user.coord_accts = user.coord_accts | names
                else:
                    user.coord_accts = user.coord_accts - names
        elif isinstance(rec, TresRec) and kind == UpdateType.SLURMDB_ADD_TRES:
            self.tres[rec.id] = rec

    # -- lookups -----------------------------------------------------------------------------------
    def qos_named(self, name: str) -> Qos | None:
        if self._qos_by_name is None:
            self._qos_by_name = {q.name: q for q in self.qos.values()}
        return self._qos_by_name.get(name)

    def _of_uid(self, uid: int) -> list[Assoc]:
        if self._by_uid is None:
            index: dict[int, list[Assoc]] = {}
            for a in self.assocs.values():
                if a.uid is not None:
                    index.setdefault(a.uid, []).append(a)
            self._by_uid = index
        return self._by_uid.get(uid, [])

    def user_of_uid(self, uid: int) -> User | None:
        return next((u for u in self.users.values() if u.uid == uid), None)

    def admin_level(self, uid: int) -> int:
        user = self.user_of_uid(uid)
        return user.admin_level if user is not None else 0

    def default_account(self, uid: int) -> str | None:
        """The user's DefaultAccount: the account of its default association."""
        mine = self._of_uid(uid)
        return next(
            (a.acct for a in mine if a.is_def and a.partition is None),
            next((a.acct for a in mine if a.is_def), None),
        )

    def find(self, uid: int, account: str | None, partition: str | None) -> Assoc | None:
        """The user's association for the account (default account if None) and partition: one of
        that partition first, then one of no partition (assoc_mgr_fill_in_assoc)."""
        account = account or self.default_account(uid)
        if account is None:
            return None
        mine = [a for a in self._of_uid(uid) if a.acct == account]
        return next((a for a in mine if partition and a.partition == partition), None) or next(
            (a for a in mine if a.partition is None), None
        )

    def parents(self, assoc: Assoc) -> list[Assoc]:
        """The association and its parents up to root, in that order (bounded: a loop ends it)."""
        out: list[Assoc] = []
        seen: set[int] = set()
        cur: Assoc | None = assoc
        while cur is not None and cur.id not in seen:
            out.append(cur)
            seen.add(cur.id)
            cur = self.assocs.get(cur.parent_id) if cur.parent_id else None
        return out

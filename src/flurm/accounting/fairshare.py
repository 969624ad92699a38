"""What priority/multifactor reads of accounting (controller/ports.py ``PriorityInputs``), over the
association cache, and the usage that fair share weighs.

slurmctld keeps each association's raw usage itself (assoc_mgr's usage_raw, in its state files): the
decay thread multiplies all of it by the decay of the period, then adds what each running job used
since the last pass (billable TRES-seconds, decayed, times its QOS's UsageFactor) to its association
and every parent up to root; PriorityUsageResetPeriod clears it. :class:`UsageBook` is that record;
the controller's decay pass (controller/priority.py) drives it. Pure: no clock, no store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flurm.accounting.assoc_cache import Assoc, AssocCache
from flurm.protocol.constants import INFINITE64
from flurm.scheduler.multifactor import AssocUsage, ShareAssoc
from flurm.state.model import Job


@dataclass
class UsageBook:
    """Raw usage by association id (TRES-seconds, decayed)."""

    usage: dict[int, float] = field(default_factory=dict)

    def decay(self, factor: float) -> None:
        if factor == 1.0:
            return
        for assoc in self.usage:
            self.usage[assoc] *= factor

    def add(self, chain: Sequence[int], amount: float) -> None:
        """``amount`` to the association and each parent up to root."""
        for assoc in chain:
            self.usage[assoc] = self.usage.get(assoc, 0.0) + amount

    def reset(self) -> None:
        self.usage.clear()

    def to_dict(self) -> dict[str, Any]:
        return {str(k): v for k, v in self.usage.items()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> UsageBook:
        return cls({int(k): float(v) for k, v in d.items()})


class CachePriorityInputs:
    """PriorityInputs over the association cache and the usage book."""

    def __init__(self, cache: AssocCache, book: UsageBook | None = None) -> None:
        self.cache = cache
        self.book = book if book is not None else UsageBook()
        self._top_prio: tuple[int, int] | None = None  # (cache generation, highest Priority)

    def associations(self) -> Sequence[AssocUsage]:
        usage = self.book.usage
        return [
            AssocUsage(
                a.id,
                a.parent_id or None,
                a.user,
                1 if a.shares_raw is None else a.shares_raw,  # slurmdbd's default FairShare
                usage.get(a.id, 0.0),
            )
            for a in self.cache.assocs.values()
        ]

    def job_assoc_id(self, job: Job) -> int | None:
        assoc = self.cache.find(job.user_id, job.account, job.partition.split(",")[0])
        return assoc.id if assoc is not None else None

    def qos_priorities(self) -> Mapping[str, int]:
        return {q.name: q.priority for q in self.cache.qos.values()}

    def assoc_priority(self, assoc_id: int) -> tuple[int, int]:
        """The association's Priority (slurmdbd sends it inherited from the parents; unset: 0) and the
        highest of all associations (assoc_mgr's g_assoc_max_priority), kept until the cache changes."""
        if self._top_prio is None or self._top_prio[0] != self.cache.generation:
            top = max((a.priority or 0 for a in self.cache.assocs.values()), default=0)
            self._top_prio = (self.cache.generation, top)
        assoc = self.cache.assocs.get(assoc_id)
        return (assoc.priority or 0) if assoc is not None else 0, self._top_prio[1]

    def usage_factor(self, job: Job) -> float:
        qos = self.cache.qos_named(job.qos) if job.qos else None
        return qos.usage_factor if qos is not None else 1.0

    # -- the decay pass ---------------------------------------------------------------------------
    def decay(self, factor: float) -> None:
        self.book.decay(factor)

    def charge(self, job: Job, amount: float) -> None:
        assoc_id = self.job_assoc_id(job)
        assoc = self.cache.assocs.get(assoc_id) if assoc_id is not None else None
        if assoc is not None:
            self.book.add([a.id for a in self.cache.parents(assoc)], amount)

    def reset(self) -> None:
        self.book.reset()

    def usage_state(self) -> Mapping[int, float]:
        return dict(self.book.usage)

    def load_usage(self, usage: Mapping[int, float]) -> None:
        self.book.usage = dict(usage)

    # -- sshare -----------------------------------------------------------------------------------
    def _tres_order(self) -> list[int]:
        return sorted(self.cache.tres)

    def tres_names(self) -> tuple[str, ...]:
        """assoc_mgr's TRES names, by id: "type" or "type/name"."""
        out = []
        for tid in self._tres_order():
            t = self.cache.tres[tid]
            out.append(f"{t.type or ''}/{t.name}" if t.name else t.type or "")
        return tuple(out)

    def share_assocs(self) -> Sequence[ShareAssoc]:
        """Every association in assoc_mgr's order (slurmdb_sort_hierarchical_assoc_list): each parent
        before its children, and among siblings the users first, then the accounts, each by name."""
        assocs = self.cache.assocs
        children: dict[int, list[Assoc]] = {}
        tops: list[Assoc] = []
        for a in assocs.values():
            if a.parent_id and a.parent_id in assocs:
                children.setdefault(a.parent_id, []).append(a)
            else:
                tops.append(a)
        order = self._tres_order()

        def key(a: Assoc) -> tuple[bool, str]:
            return (a.user is None, a.user if a.user is not None else a.acct)

        out: list[ShareAssoc] = []
        seen: set[int] = set()

        def walk(level: list[Assoc]) -> None:
            for a in sorted(level, key=key):
                if a.id in seen:  # (a loop in the tree ends here)
                    continue
                seen.add(a.id)
                parent = assocs.get(a.parent_id) if a.parent_id else None
                root = not a.parent_id
                out.append(
                    ShareAssoc(
                        a.id,
                        self.cache.cluster,
                        a.acct,
                        a.user,
                        a.uid,
                        a.partition,
                        a.acct if a.user is not None else (parent.acct if parent is not None else None),
                        None if root else (1 if a.shares_raw is None else a.shares_raw),
                        tuple(a.grp_tres_mins.get(t, INFINITE64) for t in order),
                    )
                )
                walk(children.get(a.id, []))

        walk(tops)
        return out

    def admin_level(self, uid: int) -> int:
        return self.cache.admin_level(uid)

    def user_view(self, uid: int) -> tuple[str, frozenset[str]] | None:
        user = self.cache.user_of_uid(uid)
        return None if user is None else (user.name, user.coord_accts)

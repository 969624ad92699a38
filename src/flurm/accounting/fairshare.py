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

from flurm.accounting.assoc_cache import AssocCache
from flurm.scheduler.multifactor import AssocUsage
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

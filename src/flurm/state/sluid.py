"""A job's SLUID, SLURM's lexicographically sortable unique id (26.05 src/common/sluid.c).

A 26.05 slurmctld gives every job one when it gets its id, and a new one when it is requeued; it
travels in the job's step ids (StepId.sluid) and slurmstepd exports it as SLURM_JOB_SLUID. The 64 bits
are the cluster's id (12 bits, 2-4095, drawn once and kept with the state), the milliseconds since
the epoch (42 bits) and a sequence number for ids of the same millisecond (10 bits). Written, it is
"s" and 13 Crockford base-32 digits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_DIGITS = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SEQ_MAX = 0x3FF


def new_cluster_id(rng: random.Random | None = None) -> int:
    """generate_cluster_id: a cluster id in 2-4095."""
    return (rng or random.SystemRandom()).randrange(2, 4096)


@dataclass(slots=True)
class SluidSource:
    """generate_sluid: ids that grow with time, never twice the same for one cluster."""

    cluster_id: int
    last_ms: int = 0
    seq: int = 0

    def next(self, now: float) -> int:
        now_ms = int(now * 1000)
        if self.last_ms < now_ms:
            self.last_ms, self.seq = now_ms, 0
        else:
            # the same millisecond (or a clock that went back): count on, then borrow the next one
            self.seq += 1
            if self.seq > _SEQ_MAX:
                self.last_ms, self.seq = self.last_ms + 1, 0
        return (self.cluster_id & 0xFFF) << 52 | (self.last_ms & (1 << 42) - 1) << 10 | self.seq


def sluid_text(sluid: int) -> str:
    """print_sluid: "s" and the 64 bits as 13 base-32 digits, most significant first."""
    return "s" + "".join(_DIGITS[(sluid >> (5 * i)) & 0x1F] for i in range(12, -1, -1))

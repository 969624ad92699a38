"""The records flurm owes slurmdbd, in the order their events happened.

A record is encoded when its event happens and written to flurm's store (table ``dbd_spool``, group
commit) before it is sent; it leaves the store only once slurmdbd answered it with success. So a record
survives slurmdbd being away and flurm being killed, and one slurmdbd confirmed is not sent again
(slurmctld keeps the same queue in StateSaveLocation/dbd.messages, written at shutdown only).

The spool is bounded as slurmctld's agent queue is (MaxDBDMsgs, default the larger of 10,000 and twice
MaxJobCount plus four times the nodes): when slurmdbd stays away that long, the step records go first, then
the job starts (slurmdbd rebuilds a job's row from its completion), and past that a new record is dropped,
each with an error in the log. The oldest records, which may be on their way to slurmdbd, are never purged.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections import deque

from flurm.protocol.dbd_types import DbdMsgType
from flurm.state.store import Store

log = logging.getLogger("flurm.accounting")

# what a full spool gives up first, in slurmctld's order (_max_dbd_msg_action)
PURGED_FIRST = (
    ("step", frozenset({DbdMsgType.DBD_STEP_START, DbdMsgType.DBD_STEP_COMPLETE})),
    ("job start", frozenset({DbdMsgType.DBD_JOB_START})),
)
IN_FLIGHT = 1000  # the head a batch may have on its way to slurmdbd (the client's MULT_MAX_RECORDS)


class Spool:
    def __init__(
        self, store: Store, saved: list[tuple[int, bytes]] | None = None, *, limit: int | None = None
    ) -> None:
        self._store = store
        self.limit = limit  # MaxDBDMsgs (None: unbounded)
        self._items: deque[tuple[int, bytes]] = deque(saved or ())
        self._next_seq = self._items[-1][0] + 1 if self._items else 1
        self.changed = asyncio.Event()  # set when a record is added
        if self._items:
            self.changed.set()

    def __len__(self) -> int:
        return len(self._items)

    def append(self, msg: bytes) -> bool:
        """Queue one message (its u16 DBD type and body) behind the others; durable at the next commit.
        False: the spool is full even after its purges, and the record was dropped."""
        if self.limit is not None and len(self._items) >= self.limit - 1:
            self._purge()
            if len(self._items) >= self.limit:
                msg_type = struct.unpack_from(">H", msg)[0] if len(msg) >= 2 else 0
                log.error(
                    "accounting spool is full (%d), discarding a %s record", len(self._items), _name(msg_type)
                )
                return False
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        self._items.append((seq, msg))
        self._store.spool_put(seq, msg)
        self.changed.set()
        return True

    def _purge(self) -> None:
        assert self.limit is not None
        for what, types in PURGED_FIRST:
            if len(self._items) < self.limit - 1:
                return
            head = list(self._items)[:IN_FLIGHT]
            kept = head + [(seq, m) for seq, m in list(self._items)[IN_FLIGHT:] if _type(m) not in types]
            gone = [seq for seq, m in list(self._items)[IN_FLIGHT:] if _type(m) in types]
            for seq in gone:
                self._store.spool_delete(seq)
            self._items = deque(kept)
            if gone:
                log.error(
                    "accounting spool is full (limit %d, slurmdbd away): purged %d %s records",
                    self.limit,
                    len(gone),
                    what,
                )

    def head(self, limit: int, max_bytes: int) -> list[bytes]:
        """The oldest records, ``limit`` of them at most and no more than ``max_bytes`` together (the
        first always, whatever its size)."""
        out: list[bytes] = []
        size = 0
        for _, msg in self._items:
            if out and (len(out) >= limit or size + len(msg) > max_bytes):
                break
            out.append(msg)
            size += len(msg)
        return out

    def answered(self, count: int) -> None:
        """slurmdbd took the oldest ``count`` records: forget them (durable at the next commit)."""
        for _ in range(min(count, len(self._items))):
            seq, _msg = self._items.popleft()
            self._store.spool_delete(seq)
        if not self._items:
            self.changed.clear()

    async def durable(self) -> None:
        """Wait until every record added or answered so far is on disk."""
        await self._store.commit()


def _type(msg: bytes) -> int:
    return struct.unpack_from(">H", msg)[0] if len(msg) >= 2 else 0


def _name(msg_type: int) -> str:
    try:
        return DbdMsgType(msg_type).name
    except ValueError:
        return str(msg_type)

"""The records flurm owes slurmdbd, in the order their events happened.

A record is encoded when its event happens and written to flurm's store (table ``dbd_spool``, group
commit) before it is sent; it leaves the store only once slurmdbd answered it with success. So a record
survives slurmdbd being away and flurm being killed, and one slurmdbd confirmed is not sent again
(slurmctld keeps the same queue in StateSaveLocation/dbd.messages, written at shutdown only).
"""

from __future__ import annotations

import asyncio
from collections import deque

from flurm.state.store import Store


class Spool:
    def __init__(self, store: Store, saved: list[tuple[int, bytes]] | None = None) -> None:
        self._store = store
        self._items: deque[tuple[int, bytes]] = deque(saved or ())
        self._next_seq = self._items[-1][0] + 1 if self._items else 1
        self.changed = asyncio.Event()  # set when a record is added
        if self._items:
            self.changed.set()

    def __len__(self) -> int:
        return len(self._items)

    def append(self, msg: bytes) -> None:
        """Queue one message (its u16 DBD type and body) behind the others; durable at the next commit."""
        seq, self._next_seq = self._next_seq, self._next_seq + 1
        self._items.append((seq, msg))
        self._store.spool_put(seq, msg)
        self.changed.set()

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

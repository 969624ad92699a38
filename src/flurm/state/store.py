"""Durable state in SQLite (stdlib), written by one thread with group commit.

The event loop queues writes (a job snapshot, a deletion, a meta value) and awaits
:meth:`Store.commit`, which resolves once everything queued before it is on disk. Writes queued
while a commit is in flight go into the next transaction together, so N concurrent submissions cost
one fsync, not N. The loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (job_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_DELETE = object()


class StoreError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Loaded:
    jobs: list[dict[str, Any]]
    nodes: dict[str, dict[str, Any]]
    meta: dict[str, Any]


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Condition()
        self._jobs: dict[int, object] = {}
        self._nodes: dict[str, object] = {}
        self._meta: dict[str, object] = {}
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.commits = 0
        self.last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> Loaded:
        """Open (creating if needed) and load everything; then start the writer thread."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
        jobs = [json.loads(d) for (d,) in conn.execute("SELECT data FROM jobs ORDER BY job_id")]
        nodes = {n: json.loads(d) for (n, d) in conn.execute("SELECT name, data FROM nodes")}
        meta = {k: json.loads(v) for (k, v) in conn.execute("SELECT key, value FROM meta")}
        self._conn = conn
        self._thread = threading.Thread(target=self._writer, name="flurm-store", daemon=True)
        self._thread.start()
        return Loaded(jobs, nodes, meta)

    def close(self) -> None:
        """Flush what is queued and stop the writer."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join()
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- writes (event loop thread) -------------------------------------------------------------
    def put_job(self, job_id: int, data: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id] = data
            self._lock.notify()

    def delete_job(self, job_id: int) -> None:
        with self._lock:
            self._jobs[job_id] = _DELETE
            self._lock.notify()

    def put_node(self, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._nodes[name] = data
            self._lock.notify()

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self._meta[key] = value
            self._lock.notify()

    def commit(self) -> asyncio.Future[None]:
        """A future that resolves when every write queued so far is durable."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._closing:
                raise StoreError("store is closed")
            self._waiters.append((loop, fut))
            self._lock.notify()
        return fut

    def writable(self) -> bool:
        return self._conn is not None and not self._closing and self.last_error is None

    # -- writer thread --------------------------------------------------------------------------
    def _writer(self) -> None:
        while True:
            with self._lock:
                while not (self._jobs or self._nodes or self._meta or self._waiters or self._closing):
                    self._lock.wait()
                jobs, self._jobs = self._jobs, {}
                nodes, self._nodes = self._nodes, {}
                meta, self._meta = self._meta, {}
                waiters, self._waiters = self._waiters, []
                closing = self._closing
            error: BaseException | None = None
            if jobs or nodes or meta:
                try:
                    self._write(jobs, nodes, meta)
                    self.commits += 1
                except (sqlite3.Error, TypeError, ValueError) as exc:
                    error = exc
                    self.last_error = str(exc)
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_settle, fut, error)
            if closing:
                with self._lock:
                    if not (self._jobs or self._nodes or self._meta or self._waiters):
                        return

    def _write(self, jobs: dict[int, object], nodes: dict[str, object], meta: dict[str, object]) -> None:
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN")
        try:
            puts = [
                (jid, json.dumps(d, separators=(",", ":"))) for jid, d in jobs.items() if d is not _DELETE
            ]
            dels = [(jid,) for jid, d in jobs.items() if d is _DELETE]
            if puts:
                conn.executemany("INSERT OR REPLACE INTO jobs (job_id, data) VALUES (?, ?)", puts)
            if dels:
                conn.executemany("DELETE FROM jobs WHERE job_id = ?", dels)
            if nodes:
                conn.executemany(
                    "INSERT OR REPLACE INTO nodes (name, data) VALUES (?, ?)",
                    [(n, json.dumps(d)) for n, d in nodes.items()],
                )
            if meta:
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(k, json.dumps(v)) for k, v in meta.items()],
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def _settle(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(f"store write failed: {error}"))

"""Durable state in SQLite (stdlib), written by one thread with group commit.

The event loop queues writes (a job snapshot, a deletion, a meta value) and awaits
:meth:`Store.commit`, which resolves once everything queued before it is on disk. Writes queued
while a commit is in flight go into the next transaction together, so N concurrent submissions cost
one fsync, not N. The loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flurm.errors import FlurmError

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (job_id INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS job_texts (job_id INTEGER PRIMARY KEY, script TEXT, environment TEXT);
CREATE TABLE IF NOT EXISTS nodes (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS dbd_spool (seq INTEGER PRIMARY KEY, msg BLOB NOT NULL);
"""

_DELETE = object()
log = logging.getLogger("flurm.store")


class StoreError(FlurmError):
    """The saved state cannot be read or written."""


@dataclass(frozen=True, slots=True)
class Loaded:
    jobs: list[dict[str, Any]]
    nodes: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    reservations: list[dict[str, Any]] = field(default_factory=list)
    # slurmdbd messages not yet answered, oldest first: (sequence number, message)
    dbd_spool: list[tuple[int, bytes]] = field(default_factory=list)


_SELECT_TEXTS = "SELECT job_id, script, environment FROM job_texts"
_PUT_TEXTS = "INSERT OR REPLACE INTO job_texts (job_id, script, environment) VALUES (?, ?, ?)"
_SELECT_ENV = "SELECT environment FROM job_texts WHERE job_id = ?"
# a new script, the environment kept (or, for a new row, copied from another job's)
_PUT_SCRIPT = (
    "INSERT INTO job_texts (job_id, script, environment) "
    "VALUES (?1, ?2, (SELECT environment FROM job_texts WHERE job_id = ?3)) "
    "ON CONFLICT (job_id) DO UPDATE SET script = excluded.script"
)

# set in a loaded job's dict when its script and environment came from the job_texts table
TEXTS_STORED = "_texts_stored"

# The state holds every job's script and environment: SlurmUser's alone, whatever the umask.
STATE_DIR_MODE = 0o700
STATE_FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path, mode: int, owner: int | None) -> None:
    """Give an existing file or directory ``mode`` (and ``owner`` when running as root); a looser
    mode found there is logged."""
    st = path.stat()
    if stat.S_IMODE(st.st_mode) != mode:
        if stat.S_IMODE(st.st_mode) & ~mode:
            log.warning("%s was mode %o: tightened to %o", path, stat.S_IMODE(st.st_mode), mode)
        os.chmod(path, mode)
    if owner is not None and os.geteuid() == 0 and st.st_uid != owner:
        os.chown(path, owner, -1)


# directories other programs use too (StateSaveLocation defaults to /var/spool): flurm's files in
# them are 0600, but their own mode is left alone
SHARED_DIRS = frozenset(
    Path(p)
    for p in ("/", "/tmp", "/var", "/var/tmp", "/var/spool", "/var/lib", "/var/run", "/run", "/srv", "/opt")
)


def private_state_dir(directory: Path, owner: int | None) -> None:
    """Create the state directory 0700, or tighten an existing one (not a shared one)."""
    directory.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    if directory.resolve() in SHARED_DIRS or directory.stat().st_mode & stat.S_ISVTX:
        log.warning("state directory %s is shared: its mode is left as it is", directory)
        return
    make_private(directory, STATE_DIR_MODE, owner)


def private_database(path: Path, owner: int | None) -> None:
    """The database file and SQLite's side files 0600 (SQLite creates the side files with the
    database's mode and owner, so creating the database 0600 first covers the ones to come)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, STATE_FILE_MODE)
    os.close(fd)
    for p in (path, *(path.with_name(path.name + suffix) for suffix in SQLITE_SIDE_FILES)):
        if p.exists():
            make_private(p, STATE_FILE_MODE, owner)


class Store:
    def __init__(self, path: Path, owner: int | None = None) -> None:
        self.path = path
        self.owner = owner  # the uid the state belongs to (SlurmUser)
        self._lock = threading.Condition()
        self._jobs: dict[int, object] = {}
        self._texts: dict[int, object] = {}  # job id -> (script, environment), or _DELETE
        self._nodes: dict[str, object] = {}
        self._meta: dict[str, object] = {}
        self._resvs: dict[str, object] = {}
        self._spool: dict[int, object] = {}
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # reads from worker threads (read_environment)
        self._read_lock = threading.Lock()
        self.commits = 0
        self.last_error: str | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> Loaded:
        """Open (creating if needed) and load everything; then start the writer thread."""
        private_state_dir(self.path.parent, self.owner)
        private_database(self.path, self.owner)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        private_database(self.path, self.owner)  # the side files WAL mode made
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(SCHEMA)
        jobs = [json.loads(d) for (d,) in conn.execute("SELECT data FROM jobs ORDER BY job_id")]
        texts = {
            int(jid): (script, environment)
            for (jid, script, environment) in conn.execute(
                "SELECT job_id, script, environment FROM job_texts"
            )
        }
        for d in jobs:
            text = texts.get(d.get("job_id", -1))
            if text is not None:
                d["script"], d["environment"] = text[0], ()  # the environment is read at launch
                d[TEXTS_STORED] = True
        nodes = {n: json.loads(d) for (n, d) in conn.execute("SELECT name, data FROM nodes")}
        meta = {k: json.loads(v) for (k, v) in conn.execute("SELECT key, value FROM meta")}
        resvs = [json.loads(d) for (d,) in conn.execute("SELECT data FROM reservations")]
        spool = [(int(q), bytes(m)) for (q, m) in conn.execute("SELECT seq, msg FROM dbd_spool ORDER BY seq")]
        self._conn = conn
        self._thread = threading.Thread(target=self._writer, name="flurm-store", daemon=True)
        self._thread.start()
        return Loaded(jobs, nodes, meta, resvs, spool)

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
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # -- writes (event loop thread) -------------------------------------------------------------
    def put_job(self, job_id: int, data: dict[str, Any]) -> None:
        with self._lock:
            self._jobs[job_id] = data
            self._lock.notify()

    def put_job_texts(
        self, job_id: int, script: str | None, environment: tuple[str, ...] | None, env_from: int = 0
    ) -> None:
        """A job's script and environment, kept apart from its record: written when they change
        (at submission), not with every change of the job. ``environment`` None: keep the one stored
        for the job, or (a new row) copy job ``env_from``'s (an array task split from its record)."""
        with self._lock:
            self._texts[job_id] = (script, environment, env_from or job_id)
            self._lock.notify()

    def read_environment(self, job_id: int, fallback: int = 0) -> tuple[str, ...] | None:
        """The environment stored for a job (else for job ``fallback``, its array's record), None when
        there is none. Blocking: call it in a worker thread."""
        with self._read_lock:
            if self._reader is None:
                self._reader = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            for jid in (job_id, fallback) if fallback and fallback != job_id else (job_id,):
                row = self._reader.execute(_SELECT_ENV, (jid,)).fetchone()
                if row is not None and row[0] is not None:
                    return tuple(json.loads(row[0]))
        return None

    def delete_job(self, job_id: int) -> None:
        with self._lock:
            self._jobs[job_id] = _DELETE
            self._texts[job_id] = _DELETE
            self._lock.notify()

    def put_node(self, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._nodes[name] = data
            self._lock.notify()

    def put_reservation(self, name: str, data: dict[str, Any]) -> None:
        with self._lock:
            self._resvs[name] = data
            self._lock.notify()

    def delete_reservation(self, name: str) -> None:
        with self._lock:
            self._resvs[name] = _DELETE
            self._lock.notify()

    def spool_put(self, seq: int, msg: bytes) -> None:
        """A slurmdbd message to keep until slurmdbd answered it (accounting/spool.py numbers them)."""
        with self._lock:
            self._spool[seq] = msg
            self._lock.notify()

    def spool_delete(self, seq: int) -> None:
        with self._lock:
            self._spool[seq] = _DELETE
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
                while not (self._has_writes() or self._waiters or self._closing):
                    self._lock.wait()
                jobs, self._jobs = self._jobs, {}
                texts, self._texts = self._texts, {}
                resvs, self._resvs = self._resvs, {}
                nodes, self._nodes = self._nodes, {}
                meta, self._meta = self._meta, {}
                spool, self._spool = self._spool, {}
                waiters, self._waiters = self._waiters, []
                closing = self._closing
            error: BaseException | None = None
            if jobs or texts or nodes or meta or resvs or spool:
                try:
                    self._write(jobs, nodes, meta, resvs, spool, texts)
                    self.commits += 1
                except (sqlite3.Error, TypeError, ValueError) as exc:
                    error = exc
                    self.last_error = str(exc)
            for loop, fut in waiters:
                loop.call_soon_threadsafe(_settle, fut, error)
            if closing:
                with self._lock:
                    if not (self._has_writes() or self._waiters):
                        return

    def _has_writes(self) -> bool:
        return bool(self._jobs or self._texts or self._nodes or self._meta or self._resvs or self._spool)

    def _write(
        self,
        jobs: dict[int, object],
        nodes: dict[str, object],
        meta: dict[str, object],
        resvs: dict[str, object] | None = None,
        spool: dict[int, object] | None = None,
        texts: dict[int, object] | None = None,
    ) -> None:
        assert self._conn is not None
        conn = self._conn
        conn.execute("BEGIN")
        try:
            for jid, t in (texts or {}).items():  # in the order queued: an array's record before its tasks
                if not isinstance(t, tuple):
                    conn.execute("DELETE FROM job_texts WHERE job_id = ?", (jid,))
                elif t[1] is None:
                    conn.execute(_PUT_SCRIPT, (jid, t[0], t[2]))
                else:
                    conn.execute(_PUT_TEXTS, (jid, t[0], json.dumps(list(t[1]), separators=(",", ":"))))
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
            for name, d in (resvs or {}).items():
                if d is _DELETE:
                    conn.execute("DELETE FROM reservations WHERE name = ?", (name,))
                else:
                    conn.execute(
                        "INSERT OR REPLACE INTO reservations (name, data) VALUES (?, ?)",
                        (name, json.dumps(d)),
                    )
            for seq, m in (spool or {}).items():
                if m is _DELETE:
                    conn.execute("DELETE FROM dbd_spool WHERE seq = ?", (seq,))
                else:
                    conn.execute("INSERT OR REPLACE INTO dbd_spool (seq, msg) VALUES (?, ?)", (seq, m))
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

"""Parity checks: the same client steps against the real slurmctld and against flurm, then a diff.

A scenario is a list of steps. A :class:`Cmd` runs a real SLURM client (optionally as another user) and
records its stdout, stderr and exit code under a label; any other step is a callable on the cluster
that records nothing (wait for a state, sleep, write a file). :func:`run_both` runs the steps on a
slurmctld cluster and on a flurm cluster side by side (one thread each), and :func:`diff` compares
the two transcripts after :func:`normalise` replaced what legitimately differs between two runs.

What ``normalise`` replaces (and nothing else):

=======================================  ===========================  ======================================
what                                     becomes                      why
=======================================  ===========================  ======================================
the cluster's directory                  ``<DIR>``                    each cluster lives in its own temp dir
``Port=N`` of a node                     ``Port=<NODEPORTi>``         free ports are picked per cluster
``[host]:N]`` of the controller          ``[host]:<CTLDPORT>]``       (in client error messages) likewise
``YYYY-MM-DDTHH:MM:SS``                  ``<TIME>``                   submit/start/end/boot times
the date line of ``-l`` listings         ``<DATE>``                   wall clock
``RunTime=`` value                       ``RunTime=<ELAPSED>``        wall clock
``CPULoad=``, ``FreeMem=`` value         ``<LOAD>``, ``<MEM>``        load and free memory of the host
``AllocNode:Sid=HOST:N``                 ``HOST:<SID>``               session id of the submitting sbatch
squeue's ``TIME`` column (by header)     ``<T>``                      how long a job has run
=======================================  ===========================  ======================================

A :class:`Cmd` with ``sort_lines=True`` compares its lines sorted: for listings whose order slurmctld
itself leaves to chance (``sinfo -N`` with several partitions builds them in one thread per partition).

Job ids, priorities, states, reasons, node names, limits and every other value are compared as they are.
A :class:`Records` step keeps the decoded RESPONSE_JOB_INFO of that moment (flurm's own codec, signed
with the cluster's munge); :func:`record_diff` compares them field by field and in order, with times
compared only as set or not and the session id left out.

Writing a scenario: slurmctld decides on its own clock (a cycle at most once a second for a burst of
submissions, its first one ~3 s after it started), flurm at once; so compare states both reach and
keep: :func:`settle` waits until the queue has been quiet for a while, :func:`wait_state` for one job.
Some values are decided by chance inside slurmctld and must be kept out of a comparison: a job that
becomes eligible and starts within the same second may or may not have an accrue time (two threads
race), a job made eligible only accrues from the next cycle (submit another job a second later to
get one), the exit code of a cancelled ``sh -c 'sleep'`` is 0:15 or 143:0 (``exec sleep`` is not),
and squeue orders jobs with equal keys by their start times (sort with ``-S i``).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from flurm.auth.authenticator import MungeAuthenticator
from flurm.config import load as load_config
from flurm.protocol.constants import JOB_STATE_BASE, JobFlag, JobState, MsgType, ShowFlags
from flurm.protocol.messages.job_info import JobInfoRequest, JobInfoResponse, JobRecord
from flurm.rpc.transport import Signer, call
from harness.loopback import SlurmCluster

# -- clusters ---------------------------------------------------------------------------------------


class ParityCluster(SlurmCluster):
    """The harness cluster; readiness counts each node once, so configurations with several
    partitions (where ``sinfo -N`` lists a node once per partition) work too."""

    def wait_ready(self, timeout: float = 30.0) -> None:
        if not self.slurmd:
            return self.wait_controller(timeout)
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.flurm is not None and self.flurm.poll() is not None:
                raise RuntimeError(f"flurm exited with {self.flurm.returncode}:\n{self.log_tail()}")
            r = self.run("sinfo", "-h", "-N", "-o", "%N %t", timeout=15)
            last = r.stdout + r.stderr
            states = dict(line.split()[:2] for line in r.stdout.splitlines() if len(line.split()) >= 2)
            # a node drained on purpose (SlurmCluster.may_drain) is ready once it registered drained
            states = {
                n: "idle" if n in self.may_drain and st in ("drain", "inval") else st
                for n, st in states.items()
            }
            if (
                r.ok
                and len(states) == self.nodes
                and all(s in ("idle", "mix", "alloc") for s in states.values())
            ):
                return
            time.sleep(0.1)
        raise TimeoutError(f"cluster not ready: {last}\n{self.log_tail()}")


@contextlib.contextmanager
def cluster(controller: str, **kwargs: Any) -> Iterator[SlurmCluster]:
    """A fresh cluster (as harness.loopback.cluster) whose jobs directory anyone may write to, so
    that jobs of other users (``nobody``) can run there too."""
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-parity-{controller}-"))
    os.chmod(tmp, 0o755)
    c = ParityCluster(tmp, controller, **kwargs)
    try:
        c.start()
        c.jobs_dir.chmod(0o777)
        yield c
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def cluster_pair(**kwargs: Any) -> Iterator[tuple[SlurmCluster, SlurmCluster]]:
    """The same cluster twice: with the real slurmctld (the reference) and with flurm."""
    with cluster("slurmctld", **kwargs) as ref, cluster("flurm", **kwargs) as got:
        yield ref, got


# -- steps ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cmd:
    """Run one client command and record what it printed."""

    args: tuple[str, ...]
    user: str | None = None
    label: str = ""
    input: str | None = None
    sort_lines: bool = False

    @property
    def key(self) -> str:
        return self.label or " ".join(self.args) + (f" (as {self.user})" if self.user else "")


def cmd(
    *args: str, user: str | None = None, label: str = "", input: str | None = None, sort_lines: bool = False
) -> Cmd:
    return Cmd(tuple(args), user, label, input, sort_lines)


@dataclass(frozen=True)
class Records:
    """Fetch the decoded job records (RESPONSE_JOB_INFO) at this point, kept under ``label``."""

    label: str


Action = Callable[[SlurmCluster], None]
Step = Cmd | Records | Action


@dataclass
class Output:
    key: str
    args: tuple[str, ...]
    user: str | None
    returncode: int
    stdout: str
    stderr: str

    def text(self) -> str:
        who = f" [as {self.user}]" if self.user else ""
        out = [f"$ {' '.join(self.args)}{who}  -> rc={self.returncode}", self.stdout.rstrip("\n")]
        if self.stderr.strip():
            out.append("stderr: " + self.stderr.rstrip("\n"))
        return "\n".join(x for x in out if x) + "\n"


@dataclass
class Transcript:
    controller: str
    outputs: list[Output] = field(default_factory=list)
    cluster: SlurmCluster | None = None
    records: dict[str, list[JobRecord]] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Output:
        for o in self.outputs:
            if o.key == key:
                return o
        raise KeyError(f"no output labelled {key!r}; have {[o.key for o in self.outputs]}")

    def labels(self) -> list[str]:
        return [o.key for o in self.outputs]

    def text(self, keys: Iterable[str] | None = None) -> str:
        chosen = self.outputs if keys is None else [self[k] for k in keys]
        raw = "".join(o.text() for o in chosen)
        return normalise(raw, self.cluster) if self.cluster is not None else raw


def run_steps(c: SlurmCluster, steps: Sequence[Step]) -> Transcript:
    t = Transcript(c.controller, cluster=c)
    for step in steps:
        if isinstance(step, Cmd):
            r = c.run(*step.args, user=step.user, input=step.input)
            stdout = r.stdout
            if step.sort_lines:
                stdout = "".join(sorted(stdout.splitlines(keepends=True)))
            key = step.key
            if any(o.key == key for o in t.outputs):
                key = f"{key} #{sum(1 for o in t.outputs if o.key.split(' #')[0] == key) + 1}"
            t.outputs.append(Output(key, step.args, step.user, r.returncode, stdout, r.stderr))
        elif isinstance(step, Records):
            t.records[step.label] = fetch_job_records(c)
        else:
            step(c)
    return t


def run_both(ref: SlurmCluster, got: SlurmCluster, steps: Sequence[Step]) -> tuple[Transcript, Transcript]:
    """The steps on both clusters at once (one thread each): (slurmctld's transcript, flurm's)."""
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(run_steps, ref, steps)
        b = pool.submit(run_steps, got, steps)
        return a.result(), b.result()


# -- waits (actions) --------------------------------------------------------------------------------


def poll(what: str, check: Callable[[], bool], timeout: float = 30.0, every: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(every)


def wait_state(job: str | int, *states: str, timeout: float = 30.0) -> Action:
    def act(c: SlurmCluster) -> None:
        try:
            c.wait_state(job, list(states), timeout=timeout)
        except TimeoutError as e:
            raise TimeoutError(f"[{c.controller}] {e}") from None

    return act


def squeue_rows(c: SlurmCluster, *filters: str) -> list[list[str]]:
    """``squeue -h -r`` rows of: id, state (compact), reason, for all jobs (or the filtered ones)."""
    r = c.run("squeue", "-h", "-r", "-t", "all", "-o", "%i|%t|%r", *filters)
    return [line.split("|") for line in r.stdout.splitlines() if line.strip()]


def settle(timeout: float = 30.0, quiet: float = 1.5) -> Action:
    """Until the queue is at rest: no job configuring or completing, no pending job the scheduler has
    not looked at (reason "None"), and no change of any job's state or reason for ``quiet`` seconds.

    slurmctld decides on its own tick (about once a second, and only ~3 s after it started) and
    gives a job a first reason at submit time that its next pass may change; flurm decides at once.
    """

    def act(c: SlurmCluster) -> None:
        deadline = time.monotonic() + timeout
        last: list[list[str]] | None = None
        since = time.monotonic()
        while True:
            rows = squeue_rows(c)
            busy = any(st in ("CF", "CG") or (st == "PD" and reason == "None") for _, st, reason in rows)
            now = time.monotonic()
            if rows != last or busy:
                last, since = rows, now
            elif now - since >= quiet:
                return
            if now > deadline:
                raise TimeoutError(f"[{c.controller}] not settled: {rows}\n{c.log_tail()}")
            time.sleep(0.1)

    return act


def wait_reason(job: str | int, reason: str, timeout: float = 30.0) -> Action:
    def act(c: SlurmCluster) -> None:
        def done() -> bool:
            r = c.run("scontrol", "show", "job", "-o", str(job))
            m = re.search(r"Reason=(\S+)", r.stdout)
            return m is not None and m.group(1) == reason

        try:
            poll(f"job {job} reason {reason}", done, timeout)
        except TimeoutError:
            r = c.run("scontrol", "show", "job", "-o", str(job))
            raise TimeoutError(f"[{c.controller}] job {job} reason is not {reason}: {r.stdout}") from None

    return act


def sleep(seconds: float) -> Action:
    def act(c: SlurmCluster) -> None:
        time.sleep(seconds)

    return act


def write_file(name: str, text: str, mode: int = 0o644) -> Action:
    """A file in the cluster's jobs directory (the clients' cwd), e.g. a batch script."""

    def act(c: SlurmCluster) -> None:
        path = c.jobs_dir / name
        path.write_text(text)
        path.chmod(mode)

    return act


# -- normalisation and diff -------------------------------------------------------------------------

_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
_VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (_TIME, "<TIME>"),
    # the date line of squeue -l / sinfo -l ("Thu Nov 26 12:59:00 2026")
    (re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$", re.M), "<DATE>"),
    (re.compile(r"RunTime=\S+"), "RunTime=<ELAPSED>"),
    (re.compile(r"CPULoad=\S+"), "CPULoad=<LOAD>"),
    (re.compile(r"FreeMem=\S+"), "FreeMem=<MEM>"),
    (re.compile(r"(AllocNode:Sid=[^:\s]+):\d+"), r"\1:<SID>"),
]
_TIME_HEADER = re.compile(r"(?:(?<=\s)|^)TIME(?=\s|$)")


def _blank_time_column(text: str) -> str:
    """squeue's TIME column (the time a job has run) becomes ``<T>``, right-aligned like the value.

    The column is found from its header; the value is the token that overlaps the header's span.
    """
    out = []
    span: tuple[int, int] | None = None
    for line in text.split("\n"):
        m = _TIME_HEADER.search(line) if "JOBID" in line else None
        if m is not None:
            span = (m.start(), m.end())
            out.append(line)
            continue
        if span is not None and line.startswith("$ "):
            span = None
        if span is not None:
            for tok in re.finditer(r"\S+", line):
                if tok.start() < span[1] and tok.end() > span[0]:
                    width = tok.end() - tok.start()
                    line = line[: tok.start()] + "<T>".rjust(width) + line[tok.end() :]
                    break
        out.append(line)
    return "\n".join(out)


def normalise(text: str, c: SlurmCluster | None) -> str:
    if c is not None:
        text = text.replace(str(c.dir), "<DIR>")
        for i in range(c.nodes):
            text = re.sub(rf"\bPort={c.node_port_base + i}\b", f"Port=<NODEPORT{i}>", text)
        text = text.replace(f"]:{c.ctld_port}]", "]:<CTLDPORT>]")
    for pattern, repl in _VOLATILE:
        text = pattern.sub(repl, text)
    return _blank_time_column(text)


def diff(ref: Transcript, got: Transcript, keys: Iterable[str] | None = None) -> str:
    """A unified diff of the normalised transcripts ("" when they match)."""
    keys = list(keys) if keys is not None else None
    a = ref.text(keys).splitlines(keepends=True)
    b = got.text(keys).splitlines(keepends=True)
    return "".join(difflib.unified_diff(a, b, ref.controller, got.controller, n=2))


def assert_same(ref: Transcript, got: Transcript, keys: Iterable[str] | None = None) -> None:
    d = diff(ref, got, keys)
    assert not d, "flurm differs from slurmctld:\n" + d


# Which pass looked at a pending job last (Scheduler=Main or Backfill:*, the BACKFILL_* flags of its record)
# is the timing of slurmctld's two loops: the main one runs on events and every sched_interval, the backfill
# one again after any change. Compared masked, for the pending jobs only.
_LAST_PASS = re.compile(r"Scheduler=(Main|Backfill:\*)$", re.M)
_PASS_FLAGS = JobFlag.BACKFILL_TEST | JobFlag.BACKFILL_SCHED | JobFlag.BACKFILL_LAST


def mask_last_pass(text: str, either: Collection[int] = ()) -> str:
    """`scontrol show job` text with the last pass of each pending job masked, and the pass that started
    the running jobs of ``either`` (slurmctld's backfill thread may start a job before its main scheduler
    gets to it: whichever runs first)."""
    blocks = text.split("\n\n")
    out = []
    for b in blocks:
        job = re.match(r"JobId=(\d+) ", b)
        if "JobState=PENDING" in b:
            b = _LAST_PASS.sub("Scheduler=<LAST PASS>", b)
        elif job is not None and int(job.group(1)) in either:
            b = re.sub(r"Scheduler=(Main|Backfill)$", "Scheduler=<FIRST PASS>", b, flags=re.M)
        out.append(b)
    return "\n\n".join(out)


def mask_pass_flags(records: list[JobRecord], either: Collection[int] = ()) -> list[JobRecord]:
    """Job records without the BACKFILL_* flags of the pending ones and of the jobs of ``either``."""
    return [
        replace(r, bitflags=r.bitflags & ~_PASS_FLAGS)
        if r.job_state & JOB_STATE_BASE == JobState.PENDING or r.job_id in either
        else r
        for r in records
    ]


# -- decoded records --------------------------------------------------------------------------------

# JobRecord fields that hold wall-clock times: compared as set / not set.
TIME_JOB_FIELDS = frozenset(
    {
        "submit_time",
        "eligible_time",
        "accrue_time",
        "start_time",
        "end_time",
        "last_sched_eval",
        "suspend_time",
        "resize_time",
        "preempt_time",
        "preemptable_time",
        "deadline",
    }
)
# JobRecord fields left out: the submitting sbatch's session id.
VOLATILE_JOB_FIELDS = frozenset({"alloc_sid"})


def fetch_job_records(c: SlurmCluster, show_flags: int = ShowFlags.DETAIL) -> list[JobRecord]:
    """RESPONSE_JOB_INFO from the cluster's controller, decoded with flurm's own codec."""
    config = load_config(c.conf)
    auth = MungeAuthenticator.from_slurm_conf(config.auth_info)

    async def ask() -> list[JobRecord]:
        signer = Signer(auth, workers=1)
        try:
            resp = await call(
                "127.0.0.1", c.ctld_port, MsgType.REQUEST_JOB_INFO, JobInfoRequest(0, show_flags), signer
            )
        finally:
            signer.close()
        assert resp is not None and isinstance(resp.body, JobInfoResponse), resp
        return list(resp.body.records)

    return asyncio.run(ask())


def record_fields(rec: JobRecord, c: SlurmCluster | None = None) -> dict[str, Any]:
    """The fields to compare: times only as set or not, paths with the cluster's directory replaced,
    the session id left out."""
    out: dict[str, Any] = {}
    for f in fields(rec):
        if f.name in TIME_JOB_FIELDS:
            out[f.name] = "<set>" if getattr(rec, f.name) else 0
            continue
        if f.name in VOLATILE_JOB_FIELDS:
            continue
        v = getattr(rec, f.name)
        if isinstance(v, str) and c is not None:
            v = normalise(v, c)
        out[f.name] = v
    return out


def records_same(ref: Transcript, got: Transcript, label: str) -> None:
    assert ref.cluster is not None and got.cluster is not None
    problems = record_diff(ref.records[label], got.records[label], ref.cluster, got.cluster)
    assert not problems, "decoded job records differ:\n" + "\n".join(problems)


def record_diff(ref: list[JobRecord], got: list[JobRecord], rc: SlurmCluster, gc: SlurmCluster) -> list[str]:
    """Field-by-field differences between two lists of job records, matched by job id (and their order)."""
    problems = []
    if [r.job_id for r in ref] != [r.job_id for r in got]:
        problems.append(
            f"record order differs: slurmctld {[r.job_id for r in ref]} flurm {[r.job_id for r in got]}"
        )
    a = {r.job_id: record_fields(r, rc) for r in ref}
    b = {r.job_id: record_fields(r, gc) for r in got}
    if sorted(a) != sorted(b):
        problems.append(f"job ids differ: slurmctld {sorted(a)} flurm {sorted(b)}")
    for jid in sorted(set(a) & set(b)):
        for name in a[jid]:
            if a[jid][name] != b[jid][name]:
                problems.append(f"job {jid} {name}: slurmctld {a[jid][name]!r} flurm {b[jid][name]!r}")
    return problems

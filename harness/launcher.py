"""A real SLURM cluster on loopback, entirely under one directory, without systemd.

munged (its own key and socket), the slurmd daemons (compute-node-1..N, one port each) and, unless the
controller is someone else's, slurmctld; all on 127.0.0.1, all pid files, logs, state and spool under DIR.

    python -m harness.launcher start  DIR   # write the config, start what is missing, wait until it answers
    python -m harness.launcher stop   DIR   # cancel jobs, stop only the daemons whose pid files are in DIR
    python -m harness.launcher status DIR   # which of our daemons live; scontrol ping; sinfo -N
    python -m harness.launcher env    DIR   # export SLURM_CONF=DIR/etc/slurm.conf

Settings of ``start`` come from the environment (``Settings.from_env``):
LOCAL_SLURM_NODES (1), LOCAL_SLURM_CPUS (all CPUs), LOCAL_SLURM_CTLD_PORT (6817), LOCAL_SLURM_SLURMD_PORT
(6818, one node), LOCAL_SLURM_NODE_PORT_BASE (17001, several nodes: Port=[base-base+N-1]),
LOCAL_SLURM_CLUSTER (localtest), LOCAL_SLURM_TIMEOUT (60 s), LOCAL_SLURM_EXTRA_CONF (lines appended to
slurm.conf), LOCAL_SLURM_RELEASE (22.05, the host's; 24.11 and 26.05 run from the chroots of
harness/releases.py), LOCAL_SLURM_SLURMD_RELEASE (the slurmd's, default the same) and
LOCAL_SLURM_CONTROLLER: "slurmctld" (started here; start waits until every node is up) or "external"
(not started; start waits only until munged and every slurmd live and listen, the controller under
test comes later, e.g. ``flurm run -f DIR/etc/slurm.conf``).

Layout: etc/{slurm.conf,controller,release}, env.sh,
munge/{munge.key,munged.seed,run/munge.sock,run/munged.pid}, state/, spool/<node>/,
log/{munged,slurmctld,slurmd-<node>,launcher}.log, run/{slurmctld,slurmd-<node>}.pid, jobs/.
Needs root (SlurmdUser=root starts jobs as their users) and the Debian packages munge, slurmctld,
slurmd and slurm-client. munged is always the host's; a newer release's daemons and clients reach its
socket through the cluster directory, which their mount namespace shares.

A process is ours only if it is alive (not a zombie) and its command line names DIR; nothing is ever
signalled by name. ``start`` is idempotent: live daemons are kept, missing ones started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from harness import releases

REQUIRED_BINARIES = ("munged", "munge", "unmunge", "slurmctld", "slurmd", "scontrol", "sinfo")
CONTROLLERS = ("slurmctld", "external")
# how long a SIGTERMed daemon gets before SIGKILL: a slurmd that never reached a controller finishes
# its registration retries (about 9 s) before it obeys
STOP_GRACE = 15.0
POLL = 0.1


class LauncherError(RuntimeError):
    pass


def log(message: str) -> None:
    print(f"launcher: {message}", file=sys.stderr, flush=True)


# the character device major of NVIDIA's GPUs: what a device node made for a test GPU carries
GPU_DEVICE_MAJOR = 195
_FILE_RE = re.compile(r"(?i)(?:^|\s)File=(\S+)")


@dataclass(frozen=True)
class NodeGres:
    """One node's generic resources: the NodeName line's ``Gres=`` (what slurmctld is told) and the node's
    gres.conf lines (what its slurmd finds and reports at registration), which may disagree on purpose
    (a slurmd reporting fewer devices than configured: slurmctld drains the node).

    In a line, ``{dev}`` stands for the node's own device directory DIR/dev/<node>; the launcher writes
    each line as ``NodeName=<node> <line>`` and creates every file a ``File=`` names under DIR/dev (a
    bracket range such as nvidia[0-1] is expanded) as a character device node of major 195 whose
    minor is the number that ends its name. slurmd of every release (22.05, 24.11, 26.05) requires a
    File= to exist (it waits 20 s for it, then exits) and to be a character or block device (a regular
    file is refused: "... is not a valid character or block device, fix your gres.conf", and the device
    is left out); the number that ends the name is the device's number. Nothing ever opens them.
    """

    gres: str = ""  # e.g. "gpu:tesla:2", "gpu:2,mps:200", "bandwidth:no_consume:4G"
    conf: tuple[str, ...] = ()  # e.g. ("Name=gpu Type=tesla File={dev}/nvidia[0-1] Cores=0-1",)

    def names(self) -> list[str]:
        """The GRES names this node uses (gpu, mps, shard, ...), in order."""
        names = [item.split(":", 1)[0] for item in self.gres.split(",") if item.strip()]
        for line in self.conf:
            m = re.search(r"(?i)(?:^|\s)Name=(\S+)", line)
            if m:
                names.append(m.group(1))
        return list(dict.fromkeys(n.strip() for n in names))

    def conf_lines(self, node: str, dev: Path) -> list[str]:
        return [f"NodeName={node} " + line.replace("{dev}", str(dev)) for line in self.conf]


def expand_brackets(text: str) -> list[str]:
    """SLURM's hostlist expansion of one name with bracketed ranges: nvidia[0-1,3] -> nvidia0 nvidia1
    nvidia3 (a range keeps its first number's width: [00-02] -> 00 01 02); names joined by commas
    outside brackets are each expanded."""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    out: list[str] = []
    for part in parts:
        m = re.match(r"^(.*?)\[([^\]]*)\](.*)$", part)
        if m is None:
            out.append(part)
            continue
        prefix, ranges, rest = m.groups()
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            width = len(lo)
            for n in range(int(lo), int(hi or lo) + 1):
                out.extend(expand_brackets(f"{prefix}{n:0{width}d}{rest}"))
    return out


def gres_device_files(layout: Layout, s: Settings) -> list[Path]:
    """Every device file the nodes' gres.conf lines name under DIR/dev (what make_gres_devices creates)."""
    files: list[Path] = []
    dev = layout.dir / "dev"
    for i, node in enumerate(s.node_names):
        for line in s.node_gres(i).conf_lines(node, dev / node):
            for m in _FILE_RE.finditer(line):
                for name in expand_brackets(m.group(1)):
                    path = Path(name)
                    if path.is_relative_to(dev):
                        files.append(path)
    return files


def make_gres_devices(layout: Layout, s: Settings) -> None:
    """The fake GPU device nodes: character devices (195, N) where N ends the file's name."""
    for path in gres_device_files(layout, s):
        path.parent.mkdir(parents=True, exist_ok=True)
        digits = re.search(r"(\d+)$", path.name)
        minor = int(digits.group(1)) if digits else 0
        if path.exists() or path.is_symlink():
            if path.is_char_device() and os.major(path.stat().st_rdev) == GPU_DEVICE_MAJOR:
                continue
            path.unlink()
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(GPU_DEVICE_MAJOR, minor))


def render_gres_conf(layout: Layout, s: Settings) -> str:
    lines = ["# generated by harness/launcher.py"]
    for i, node in enumerate(s.node_names):
        lines.extend(s.node_gres(i).conf_lines(node, layout.dir / "dev" / node))
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Settings:
    nodes: int = 1
    cpus: int = os.cpu_count() or 1
    ctld_port: int = 6817
    slurmd_port: int = 6818
    node_port_base: int = 17001
    cluster: str = "localtest"
    timeout: float = 60.0
    extra_conf: str = ""
    controller: str = "slurmctld"
    # False: no slurmd is started and start waits only for the controller (a configuration slurmd cannot
    # run with here, e.g. cgroup plugins, whose controller side is still worth comparing)
    slurmd: bool = True
    # (name, text) of files written beside slurm.conf before anything starts (cgroup.conf, mpi.conf, ...)
    etc_files: tuple[tuple[str, str], ...] = ()
    # keys of the generated slurm.conf left out, to run with SLURM's default (e.g. SelectTypeParameters)
    drop_keys: tuple[str, ...] = ()
    # Features= of each node in order ("" for none); given, every node gets a NodeName line of its own
    node_features: tuple[str, ...] = ()
    # nodes start() leaves alone: the caller starts them configless (start_configless_slurmd) once
    # the controller is up
    configless_nodes: tuple[str, ...] = ()
    # (Sockets, CoresPerSocket, ThreadsPerCore) of every node, CPUs their product; empty: one socket of
    # `cpus` single-thread cores
    node_shape: tuple[int, ...] = ()
    # generic resources of each node in order (NodeGres; fewer than nodes: the rest have none); given,
    # every node gets a NodeName line of its own with its Gres=, slurm.conf a GresTypes= and etc/gres.conf
    # each node's lines, whose File= device nodes are created under dev/<node>/ (see NodeGres)
    gres: tuple[NodeGres, ...] = ()
    # GresTypes= ("": the names the nodes' Gres= and gres.conf lines use, in order of appearance)
    gres_types: str = ""
    # nodes that count as up when drained (registered, but drained by the controller on purpose, e.g. a
    # slurmd reporting fewer GPUs than its Gres= says)
    may_drain: tuple[str, ...] = ()
    # the SLURM release of slurmctld and of the launcher's clients, and of the slurmd ("": the same; a
    # comma list gives each node its own, in order, the last one for the nodes after it)
    release: str = releases.HOST
    slurmd_release: str = ""

    def __post_init__(self) -> None:
        if self.controller not in CONTROLLERS:
            raise LauncherError(f"the controller must be one of {CONTROLLERS}, not {self.controller!r}")
        for name in (self.release, *self.slurmd_releases):
            if name not in releases.RELEASES:
                raise LauncherError(f"unknown SLURM release {name!r} (known: {', '.join(releases.RELEASES)})")
        if self.nodes < 1 or self.cpus < 1:
            raise LauncherError("nodes and cpus must be positive")
        if len(self.gres) > self.nodes:
            raise LauncherError(f"gres for {len(self.gres)} nodes, but only {self.nodes} nodes")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        def number(name: str, default: int) -> int:
            raw = env.get(f"LOCAL_SLURM_{name}", "")
            if not raw:
                return default
            if not raw.isdigit():
                raise LauncherError(f"LOCAL_SLURM_{name} must be a non-negative integer, not {raw!r}")
            return int(raw)

        d = cls()
        return cls(
            nodes=number("NODES", d.nodes),
            cpus=number("CPUS", d.cpus),
            ctld_port=number("CTLD_PORT", d.ctld_port),
            slurmd_port=number("SLURMD_PORT", d.slurmd_port),
            node_port_base=number("NODE_PORT_BASE", d.node_port_base),
            cluster=env.get("LOCAL_SLURM_CLUSTER") or d.cluster,
            timeout=float(number("TIMEOUT", int(d.timeout))),
            extra_conf=env.get("LOCAL_SLURM_EXTRA_CONF", ""),
            controller=env.get("LOCAL_SLURM_CONTROLLER") or d.controller,
            release=env.get("LOCAL_SLURM_RELEASE") or d.release,
            slurmd_release=env.get("LOCAL_SLURM_SLURMD_RELEASE", ""),
        )

    @property
    def ctld(self) -> releases.Release:
        return releases.get(self.release)

    @property
    def slurmd_releases(self) -> list[str]:
        return [r.strip() for r in (self.slurmd_release or self.release).split(",")]

    def release_of_node(self, index: int) -> releases.Release:
        """The release of node ``index`` (0-based)."""
        names = self.slurmd_releases
        return releases.get(names[min(index, len(names) - 1)])

    @property
    def node_release(self) -> releases.Release:
        """The release of the first node (of every node unless they differ)."""
        return self.release_of_node(0)

    @property
    def node_names(self) -> list[str]:
        return [f"compute-node-{i}" for i in range(1, self.nodes + 1)]

    @property
    def launched_nodes(self) -> list[tuple[int, str]]:
        """(index, name) of the nodes whose slurmd start() starts and waits for."""
        if not self.slurmd:
            return []
        return [(i, n) for i, n in enumerate(self.node_names) if n not in self.configless_nodes]

    def node_gres(self, index: int) -> NodeGres:
        """The generic resources of node ``index`` (0-based); none past the end of ``gres``."""
        return self.gres[index] if index < len(self.gres) else NodeGres()

    @property
    def gres_type_names(self) -> str:
        """GresTypes=: as given, else every name the nodes' Gres= and gres.conf lines use."""
        if self.gres_types:
            return self.gres_types
        names: dict[str, None] = {}
        for g in self.gres:
            for name in g.names():
                names.setdefault(name)
        return ",".join(names)

    def node_port(self, index: int) -> int:
        """The port of the ``index``-th node (0-based): SlurmdPort alone, Port=[base-...] with several."""
        return self.slurmd_port if self.nodes == 1 else self.node_port_base + index


@dataclass(frozen=True)
class Layout:
    """Every path under the cluster directory."""

    dir: Path

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "slurm.conf"

    @property
    def controller_file(self) -> Path:
        return self.dir / "etc" / "controller"

    @property
    def release_file(self) -> Path:
        """The release of the cluster's slurmctld and clients: stop and status run its clients."""
        return self.dir / "etc" / "release"

    @property
    def release(self) -> releases.Release:
        try:
            return releases.get(self.release_file.read_text().strip() or releases.HOST)
        except (OSError, releases.ReleaseError):
            return releases.get(releases.HOST)

    def command(self, argv: list[str], release: releases.Release | None = None) -> list[str]:
        """A SLURM command of ``release`` (default the cluster's) on this cluster's slurm.conf."""
        return (release or self.release).command(argv, self.conf, share=[self.dir])

    @property
    def munge_dir(self) -> Path:
        return self.dir / "munge"

    @property
    def munge_key(self) -> Path:
        return self.munge_dir / "munge.key"

    @property
    def munge_socket(self) -> Path:
        return self.munge_dir / "run" / "munge.sock"

    @property
    def munged_pidfile(self) -> Path:
        return self.munge_dir / "run" / "munged.pid"

    @property
    def slurmctld_pidfile(self) -> Path:
        return self.dir / "run" / "slurmctld.pid"

    def slurmd_pidfile(self, node: str) -> Path:
        return self.dir / "run" / f"slurmd-{node}.pid"

    def slurmd_pidfiles(self) -> list[Path]:
        return sorted((self.dir / "run").glob("slurmd-*.pid"))

    @property
    def launcher_log(self) -> Path:
        return self.dir / "log" / "launcher.log"

    def client_env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}


# -- processes -------------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def pid_alive(pid: int) -> bool:
    """Running and not a zombie (PID 1 may reap late, and kill(pid, 0) succeeds on a zombie)."""
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] not in ("Z", "X")


def pid_is_ours(pid: int, dir: Path) -> bool:
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return f"{dir}/".encode() in cmdline


def pidfile_pid(pidfile: Path, dir: Path) -> int | None:
    """The pid in ``pidfile`` if that process is alive and ours."""
    try:
        digits = "".join(ch for ch in pidfile.read_text() if ch.isdigit())
    except OSError:
        return None
    if not digits:
        return None
    pid = int(digits)
    return pid if pid_is_ours(pid, dir) else None


def stop_pidfiles(dir: Path, daemons: Iterable[tuple[Path, str]]) -> None:
    """SIGTERM every live daemon of ours at once, wait up to STOP_GRACE for all, then SIGKILL the rest."""
    running: list[tuple[int, str]] = []
    for pidfile, name in daemons:
        pid = pidfile_pid(pidfile, dir)
        if pid is not None:
            log(f"stopping {name} (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            running.append((pid, name))
        pidfile.unlink(missing_ok=True)
    deadline = time.monotonic() + STOP_GRACE
    while any(pid_alive(pid) for pid, _ in running) and time.monotonic() < deadline:
        time.sleep(POLL)
    for pid, name in running:
        if pid_alive(pid):
            log(f"{name} (pid {pid}) ignored SIGTERM, sending SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def port_listening(port: int) -> bool:
    """Whether anything listens on TCP ``port`` (any address), read from /proc/net/tcp{,6}."""
    suffix = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as f:
            next(f, None)
            for line in f:
                fields = line.split()
                if len(fields) > 3 and fields[3] == "0A" and fields[1].endswith(suffix):
                    return True
    return False


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if len(fields) > 1:
                parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(roots: Iterable[int]) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = set(roots)
    while frontier:
        children = {child for child, parent in parents.items() if parent in frontier} - found
        found |= children
        frontier = children
    return found


def leftover_slurmstepd(conf: Path) -> list[int]:
    """slurmstepd processes of our slurmd: they outlive slurmd by design. 22.05's keep the environment
    they inherit (SLURM_CONF=conf); 24.11's and 26.05's write their process title over it, so they are
    known by their working directory instead, which they inherit from slurmd: the directory of
    SlurmdLogFile, DIR/log (read from the host, a chrooted one's path starts with the chroot's)."""
    marker = f"SLURM_CONF={conf}".encode()
    log_dir = f"{conf.parent.parent}/log"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "slurmstepd":
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if (marker in environ or cwd.endswith(log_dir)) and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


# -- configuration ---------------------------------------------------------------------------------


def render_conf(layout: Layout, s: Settings) -> str:
    text = _render_conf(layout, s)
    if not s.drop_keys:
        return text
    dropped = {key.lower() for key in s.drop_keys}
    return "".join(
        line for line in text.splitlines(True) if line.split("=", 1)[0].strip().lower() not in dropped
    )


def _render_conf(layout: Layout, s: Settings) -> str:
    """One slurm.conf for every release: 24.11 and 26.05 (slurmctld, slurmd, clients) refuse and warn
    about none of its keys, so only the header's version differs. Their logs differ from 22.05's in
    what the file does not say: without a cgroup.conf, 26.05's slurmd autodetects the host's cgroup v1
    and warns that it is deprecated (it creates no cgroup: proctrack/linuxproc and task/none use none)."""
    d = layout.dir
    if s.nodes == 1:
        nodeline = "NodeName=compute-node-1 NodeHostname=localhost NodeAddr=127.0.0.1"
    else:
        # a range Port=[a-b] (a prefix form such as 170[01-03] is refused by slurmd)
        nodeline = (
            f"NodeName=compute-node-[1-{s.nodes}] NodeHostname=localhost NodeAddr=127.0.0.1 "
            f"Port=[{s.node_port_base}-{s.node_port_base + s.nodes - 1}]"
        )
    sockets, cores, threads = s.node_shape or (1, s.cpus, 1)
    shape = (
        f" CPUs={sockets * cores * threads} Sockets={sockets} CoresPerSocket={cores} ThreadsPerCore={threads}"
        " RealMemory=1000 State=UNKNOWN"
    )
    if s.node_features or s.gres:
        features = s.node_features or ("",) * s.nodes
        nodeline = "\n".join(
            f"NodeName={name} NodeHostname=localhost NodeAddr=127.0.0.1 Port={s.node_port(i)}{shape}"
            + (f" Features={feature}" if feature else "")
            + (f" Gres={s.node_gres(i).gres}" if s.node_gres(i).gres else "")
            for i, (name, feature) in enumerate(zip(s.node_names, features, strict=True))
        )
        shape = ""
    if s.gres:
        nodeline = f"GresTypes={s.gres_type_names}\n{nodeline}"
    return f"""\
# generated by harness/launcher.py - SLURM {_versions(s)} on loopback
ClusterName={s.cluster}
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={s.ctld_port}
SlurmdPort={s.slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={layout.munge_socket}
SlurmUser=root
SlurmdUser=root
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool/%n
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd-%n.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
MailProg=/bin/true
# no cgroups anywhere
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# default batch_sched_delay=3 makes every batch job wait up to 3 s; 0 leaves the 1 s background tick
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# accept the configured CPUs even if the host differs (no DRAIN "Low socket*core*thread count")
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
{nodeline}{shape}
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
{s.extra_conf}
"""


def _versions(s: Settings) -> str:
    ctld = s.ctld.version
    nodes = ", ".join(dict.fromkeys(releases.get(n).version for n in s.slurmd_releases))
    return ctld if ctld == nodes else f"{ctld} (slurmd {nodes})"


def any_daemon_running(layout: Layout) -> bool:
    pidfiles = [layout.munged_pidfile, layout.slurmctld_pidfile, *layout.slurmd_pidfiles()]
    return any(pidfile_pid(f, layout.dir) is not None for f in pidfiles)


def write_conf(layout: Layout, s: Settings) -> None:
    text = render_conf(layout, s)
    conf = layout.conf
    if conf.exists() and conf.read_text() != text and any_daemon_running(layout):
        raise LauncherError(
            f"daemons in {layout.dir} run with a different slurm.conf (changed settings?); stop them first"
        )
    tmp = conf.with_suffix(".conf.tmp")
    tmp.write_text(text)
    tmp.replace(conf)
    for name, content in s.etc_files:
        (conf.parent / name).write_text(content)
    if s.gres:
        (conf.parent / "gres.conf").write_text(render_gres_conf(layout, s))
        make_gres_devices(layout, s)
    (layout.dir / "env.sh").write_text(f"export SLURM_CONF={conf}\n")


def log_tails(layout: Layout, lines: int = 15) -> str:
    out = []
    for path in sorted((layout.dir / "log").glob("*.log")):
        with contextlib.suppress(OSError):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            out.append(f"----- {path} (last {lines} lines)\n" + "\n".join(tail))
    return "\n".join(out)


# -- start -----------------------------------------------------------------------------------------


def _make_dirs(layout: Layout, s: Settings) -> None:
    d = layout.dir
    # munged insists that every directory above its socket is o+x and none writable by group or other
    d.mkdir(parents=True, exist_ok=True)
    d.chmod(0o755)
    for sub in ("etc", "munge/run", "state", "log", "run", "jobs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    layout.munge_dir.chmod(0o755)
    (layout.munge_dir / "run").chmod(0o755)
    (d / "state").chmod(0o700)
    for node in s.node_names:
        (d / "spool" / node).mkdir(parents=True, exist_ok=True)


def _check_ports(layout: Layout, s: Settings) -> None:
    """All ports, before anything starts: one held by another process fails the start with nothing started."""
    if (
        s.controller == "slurmctld"
        and pidfile_pid(layout.slurmctld_pidfile, layout.dir) is None
        and port_listening(s.ctld_port)
    ):
        raise LauncherError(f"port {s.ctld_port} (slurmctld) already in use by another process")
    for i, node in s.launched_nodes:
        if pidfile_pid(layout.slurmd_pidfile(node), layout.dir) is None and port_listening(s.node_port(i)):
            raise LauncherError(f"port {s.node_port(i)} (slurmd {node}) already in use by another process")


def _daemon(layout: Layout, name: str, argv: list[str], release: releases.Release) -> None:
    """Run a daemon of ``release`` that forks itself into the background (a chrooted one stays in the
    mount namespace it started in); its output goes to log/launcher.log."""
    with open(layout.launcher_log, "ab") as out:
        rc = subprocess.run(
            layout.command(argv, release),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=layout.client_env(),
            check=False,
        ).returncode
    if rc != 0:
        raise LauncherError(f"{name} failed to start (exit {rc})\n{log_tails(layout)}")


def _start_munged(layout: Layout) -> bool:
    key = layout.munge_key
    if not key.exists() or key.stat().st_size == 0:
        fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
    key.chmod(0o600)
    started = False
    if pidfile_pid(layout.munged_pidfile, layout.dir) is not None:
        log("munged already running")
    else:
        for stale in (layout.munge_socket, layout.munge_socket.with_name("munge.sock.lock")):
            stale.unlink(missing_ok=True)
        # --force: tolerate group-writable parent directories (a test fixture, not a secure setup)
        _daemon(
            layout,
            "munged",
            [
                "munged",
                "--force",
                f"--socket={layout.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={layout.munged_pidfile}",
                f"--log-file={layout.dir}/log/munged.log",
                f"--seed-file={layout.munge_dir}/munged.seed",
            ],
            releases.get(releases.HOST),  # the host's munged serves every release
        )
        started = True
    cred = subprocess.run(
        ["munge", "-S", str(layout.munge_socket), "-n"], capture_output=True, timeout=30, check=False
    )
    check = subprocess.run(
        ["unmunge", "-S", str(layout.munge_socket)], input=cred.stdout, capture_output=True, timeout=30
    )
    if cred.returncode != 0 or check.returncode != 0:
        errors = (cred.stderr + check.stderr).decode(errors="replace")
        raise LauncherError(f"munge round trip failed: {errors}\n{log_tails(layout)}")
    return started


def _wait(
    what: str, ready: Callable[[], bool], timeout: float, layout: Layout, last: Callable[[], str]
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise LauncherError(f"{what} within {timeout:g} s\n{last()}\n{log_tails(layout)}")
        time.sleep(POLL)


def _client(args: list[str], layout: Layout, timeout: float = 15.0) -> str:
    """A client of the cluster's release (etc/release); its output, "" if it fails or hangs."""
    with contextlib.suppress(subprocess.TimeoutExpired, OSError):
        return subprocess.run(
            layout.command(args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=layout.client_env(),
            check=False,
        ).stdout
    return ""


def _slurmd_start_time(layout: Layout, node: str) -> float:
    m = re.search(r"SlurmdStartTime=(\S+)", _client(["scontrol", "show", "node", "-o", node], layout))
    if m is None or m.group(1) in ("None", "Unknown"):
        return 0.0
    try:
        return datetime.fromisoformat(m.group(1)).timestamp()  # local time, as scontrol prints it
    except ValueError:
        return 0.0


def start(dir: Path, s: Settings) -> Layout:
    """Start whatever is missing of munged, the slurmd(s) and (controller "slurmctld") slurmctld; wait."""
    if os.geteuid() != 0:
        raise LauncherError("must run as root (SlurmdUser=root launches jobs as their users)")
    for release in (s.ctld, *(releases.get(n) for n in s.slurmd_releases)):
        try:
            release.require()
        except releases.ReleaseError as e:
            raise LauncherError(str(e)) from None
    missing = [b for b in REQUIRED_BINARIES if shutil.which(b) is None]
    if missing:
        raise LauncherError(
            f"not found: {' '.join(missing)}; apt-get install -y --no-install-recommends "
            "munge slurmctld slurmd slurm-client"
        )
    if any(ch.isspace() for ch in str(dir)):
        raise LauncherError("the cluster directory must not contain whitespace (slurm.conf paths)")
    dir.mkdir(parents=True, exist_ok=True)
    layout = Layout(dir.resolve())
    t0 = time.monotonic()
    _make_dirs(layout, s)
    write_conf(layout, s)
    layout.controller_file.write_text(s.controller + "\n")
    layout.release_file.write_text(s.release + "\n")
    _check_ports(layout, s)

    started = _start_munged(layout)

    pid = pidfile_pid(layout.slurmctld_pidfile, layout.dir)
    if pid is not None:
        log(f"slurmctld already running (pid {pid})")
    elif s.controller == "external":
        log(f"controller is external: not starting slurmctld (SlurmctldPort={s.ctld_port})")
    else:
        if port_listening(s.ctld_port):
            raise LauncherError(f"port {s.ctld_port} already in use by another process")
        # it daemonizes and writes SlurmctldPidFile; -f puts DIR in its command line
        _daemon(layout, "slurmctld", ["slurmctld", "-f", str(layout.conf)], s.ctld)
        started = True

    launch_time = time.time()
    restarted = []
    for i, node in s.launched_nodes:
        if pidfile_pid(layout.slurmd_pidfile(node), layout.dir) is not None:
            log(f"slurmd {node} already running")
            continue
        if port_listening(s.node_port(i)):
            raise LauncherError(f"port {s.node_port(i)} (slurmd {node}) already in use by another process")
        argv = ["slurmd", "-f", str(layout.conf), "-N", node]
        _daemon(layout, f"slurmd {node}", argv, s.release_of_node(i))
        started = True
        restarted.append(node)

    if s.controller == "external":
        _wait_daemons_alive(layout, s)
        log(
            f"munged and {s.nodes} slurmd up in {time.monotonic() - t0:.2f} s (started={started}); "
            f"controller is external, expected on 127.0.0.1:{s.ctld_port}"
        )
    elif not s.slurmd:
        _wait_controller(layout, s)
        log(f"slurmctld up without slurmd in {time.monotonic() - t0:.2f} s (started={started})")
    else:
        _wait_cluster_up(layout, s, restarted, launch_time)
        log(f"cluster up in {time.monotonic() - t0:.2f} s (started={started})")
    log(f"use: export SLURM_CONF={layout.conf}")
    return layout


def start_configless_slurmd(dir: Path, node: str, ctld_port: int) -> None:
    """slurmd for ``node`` with no slurm.conf of its own: ``--conf-server`` fetches the configuration
    from the controller (which must be up), then slurmd runs from its conf-cache.

    The fetch authenticates with MUNGE's default socket (slurmd has no AuthInfo yet): slurmd runs in
    a mount namespace of its own where /run is a fresh tmpfs whose munge/munge.socket.2 is the
    cluster's munged. ``-L`` names the cluster directory in its command line (see pid_is_ours)."""
    layout = Layout(dir.resolve())
    log_file = layout.dir / "log" / f"slurmd-{node}.log"
    script = (
        "mount -t tmpfs tmpfs /run && mkdir /run/munge && "
        f"ln -s {layout.munge_socket} /run/munge/munge.socket.2 && "
        f"exec slurmd --conf-server 127.0.0.1:{ctld_port} -N {node} -L {log_file}"
    )
    env = {k: v for k, v in layout.client_env().items() if k != "SLURM_CONF"}
    with open(layout.launcher_log, "ab") as out:
        rc = subprocess.run(
            ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=env,
            check=False,
        ).returncode
    if rc != 0:
        raise LauncherError(f"configless slurmd {node} failed to start (exit {rc})\n{log_tails(layout)}")


def _wait_daemons_alive(layout: Layout, s: Settings) -> None:
    """Alive by pid file, and each slurmd listening (so the controller can reach it at once)."""

    def missing() -> list[str]:
        out = [] if pidfile_pid(layout.munged_pidfile, layout.dir) is not None else ["munged"]
        for i, node in s.launched_nodes:
            alive = pidfile_pid(layout.slurmd_pidfile(node), layout.dir) is not None
            if not (alive and port_listening(s.node_port(i))):
                out.append(f"slurmd-{node}")
        return out

    _wait("not alive", lambda: not missing(), s.timeout, layout, lambda: " ".join(missing()))


def _wait_controller(layout: Layout, s: Settings) -> None:
    _wait(
        "slurmctld did not answer ping",
        lambda: "is UP" in _client(["scontrol", "ping"], layout),
        s.timeout,
        layout,
        lambda: "",
    )


def _wait_cluster_up(layout: Layout, s: Settings, restarted: list[str], launch_time: float) -> None:
    """slurmctld answers, every node is up (responding; idle or busy with surviving jobs), and every slurmd
    started just now has registered: its SlurmdStartTime is not older than the launch (the controller keeps
    showing a killed slurmd's old state until SlurmdTimeout)."""
    _wait_controller(layout, s)
    states = ""

    def nodes_up() -> bool:
        nonlocal states
        states = _client(["sinfo", "-h", "-N", "-o", "%N %T"], layout)
        up = {
            line.split()[0]
            for line in states.splitlines()
            if len(line.split()) == 2
            and (
                line.split()[1] in ("idle", "mixed", "allocated", "completing")
                or (line.split()[0] in s.may_drain and line.split()[1] in ("drained", "inval"))
            )
        }
        if len(up) < len(s.launched_nodes):
            return False
        # whole seconds: SlurmdStartTime has no fraction
        return all(_slurmd_start_time(layout, node) >= int(launch_time) for node in restarted)

    _wait("nodes not up", nodes_up, s.timeout, layout, lambda: states)


# -- stop and status -------------------------------------------------------------------------------


def _controller_mode(layout: Layout) -> str:
    try:
        return layout.controller_file.read_text().strip() or "slurmctld"
    except OSError:
        return "slurmctld"


def _conf_port(layout: Layout) -> int | None:
    with contextlib.suppress(OSError):
        m = re.search(r"^SlurmctldPort=(\d+)$", layout.conf.read_text(), re.MULTILINE)
        if m:
            return int(m.group(1))
    return None


def _cancel_jobs(layout: Layout) -> None:
    """Cancel our jobs while the controller is up and give them KillWait to end. Every client call is
    bounded: a controller that accepts but never answers, or a port that closes meanwhile (clients retry
    about 9 s), must not hang stop."""
    jobs = sorted(set(_client(["squeue", "-h", "-o", "%A"], layout, timeout=5).split()))
    if not jobs:
        return
    log(f"cancelling jobs: {' '.join(jobs)}")
    _client(["scancel", *jobs], layout, timeout=5)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            p = subprocess.run(
                layout.command(["squeue", "-h", "-t", "running,completing", "-o", "%A"]),
                capture_output=True,
                text=True,
                timeout=3,
                env=layout.client_env(),
                check=False,
            )
        except subprocess.TimeoutExpired:
            return
        if p.returncode != 0 or not p.stdout.strip():
            return
        time.sleep(POLL)


def stop(dir: Path) -> None:
    """Cancel jobs, then stop our slurmd(s) (all at once), slurmctld, leftover slurmstepd with their job
    processes, and munged: each by pid, and only if it is ours. Files stay."""
    if not dir.is_dir():
        log(f"{dir} does not exist; nothing to stop")
        return
    layout = Layout(dir.resolve())
    mode = _controller_mode(layout)
    port = _conf_port(layout)
    ctld_up = pidfile_pid(layout.slurmctld_pidfile, layout.dir) is not None or (
        mode == "external" and port is not None and port_listening(port)
    )
    if ctld_up and layout.conf.exists():
        _cancel_jobs(layout)
    elif mode == "external":
        log(f"external controller not listening on port {port}; not cancelling jobs")

    slurmds = [(f, "slurmd " + f.stem.removeprefix("slurmd-")) for f in layout.slurmd_pidfiles()]
    stop_pidfiles(layout.dir, slurmds)
    # a controller only through its pid file: one that writes none is the caller's to stop
    stop_pidfiles(layout.dir, [(layout.slurmctld_pidfile, "slurmctld")])

    steps = leftover_slurmstepd(layout.conf)
    if steps:
        jobs = descendants(steps)
        log(f"killing leftover slurmstepd {steps} and their job processes {sorted(jobs)}")
        for pid in [*steps, *jobs]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    stop_pidfiles(layout.dir, [(layout.munged_pidfile, "munged")])
    for stale in (layout.munge_socket, layout.munge_socket.with_name("munge.sock.lock")):
        stale.unlink(missing_ok=True)
    log(f"stopped (files kept in {layout.dir})")


def status(dir: Path) -> int:
    """Print which of our daemons live, then scontrol ping and sinfo -N; 0 if all is well."""
    if not dir.is_dir():
        raise LauncherError(f"{dir} does not exist")
    layout = Layout(dir.resolve())
    rc = 0
    for pidfile in [layout.munged_pidfile, layout.slurmctld_pidfile, *layout.slurmd_pidfiles()]:
        if not pidfile.exists():
            continue
        pid = pidfile_pid(pidfile, layout.dir)
        print(f"{pidfile.stem}: " + (f"running (pid {pid})" if pid is not None else "not running"))
        rc |= pid is None
    if _controller_mode(layout) == "external":
        port = _conf_port(layout)
        if port is None or not port_listening(port):
            # the clients would retry for about 9 s: say so at once instead
            print(f"controller: external, nothing listening on port {port}")
            return 1
        print(f"controller: external, listening on port {port}")
    for args in (["scontrol", "ping"], ["sinfo", "-N"]):
        try:
            p = subprocess.run(
                layout.command(args), capture_output=True, text=True, timeout=15, env=layout.client_env()
            )
        except subprocess.TimeoutExpired:
            rc = 1
            continue
        print(p.stdout, end="")
        rc |= p.returncode != 0
    return rc


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in ("start", "stop", "status", "env"):
        print((__doc__ or "").split("\n\n")[1], file=sys.stderr)
        return 2
    command, dir = args[0], Path(args[1])
    try:
        if command == "start":
            start(dir, Settings.from_env())
        elif command == "stop":
            stop(dir)
        elif command == "status":
            return status(dir)
        else:
            print(f"export SLURM_CONF={Layout(dir.resolve()).conf}")
    except LauncherError as e:
        log(f"error: {e}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reading slurm.conf the way SLURM 22.05 does: the same file, the same defaults, the same derivations.

Entry points: :func:`load` (a file) and :func:`parse_text` (a string). Both return a frozen
:class:`SlurmConfig` or raise :class:`ConfigError` ("PATH:LINE: message") for anything SLURM itself
would refuse. Keys SLURM 22.05 does not know are accepted and reported in ``SlurmConfig.warnings``
(so a file written for an older or newer SLURM still loads); their values are kept in ``raw``.

Rules followed (src/common/parse_config.c, read_config.c, node_conf.c, slurmctld/read_config.c):

* Keys are case-insensitive; node and partition names are not.
* Outside NodeName/PartitionName/NodeSet/DownNodes/SlurmctldHost lines only one ``Key=Value`` may
  stand on a line (SLURM: ``Parse error ... " SlurmctldPort=7917"``). A later value replaces an
  earlier one (with a warning, as slurmctld logs one).
* ``Include FILE`` (the word at the start of a line, any case): ``%c`` becomes the lower-cased
  ClusterName seen so far; a relative FILE is taken from the including file's directory. No globs
  (SLURM 22.05 has none).
* ``NodeName=DEFAULT`` / ``PartitionName=DEFAULT`` lines set defaults for the lines after them; a
  later DEFAULT line adds to (and overrides) the earlier one.
* A NodeName line expands to one :class:`NodeConf` per name of its hostlist, in order; NodeHostname,
  NodeAddr and Port are hostlists zipped with the names (one value per node, or a single value for
  all). A bare port range ``17001-17003`` or list ``17001,17002`` is read as ``[17001-17003]``.
* ``SlurmConfig.nodes`` is in slurmctld's node-table order: slurmctld sorts its node table by
  name in natural order (strnatcmp: ``n2`` before ``n10``), not in slurm.conf order (unless a
  topology plugin ranks nodes: 3d_torus/hypercube, flagged with a warning).
* A partition's ``Nodes=`` (a hostlist, NodeSet names, or ``ALL``) resolves to node names in
  node-table order, duplicates removed, as slurmctld's partition bitmap does.
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from flurm.config import gres as gres_conf
from flurm.config import hostlists
from flurm.config.confhash import conf_hash
from flurm.config.keys import DOWNNODES_KEYS, LINE_KEYS, NODE_KEYS, NODESET_KEYS, PARTITION_KEYS, TOP_KEYS
from flurm.config.lexer import BLANKS, Pair, is_blank, logical_lines, match_pair
from flurm.config.licenses import LicenseError
from flurm.config.licenses import parse as parse_licenses
from flurm.config.natsort import natural_key
from flurm.config.timefmt import TimeFormatError, parse_time_minutes
from flurm.config.values import BadValue, Kind, convert
from flurm.protocol.constants import (
    INFINITE,
    INFINITE16,
    MEM_PER_CPU,
    NodeState,
    NodeStateFlag,
    PartitionFlag,
    PartitionState,
)
from flurm.protocol.errors import FlurmError

if TYPE_CHECKING:
    from flurm.config.plugin_confs import PluginConfs

__all__ = [
    "DEFAULT_MAX_JOB_ID",
    "MAX_JOB_ID",
    "PARTITION_ENFORCE_ALL",
    "PARTITION_ENFORCE_ANY",
    "PARTITION_ENFORCE_NONE",
    "SHARED_FORCE",
    "ConfigError",
    "ConfigWarning",
    "ControlHost",
    "NodeConf",
    "NodeSetConf",
    "PartitionConf",
    "SlurmConfig",
    "load",
    "node_state_value",
    "parse_text",
]

# SLURM's built-in defaults (read_config.h, slurm.h, config.h of the Debian build).
SLURMCTLD_PORT = 6817
SLURMD_PORT = 6818
DEFAULT_MAX_JOB_ID = 0x03FF0000
MAX_JOB_ID = 0x03FFFFFF
DEFAULT_CRED_EXPIRE = 120
DEFAULT_TREE_WIDTH = 50
MAX_TASKS_PER_NODE = 512
SHARED_FORCE = 0x8000
PARTITION_ENFORCE_NONE = 0
PARTITION_ENFORCE_ALL = 1
PARTITION_ENFORCE_ANY = 2

_PRIVATE_DATA_BITS = (
    ("account", 1 << 5),
    ("cloud", 1 << 7),
    ("event", 1 << 8),
    ("job", 1 << 0),
    ("node", 1 << 1),
    ("partition", 1 << 2),
    ("reservation", 1 << 6),
    ("usage", 1 << 3),
    ("user", 1 << 4),
)

_NODE_BASE_STATES = {
    "UNKNOWN": NodeState.UNKNOWN,
    "DOWN": NodeState.DOWN,
    "IDLE": NodeState.IDLE,
    "ALLOCATED": NodeState.ALLOCATED,
    "MIXED": NodeState.MIXED,
    "FUTURE": NodeState.FUTURE,
}

UidLookup = Callable[[str], int | None]


# --------------------------------------------------------------------------------------------------
# Errors and result types
# --------------------------------------------------------------------------------------------------


class ConfigError(FlurmError):
    """A slurm.conf that SLURM would refuse. ``str()`` is ``PATH:LINE: message`` (``PATH: message``
    when the problem belongs to no single line, e.g. a missing ClusterName)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        super().__init__(path, line, message)
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something SLURM logs and carries on with (an unknown key, a value it resets, ...)."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.path}: {self.message}"
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ControlHost:
    """One SlurmctldHost (or ControlMachine/BackupController) entry, in configuration order.

    ``name`` is as written (SLURM itself replaces ``localhost`` with the short hostname);
    ``addr`` is the address in parentheses, or the name when none is given.
    """

    name: str
    addr: str


def node_state_value(keyword: str) -> int | None:
    """A node State= keyword as SLURM's state_str2int() maps it, or None if SLURM refuses it.

    UNKNOWN, DOWN, IDLE, ALLOCATED, MIXED and FUTURE exactly (any case); any word starting with
    CLOUD (IDLE+CLOUD+POWERED_DOWN), DRAIN (UNKNOWN+DRAIN) or FAIL (IDLE+FAIL).
    """
    word = keyword.upper()
    if word in _NODE_BASE_STATES:
        return int(_NODE_BASE_STATES[word])
    if word.startswith("CLOUD"):
        return int(NodeState.IDLE | NodeStateFlag.CLOUD | NodeStateFlag.POWERED_DOWN)
    if word.startswith("DRAIN"):
        return int(NodeState.UNKNOWN | NodeStateFlag.DRAIN)
    if word.startswith("FAIL"):
        return int(NodeState.IDLE | NodeStateFlag.FAIL)
    return None


def _packed_memory(per_cpu: int | None, per_node: int | None) -> int:
    """SLURM's one-field memory limit: MEM_PER_CPU | MiB per CPU, MiB per node, 0 when unset."""
    if per_node is not None:
        return per_node
    if per_cpu is not None:
        return MEM_PER_CPU | per_cpu
    return 0


@dataclass(frozen=True, slots=True)
class NodeConf:
    """One node of slurm.conf, after SLURM's defaults and derivations (read_config.c _parse_nodename).

    ``sockets`` is the node's total socket count (all boards). CPUs defaults to
    sockets*cores*threads; with CPUs but no Sockets, Sockets = CPUs/(cores*threads) when that divides
    evenly, else Boards; a CPUs value matching neither sockets, sockets*cores nor
    sockets*cores*threads is reset to sockets*cores*threads (with a warning).
    """

    name: str
    addr: str
    hostname: str
    port: int
    cpus: int = 1
    boards: int = 1
    sockets: int = 1
    cores_per_socket: int = 1
    threads_per_core: int = 1
    real_memory_mib: int = 1
    tmp_disk_mib: int = 0
    weight: int = 1
    features: tuple[str, ...] = ()
    gres: str | None = None
    state: str = "UNKNOWN"
    reason: str | None = None
    bcast_addr: str | None = None
    core_spec_count: int = 0
    cpu_spec_list: str | None = None
    mem_spec_limit_mib: int = 0
    cpu_bind: str | None = None
    tres_weights: str | None = None

    @property
    def state_value(self) -> int:
        """The configured state as a SLURM node_state value (NodeState | NodeStateFlag bits)."""
        value = node_state_value(self.state)
        return int(NodeState.UNKNOWN) if value is None else value

    @property
    def cores(self) -> int:
        """Total cores (sockets * cores_per_socket)."""
        return self.sockets * self.cores_per_socket


@dataclass(frozen=True, slots=True)
class NodeSetConf:
    """``NodeSet=name Feature=f Nodes=hostlist``: a name usable in a partition's Nodes=."""

    name: str
    feature: str | None
    nodes_expr: str | None


@dataclass(frozen=True, slots=True)
class PartitionConf:
    """One PartitionName line after DEFAULT merging and SLURM's checks (read_config.c _parse_partitionname).

    Times are minutes as SLURM keeps them: ``max_time_min`` None = INFINITE/UNLIMITED,
    ``default_time_min`` None = not set (also when it exceeded MaxTime, as slurmctld resets it);
    ``DefaultTime=UNLIMITED`` is kept as SLURM's INFINITE (0xFFFFFFFF), which format_time_minutes()
    prints as UNLIMITED.
    ``max_share`` is SLURM's packed OverSubscribe: EXCLUSIVE 0, NO 1, YES:n n, FORCE:n 0x8000|n
    (plain YES and FORCE mean n=4). Memory limits are MiB, None when not set on the partition.
    Allow/deny lists are the strings SLURM keeps (accounts and QOS lower-cased), None for ALL.
    ``raw`` holds every key given for the partition (DEFAULT values included), lower-case.
    """

    name: str
    nodes: tuple[str, ...] = ()
    nodes_expr: str | None = None
    default: bool = False
    hidden: bool = False
    root_only: bool = False
    req_resv: bool = False
    lln: bool = False
    exclusive_user: bool = False
    disable_root_jobs: bool = False
    state: str = "UP"
    max_time_min: int | None = None
    default_time_min: int | None = None
    grace_time: int = 0
    max_nodes: int | None = None
    min_nodes: int = 0
    max_cpus_per_node: int | None = None
    def_mem_per_cpu_mib: int | None = None
    def_mem_per_node_mib: int | None = None
    max_mem_per_cpu_mib: int | None = None
    max_mem_per_node_mib: int | None = None
    def_cpu_per_gpu: int | None = None
    def_mem_per_gpu_mib: int | None = None
    max_share: int = 1
    priority_job_factor: int = 1
    priority_tier: int = 1
    over_time_limit_min: int | None = None
    preempt_mode: str | None = None
    qos: str | None = None
    alternate: str | None = None
    allow_groups: str | None = None
    allow_accounts: str | None = None
    allow_qos: str | None = None
    deny_accounts: str | None = None
    deny_qos: str | None = None
    allow_alloc_nodes: str | None = None
    select_type_parameters: str | None = None
    tres_billing_weights: str | None = None
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def def_mem_per_cpu(self) -> int:
        """DefMemPerCPU/DefMemPerNode packed as SLURM's def_mem_per_cpu field (MEM_PER_CPU flag = per CPU)."""
        return _packed_memory(self.def_mem_per_cpu_mib, self.def_mem_per_node_mib)

    @property
    def max_mem_per_cpu(self) -> int:
        """MaxMemPerCPU/MaxMemPerNode packed as SLURM's max_mem_per_cpu field (MEM_PER_CPU flag = per CPU)."""
        return _packed_memory(self.max_mem_per_cpu_mib, self.max_mem_per_node_mib)

    @property
    def state_value(self) -> int:
        return int(PartitionState[self.state])

    @property
    def flags(self) -> int:
        """SLURM's partition flag bits (PART_FLAG_*) for this configuration."""
        bits = PartitionFlag(0)
        for on, bit in (
            (self.default, PartitionFlag.DEFAULT),
            (self.hidden, PartitionFlag.HIDDEN),
            (self.disable_root_jobs, PartitionFlag.NO_ROOT),
            (self.root_only, PartitionFlag.ROOT_ONLY),
            (self.req_resv, PartitionFlag.REQ_RESV),
            (self.lln, PartitionFlag.LLN),
            (self.exclusive_user, PartitionFlag.EXCLUSIVE_USER),
        ):
            if on:
                bits |= bit
        return int(bits)

    @property
    def over_subscribe(self) -> str:
        """OverSubscribe as scontrol prints it: NO, EXCLUSIVE, YES:n or FORCE:n."""
        if self.max_share == 0:
            return "EXCLUSIVE"
        if self.max_share & SHARED_FORCE:
            return f"FORCE:{self.max_share & ~SHARED_FORCE}"
        if self.max_share == 1:
            return "NO"
        return f"YES:{self.max_share}"


@dataclass(frozen=True, slots=True)
class SlurmConfig:
    """A parsed slurm.conf. Times are seconds unless the name says otherwise, memory is MiB.

    ``nodes`` is in slurmctld's node-table order (natural order of the names), each partition's
    ``nodes`` too. ``raw`` maps every top-level key flurm does not model (lower-case) to its last
    value, unknown keys included; ``warnings`` lists what SLURM would log without stopping;
    ``files`` is the main file followed by every included file, in reading order.
    """

    path: str
    cluster_name: str
    control_hosts: tuple[ControlHost, ...]
    slurmctld_addr: str | None = None
    slurmctld_port: int = SLURMCTLD_PORT
    slurmctld_port_count: int = 1
    slurmd_port: int = SLURMD_PORT
    auth_type: str = "auth/munge"
    auth_info: str | None = None
    munge_socket: str | None = None
    auth_ttl: int = 0
    cred_expire: int = DEFAULT_CRED_EXPIRE
    cred_type: str = "cred/munge"
    slurm_user: str = "root"
    slurm_user_uid: int = 0
    slurmd_user: str = "root"
    slurmd_user_uid: int = 0
    state_save_location: str = "/var/spool"
    slurmd_spool_dir: str = "/var/spool/slurmd"
    slurmctld_pid_file: str = "/var/run/slurmctld.pid"
    slurmd_pid_file: str = "/var/run/slurmd.pid"
    slurmctld_log_file: str | None = None
    slurmd_log_file: str | None = None
    first_job_id: int = 1
    max_job_id: int = DEFAULT_MAX_JOB_ID
    max_job_count: int = 10000
    max_array_size: int = 1001
    max_step_count: int = 40000
    max_tasks_per_node: int = MAX_TASKS_PER_NODE
    min_job_age: int = 300
    kill_wait: int = 30
    message_timeout: int = 10
    slurmd_timeout: int = 300
    slurmctld_timeout: int = 120
    inactive_limit: int = 0
    batch_start_timeout: int = 10
    complete_wait: int = 0
    tcp_timeout: int = 2
    wait_time: int = 0
    over_time_limit_min: int = 0
    return_to_service: int = 0
    select_type: str = "select/linear"
    select_type_parameters: str | None = None
    scheduler_type: str = "sched/backfill"
    scheduler_parameters: str | None = None
    max_script_size: int = 4 * 1024 * 1024  # SchedulerParameters max_script_size= (bytes)
    priority_type: str = "priority/basic"
    preempt_type: str = "preempt/none"
    prolog: str | None = None
    epilog: str | None = None
    prolog_slurmctld: str | None = None
    epilog_slurmctld: str | None = None
    task_prolog: str | None = None
    task_epilog: str | None = None
    srun_prolog: str | None = None
    srun_epilog: str | None = None
    prolog_flags: str | None = None
    tree_width: int = DEFAULT_TREE_WIDTH
    tmp_fs: str = "/tmp"
    proctrack_type: str = "proctrack/cgroup"
    task_plugin: str = "task/none"
    task_plugin_param: str | None = None
    job_acct_gather_type: str = "jobacct_gather/none"
    job_acct_gather_frequency: str = "30"
    accounting_storage_type: str = "accounting_storage/none"
    job_comp_type: str = "jobcomp/none"
    switch_type: str = "switch/none"
    launch_type: str = "launch/slurm"
    mpi_default: str = "none"
    gres_types: str | None = None
    # the GRES names GresTypes makes known, in slurmctld's order (config/gres.py context_names)
    gres_names: tuple[str, ...] = ()
    enforce_part_limits: int = PARTITION_ENFORCE_NONE
    def_mem_per_cpu_mib: int | None = None
    def_mem_per_node_mib: int | None = None
    max_mem_per_cpu_mib: int | None = None
    max_mem_per_node_mib: int | None = None
    private_data: int = 0
    disable_root_jobs: bool = False
    communication_parameters: str | None = None
    slurmctld_parameters: str | None = None
    slurmd_parameters: str | None = None
    mail_prog: str | None = None
    nodes: tuple[NodeConf, ...] = ()
    partitions: tuple[PartitionConf, ...] = ()
    node_sets: tuple[NodeSetConf, ...] = ()
    raw: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # every top-level key the file sets (lower-case), modelled or not: where a release's default differs
    # from flurm's (config/release_rules.py), whether the site chose the value
    given: frozenset[str] = frozenset()
    warnings: tuple[ConfigWarning, ...] = ()
    files: tuple[str, ...] = ()
    _node_index: Mapping[str, NodeConf] = field(init=False, repr=False, compare=False)
    hash_val: int = 0  # SLURM's hash of the files as read (confhash), which scontrol compares
    # cgroup.conf etc. beside slurm.conf, read by load(); None (parse_text): as if there were none
    plugin_confs: PluginConfs | None = None
    licenses: str | None = None  # Licenses=, as written (state/licenses.py reads it)
    # the Include'd files named without a directory, as slurmctld lists them to send them configless:
    # each after the files it includes, once
    bare_includes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "_node_index", MappingProxyType({node.name: node for node in self.nodes}))

    @property
    def def_mem_per_cpu(self) -> int:
        """DefMemPerCPU/DefMemPerNode packed as SLURM's def_mem_per_cpu field (MEM_PER_CPU flag = per CPU)."""
        return _packed_memory(self.def_mem_per_cpu_mib, self.def_mem_per_node_mib)

    @property
    def max_mem_per_cpu(self) -> int:
        """MaxMemPerCPU/MaxMemPerNode packed as SLURM's max_mem_per_cpu field (MEM_PER_CPU flag = per CPU)."""
        return _packed_memory(self.max_mem_per_cpu_mib, self.max_mem_per_node_mib)

    def node(self, name: str) -> NodeConf:
        """The node called ``name`` (KeyError if there is none)."""
        return self._node_index[name]

    def partition(self, name: str) -> PartitionConf:
        """The partition called ``name`` (KeyError if there is none)."""
        for part in self.partitions:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def default_partition(self) -> PartitionConf | None:
        for part in self.partitions:
            if part.default:
                return part
        return None

    @property
    def slurmctld_ports(self) -> range:
        return range(self.slurmctld_port, self.slurmctld_port + self.slurmctld_port_count)

    def slurmctld_addresses(self) -> tuple[tuple[str, int], ...]:
        """The (host, port) pairs a SLURM client may connect to, in the order it tries them.

        With SlurmctldAddr set, clients use only that address. Otherwise each control host's address
        (its parenthesised addr, else its name), primary first. With a SlurmctldPort range a client
        picks one port of the range per attempt, so every port is listed for each host.
        """
        hosts = [self.slurmctld_addr] if self.slurmctld_addr else [host.addr for host in self.control_hosts]
        return tuple((host, port) for host in hosts for port in self.slurmctld_ports)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def default_uid_lookup(user: str) -> int | None:
    """uid_from_string(): a user name from the password database, or a numeric uid that exists there."""
    try:
        return pwd.getpwnam(user).pw_uid
    except KeyError:
        pass
    if user.isdigit():
        try:
            return pwd.getpwuid(int(user)).pw_uid
        except (KeyError, OverflowError):
            return None
    return None


def load(path: str | Path, *, uid_lookup: UidLookup = default_uid_lookup) -> SlurmConfig:
    """Read a slurm.conf file (and what it includes, and the plugin files beside it); ConfigError
    where slurmctld would not start."""
    name = os.fspath(path)
    try:
        text = _read(name)
    except OSError as exc:
        raise ConfigError(name, None, f"cannot read file: {exc.strerror or exc}") from exc
    config = parse_text(text, name, uid_lookup=uid_lookup)
    # what slurmctld refuses beyond slurm.conf's syntax, and the plugin files beside it
    from flurm.config.ctl_conf import check  # both build on this module
    from flurm.config.plugin_confs import read_plugin_confs

    check(config)
    return replace(config, plugin_confs=read_plugin_confs(config))


def parse_text(
    text: str, path: str = "<string>", *, uid_lookup: UidLookup = default_uid_lookup
) -> SlurmConfig:
    """Parse slurm.conf text; ``path`` names it in errors and anchors relative Include paths."""
    reader = _Reader()
    reader.read(text, path)
    return _Builder(reader, path, uid_lookup).build()


def _raw_bytes(text: str) -> bytes:
    """The file's bytes back from the text _read() made of them."""
    return text.encode("utf-8", "surrogateescape")


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as handle:
        return handle.read()


Loc = tuple[str, int]
Values = dict[str, Any]


@dataclass(slots=True)
class _Setting:
    key: str
    value: str
    typed: Any
    loc: Loc


@dataclass(slots=True)
class _NodeLine:
    names: str
    hostnames: str
    addresses: str
    bcast: str | None
    port: str | None
    node: NodeConf  # name/addr/hostname/port are filled in at expansion
    loc: Loc


@dataclass(slots=True)
class _PartLine:
    part: PartitionConf
    disable_root_jobs: bool | None  # None: the global DisableRootJobs applies
    loc: Loc


@dataclass(slots=True)
class _DownLine:
    names: str
    state: str | None
    reason: str
    loc: Loc


class _Reader:
    """First pass: lines -> settings and records, the way s_p_parse_file() fills its tables."""

    def __init__(self) -> None:
        self.settings: dict[str, _Setting] = {}
        self.node_default: Values = {}
        self.part_default: Values = {}
        self.part_default_raw: dict[str, str] = {}
        self.node_lines: list[_NodeLine] = []
        self.part_lines: list[_PartLine] = []
        self.ctl_hosts: list[tuple[ControlHost, Loc]] = []
        self.node_sets: list[tuple[NodeSetConf, Loc]] = []
        self.down_lines: list[_DownLine] = []
        self.warnings: list[ConfigWarning] = []
        self.files: list[str] = []
        self.bare_includes: list[str] = []
        self.hash_val = 0
        self._stack: list[str] = []

    def warn(self, loc: Loc | tuple[str, None], message: str) -> None:
        self.warnings.append(ConfigWarning(loc[0], loc[1], message))

    def read(self, text: str, path: str) -> None:
        self.files.append(path)
        self._stack.append(os.path.realpath(path))
        try:
            hashed = 0
            for logical in logical_lines(text):
                # an included file's lines are hashed after the Include line, as SLURM reads them
                self.hash_val = conf_hash(_raw_bytes(text[hashed : logical.end]), self.hash_val)
                hashed = logical.end
                if logical.text:
                    self._line(logical.text, (path, logical.line))
            self.hash_val = conf_hash(_raw_bytes(text[hashed:]), self.hash_val)
        finally:
            self._stack.pop()

    def _line(self, text: str, loc: Loc) -> None:
        if text[:7].lower() == "include" and text[7:8] and text[7] in BLANKS:
            self._include(text[7:], loc)
            return
        pair = match_pair(text)
        if pair is None:
            if not is_blank(text):
                raise ConfigError(*loc, f'Parse error: "{text.strip(BLANKS)}"')
            return
        lkey = pair.key.lower()
        end = self._record(lkey, pair, text, loc) if lkey in LINE_KEYS else self._scalar(lkey, pair, loc)
        if not is_blank(text[end:]):
            raise ConfigError(*loc, f'Parse error: "{text[end:].strip(BLANKS)}"')

    def _include(self, rest: str, loc: Loc) -> None:
        start = len(rest) - len(rest.lstrip(BLANKS))
        stop = start
        while stop < len(rest) and rest[stop] not in BLANKS:
            stop += 1
        name = rest[start:stop]
        if not is_blank(rest[stop:]):
            raise ConfigError(*loc, f'Parse error: "{rest[stop:].strip(BLANKS)}"')
        if not name:
            raise ConfigError(*loc, "Include without a file name")
        if "%c" in name:
            cluster = self.settings.get("clustername")
            if cluster is None:
                raise ConfigError(
                    *loc, f"Include {name}: %c needs ClusterName, which is not set before this line"
                )
            name = name.replace("%c", cluster.value.lower())
        target = name if name.startswith("/") else os.path.join(os.path.dirname(loc[0]), name)
        if os.path.realpath(target) in self._stack:
            raise ConfigError(*loc, f"Include {target}: file includes itself")
        try:
            text = _read(target)
        except OSError as exc:
            raise ConfigError(*loc, f'"Include" failed: cannot read {target}: {exc.strerror or exc}') from exc
        self.read(text, target)
        if "/" not in name and name not in self.bare_includes:  # parse_config.c _handle_include
            self.bare_includes.append(name)

    def _scalar(self, lkey: str, pair: Pair, loc: Loc) -> int:
        kind = TOP_KEYS.get(lkey)
        if kind is None:
            self.warn(loc, f"unrecognized key {pair.key} (SLURM 22.05 would refuse it), kept in raw")
            kind = "str"
        elif lkey == "schedulerauth":
            self.warn(loc, f'The option "{pair.key}" is defunct, see man slurm.conf.')
            return pair.value_end
        typed = self._convert(pair.key, pair.value, kind, loc)
        if lkey in self.settings:
            self.warn(loc, f"{pair.key} specified more than once, latest value used")
        self.settings[lkey] = _Setting(pair.key, pair.value, typed, loc)
        return pair.value_end

    @staticmethod
    def _convert(key: str, value: str, kind: Kind, loc: Loc) -> Any:
        try:
            return convert(key, value, kind)
        except BadValue as exc:
            raise ConfigError(*loc, str(exc)) from exc

    def _sub_pairs(
        self,
        text: str,
        pos: int,
        table: Mapping[str, Kind],
        what: str,
        loc: Loc,
        raw: dict[str, str] | None = None,
    ) -> tuple[Values, int]:
        """The key=value pairs after a record's own key (s_p_parse_line): typed, last one wins.

        The value strings as written go to ``raw`` (lower-case keys) when it is given.
        """
        values: Values = {}
        while (pair := match_pair(text, pos)) is not None:
            pos = pair.value_end
            lkey = pair.key.lower()
            kind = table.get(lkey)
            if kind is None:
                self.warn(
                    loc, f"unrecognized key {pair.key} in {what} line (SLURM 22.05 would refuse it), ignored"
                )
                continue
            values[lkey] = self._convert(pair.key, pair.value, kind, loc)
            if raw is not None:
                raw[lkey] = pair.value
        return values, pos

    def _record(self, lkey: str, pair: Pair, text: str, loc: Loc) -> int:
        value = pair.value
        if lkey == "nodename":
            values, end = self._sub_pairs(text, pair.value_end, NODE_KEYS, "NodeName", loc)
            self._node_line(value, values, loc)
        elif lkey == "partitionname":
            raw: dict[str, str] = {}
            values, end = self._sub_pairs(text, pair.value_end, PARTITION_KEYS, "PartitionName", loc, raw)
            self._partition_line(value, values, raw, loc)
        elif lkey == "slurmctldhost":
            _, end = self._sub_pairs(text, pair.value_end, {}, "SlurmctldHost", loc)
            self.ctl_hosts.append((_control_host(value, loc), loc))
        elif lkey == "nodeset":
            values, end = self._sub_pairs(text, pair.value_end, NODESET_KEYS, "NodeSet", loc)
            self.node_sets.append((NodeSetConf(value, values.get("feature"), values.get("nodes")), loc))
        elif lkey == "downnodes":
            values, end = self._sub_pairs(text, pair.value_end, DOWNNODES_KEYS, "DownNodes", loc)
            state = values.get("state")
            if state is not None and node_state_value(state) is None:
                raise ConfigError(*loc, f'Invalid State "{state}"')
            self.down_lines.append(_DownLine(value, state, values.get("reason", "Set in slurm.conf"), loc))
        else:  # frontendname
            raise ConfigError(
                *loc, "FrontendName information configured! (this SLURM build has no front-end support)"
            )
        return end

    # ---- NodeName -----------------------------------------------------------------------------------

    def _node_line(self, names: str, tbl: Values, loc: Loc) -> None:
        if names.lower() == "default":
            for key in ("nodehostname", "bcastaddr", "nodeaddr"):
                if key in tbl:
                    raise ConfigError(*loc, f"{_NODE_KEY_NAMES[key]} not allowed with NodeName=DEFAULT")
            self.node_default = {**self.node_default, **tbl}
            return
        if names.lower() == "all":
            raise ConfigError(*loc, f"'{names}' is a reserved word disallowed for use with NodeName")
        if not names:
            raise ConfigError(*loc, "Empty NodeName in config.")
        dflt = self.node_default

        def get(key: str, fallback: Any = None) -> Any:
            if key in tbl:
                return tbl[key]
            return dflt.get(key, fallback)

        hostnames: str = tbl.get("nodehostname", names)
        addresses: str = tbl.get("nodeaddr", hostnames)

        def note(message: str) -> None:
            self.warn(loc, f"NodeNames={names} {message}")

        boards = get("boards", 1)
        cores = get("corespersocket", 1)
        threads = get("threadspercore", 1)
        cpus: int | None = None
        for source, key in ((tbl, "cpus"), (dflt, "cpus"), (tbl, "procs"), (dflt, "procs")):
            if key in source:
                cpus = source[key]
                break
        sockets: int | None = get("sockets")
        per_board: int | None = get("socketsperboard")
        if cores == 0:
            note("CoresPerSocket=0 is invalid, reset to 1")
            cores = 1
        if cpus == 0:
            note("CPUs=0 is invalid, reset to 1")
            cpus = 1
        if threads == 0:
            note("ThreadsPerCore=0 is invalid, reset to 1")
            threads = 1
        if per_board == 0:
            note("SocketsPerBoards=0 is invalid, reset to 1")
            per_board = 1
        if sockets == 0:
            note("Sockets=0 is invalid, reset to 1")
            sockets = 1
        if per_board is not None and sockets is not None:
            note("Sockets=# and SocketsPerBoard=# is invalid , using SocketsPerBoard")
            sockets = None
        if boards == 0:
            note("Boards=0 is invalid, reset to 1")
            boards = 1
        if sockets is None:
            if per_board is not None:
                sockets = boards * per_board
            elif cpus is not None and cpus // (cores * threads) and cpus % (cores * threads) == 0:
                sockets = cpus // (cores * threads)
            else:
                sockets = boards
        if cpus is None:
            cpus = sockets * cores * threads
        if sockets < boards:
            note(f"Sockets({sockets}) < Boards({boards}) resetting Boards=1")
            boards = 1
        if cpus not in (sockets, sockets * cores, sockets * cores * threads):
            note(
                f"CPUs={cpus} match no Sockets, Sockets*CoresPerSocket or "
                "Sockets*CoresPerSocket*ThreadsPerCore. Resetting CPUs."
            )
            cpus = sockets * cores * threads
        core_spec = get("corespeccount", 0)
        cpu_spec_list = get("cpuspeclist")
        if core_spec >= sockets * cores:
            note(f"CoreSpecCount={core_spec} is invalid, reset to 1")
            core_spec = 1
        if core_spec > 0 and cpu_spec_list:
            note(f"CoreSpecCount={core_spec} is invalid with CPUSpecList, reset to 0")
            core_spec = 0
        real_memory = get("realmemory", 1)
        mem_spec = get("memspeclimit", 0)
        if mem_spec and mem_spec >= real_memory:
            note(f"MemSpecLimit={mem_spec} is invalid, reset to 0")
            mem_spec = 0
        weight = get("weight", 1)
        if weight == INFINITE:
            weight -= 1
        feature = None
        for source, key in ((tbl, "feature"), (tbl, "features"), (dflt, "feature"), (dflt, "features")):
            if key in source:
                feature = source[key]
                break
        state = get("state")
        if state is not None and node_state_value(state) is None:
            raise ConfigError(*loc, f"Invalid state {state} from {names}")
        node = NodeConf(
            name=names,
            addr=addresses,
            hostname=hostnames,
            port=0,
            cpus=cpus,
            boards=boards,
            sockets=sockets,
            cores_per_socket=cores,
            threads_per_core=threads,
            real_memory_mib=real_memory,
            tmp_disk_mib=get("tmpdisk", 0),
            weight=weight,
            features=tuple(f for f in (feature or "").split(",") if f),
            gres=get("gres") or None,
            state=state.upper() if state is not None else "UNKNOWN",
            reason=get("reason"),
            core_spec_count=core_spec,
            cpu_spec_list=cpu_spec_list,
            mem_spec_limit_mib=mem_spec,
            cpu_bind=get("cpubind"),
            tres_weights=get("tresweights"),
        )
        self.node_lines.append(
            _NodeLine(names, hostnames, addresses, tbl.get("bcastaddr"), get("port"), node, loc)
        )

    # ---- PartitionName ------------------------------------------------------------------------------

    def _partition_line(self, name: str, tbl: Values, raw: dict[str, str], loc: Loc) -> None:
        if name.lower() == "default":
            self.part_default = {**self.part_default, **tbl}
            self.part_default_raw = {**self.part_default_raw, **raw}
            return
        dflt = self.part_default

        def get(key: str, fallback: Any = None) -> Any:
            if key in tbl:
                return tbl[key]
            return dflt.get(key, fallback)

        def listing(key: str, lower: bool) -> str | None:
            value: str | None = get(key)
            if value is None or value.lower() == "all":
                return None
            return value.lower() if lower else value

        allow_accounts = listing("allowaccounts", lower=True)
        deny_accounts = listing("denyaccounts", lower=True)
        if allow_accounts and deny_accounts:
            self.warn(loc, "Both AllowAccounts and DenyAccounts are defined, DenyAccounts will be ignored")
            deny_accounts = None
        allow_qos = listing("allowqos", lower=True)
        deny_qos = listing("denyqos", lower=True)
        if allow_qos and deny_qos:
            self.warn(loc, "Both AllowQos and DenyQos are defined, DenyQos will be ignored")
            deny_qos = None

        def_mem_cpu = def_mem_node = max_mem_cpu = max_mem_node = None
        if "defmempernode" in tbl or "defmempernode" in dflt:
            def_mem_node = get("defmempernode")
            if "defmempercpu" in tbl or "defmempercpu" in dflt:
                self.warn(loc, "DefMemPerCPU ignored, since it's mutually exclusive with DefMemPerNode")
        else:
            def_mem_cpu = get("defmempercpu")
        if "maxmempernode" in tbl or "maxmempernode" in dflt:
            max_mem_node = get("maxmempernode")
            if "maxmempercpu" in tbl or "maxmempercpu" in dflt:
                self.warn(loc, "MaxMemPerCPU ignored, since it's mutually exclusive with MaxMemPerNode")
        else:
            max_mem_cpu = get("maxmempercpu")

        max_time = self._part_time(get("maxtime"), "MaxTime", loc)
        default_time = self._part_time(get("defaulttime"), "DefaultTime", loc)
        if default_time is None and get("defaulttime") is not None:
            default_time = INFINITE  # DefaultTime=UNLIMITED: set, and unlimited

        over_time: int | None = None
        over_text = get("overtimelimit")
        if over_text is not None:
            if over_text.lower() in ("infinite", "unlimited"):
                over_time = INFINITE16
            else:
                number = _c_strtol(over_text)
                if number < 0:
                    self.warn(loc, f"Ignoring bad OverTimeLimit value: {over_text}")
                else:
                    over_time = INFINITE16 if number > 0xFFFE else number

        job_factor = get("priorityjobfactor", 1)
        tier = get("prioritytier", 1)
        if "priority" in tbl or "priority" in dflt:
            job_factor = tier = get("priority")

        select_params = tbl.get("selecttypeparameters")
        if select_params is not None and not select_params.lower().startswith(("cr_core", "cr_socket")):
            raise ConfigError(*loc, f"Bad value for SelectTypeParameters: {select_params}")

        share_text = None
        for source, key in (
            (tbl, "oversubscribe"),
            (dflt, "oversubscribe"),
            (tbl, "shared"),
            (dflt, "shared"),
        ):
            if key in source:
                share_text = source[key]
                break
        max_share = 1 if share_text is None else self._max_share(share_text, loc)

        state_text = get("state")
        state = "UP"
        if state_text is not None:
            upper = state_text.upper()
            for word in ("DOWN", "UP", "DRAIN", "INACTIVE"):
                if upper.startswith(word):
                    state = word
                    break
            else:
                raise ConfigError(*loc, f'Bad value "{state_text}" for State')

        nodes_expr = get("nodes")
        if nodes_expr is not None:
            nodes_expr = "".join("," if ch in BLANKS else ch for ch in nodes_expr)
        max_nodes = get("maxnodes", INFINITE)
        max_cpus = get("maxcpuspernode", INFINITE)
        part = PartitionConf(
            name=name,
            nodes_expr=nodes_expr,
            default=bool(get("default", False)),
            hidden=bool(get("hidden", False)),
            root_only=bool(get("rootonly", False)),
            req_resv=bool(get("reqresv", False)),
            lln=bool(get("lln", False)),
            exclusive_user=bool(tbl.get("exclusiveuser", False)),
            state=state,
            max_time_min=max_time,
            default_time_min=default_time,
            grace_time=get("gracetime", 0),
            max_nodes=None if max_nodes == INFINITE else max_nodes,
            min_nodes=get("minnodes", 0),
            max_cpus_per_node=None if max_cpus == INFINITE else max_cpus,
            def_mem_per_cpu_mib=def_mem_cpu,
            def_mem_per_node_mib=def_mem_node,
            max_mem_per_cpu_mib=max_mem_cpu,
            max_mem_per_node_mib=max_mem_node,
            def_cpu_per_gpu=get("defcpupergpu"),
            def_mem_per_gpu_mib=get("defmempergpu"),
            max_share=max_share,
            priority_job_factor=job_factor,
            priority_tier=tier,
            over_time_limit_min=over_time,
            preempt_mode=get("preemptmode"),
            qos=get("qos"),
            alternate=get("alternate"),
            allow_groups=listing("allowgroups", lower=False),
            allow_accounts=allow_accounts,
            allow_qos=allow_qos,
            deny_accounts=deny_accounts,
            deny_qos=deny_qos,
            allow_alloc_nodes=listing("allocnodes", lower=False),
            select_type_parameters=select_params,
            tres_billing_weights=get("tresbillingweights"),
            raw=MappingProxyType({**self.part_default_raw, **raw}),
        )
        self.part_lines.append(_PartLine(part, tbl.get("disablerootjobs"), loc))

    @staticmethod
    def _part_time(text: str | None, key: str, loc: Loc) -> int | None:
        if text is None:
            return None
        try:
            return parse_time_minutes(text)
        except TimeFormatError as exc:
            raise ConfigError(*loc, f'Bad value "{text}" for {key}') from exc

    def _max_share(self, text: str, loc: Loc) -> int:
        lowered = text.lower()
        if lowered == "no":
            return 1
        if lowered == "exclusive":
            return 0
        if lowered.startswith("yes:"):
            count = _c_strtol(text[4:])
            if count <= 1:
                self.warn(loc, f"Ignoring bad OverSubscribe value: {text}")
                return 1
            return count & 0xFFFF
        if lowered == "yes":
            return 4
        if lowered.startswith("force:"):
            count = _c_strtol(text[6:])
            if count < 1:
                self.warn(loc, f"Ignoring bad OverSubscribe value: {text}")
                return 1
            return (count | SHARED_FORCE) & 0xFFFF
        if lowered == "force":
            return 4 | SHARED_FORCE
        raise ConfigError(*loc, f'Bad value "{text}" for OverSubscribe')


_PORT_RANGE = re.compile(r"\+?([0-9]+)(?:-\+?([0-9]+))?")
_NODE_KEY_NAMES = {"nodehostname": "NodeHostname", "bcastaddr": "BcastAddr", "nodeaddr": "NodeAddr"}


def _c_strtol(text: str) -> int:
    """C strtol(text, NULL, 10): leading blanks, a sign, digits; 0 when there are none."""
    stripped = text.lstrip(BLANKS)
    index = 1 if stripped[:1] in ("+", "-") else 0
    while index < len(stripped) and stripped[index].isdigit():
        index += 1
    digits = stripped[:index]
    return int(digits) if digits not in ("", "+", "-") else 0


def _max_script_size(scheduler_parameters: str | None) -> int:
    """SchedulerParameters max_script_size=: the largest batch script slurmctld takes, 4 MiB unless
    set. Read as slurmctld does (the text after the first "max_script_size=", case-insensitive, by
    atoi): a value that is not a number is 0."""
    text = scheduler_parameters or ""
    at = text.lower().find("max_script_size=")
    if at < 0:
        return 4 * 1024 * 1024
    return _c_strtol(text[at + len("max_script_size=") :])


def _control_host(value: str, loc: Loc) -> ControlHost:
    open_at, close_at = value.find("("), value.find(")")
    if (
        (open_at < 0) != (close_at < 0)
        or (close_at >= 0 and close_at != len(value) - 1)
        or (close_at >= 0 and close_at != value.rfind(")"))
    ):
        raise ConfigError(*loc, f'Bad value "{value}" for SlurmctldHost')
    if open_at < 0:
        return ControlHost(value, value)
    return ControlHost(value[:open_at], value[open_at + 1 : close_at])


def _expand(expr: str, what: str, loc: Loc) -> list[str]:
    """A SLURM hostlist expression (',' or blanks between items) expanded in order, duplicates kept."""
    text = "".join("," if ch in " \t" else ch for ch in expr)
    try:
        return [item for item in hostlists.expand(text, duplicates=True) if item]
    except hostlists.HostlistError as exc:
        raise ConfigError(*loc, f"Unable to create {what} list from {expr} ({exc})") from exc


def _zip_values(
    values: list[str], count: int, what: str, loc: Loc, names: str, warn: Callable[[Loc, str], None]
) -> list[str]:
    """One value per node: the same count, or one value for all.

    More values than nodes: the extra ones are unused (SLURM builds without MULTIPLE_SLURMD accept
    this, Debian's refuses it). Fewer NodeHostname values: the last one repeats (Debian's build
    accepts this, others refuse it). Fewer NodeAddr/BcastAddr values: an error in every build.
    """
    if len(values) == count:
        return values
    if len(values) == 1:
        return values * count
    if len(values) > count:
        warn(loc, f"{what} has {len(values)} values for {count} nodes ({names}); the extra ones are unused")
        return values[:count]
    if what == "NodeHostname" and values:
        warn(loc, f"{what} has {len(values)} values for {count} nodes ({names}); the last one repeats")
        return values + [values[-1]] * (count - len(values))
    raise ConfigError(
        *loc,
        f"{what} count must equal that of NodeName records or there must be no more than one "
        f"({len(values)} != {count} for {names})",
    )


class _Builder:
    """Second pass: settings -> SlurmConfig with SLURM's defaults and checks (_validate_and_set_defaults)."""

    def __init__(self, reader: _Reader, path: str, uid_lookup: UidLookup) -> None:
        self.r = reader
        self.path = path
        self.uid_lookup = uid_lookup
        self.used: set[str] = set()

    # -- access helpers: each records the key as modelled (not part of raw) --

    def setting(self, key: str) -> _Setting | None:
        self.used.add(key)
        return self.r.settings.get(key)

    def value(self, key: str, fallback: Any = None) -> Any:
        found = self.setting(key)
        return fallback if found is None else found.typed

    def error(self, setting: _Setting | None, message: str) -> ConfigError:
        if setting is None:
            return ConfigError(self.path, None, message)
        return ConfigError(*setting.loc, message)

    def warn(self, setting: _Setting | None, message: str) -> None:
        self.r.warn(setting.loc if setting else (self.path, None), message)

    def build(self) -> SlurmConfig:
        fields: dict[str, Any] = {}
        cluster = self.setting("clustername")
        if cluster is None or not cluster.value:
            raise self.error(cluster, "ClusterName needs to be specified")
        fields["cluster_name"] = cluster.value.lower()
        fields["control_hosts"] = self._control_hosts()
        fields["slurmctld_addr"] = self.value("slurmctldaddr")
        fields["slurmctld_port"], fields["slurmctld_port_count"] = self._slurmctld_port()
        slurmd_port = self.setting("slurmdport")
        if slurmd_port is not None and not 0 < slurmd_port.typed <= 0xFFFF:
            raise self.error(slurmd_port, f"Invalid SlurmdPort {slurmd_port.value}")
        fields["slurmd_port"] = SLURMD_PORT if slurmd_port is None else slurmd_port.typed
        self._auth(fields)
        self._users(fields)
        self._jobs(fields)
        self._memory(fields)
        self._misc(fields)
        fields["gres_names"] = self._gres_names(
            fields["select_type"] if "selecttype" in self.r.settings else None
        )
        nodes = self._nodes(fields["slurmd_port"], fields["gres_names"])
        node_sets = tuple(ns for ns, _ in self.r.node_sets)
        partitions = self._partitions(nodes, fields["disable_root_jobs"])
        for key in ("frontendname", "downnodes", "nodename", "nodeset", "partitionname", "slurmctldhost"):
            self.used.add(key)
        raw = {key: s.value for key, s in self.r.settings.items() if key not in self.used}
        return SlurmConfig(
            path=self.path,
            nodes=nodes,
            partitions=partitions,
            node_sets=node_sets,
            raw=MappingProxyType(raw),
            given=frozenset(self.r.settings),
            warnings=tuple(self.r.warnings),
            files=tuple(self.r.files),
            hash_val=self.r.hash_val,
            bare_includes=tuple(self.r.bare_includes),
            **fields,
        )

    def _control_hosts(self) -> tuple[ControlHost, ...]:
        legacy = {
            key: self.setting(key)
            for key in ("controlmachine", "controladdr", "backupcontroller", "backupaddr")
        }
        hosts: list[ControlHost]
        if self.r.ctl_hosts:
            for setting in legacy.values():
                if setting is not None:
                    self.warn(setting, f"Ignoring {setting.key} since SlurmctldHost is set.")
            hosts = []
            for host, loc in self.r.ctl_hosts:
                if any(existing.name == host.name for existing in hosts):
                    raise ConfigError(*loc, f"Duplicate SlurmctldHost records: {host.name}")
                hosts.append(host)
            return tuple(hosts)
        machine, addr = legacy["controlmachine"], legacy["controladdr"]
        if machine is None:
            raise self.error(None, "No SlurmctldHost defined.")
        if addr is None and "," in machine.value:
            raise self.error(
                machine, "ControlMachine has multiple host names, so ControlAddr must be specified."
            )
        hosts = [ControlHost(machine.value, addr.value if addr else machine.value)]
        backup, backup_addr = legacy["backupcontroller"], legacy["backupaddr"]
        if backup_addr is not None and backup is None:
            raise self.error(backup_addr, "BackupAddr specified without BackupController")
        if backup is not None:
            if backup.value == machine.value:
                raise self.error(backup, f"Duplicate SlurmctldHost records: {backup.value}")
            hosts.append(ControlHost(backup.value, backup_addr.value if backup_addr else backup.value))
        return tuple(hosts)

    def _slurmctld_port(self) -> tuple[int, int]:
        setting = self.setting("slurmctldport")
        if setting is None:
            return SLURMCTLD_PORT, 1
        text = setting.value
        m = _PORT_RANGE.fullmatch(text)
        if m is None:
            raise self.error(setting, f"Invalid SlurmctldPort {text}")
        start = int(m.group(1))
        end = start if m.group(2) is None else int(m.group(2))
        if not 0 < start <= end <= 0xFFFF or (m.group(2) is not None and end == start):
            raise self.error(setting, f"Invalid SlurmctldPort {text}")
        return start, end - start + 1

    def _auth(self, fields: dict[str, Any]) -> None:
        fields["auth_type"] = self.value("authtype", "auth/munge")
        info = self.setting("authinfo")
        fields["auth_info"] = info.value if info else None
        socket: str | None = None
        ttl = 0
        cred_expire = DEFAULT_CRED_EXPIRE
        if info is not None:
            text = info.value
            at = text.find("socket=")
            if at >= 0:
                socket = text[at + 7 :].split(",", 1)[0]
            elif "=" not in text:
                socket = text  # the old format: AuthInfo=/path/to/socket
            at = text.find("ttl=")
            if at >= 0:
                ttl = max(_c_strtol(text[at + 4 :]), 0)
            at = text.find("cred_expire=")
            if at >= 0:
                cred_expire = _c_strtol(text[at + 12 :])
                if cred_expire < 5:
                    self.warn(info, f"AuthInfo=cred_expire={cred_expire} invalid")
                    cred_expire = DEFAULT_CRED_EXPIRE
        fields["munge_socket"] = socket
        fields["auth_ttl"] = ttl
        fields["cred_expire"] = cred_expire
        cred_type = self.value("credtype")
        if cred_type is None:
            crypto = self.value("cryptotype")
            cred_type = crypto.replace("crypto", "cred", 1) if crypto else "cred/munge"
        fields["cred_type"] = cred_type

    def _users(self, fields: dict[str, Any]) -> None:
        for key, name_field, uid_field, label in (
            ("slurmuser", "slurm_user", "slurm_user_uid", "SlurmUser"),
            ("slurmduser", "slurmd_user", "slurmd_user_uid", "SlurmdUser"),
        ):
            setting = self.setting(key)
            if setting is None:
                fields[name_field], fields[uid_field] = "root", 0
                continue
            uid = self.uid_lookup(setting.value)
            if uid is None:
                raise self.error(
                    setting, f"Invalid user for {label} {setting.value} (no such user on this host)"
                )
            fields[name_field], fields[uid_field] = setting.value, uid

    def _jobs(self, fields: dict[str, Any]) -> None:
        first_s = self.setting("firstjobid")
        first = 1 if first_s is None else first_s.typed
        if first == 0:
            raise self.error(first_s, "FirstJobId cannot be zero")
        max_id_s = self.setting("maxjobid")
        max_id = DEFAULT_MAX_JOB_ID if max_id_s is None else max_id_s.typed
        if max_id > MAX_JOB_ID:
            self.warn(max_id_s, "MaxJobId can not exceed MAX_JOB_ID, resetting value")
            max_id = MAX_JOB_ID
        if first > max_id:
            raise self.error(first_s, "FirstJobId > MaxJobId")
        count_s = self.setting("maxjobcount")
        count = 10000 if count_s is None else count_s.typed
        if count < 1:
            raise self.error(count_s, f"MaxJobCount={count}, No jobs permitted")
        if count > max_id - first + 1:
            self.warn(
                count_s,
                f"Resetting MaxJobCount from {count} to {max_id - first + 1} (MaxJobId - FirstJobId + 1)",
            )
            count = max_id - first + 1
        steps_s = self.setting("maxstepcount")
        if steps_s is not None and steps_s.typed < 1:
            raise self.error(steps_s, f"MaxStepCount={steps_s.typed}, No steps permitted")
        age_s = self.setting("minjobage")
        age = 300 if age_s is None else age_s.typed
        if age < 2:
            self.warn(age_s, "MinJobAge must be at least 2")
            age = 2
        fields.update(
            first_job_id=first,
            max_job_id=max_id,
            max_job_count=count,
            max_step_count=40000 if steps_s is None else steps_s.typed,
            max_array_size=self.value("maxarraysize", 1001),
            max_tasks_per_node=self.value("maxtaskspernode", MAX_TASKS_PER_NODE),
            min_job_age=age,
        )
        enforce = self.setting("enforcepartlimits")
        if enforce is None:
            fields["enforce_part_limits"] = PARTITION_ENFORCE_NONE
        else:
            word = enforce.value.lower()
            if word in ("yes", "up", "true", "1", "any"):
                fields["enforce_part_limits"] = PARTITION_ENFORCE_ANY
            elif word in ("no", "down", "false", "0"):
                fields["enforce_part_limits"] = PARTITION_ENFORCE_NONE
            elif word == "all":
                fields["enforce_part_limits"] = PARTITION_ENFORCE_ALL
            else:
                raise self.error(enforce, f"Bad EnforcePartLimits: {enforce.value}")

    def _memory(self, fields: dict[str, Any]) -> None:
        for kind in ("def", "max"):
            per_node = self.setting(f"{kind}mempernode")
            per_cpu = self.setting(f"{kind}mempercpu")
            node_value = cpu_value = None
            if per_node is not None:
                node_value = per_node.typed
                if per_cpu is not None:
                    self.warn(
                        per_cpu,
                        f"{per_cpu.key} ignored, since it's mutually exclusive with {per_node.key}",
                    )
            elif per_cpu is not None:
                cpu_value = per_cpu.typed
            # 0 is no limit; UNLIMITED stays SLURM's INFINITE64 (slurmctld stores and reports it)
            node_value = node_value or None
            cpu_value = cpu_value or None
            fields[f"{kind}_mem_per_node_mib"] = node_value
            fields[f"{kind}_mem_per_cpu_mib"] = cpu_value

    def _misc(self, fields: dict[str, Any]) -> None:
        simple = {
            "state_save_location": ("statesavelocation", "/var/spool"),
            "slurmd_spool_dir": ("slurmdspooldir", "/var/spool/slurmd"),
            "slurmctld_pid_file": ("slurmctldpidfile", "/var/run/slurmctld.pid"),
            "slurmd_pid_file": ("slurmdpidfile", "/var/run/slurmd.pid"),
            "slurmctld_log_file": ("slurmctldlogfile", None),
            "slurmd_log_file": ("slurmdlogfile", None),
            "kill_wait": ("killwait", 30),
            "message_timeout": ("messagetimeout", 10),
            "slurmd_timeout": ("slurmdtimeout", 300),
            "slurmctld_timeout": ("slurmctldtimeout", 120),
            "inactive_limit": ("inactivelimit", 0),
            "batch_start_timeout": ("batchstarttimeout", 10),
            "complete_wait": ("completewait", 0),
            "tcp_timeout": ("tcptimeout", 2),
            "wait_time": ("waittime", 0),
            "over_time_limit_min": ("overtimelimit", 0),
            "return_to_service": ("returntoservice", 0),
            "select_type": ("selecttype", "select/linear"),
            "select_type_parameters": ("selecttypeparameters", None),
            "scheduler_type": ("schedulertype", "sched/backfill"),
            "scheduler_parameters": ("schedulerparameters", None),
            "priority_type": ("prioritytype", "priority/basic"),
            "preempt_type": ("preempttype", "preempt/none"),
            "prolog": ("prolog", None),
            "epilog": ("epilog", None),
            "prolog_slurmctld": ("prologslurmctld", None),
            "epilog_slurmctld": ("epilogslurmctld", None),
            "task_prolog": ("taskprolog", None),
            "task_epilog": ("taskepilog", None),
            "srun_prolog": ("srunprolog", None),
            "srun_epilog": ("srunepilog", None),
            "prolog_flags": ("prologflags", None),
            "tmp_fs": ("tmpfs", "/tmp"),
            "proctrack_type": ("proctracktype", "proctrack/cgroup"),
            "task_plugin": ("taskplugin", "task/none"),
            "task_plugin_param": ("taskpluginparam", None),
            "job_acct_gather_type": ("jobacctgathertype", "jobacct_gather/none"),
            "job_acct_gather_frequency": ("jobacctgatherfrequency", "30"),
            "job_comp_type": ("jobcomptype", "jobcomp/none"),
            "switch_type": ("switchtype", "switch/none"),
            "launch_type": ("launchtype", "launch/slurm"),
            "gres_types": ("grestypes", None),
            "communication_parameters": ("communicationparameters", None),
            "slurmctld_parameters": ("slurmctldparameters", None),
            "slurmd_parameters": ("slurmdparameters", None),
            "mail_prog": ("mailprog", None),
            "disable_root_jobs": ("disablerootjobs", False),
        }
        for name, (key, fallback) in simple.items():
            fields[name] = self.value(key, fallback)
        fields["max_script_size"] = _max_script_size(fields["scheduler_parameters"])
        self._licenses(fields)

        tree = self.setting("treewidth")
        if tree is not None and tree.typed == 0:
            self.warn(tree, "TreeWidth=0 is invalid")
        fields["tree_width"] = tree.typed if tree is not None and tree.typed else DEFAULT_TREE_WIDTH

        mpi = self.setting("mpidefault")
        fields["mpi_default"] = "none" if mpi is None else mpi.value
        if mpi is not None and mpi.value == "openmpi":
            self.warn(mpi, "Translating obsolete 'MpiDefault=openmpi' option to 'MpiDefault=none'.")
            fields["mpi_default"] = "none"

        storage = self.setting("accountingstoragetype")
        fields["accounting_storage_type"] = "accounting_storage/none" if storage is None else storage.value
        if storage is not None and "mysql" in storage.value.lower():
            raise self.error(
                storage, "AccountingStorageType=accounting_storage/mysql only permitted in SlurmDBD."
            )

        private = self.setting("privatedata")
        bits = 0
        if private is not None:
            lowered = private.value.lower()
            for word, bit in _PRIVATE_DATA_BITS:
                if word in lowered:
                    bits |= bit
            if "all" in lowered:
                bits = 0xFFFF
        fields["private_data"] = bits

        for key, message in (
            (
                "fastschedule",
                "FastSchedule has been removed (FastSchedule=2 is SlurmdParameters=config_overrides)",
            ),
            ("accountingstorageloc", "AccountingStorageLoc has been removed"),
            (
                "accountingstorejobcomment",
                "AccountingStoreJobComment has been removed (AccountingStoreFlags)",
            ),
            ("sallocdefaultcommand", "SallocDefaultCommand has been removed (LaunchParameters)"),
        ):
            setting = self.r.settings.get(key)
            if setting is not None and not (key == "fastschedule" and setting.typed == 1):
                self.warn(setting, f"{message}; SLURM 22.05 refuses to start with it")

    def _licenses(self, fields: dict[str, Any]) -> None:
        setting = self.setting("licenses")
        fields["licenses"] = setting.value if setting is not None else None
        try:
            parse_licenses(fields["licenses"])
        except LicenseError:
            raise self.error(setting, f"Invalid configured licenses: {fields['licenses']}") from None

    def _gres_names(self, select_type: str | None) -> tuple[str, ...]:
        setting = self.setting("grestypes")
        try:
            names, errors = gres_conf.context_names(setting.value if setting else None, select_type)
        except gres_conf.GresTypesError as exc:
            raise self.error(setting, str(exc)) from None
        for message in errors:
            self.warn(setting, message)
        return names

    def _nodes(self, slurmd_port: int, gres_names: tuple[str, ...] = ()) -> tuple[NodeConf, ...]:
        nodes: list[NodeConf] = []
        index: dict[str, int] = {}
        gres_types = set(gres_names)
        for line in self.r.node_lines:
            template = line.node
            if template.gres:
                template = replace(template, gres=self._gres_filter(line, gres_types))
            names = _expand(line.names, "NodeName", line.loc)
            if not names:
                raise ConfigError(*line.loc, "Empty NodeName in config.")
            count = len(names)
            warn = self.r.warn
            hostnames = _zip_values(
                _expand(line.hostnames, "NodeHostname", line.loc),
                count,
                "NodeHostname",
                line.loc,
                line.names,
                warn,
            )
            addresses = _zip_values(
                _expand(line.addresses, "NodeAddr", line.loc), count, "NodeAddr", line.loc, line.names, warn
            )
            bcasts: list[str | None] = [None] * count
            if line.bcast:
                bcast_list = _expand(line.bcast, "BcastAddr", line.loc)
                bcasts = list(_zip_values(bcast_list, count, "BcastAddr", line.loc, line.names, warn))
            ports = self._ports(line, count, slurmd_port)
            for position, name in enumerate(names):
                if name in index:
                    raise ConfigError(*line.loc, f"Duplicated NodeName {name} in config file")
                index[name] = len(nodes)
                nodes.append(
                    replace(
                        template,
                        name=name,
                        hostname=hostnames[position],
                        addr=addresses[position],
                        bcast_addr=bcasts[position],
                        port=ports[position],
                    )
                )
        for down in self.r.down_lines:
            state = down.state.upper() if down.state is not None else "DOWN"
            for name in _expand(down.names, "DownNodes", down.loc):
                if name not in index:
                    self.r.warn(down.loc, f'DownNode "{name}" does not exist!')
                    continue
                node = nodes[index[name]]
                new_state = node.state if node_state_value(state) == int(NodeState.UNKNOWN) else state
                nodes[index[name]] = replace(node, state=new_state, reason=down.reason)
        topology = self.r.settings.get("topologyplugin")
        if topology is not None and topology.value.split("/")[-1] in ("3d_torus", "hypercube"):
            self.warn(
                topology, f"{topology.value} ranks nodes itself; flurm keeps the node table in name order"
            )
        return tuple(sorted(nodes, key=lambda node: natural_key(node.name)))

    def _gres_filter(self, line: _NodeLine, gres_types: set[str]) -> str | None:
        """gres_name_filter(): slurmctld keeps only the GRES whose name GresTypes lists (without
        GresTypes, none, silently); a count it cannot read is logged (_get_gres_cnt), not refused."""
        if not gres_types:
            return None
        kept = []
        for item in (line.node.gres or "").split(","):
            if not item:
                continue
            if item.split(":", 1)[0] in gres_types:
                kept.append(item)
            else:
                self.r.warn(line.loc, f"Invalid GRES configured on node {line.names}: {item}")
        value = ",".join(kept) or None
        for name in dict.fromkeys(item.split(":", 1)[0] for item in kept):
            bad = gres_conf.configured(value, name).bad
            if bad is not None:
                self.r.warn(line.loc, f"Bad GRES configuration: {bad}")
        return value

    @staticmethod
    def _ports(line: _NodeLine, count: int, slurmd_port: int) -> list[int]:
        text = line.port
        if not text:
            return [slurmd_port] * count
        expr = f"[{text}]" if not text.startswith("[") and ("-" in text or "," in text) else text
        try:
            items = hostlists.expand(expr, duplicates=True)
        except hostlists.HostlistError:
            raise ConfigError(*line.loc, f"Unable to create Port list from {text}") from None
        if len(items) > 1 and len(items) != count:
            raise ConfigError(
                *line.loc,
                "Port count must equal that of NodeName records or there must be no more than one "
                f"({len(items)} != {count})",
            )
        ports: list[int] = []
        for item in items:
            if not item.isdigit() or not 0 < int(item) <= 0xFFFF:
                raise ConfigError(*line.loc, f"Invalid Port {text}")
            ports.append(int(item))
        return ports if len(ports) == count else ports * count

    def _partitions(self, nodes: tuple[NodeConf, ...], disable_root_jobs: bool) -> tuple[PartitionConf, ...]:
        order = {node.name: position for position, node in enumerate(nodes)}
        node_sets = self.r.node_sets
        parts: list[PartitionConf] = []
        seen: set[str] = set()
        default_at: int | None = None
        for line in self.r.part_lines:
            part = line.part
            if part.name in seen:
                raise ConfigError(*line.loc, f"duplicate entry for partition {part.name}")
            seen.add(part.name)
            members = self._partition_nodes(part, nodes, node_sets, line.loc)
            missing = [name for name in members if name not in order]
            if missing:
                shown = hostlists.compress(missing)
                raise ConfigError(*line.loc, f"Invalid node names in partition {part.name}: {shown}")
            wanted = set(members)
            ordered = tuple(node.name for node in nodes if node.name in wanted)
            default_time = part.default_time_min
            if (
                default_time is not None
                and part.max_time_min is not None  # None is INFINITE, which nothing exceeds
                and default_time > part.max_time_min
            ):
                self.r.warn(
                    line.loc,
                    f"partition {part.name} DefaultTime exceeds MaxTime "
                    f"({default_time} > {part.max_time_min})",
                )
                default_time = None
            no_root = disable_root_jobs if line.disable_root_jobs is None else line.disable_root_jobs
            if part.default:
                if default_at is not None:
                    self.r.warn(
                        line.loc, f"changing default partition from {parts[default_at].name} to {part.name}"
                    )
                    parts[default_at] = replace(parts[default_at], default=False)
                default_at = len(parts)
            if not ordered:
                self.r.warn(line.loc, f"No nodes in partition {part.name}")
            parts.append(
                replace(part, nodes=ordered, default_time_min=default_time, disable_root_jobs=no_root)
            )
        if not parts:
            self.r.warn(
                (self.path, None), "No PartitionName information available! (slurmctld refuses to start)"
            )
        return tuple(parts)

    @staticmethod
    def _partition_nodes(
        part: PartitionConf,
        nodes: tuple[NodeConf, ...],
        node_sets: Iterable[tuple[NodeSetConf, Loc]],
        loc: Loc,
    ) -> list[str]:
        expr = part.nodes_expr
        if expr is None:
            return []
        if expr.lower() == "all":
            return [node.name for node in nodes]
        members = _expand(expr, "Nodes", loc)
        for node_set, set_loc in node_sets:
            if node_set.name not in members:
                continue
            members = [name for name in members if name != node_set.name]
            if node_set.feature:
                members += [node.name for node in nodes if node_set.feature in node.features]
            if node_set.nodes_expr:
                members += _expand(node_set.nodes_expr, "NodeSet Nodes", set_loc)
        return list(dict.fromkeys(members))

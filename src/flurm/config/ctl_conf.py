"""slurmctld's configuration table (slurm_conf_t) from a parsed slurm.conf: what REQUEST_BUILD_INFO sends.

slurmctld answers ``scontrol show config`` with every setting it runs with, defaults included. This
module derives that table the way SLURM 22.05 does (src/common/read_config.c
_validate_and_set_defaults, its default macros in read_config.h and slurm.h, and slurmctld's own
adjustments): the keys flurm models come from :class:`SlurmConfig`'s fields, every other key from
``SlurmConfig.raw`` (kept as written), each with SLURM's default when the site does not set it.
What only the running controller knows (its start time, the next job id, the moment of the answer)
is left for the caller to fill in: :func:`slurmctld_conf` returns those fields as 0.

The cgroup and accounting gather blocks come from cgroup.conf and acct_gather.conf (config/cgroup.py,
config/acct_gather.py, read with slurm.conf), the MPI block from mpi.conf where the PMIx plugin loads
(config/mpi.py). Not derived (sent as slurmctld sends them with none of those plugins loaded): the
select, ext_sensors, node_features and slurmctld plugstack settings.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable
from typing import Any

from flurm.config.acct_gather import acct_gather_types
from flurm.config.cgroup import cgroup_key_pairs, reports_cgroup
from flurm.config.keys import TOP_KEYS
from flurm.config.plugin_confs import DEFAULT_PLUGIN_DIR, PluginConfs
from flurm.config.release_rules import NONE_PLUGINS, Pmix, ReleaseRules, rules
from flurm.config.slurmconf import ConfigError, SlurmConfig
from flurm.config.timefmt import TimeFormatError, parse_time_minutes, parse_time_seconds
from flurm.config.values import BadValue, convert
from flurm.protocol.constants import INFINITE, NO_VAL, NO_VAL16, SLURM_22_05_PROTOCOL_VERSION
from flurm.protocol.messages.config_info import BuildInfo, JobDefault

__all__ = [
    "check",
    "cpu_freq_def",
    "cpu_freq_governors",
    "debug_flags",
    "effective_select_type_param",
    "prolog_flags",
    "refusal",
    "select_type_param",
    "select_type_param_string",
    "slurmctld_conf",
    "task_plugin_param",
]

DEFAULT_ACCOUNTING_TRES = "cpu,mem,energy,node,billing,fs/disk,vmem,pages"
DEFAULT_BCAST_EXCLUDE = "/lib,/usr/lib,/lib64,/usr/lib64"
DEFAULT_INTERACTIVE_STEP_OPTS = "--interactive --preserve-env --pty $SHELL"
DEFAULT_JOB_COMP_LOC = "/var/log/slurm_jobcomp.log"
DEFAULT_JOB_COMP_DB = "slurm_jobcomp_db"
DEFAULT_MAIL_PROG = "/bin/mail"
DEFAULT_MAIL_PROG_ALT = "/usr/bin/mail"
SLURMDBD_PORT = 6819
PRIORITY_DECAY = 7 * 24 * 3600  # DEFAULT_PRIORITY_DECAY and PriorityMaxAge, seconds
LOG_LEVEL_INFO = 3
LOG_LEVEL_END = 10  # a syslog channel not set ("(null)" in scontrol)

# conf_flags bits (slurm.h CTL_CONF_*)
CTL_CONF_OR = 1 << 0
CTL_CONF_SJC = 1 << 1
CTL_CONF_DRJ = 1 << 2
CTL_CONF_ASRU = 1 << 3
CTL_CONF_PAM = 1 << 4
CTL_CONF_WCKEY = 1 << 5
CTL_CONF_IPV4_ENABLED = 1 << 6
CTL_CONF_IPV6_ENABLED = 1 << 7
CTL_CONF_SJS = 1 << 9
CTL_CONF_SJE = 1 << 10

# CPU_FREQ_ONDEMAND | CPU_FREQ_PERFORMANCE | CPU_FREQ_USERSPACE
DEFAULT_CPU_FREQ_GOVERNORS = 0x84000000 | 0x82000000 | 0x80800000
CPU_FREQ_RANGE_FLAG = 0x80000000
CPU_FREQ_USERSPACE = 0x80800000
# governor names by the prefix SLURM recognises them by (_cpu_freq_check_gov), CPU_FREQ_* values
_GOVERNORS = (
    ("co", 0x88000000),
    ("perf", 0x82000000),
    ("pow", 0x81000000),
    ("user", CPU_FREQ_USERSPACE),
    ("onde", 0x84000000),
    ("sche", 0x80400000),
)
HEALTH_CHECK_NODE_ANY = 0x000F
PRIORITY_FLAGS_FAIR_TREE = 1 << 5

_SELECT_TYPE_PARAMS = {
    "cr_socket": 0x0002,
    "cr_socket_memory": 0x0002 | 0x0010,
    "cr_core": 0x0004,
    "cr_core_memory": 0x0004 | 0x0010,
    "cr_memory": 0x0010,
    "cr_cpu": 0x0001,
    "cr_cpu_memory": 0x0001 | 0x0010,
    "other_cons_res": 0x0020,
    "other_cons_tres": 0x0800,
    "cr_allocate_full_socket": 0,
    "cr_one_task_per_core": 0x0100,
    "cr_core_default_dist_block": 0x1000,
    "cr_lln": 0x4000,
    "cr_pack_nodes": 0x0200,
}

CR_CPU, CR_SOCKET, CR_CORE, CR_MEMORY = 0x0001, 0x0002, 0x0004, 0x0010
_CONS_SELECT = ("select/cons_res", "select/cons_tres")
_CR_OTHER_NAMES = (
    (0x0020, "OTHER_CONS_RES"),
    (0x0800, "OTHER_CONS_TRES"),
    (0x0100, "CR_ONE_TASK_PER_CORE"),
    (0x1000, "CR_CORE_DEFAULT_DIST_BLOCK"),
    (0x4000, "CR_LLN"),
    (0x0200, "CR_PACK_NODES"),
)

_PROLOG_FLAGS = {
    "alloc": 0x0001,
    "contain": 0x0001 | 0x0004,
    "deferbatch": 0x0020,
    "nohold": 0x0002,
    "serial": 0x0008,
    "x11": 0x0001 | 0x0004 | 0x0010,
}
PROLOG_FLAG_ALLOC = 0x0001
PROLOG_FLAG_NOHOLD = 0x0002

# PriorityFlags words, looked for anywhere in the value (xstrcasestr), as SLURM does
_PRIORITY_FLAG_WORDS = (
    ("ACCRUE_ALWAYS", 1 << 0),
    ("SMALL_RELATIVE_TO_TIME", 1 << 2),
    ("CALCULATE_RUNNING", 1 << 4),
    ("INCR_ONLY", 1 << 6),
    ("MAX_TRES", 1 << 1),
    ("NO_NORMAL_ALL", (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10)),
    ("NO_NORMAL_ASSOC", 1 << 7),
    ("NO_NORMAL_PART", 1 << 8),
    ("NO_NORMAL_QOS", 1 << 9),
    ("NO_NORMAL_TRES", 1 << 10),
)
PRIORITY_FLAGS_DEPTH_OBLIVIOUS = 1 << 3

_RESET_PERIODS = {"none": 0, "now": 1, "daily": 2, "weekly": 3, "monthly": 4, "quarterly": 5, "yearly": 6}

_PREEMPT_MODE_GANG = 0x8000
_PREEMPT_MODE_WITHIN = 0x4000
_PREEMPT_MODES = {
    "off": 0,
    "cluster": 0,
    "cancel": 0x0008,
    "requeue": 0x0002,
    "on": 0x0001,
    "suspend": 0x0001,
}

_LOG_LEVELS = ("quiet", "fatal", "error", "info", "verbose", "debug", "debug2", "debug3", "debug4", "debug5")

_ENFORCE = {  # AccountingStorageEnforce word: (bits, sets TrackWCKey)
    "1": (0x01, False),
    "associations": (0x01, False),
    "2": (0x03, False),
    "limits": (0x03, False),
    "safe": (0x13, False),
    "wckeys": (0x05, True),
    "qos": (0x09, False),
    "nojobs": (0x60, False),
    "nosteps": (0x40, False),
}

_CPU_BIND_UNITS = {"none": 0x0020, "sockets": 0x0008, "cores": 0x0004, "threads": 0x0002}
_AUTO_BIND = {"none": 0, "threads": 0x04000, "cores": 0x10000, "sockets": 0x20000}
CPU_BIND_VERBOSE = 0x0001
SLURMD_OFF_SPEC = 0x40000

# DebugFlags words (debug_str2flags) and their DEBUG_FLAG_* bit numbers (slurm.h)
_DEBUG_FLAG_BITS = {
    "accrue": 50,
    "agent": 52,
    "backfill": 12,
    "backfillmap": 27,
    "burstbuffer": 40,
    "cgroup": 55,
    "cpu_bind": 3,
    "data": 8,
    "db_archive": 44,
    "db_assoc": 30,
    "db_tres": 45,
    "db_event": 31,
    "db_job": 32,
    "db_qos": 33,
    "db_query": 34,
    "db_reservation": 35,
    "db_resource": 36,
    "db_step": 37,
    "db_usage": 38,
    "db_wckey": 39,
    "dependency": 53,
    "elasticsearch": 46,
    "energy": 18,
    "extsensors": 19,
    "federation": 48,
    "frontend": 15,
    "gang": 13,
    "gres": 6,
    "hetjob": 49,
    "interconnect": 22,
    "jobaccountgather": 54,
    "jag": 54,
    "jobcontainer": 24,
    "license": 20,
    "mpi": 7,
    "network": 10,
    "net": 10,
    "networkraw": 4,
    "netraw": 4,
    "no_conf_hash": 5,
    "nodefeatures": 47,
    "priority": 11,
    "profile": 21,
    "protocol": 26,
    "reservation": 14,
    "route": 29,
    "script": 56,
    "selecttype": 0,
    "steps": 1,
    "switch": 17,
    "task": -1,  # removed in 22.05: logged and ignored
    "tracejobs": 28,
    "trigger": 2,
    "triggers": 2,
    "cpufrequency": 41,
    "power": 42,
    "powersave": 42,
    "timecray": 43,
    "workqueue": 9,
    "workq": 9,
}

_LOG_FORMATS = (  # LogTimeFormat: the first word found wins, in this order
    ("iso8601_ms", 0),
    ("iso8601", 1),
    ("rfc5424_ms", 2),
    ("rfc5424", 3),
    ("clock", 4),
    ("short", 5),
    ("thread_id", 6),
)


def _c_atoi(text: str) -> int:
    m = re.match(r"[ \t\n\r\f\v]*([+-]?[0-9]+)", text)
    return int(m.group(1)) if m else 0


def _u16(value: int) -> int:
    return value & 0xFFFF


def _log_level(text: str | None, default: int) -> int:
    """log_string2num, then _normalize_debug_level (above LOG_LEVEL_END is LOG_LEVEL_END - 1)."""
    if text is None:
        return default
    if text[:1].isdigit():
        level = _u16(_c_atoi(text))
    elif text.lower() in _LOG_LEVELS:
        level = _LOG_LEVELS.index(text.lower())
    else:
        return NO_VAL16  # slurm.conf parsing refuses this; kept visible rather than guessed
    return LOG_LEVEL_END - 1 if level > LOG_LEVEL_END else level


def _words(text: str) -> list[str]:
    """strtok(text, ","): the non-empty comma-separated words."""
    return [word for word in text.split(",") if word]


def select_type_param(text: str | None) -> int:
    """parse_select_type_param: SelectTypeParameters as SLURM's CR_* bits (0 when not set)."""
    bits = 0
    for word in _words(text or ""):
        bits |= _SELECT_TYPE_PARAMS.get(word.lower(), 0)
    return bits


def effective_select_type_param(select_type: str, text: str | None) -> int:
    """SelectTypeParameters as slurmctld runs with it: the cons_res/cons_tres plugins take
    CR_Core_Memory when none is given (select_p_node_init)."""
    bits = select_type_param(text)
    if select_type in _CONS_SELECT and not bits:
        return CR_CORE | CR_MEMORY
    return bits


def select_type_param_string(bits: int) -> str:
    """select_type_param_string: how slurmctld names CR_* bits in its messages."""
    words = []
    for unit, name in ((CR_CPU, "CR_CPU"), (CR_CORE, "CR_CORE"), (CR_SOCKET, "CR_SOCKET")):
        if bits & unit:
            words.append(f"{name}_MEMORY" if bits & CR_MEMORY else name)
            break
    else:
        if bits & CR_MEMORY:
            words.append("CR_MEMORY")
    for bit, name in _CR_OTHER_NAMES:
        if bits & bit:
            words.append(name)
    return ",".join(words) or "NONE"


def prolog_flags(text: str | None) -> int:
    """prolog_str2flags, with NoHold implying Alloc as _validate_and_set_defaults adds."""
    bits = 0
    for word in _words(text or ""):
        bits |= _PROLOG_FLAGS.get(word.lower(), 0)
    if bits & PROLOG_FLAG_NOHOLD:
        bits |= PROLOG_FLAG_ALLOC
    return bits


def task_plugin_param(text: str | None) -> int:
    """TaskPluginParam: the CPU_BIND_* / CPU_AUTO_BIND_* / SLURMD_OFF_SPEC bits."""
    bits = 0
    for word in _words(text or ""):
        lowered = word.lower()
        if lowered in _CPU_BIND_UNITS:
            bits |= _CPU_BIND_UNITS[lowered]
        elif lowered == "verbose":
            bits |= CPU_BIND_VERBOSE
        elif lowered.startswith("autobind="):
            bits |= _AUTO_BIND.get(lowered[len("autobind=") :], 0)
        elif lowered == "slurmdoffspec":
            bits |= SLURMD_OFF_SPEC
    return bits


def _governor(word: str, illegal: int) -> int:
    lowered = word.lower()
    for prefix, value in _GOVERNORS:
        if lowered.startswith(prefix):
            value &= ~illegal
            return value | CPU_FREQ_RANGE_FLAG if value else 0
    return 0


def cpu_freq_def(text: str | None) -> int:
    """CpuFreqDef: a governor other than UserSpace (cpu_freq_verify_def); NO_VAL if unset or invalid."""
    if text is None:
        return NO_VAL
    return _governor(text, CPU_FREQ_USERSPACE) or NO_VAL


def cpu_freq_governors(text: str | None) -> int:
    """CpuFreqGovernors (cpu_freq_verify_govlist); OnDemand,Performance,UserSpace if unset or invalid."""
    words = _words(text or "")
    governors = [_governor(word, 0) for word in words]
    if not words or not all(governors):
        return DEFAULT_CPU_FREQ_GOVERNORS
    bits = 0
    for value in governors:
        bits |= value
    return bits


def _preempt_mode_checked(text: str | None) -> int | None:
    """preempt_mode_num: one mode (OFF/CANCEL/REQUEUE/SUSPEND), optionally with GANG or WITHIN;
    None where SLURM returns NO_VAL16 (an unknown word, two modes, GANG with WITHIN)."""
    mode, modes = 0, 0
    for word in _words(text or ""):
        lowered = word.lower()
        if lowered == "gang":
            mode |= _PREEMPT_MODE_GANG
        elif lowered == "within":
            mode |= _PREEMPT_MODE_WITHIN
        elif lowered in _PREEMPT_MODES:
            mode += _PREEMPT_MODES[lowered]
            modes += 1
        else:
            return None
    if modes > 1 or (mode & _PREEMPT_MODE_GANG and mode & _PREEMPT_MODE_WITHIN):
        return None
    return mode


def _preempt_mode(text: str | None) -> int:
    mode = _preempt_mode_checked(text)
    return NO_VAL16 if mode is None else mode  # refused by slurmctld (see refusal)


def _priority_flags(text: str | None) -> int:
    flags = PRIORITY_FLAGS_FAIR_TREE
    if text is None:
        return flags
    upper = text.upper()
    for word, bit in _PRIORITY_FLAG_WORDS[:3]:
        if word in upper:
            flags |= bit
    if "DEPTH_OBLIVIOUS" in upper:
        flags = (flags | PRIORITY_FLAGS_DEPTH_OBLIVIOUS) & ~PRIORITY_FLAGS_FAIR_TREE
    elif "NO_FAIR_TREE" in upper:
        flags &= ~PRIORITY_FLAGS_FAIR_TREE
    for word, bit in _PRIORITY_FLAG_WORDS[3:]:
        if word in upper:
            flags |= bit
    return flags


def _health_node_state(text: str | None, any_bits: int = HEALTH_CHECK_NODE_ANY) -> int:
    if text is None:
        return any_bits
    bits = {"any": any_bits, "alloc": 0x0002, "idle": 0x0001, "mixed": 0x0004}
    state, state_set = 0, False
    for word in _words(text):
        lowered = word.lower()
        if lowered == "cycle":
            state |= 0x8000
        elif lowered in bits:
            state |= bits[lowered]
            state_set = True
    return state | (0 if state_set else any_bits)


def _minutes_as_seconds(text: str | None, default: int) -> int:
    """time_str2mins(text) * 60 in a uint32 (INFINITE minutes wrap as in C)."""
    if text is None:
        return default
    try:
        minutes = parse_time_minutes(text)
    except TimeFormatError:
        return default
    return (INFINITE if minutes is None else minutes) * 60 & 0xFFFFFFFF


def _short_hostname() -> str:
    return socket.gethostname().split(".", 1)[0]


class _Settings:
    """The top-level keys flurm's parser keeps as written (SlurmConfig.raw), typed as SLURM types them."""

    def __init__(self, config: SlurmConfig) -> None:
        self.raw = config.raw

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.raw.get(key.lower())
        return default if value is None else value

    def number(self, key: str, default: int) -> int:
        value = self.raw.get(key.lower())
        if value is None:
            return default
        kind = TOP_KEYS.get(key.lower(), "u32")
        try:
            typed = convert(key, value, kind)
        except BadValue:
            return default
        return int(typed)

    def flag(self, key: str) -> bool:
        value = self.raw.get(key.lower())
        if value is None:
            return False
        try:
            return bool(convert(key, value, "bool"))
        except BadValue:
            return False


def _mail_prog(config: SlurmConfig, exists: Callable[[str], bool]) -> str:
    if config.mail_prog is not None:
        return config.mail_prog
    if exists(DEFAULT_MAIL_PROG) or not exists(DEFAULT_MAIL_PROG_ALT):
        return DEFAULT_MAIL_PROG
    return DEFAULT_MAIL_PROG_ALT


def _srun_port_range(text: str | None) -> tuple[int, int]:
    if text is None or "-" not in text:
        return 0, 0
    low, _, high = text.partition("-")
    if not (low.strip().isdigit() and high.strip().isdigit()):
        return 0, 0
    first, last = int(low), int(high)
    if last > 0xFFFF or last <= first:
        return 0, 0
    return first, last


def _suspend_time(text: str | None) -> int:
    if text is None or text.lower() in ("none", "infinite", "-1"):
        return INFINITE
    return _c_atoi(text) & 0xFFFFFFFF


def _accounting_enforce(text: str | None) -> tuple[int, bool]:
    """AccountingStorageEnforce bits and whether it turns TrackWCKey on."""
    bits, wckey = 0, False
    for word in _words(text or ""):
        lowered = word.lower()
        if lowered == "all":
            bits, wckey = 0xFFFF & ~0x60, True
        elif lowered in _ENFORCE:
            more, sets_wckey = _ENFORCE[lowered]
            bits |= more
            wckey = wckey or sets_wckey
        else:
            return 0, False
    return bits, wckey


def accounting_enforce(config: SlurmConfig) -> int:
    """AccountingStorageEnforce's ACCOUNTING_ENFORCE_* bits (0: nothing enforced)."""
    return _accounting_enforce(_Settings(config).text("AccountingStorageEnforce"))[0]


def _log_format(text: str | None) -> int:
    if text is None:
        return 0
    lowered = text.lower()
    for word, value in _LOG_FORMATS:
        if word in lowered:
            return value
    return 0


def slurmctld_conf(
    config: SlurmConfig,
    *,
    version: int = SLURM_22_05_PROTOCOL_VERSION,
    hostname: str | None = None,
    exists: Callable[[str], bool] = os.path.exists,
) -> BuildInfo:
    """The slurm_conf_t the slurmctld of ``version``'s release would run with for ``config``, as
    REQUEST_BUILD_INFO sends it (the defaults that differ between releases: config/release_rules.py).

    ``last_update``, ``boot_time`` and ``next_job_id`` are 0: the running controller fills them in.
    ``hostname`` replaces a control host named ``localhost`` (default: this host's short name).
    PriorityType is what flurm runs, whatever the release's default (see ReleaseRules.priority_type).
    """
    s = _Settings(config)
    release = rules(version)
    flags = CTL_CONF_IPV4_ENABLED
    comm_params = config.communication_parameters
    if s.flag("AllowSpecResourcesUsage"):
        flags |= CTL_CONF_ASRU
    if comm_params and "enableipv6" in comm_params.lower():
        flags |= CTL_CONF_IPV6_ENABLED
    if comm_params and "disableipv4" in comm_params.lower():
        flags &= ~CTL_CONF_IPV4_ENABLED
    if config.disable_root_jobs:
        flags |= CTL_CONF_DRJ
    if s.flag("TrackWCKey"):
        flags |= CTL_CONF_WCKEY
    store_flags = (s.text("AccountingStoreFlags") or "").lower()
    for word, bit in (("job_comment", CTL_CONF_SJC), ("job_env", CTL_CONF_SJE), ("job_script", CTL_CONF_SJS)):
        if word in store_flags:
            flags |= bit
    if config.slurmd_parameters and "config_override" in config.slurmd_parameters.lower():
        flags |= CTL_CONF_OR
    if s.flag("UsePAM"):
        flags |= CTL_CONF_PAM
    enforce, enforce_wckey = _accounting_enforce(s.text("AccountingStorageEnforce"))
    if enforce_wckey:
        flags |= CTL_CONF_WCKEY

    topology_param = s.text("TopologyParam")
    if topology_param:  # legacy settings moved to CommunicationParameters
        for legacy in ("NoInAddrAny", "NoCtldInAddrAny"):
            if legacy.lower() in topology_param.lower() and legacy.lower() not in (comm_params or "").lower():
                comm_params = f"{comm_params},{legacy}" if comm_params else legacy

    storage_type = config.accounting_storage_type
    storage_port = s.number("AccountingStoragePort", -1)
    if storage_port < 0:
        storage_port = SLURMDBD_PORT if storage_type == "accounting_storage/slurmdbd" else 0
    storage_user = s.text("AccountingStorageUser", "root")
    if storage_type == "accounting_storage/slurmdbd":
        storage_user = "N/A"
    storage_tres = s.text("AccountingStorageTRES")  # the site's TRES come first, the defaults follow
    if storage_tres is not None:
        storage_tres = f"{storage_tres},{DEFAULT_ACCOUNTING_TRES}"

    gather = acct_gather_types(config.raw)

    job_defaults: list[JobDefault] = []
    for key, kind in (("DefCPUPerGPU", 1), ("DefMemPerGPU", 2)):
        if s.text(key) is not None:
            job_defaults.append(JobDefault(kind, s.number(key, 0)))

    job_comp_type = config.job_comp_type
    job_comp_loc = s.text("JobCompLoc")
    if job_comp_loc is None and release.job_comp_loc_default:
        job_comp_loc = DEFAULT_JOB_COMP_DB if job_comp_type == "jobcomp/mysql" else DEFAULT_JOB_COMP_LOC

    gres_plugins = config.gres_types
    node_features = s.text("NodeFeaturesPlugins")
    has_hbm = any(word.lower() == "hbm" for word in _words(gres_plugins or ""))
    if node_features and "knl_" in node_features and not has_hbm:  # KNL nodes add the "hbm" GRES
        gres_plugins = f"{gres_plugins},hbm" if gres_plugins else "hbm"

    plugin_confs = config.plugin_confs or PluginConfs()
    cgroup_conf = None
    if reports_cgroup(config.proctrack_type, config.task_plugin, config.job_acct_gather_type):
        cgroup_conf = cgroup_key_pairs(plugin_confs.cgroup)

    rlimits_except = s.text("PropagateResourceLimitsExcept")
    rlimits = None if rlimits_except is not None else s.text("PropagateResourceLimits", "ALL")

    time_slice = s.number("SchedulerTimeSlice", 30)
    preempt_exempt = s.text("PreemptExemptTime")
    exempt_seconds = 0
    if preempt_exempt is not None:
        try:
            seconds = parse_time_seconds(preempt_exempt)
        except TimeFormatError:
            seconds = 0
        exempt_seconds = INFINITE if seconds is None else seconds
    reset = s.text("PriorityUsageResetPeriod")
    srun_ports = _srun_port_range(s.text("SrunPortRange"))
    job_requeue = s.number("JobRequeue", 1)
    host = hostname if hostname is not None else None
    machines = []
    for ctl in config.control_hosts:
        name = ctl.name
        if name.lower() == "localhost":
            host = host if host is not None else _short_hostname()
            name = host
        machines.append(name)

    fields: dict[str, Any] = dict(
        last_update=0,
        accounting_storage_enforce=enforce,
        accounting_storage_backup_host=s.text("AccountingStorageBackupHost"),
        accounting_storage_host=s.text("AccountingStorageHost", "localhost"),
        accounting_storage_ext_host=s.text("AccountingStorageExternalHost"),
        accounting_storage_params=s.text("AccountingStorageParameters"),
        accounting_storage_port=storage_port,
        accounting_storage_tres=storage_tres or DEFAULT_ACCOUNTING_TRES,
        accounting_storage_type=storage_type,
        accounting_storage_user=storage_user,
        acct_gather_conf=plugin_confs.acct_gather,
        acct_gather_energy_type=gather.energy,
        acct_gather_filesystem_type=gather.filesystem,
        acct_gather_interconnect_type=gather.interconnect,
        acct_gather_node_freq=s.number("AcctGatherNodeFreq", 0),
        acct_gather_profile_type=gather.profile,
        authalttypes=s.text("AuthAltTypes"),
        authalt_params=s.text("AuthAltParameters"),
        authinfo=config.auth_info,
        authtype=config.auth_type,
        batch_start_timeout=config.batch_start_timeout,
        boot_time=0,
        bb_type=s.text("BurstBufferType"),
        bcast_exclude=s.text("BcastExclude", DEFAULT_BCAST_EXCLUDE),
        bcast_parameters=s.text("BcastParameters") or s.text("SbcastParameters"),
        cgroup_conf=cgroup_conf,
        cli_filter_plugins=s.text("CliFilterPlugins"),
        cluster_name=config.cluster_name,
        comm_params=comm_params,
        complete_wait=config.complete_wait,
        conf_flags=flags,
        control_addr=tuple(ctl.addr for ctl in config.control_hosts),
        control_machine=tuple(machines),
        core_spec_plugin=s.text("CoreSpecPlugin", "core_spec/none"),
        cpu_freq_def=cpu_freq_def(s.text("CpuFreqDef")),
        cpu_freq_govs=cpu_freq_governors(s.text("CpuFreqGovernors")),
        cred_type=config.cred_type,
        def_mem_per_cpu=config.def_mem_per_cpu,
        debug_flags=debug_flags(s.text("DebugFlags")),
        dependency_params=s.text("DependencyParameters"),
        eio_timeout=s.number("EioTimeout", 60),
        enforce_part_limits=config.enforce_part_limits,
        epilog=config.epilog,
        epilog_msg_time=s.number("EpilogMsgTime", 2000),
        epilog_slurmctld=config.epilog_slurmctld,
        ext_sensors_conf=None,
        ext_sensors_type=s.text("ExtSensorsType", "ext_sensors/none"),
        ext_sensors_freq=s.number("ExtSensorsFreq", 0),
        fed_params=s.text("FederationParameters"),
        first_job_id=config.first_job_id,
        fs_dampening_factor=s.number("FairShareDampeningFactor", 1),
        get_env_timeout=s.number("GetEnvTimeout", 2),
        gres_plugins=gres_plugins,
        group_time=s.number("GroupUpdateTime", 600),
        group_force=s.number("GroupUpdateForce", 1),
        gpu_freq_def=s.text("GpuFreqDef", release.gpu_freq_def),
        hash_val=config.hash_val,
        health_check_interval=s.number("HealthCheckInterval", 0),
        health_check_node_state=_health_node_state(
            s.text("HealthCheckNodeState"), release.health_check_node_any
        ),
        health_check_program=s.text("HealthCheckProgram"),
        inactive_limit=config.inactive_limit,
        interactive_step_opts=s.text("InteractiveStepOptions", DEFAULT_INTERACTIVE_STEP_OPTS),
        job_acct_gather_freq=config.job_acct_gather_frequency,
        job_acct_gather_type=config.job_acct_gather_type,
        job_acct_gather_params=s.text("JobAcctGatherParams"),
        job_comp_host=s.text("JobCompHost", "localhost"),
        job_comp_loc=job_comp_loc,
        job_comp_params=s.text("JobCompParams"),
        job_comp_port=s.number("JobCompPort", 0),  # SLURM's mysql default tests "job_comp/mysql": never
        job_comp_type=job_comp_type,
        job_comp_user=s.text("JobCompUser", "root"),
        job_container_plugin=s.text("JobContainerType", "job_container/none"),
        job_credential_private_key=s.text("JobCredentialPrivateKey"),
        job_credential_public_certificate=s.text("JobCredentialPublicCertificate"),
        job_defaults_list=tuple(job_defaults) or None,
        job_file_append=s.number("JobFileAppend", 0),
        job_requeue=min(job_requeue, 1),
        job_submit_plugins=s.text("JobSubmitPlugins"),
        kill_on_bad_exit=s.number("KillOnBadExit", 0),
        kill_wait=config.kill_wait,
        launch_params=s.text("LaunchParameters"),
        launch_type=config.launch_type,
        licenses=config.licenses,
        log_fmt=_log_format(s.text("LogTimeFormat")),
        max_array_sz=config.max_array_size,
        max_dbd_msgs=s.number("MaxDBDMsgs", 0),
        mail_domain=s.text("MailDomain"),
        mail_prog=_mail_prog(config, exists),
        max_job_cnt=config.max_job_count,
        max_job_id=config.max_job_id,
        max_mem_per_cpu=config.max_mem_per_cpu,
        # slurmctld sizes its node table to the larger of MaxNodeCount and the configured nodes
        max_node_cnt=max(s.number("MaxNodeCount", 0), len(config.nodes)),
        max_step_cnt=config.max_step_count,
        max_tasks_per_node=config.max_tasks_per_node,
        mcs_plugin=s.text("MCSPlugin", "mcs/none"),
        mcs_plugin_params=s.text("MCSParameters"),
        min_job_age=config.min_job_age,
        mpi_conf=_mpi_conf(plugin_confs, release.pmix),
        mpi_default=config.mpi_default,
        mpi_params=s.text("MpiParams"),
        msg_timeout=config.message_timeout,
        next_job_id=0,
        node_features_conf=None,
        node_features_plugins=node_features,
        node_prefix=None,
        over_time_limit=config.over_time_limit_min,
        plugindir=s.text("PluginDir", DEFAULT_PLUGIN_DIR),
        plugstack=s.text("PlugStackConfig"),
        power_parameters=s.text("PowerParameters"),
        power_plugin=s.text("PowerPlugin", ""),
        preempt_mode=_preempt_mode(s.text("PreemptMode")),
        preempt_type=config.preempt_type,
        preempt_exempt_time=exempt_seconds,
        prep_params=s.text("PrEpParameters"),
        prep_plugins=s.text("PrEpPlugins", "prep/script"),
        priority_decay_hl=_minutes_as_seconds(s.text("PriorityDecayHalfLife"), PRIORITY_DECAY),
        priority_calc_period=_minutes_as_seconds(s.text("PriorityCalcPeriod"), 300),
        priority_favor_small=int(s.flag("PriorityFavorSmall")),
        priority_flags=_priority_flags(s.text("PriorityFlags")),
        priority_max_age=_minutes_as_seconds(s.text("PriorityMaxAge"), PRIORITY_DECAY),
        priority_params=s.text("PriorityParameters"),
        priority_reset_period=_RESET_PERIODS.get((reset or "none").lower(), 0),
        priority_type=config.priority_type,
        priority_weight_age=s.number("PriorityWeightAge", 0),
        priority_weight_assoc=s.number("PriorityWeightAssoc", 0),
        priority_weight_fs=s.number("PriorityWeightFairshare", 0),
        priority_weight_js=s.number("PriorityWeightJobSize", 0),
        priority_weight_part=s.number("PriorityWeightPartition", 0),
        priority_weight_qos=s.number("PriorityWeightQOS", 0),
        priority_weight_tres=s.text("PriorityWeightTRES"),
        private_data=config.private_data,
        proctrack_type=config.proctrack_type,
        prolog=config.prolog,
        prolog_epilog_timeout=s.number("PrologEpilogTimeout", NO_VAL16),
        prolog_slurmctld=config.prolog_slurmctld,
        prolog_flags=prolog_flags(config.prolog_flags),
        propagate_prio_process=s.number("PropagatePrioProcess", 0),
        propagate_rlimits=rlimits,
        propagate_rlimits_except=rlimits_except,
        reboot_program=s.text("RebootProgram"),
        reconfig_flags=_reconfig_flags(s.text("ReconfigFlags")),
        requeue_exit=s.text("RequeueExit"),
        requeue_exit_hold=s.text("RequeueExitHold"),
        resume_fail_program=s.text("ResumeFailProgram"),
        resume_program=s.text("ResumeProgram"),
        resume_rate=s.number("ResumeRate", 300),
        resume_timeout=s.number("ResumeTimeout", 60),
        resv_epilog=s.text("ResvEpilog"),
        resv_over_run=s.number("ResvOverRun", 0),
        resv_prolog=s.text("ResvProlog"),
        ret2service=config.return_to_service,
        route_plugin=s.text("RoutePlugin", "route/default"),
        sched_params=config.scheduler_parameters,
        sched_logfile=s.text("SlurmSchedLogFile"),
        sched_log_level=s.number("SlurmSchedLogLevel", 0),
        sched_time_slice=30 if time_slice < 5 else time_slice,
        schedtype=config.scheduler_type,
        scron_params=s.text("ScronParameters"),
        select_type=config.select_type,
        select_conf_key_pairs=None,
        select_type_param=effective_select_type_param(config.select_type, config.select_type_parameters),
        slurm_conf=config.path,
        slurm_user_id=config.slurm_user_uid,
        slurm_user_name=config.slurm_user,
        slurmd_user_id=config.slurmd_user_uid,
        slurmd_user_name=config.slurmd_user,
        slurmctld_addr=config.slurmctld_addr,
        slurmctld_debug=_log_level(s.text("SlurmctldDebug"), LOG_LEVEL_INFO),
        slurmctld_logfile=config.slurmctld_log_file,
        slurmctld_params=config.slurmctld_parameters,
        slurmctld_pidfile=config.slurmctld_pid_file,
        slurmctld_plugstack=s.text("SlurmctldPlugstack"),
        slurmctld_plugstack_conf=None,
        slurmctld_port=config.slurmctld_port,
        slurmctld_port_count=config.slurmctld_port_count,
        slurmctld_primary_off_prog=s.text("SlurmctldPrimaryOffProg"),
        slurmctld_primary_on_prog=s.text("SlurmctldPrimaryOnProg"),
        slurmctld_syslog_debug=_log_level(s.text("SlurmctldSyslogDebug"), LOG_LEVEL_END),
        slurmctld_timeout=config.slurmctld_timeout,
        slurmd_debug=_log_level(s.text("SlurmdDebug"), LOG_LEVEL_INFO),
        slurmd_logfile=config.slurmd_log_file,
        slurmd_params=config.slurmd_parameters,
        slurmd_pidfile=config.slurmd_pid_file,
        slurmd_port=config.slurmd_port,
        slurmd_spooldir=config.slurmd_spool_dir,
        slurmd_syslog_debug=_log_level(s.text("SlurmdSyslogDebug"), LOG_LEVEL_END),
        slurmd_timeout=config.slurmd_timeout,
        srun_epilog=config.srun_epilog,
        srun_port_range_min=srun_ports[0],
        srun_port_range_max=srun_ports[1],
        srun_prolog=config.srun_prolog,
        state_save_location=config.state_save_location,
        suspend_exc_nodes=s.text("SuspendExcNodes"),
        suspend_exc_parts=s.text("SuspendExcParts"),
        suspend_program=s.text("SuspendProgram"),
        suspend_rate=s.number("SuspendRate", 60),
        suspend_time=_suspend_time(s.text("SuspendTime")),
        suspend_timeout=s.number("SuspendTimeout", 30),
        switch_param=s.text("SwitchParameters"),
        switch_type=config.switch_type,
        task_epilog=config.task_epilog,
        task_prolog=config.task_prolog,
        task_plugin=config.task_plugin,
        task_plugin_param=task_plugin_param(config.task_plugin_param),
        tcp_timeout=config.tcp_timeout,
        tmp_fs=config.tmp_fs,
        topology_param=topology_param,
        topology_plugin=_topology_plugin(s.text("TopologyPlugin"), release),
        tree_width=config.tree_width if "treewidth" in config.given else release.tree_width,
        unkillable_program=s.text("UnkillableStepProgram"),
        unkillable_timeout=s.number("UnkillableStepTimeout", 60),
        version=release.slurm_version,
        vsize_factor=s.number("VSizeFactor", 0),
        wait_time=config.wait_time,
        x11_params=s.text("X11Parameters"),
    )
    # what 24.11 and 26.05 add, as their slurmctld fills it for a slurm.conf that does not name it
    fields.update(
        hash_plugin="hash/k12",
        max_batch_requeue=5,
        tls_type="tls/none",
        epilog_timeout=NO_VAL16,
        prolog_timeout=NO_VAL16,
    )
    if release.none_plugins_unset:
        _unset_none_plugins(fields)
    return BuildInfo(**fields)


def _mpi_conf(confs: PluginConfs, pmix: Pmix) -> tuple[tuple[str, str | None], ...] | None:
    if pmix is Pmix.HOST:
        return confs.mpi
    return confs.mpi_settings if pmix is Pmix.ALWAYS else None


def _topology_plugin(text: str | None, release: ReleaseRules) -> str:
    if text is None or text.lower() in release.topology_aliases:
        return release.topology_plugin
    return text


def _unset_none_plugins(fields: dict[str, Any]) -> None:
    """24.11 and later unset the plugins that name "none" (read_config): scontrol prints (null)."""
    for name in NONE_PLUGINS:
        if "none" in (fields[name] or "").lower():
            fields[name] = None
    mpi = (fields["mpi_default"] or "").lower()
    if "none" in mpi or "openmpi" in mpi:
        fields["mpi_default"] = None
    if fields["preempt_type"] == "preempt/none":
        fields["preempt_type"] = None


def _debug_flag_bits(text: str | None) -> int | None:
    """debug_str2flags: DebugFlags as DEBUG_FLAG_* bits; None for an unknown word."""
    bits = 0
    for word in _words(text or ""):
        bit = _DEBUG_FLAG_BITS.get(word.lower())
        if bit is None:
            return None
        if bit >= 0:
            bits |= 1 << bit
    return bits


def debug_flags(text: str | None) -> int:
    """DebugFlags as DEBUG_FLAG_* bits (0 for a value with an unknown word, which slurmctld refuses)."""
    return _debug_flag_bits(text) or 0


def _reconfig_flags(text: str | None) -> int:
    bits = 0
    for word in _words(text or ""):
        bits |= {"keeppartinfo": 0x0001, "keeppartstate": 0x0002}.get(word.lower(), 0)
    return bits


# -- what slurmctld refuses to start with --------------------------------------------------------

_RLIMIT_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS")
# AccountingStorageTRES types slurmctld knows without slurmdbd (_init_tres); gres/, license/ ... need it
_TRES_WITHOUT_DBD = ("cpu", "mem", "energy", "node", "billing", "vmem", "pages", "fs/disk")
_TRES_PREFIXES = ("bb/", "gres/", "license/", "fs/", "ic/")
_TASK_BIND_UNITS = ("none", "sockets", "cores", "threads")
PROLOG_FLAG_CONTAIN = 0x0004
_LOG_KEYS_IN_ORDER = (
    "SlurmctldDebug",
    "SlurmctldSyslogDebug",
    "SlurmdDebug",
    "SlurmSchedLogLevel",
    "SlurmdSyslogDebug",
)
PROP_PRIO_NICER = 2
DEFAULT_MAX_DBD_MSGS = 10000


def _rlimits_valid(text: str) -> bool:
    """parse_rlimits: ALL, NONE, or RLIMIT names (with or without RLIMIT_), case as written."""
    if text in ("ALL", "NONE"):
        return True
    for word in re.split(r"[, \t\n]+", text):
        if word and word.removeprefix("RLIMIT_") not in _RLIMIT_NAMES:
            return False
    return True


def _minutes_or_none(text: str) -> int | None:
    """time_str2mins as an int: None where it is invalid, -1 for INFINITE."""
    try:
        minutes = parse_time_minutes(text)
    except TimeFormatError:
        return None
    return -1 if minutes is None else minutes


def _task_plugin_param_refusal(text: str) -> str | None:
    unit_set = auto_set = False
    for word in _words(text):
        lowered = word.lower()
        if lowered in _TASK_BIND_UNITS:
            if unit_set:
                return f"Bad TaskPluginParam: {word}"
            unit_set = True
        elif lowered.startswith("autobind="):
            if auto_set:
                return "Bad TaskPluginParam: autobind already set"
            if lowered[len("autobind=") :] not in _TASK_BIND_UNITS:
                return f"Bad TaskPluginParam autobind value: {word[len('autobind=') :]}"
            auto_set = True
        elif lowered not in ("verbose", "slurmdoffspec"):
            return f"Bad TaskPluginParam: {word}"
    return None


def _tres_refusal(tres: str | None, storage_type: str) -> str | None:
    """_init_tres: a TRES slurmctld cannot count without slurmdbd, or one it does not know."""
    with_dbd = storage_type.lower() == "accounting_storage/slurmdbd"
    for word in _words(f"{tres},{DEFAULT_ACCOUNTING_TRES}" if tres else DEFAULT_ACCOUNTING_TRES):
        lowered = word.strip().lower()
        if lowered in _TRES_WITHOUT_DBD:
            continue
        if not lowered.startswith(_TRES_PREFIXES):
            return (
                f"_init_tres: Unknown tres type '{lowered}', acceptable types are "
                "Billing,CPU,Energy,FS/,Gres/,IC/,License/,Mem,Node,Pages,VMem"
            )
        if not with_dbd:
            return (
                f"slurmdbd is required to run with TRES {lowered}. "
                "Either setup slurmdbd or remove this TRES from your configuration."
            )
    return None


def refusal(config: SlurmConfig) -> str | None:
    """Why slurmctld 22.05 would not start with ``config``, for the settings this table reads from
    ``raw`` and what it derives from them (SLURM's message), or None.

    In slurmctld's order: _validate_and_set_defaults, then the select plugin and _init_tres.
    """
    s = _Settings(config)
    text = s.text
    if text("DebugFlags") is not None and _debug_flag_bits(text("DebugFlags")) is None:
        return f"DebugFlags invalid: {text('DebugFlags')}"
    dbd_msgs = s.number("MaxDBDMsgs", 0)
    if text("MaxDBDMsgs") is not None and dbd_msgs < DEFAULT_MAX_DBD_MSGS:
        return f"MaxDBDMsgs value ({dbd_msgs}) needs to be greater than {DEFAULT_MAX_DBD_MSGS}"
    mcs_plugin, mcs_params = text("MCSPlugin"), text("MCSParameters")
    if mcs_plugin is None and mcs_params is not None:
        return f"MCSParameters={mcs_params} used and no MCSPlugin"
    if mcs_params is None and mcs_plugin == "mcs/group":
        return "MCSPlugin is mcs/group and no MCSParameters"
    enforce = text("AccountingStorageEnforce")
    if enforce is not None and any(
        word.lower() not in _ENFORCE and word.lower() != "all" for word in _words(enforce)
    ):
        return f"AccountingStorageEnforce invalid: {enforce}"
    exempt = text("PreemptExemptTime")
    if exempt is not None:
        try:
            parse_time_seconds(exempt)
        except TimeFormatError:
            return f"PreemptExemptTime={exempt} invalid"
    mode_text = text("PreemptMode")
    mode = _preempt_mode_checked(mode_text)
    if mode is None:
        return f"PreemptMode={mode_text} invalid"
    if mode_text is not None and mode == _PREEMPT_MODES["suspend"]:
        return "PreemptMode=SUSPEND requires GANG too"
    base_mode = mode & ~_PREEMPT_MODE_GANG
    if config.preempt_type in ("preempt/qos", "preempt/partition_prio"):
        if base_mode & ~_PREEMPT_MODE_WITHIN == 0:
            return "PreemptType and PreemptMode values incompatible"
    elif config.preempt_type == "preempt/none" and base_mode != 0:
        return "PreemptType and PreemptMode values incompatible"
    for key in ("PriorityDecayHalfLife", "PriorityCalcPeriod", "PriorityMaxAge"):
        value = text(key)
        if value is None:
            continue
        minutes = _minutes_or_none(value)  # INFINITE (-1) is a period only for the first and last
        if minutes is None or (key == "PriorityCalcPeriod" and minutes < 1):
            return f'Bad value "{value}" for {key}'
    reset = text("PriorityUsageResetPeriod")
    if reset is not None and reset.lower() not in _RESET_PERIODS:
        return f'Bad value "{reset}" for PriorityUsageResetPeriod'
    decay = text("PriorityDecayHalfLife")
    if reset is None and decay is not None and _minutes_or_none(decay) == 0:
        return (
            "You have to either have PriorityDecayHalfLife != 0 or PriorityUsageResetPeriod set to "
            "something or the priority plugin will result in rolling over."
        )
    container = text("JobContainerType", "")
    if "tmpfs" in (container or "") and not prolog_flags(config.prolog_flags) & PROLOG_FLAG_CONTAIN:
        return "PrologFlags=Contain is required for use with job_container/tmpfs"
    if s.number("PropagatePrioProcess", 0) > PROP_PRIO_NICER:
        return f"Bad PropagatePrioProcess: {s.number('PropagatePrioProcess', 0)}"
    except_ = text("PropagateResourceLimitsExcept")
    if except_ is not None:
        if not _rlimits_valid(except_):
            return f"Bad PropagateResourceLimitsExcept: {except_}"
    elif not _rlimits_valid(text("PropagateResourceLimits", "ALL") or "ALL"):
        return f"Bad PropagateResourceLimits: {text('PropagateResourceLimits')}"
    if s.number("MaxNodeCount", 0) and "cons_tres" not in config.select_type:
        return "MaxNodeCount only compatible with cons_tres"
    for key in _LOG_KEYS_IN_ORDER:
        if key == "SlurmSchedLogLevel":
            if s.number(key, 0) and text("SlurmSchedLogFile") is None:
                return "SlurmSchedLogLevel requires SlurmSchedLogFile value"
        elif text(key) is not None and _log_level(text(key), 0) == NO_VAL16:
            return f"Invalid {key} {text(key)}"
    if config.task_plugin_param is not None:
        problem = _task_plugin_param_refusal(config.task_plugin_param)
        if problem:
            return problem
    if config.select_type in _CONS_SELECT:
        bits = effective_select_type_param(config.select_type, config.select_type_parameters)
        if not bits & (CR_CPU | CR_CORE | CR_SOCKET):
            return (
                f"Invalid SelectTypeParameters: {select_type_param_string(bits)} ({bits}), "
                "You need at least CR_(CPU|CORE|SOCKET)*"
            )
    return _tres_refusal(text("AccountingStorageTRES"), config.accounting_storage_type)


def check(config: SlurmConfig) -> None:
    """ConfigError with SLURM's message where slurmctld would refuse to start (see :func:`refusal`)."""
    problem = refusal(config)
    if problem is not None:
        raise ConfigError(config.path, None, problem)

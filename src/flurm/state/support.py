"""What flurm does not do yet, in one place: slurm.conf settings it would not act on and job options it
would not honour. The takeover's pre-flight lists every one a cluster uses (and refuses to take over
unless told to), and the docs' list of what is missing is this table.

A rule names what it checks, says what flurm does not do, and finds it in a configuration or a job. When a
feature lands, its rule goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flurm.config.release_rules import rules
from flurm.config.slurmconf import SlurmConfig
from flurm.protocol.constants import SLURM_22_05_PROTOCOL_VERSION
from flurm.protocol.versions import release_name
from flurm.state.model import Job

# the value a configuration uses, given the protocol version of the slurmctld it comes from
Used = Callable[[SlurmConfig, int], str | None]


@dataclass(frozen=True, slots=True)
class SettingRule:
    key: str  # the slurm.conf key (or keys) the rule looks at
    missing: str  # what flurm does not do
    used: Used  # the value in use, or None when the site does not use it


@dataclass(frozen=True, slots=True)
class JobRule:
    option: str  # the job option as a user writes it
    missing: str
    used: Callable[[Job], str | None]


def _raw(key: str, *unused: str) -> Used:
    """The key's value when set to something other than ``unused`` values."""

    def used(config: SlurmConfig, _version: int) -> str | None:
        value = config.raw.get(key.lower())
        if value is None or value.strip().lower() in unused:
            return None
        return value

    return used


def _plugin(value: Callable[[SlurmConfig], str], *unused: str) -> Used:
    def used(config: SlurmConfig, _version: int) -> str | None:
        v = value(config)
        return None if v in unused else v

    return used


def _priority_type(config: SlurmConfig, version: int) -> str | None:
    """The source runs its release's default where slurm.conf names none (multifactor from 24.11);
    flurm runs the PriorityType slurm.conf names, priority/basic when it names none."""
    if "prioritytype" in config.given:
        return None
    default = rules(version).priority_type
    if default == "priority/basic":
        return None
    return f"{default} (SLURM {release_name(version)}'s default: slurm.conf sets none)"


def _multifactor(config: SlurmConfig) -> bool:
    return config.priority_type.lower() == "priority/multifactor"


def _weight(key: str) -> Used:
    """A priority weight that needs accounting data: set, under multifactor, with slurmdbd."""

    def used(config: SlurmConfig, _version: int) -> str | None:
        value = config.raw.get(key.lower())
        if not _multifactor(config) or config.accounting_storage_type != "accounting_storage/slurmdbd":
            return None  # without slurmdbd slurmctld ignores these too (or has no association/QOS)
        return None if value is None or value.strip() in ("", "0") else value

    return used


# PriorityFlags words flurm's multifactor does not act on (scheduler/multifactor.py SUPPORTED_FLAGS)
_UNSUPPORTED_PRIORITY_FLAGS = ("MAX_TRES", "DEPTH_OBLIVIOUS")


def _priority_flags(config: SlurmConfig, _version: int) -> str | None:
    value = config.raw.get("priorityflags")
    if not _multifactor(config) or value is None:
        return None
    upper = value.upper()
    return value if any(word in upper for word in _UNSUPPORTED_PRIORITY_FLAGS) else None


def _other_tres_weights(config: SlurmConfig, _version: int) -> str | None:
    value = config.raw.get("priorityweighttres")
    if not _multifactor(config) or not value:
        return None
    names = {item.partition("=")[0].strip().lower() for item in value.split(",") if item.strip()}
    return value if names - {"cpu", "mem", "node", "billing"} else None


def _multifactor_raw(key: str, *unused: str) -> Used:
    plain = _raw(key, *unused)

    def used(config: SlurmConfig, version: int) -> str | None:
        return plain(config, version) if _multifactor(config) else None

    return used


def _prolog_flags(config: SlurmConfig, _version: int) -> str | None:
    words = {w.strip().lower() for w in (config.prolog_flags or "").split(",")}
    return config.prolog_flags if words & {"serial", "x11"} else None


def _store_flags(config: SlurmConfig, _version: int) -> str | None:
    value = config.raw.get("accountingstoreflags") or ""
    words = {w.strip().lower() for w in value.split(",")}
    return value if words & {"job_script", "job_env"} else None


def _dbd_msg_action_exit(config: SlurmConfig, _version: int) -> str | None:
    words = {w.strip().lower().replace(" ", "") for w in (config.slurmctld_parameters or "").split(",")}
    return "max_dbd_msg_action=exit" if "max_dbd_msg_action=exit" in words else None


def _licence_gres_tres(config: SlurmConfig, _version: int) -> str | None:
    value = config.raw.get("accountingstoragetres") or ""
    names = [w.strip() for w in value.split(",") if w.strip().lower().startswith(("license/", "gres/"))]
    return ",".join(names) or None


# AccountingStorageEnforce words flurm applies (accounting/policy.py), with slurmdbd holding the associations
_ENFORCED = frozenset({"", "none", "0", "1", "2", "associations", "limits", "qos", "safe"})


def _enforce_unsupported(config: SlurmConfig, _version: int) -> str | None:
    value = config.raw.get("accountingstorageenforce")
    if value is None:
        return None
    words = {w.strip().lower() for w in value.split(",")}
    return None if words <= _ENFORCED else value


SETTINGS: tuple[SettingRule, ...] = (
    SettingRule(
        "AccountingStoreFlags",
        "job scripts and environments in accounting (`job_script`, `job_env`: DBD_JOB_HEAVY is not sent)",
        _store_flags,
    ),
    SettingRule(
        "SlurmctldParameters",
        "`max_dbd_msg_action=exit` (a full accounting spool discards, as `discard` does, rather than stop)",
        _dbd_msg_action_exit,
    ),
    SettingRule(
        "AccountingStorageTRES",
        "licence and GRES TRES in the job records (`license/...`, `gres/...` are not counted)",
        _licence_gres_tres,
    ),
    SettingRule(
        "AccountingStorageEnforce",
        "enforcement of WCKeys, and of the NoJobs/NoSteps record filters",
        _enforce_unsupported,
    ),
    SettingRule("JobCompType", "job completion logging", _plugin(lambda c: c.job_comp_type, "jobcomp/none")),
    SettingRule(
        "PriorityType",
        "flurm runs priority/basic where slurm.conf names no PriorityType (name priority/multifactor there)",
        _priority_type,
    ),
    SettingRule(
        "PriorityWeightFairshare",
        "fair share starts from no usage at the takeover: slurmctld's (StateSaveLocation/assoc_usage) is"
        " not taken over",
        _weight("PriorityWeightFairshare"),
    ),
    SettingRule(
        "PriorityWeightTRES",
        "TRES factors other than CPU, memory, nodes and billing (GRES, licences, energy, disk)",
        _other_tres_weights,
    ),
    SettingRule(
        "PriorityFlags",
        "`MAX_TRES`, `DEPTH_OBLIVIOUS` (accepted, change nothing)",
        _priority_flags,
    ),
    SettingRule(
        "PrioritySiteFactorPlugin",
        "site factor plugins",
        _multifactor_raw("PrioritySiteFactorPlugin", "", "site_factor/none"),
    ),
    SettingRule("PreemptType", "preemption", _plugin(lambda c: c.preempt_type, "preempt/none")),
    SettingRule("BurstBufferType", "burst buffers", _raw("BurstBufferType", "")),
    SettingRule(  # the flat topology, whatever each release calls it
        "TopologyPlugin",
        "topology aware placement",
        _raw("TopologyPlugin", "topology/none", "none", "topology/default", "default", "topology/flat"),
    ),
    SettingRule("JobSubmitPlugins", "job submit plugins (job_submit/lua ...)", _raw("JobSubmitPlugins", "")),
    SettingRule("MCSPlugin", "multi-category security labels", _raw("MCSPlugin", "mcs/none")),
    SettingRule("NodeFeaturesPlugins", "node features plugins", _raw("NodeFeaturesPlugins", "")),
    SettingRule("SuspendProgram", "power saving (suspending and resuming nodes)", _raw("SuspendProgram", "")),
    SettingRule("ResumeProgram", "power saving (suspending and resuming nodes)", _raw("ResumeProgram", "")),
    SettingRule("FederationParameters", "federated clusters", _raw("FederationParameters", "")),
    SettingRule("PrologFlags", "`Serial` and `X11` (accepted, change nothing)", _prolog_flags),
)


# (none at present: GRES requests, the last ones here, are scheduled, bound and adopted)
JOBS: tuple[JobRule, ...] = ()


# What flurm refuses whatever the configuration (the pre-flight cannot see these in use).
REFUSED: tuple[tuple[str, str], ...] = (
    ("heterogeneous jobs (`sbatch` with `:` or `hetjob`)", "refused with ESLURM_NOT_SUPPORTED"),
    (
        "`--prefer`, `--batch`, `--exclusive=user|mcs`, `--spread-job`, `--x11`; from 24.11 `--nodes` with a"
        " list of counts, `--oom-kill-step`, `--container-id`, `--resv-ports` of a job; from 26.05"
        " `--container-type`, `--mem-update`",
        "refused at submit with SLURM's text, naming the option (controller/submit.py)",
    ),
    (
        "reservations of cores (`CoreCnt`), licences, burst buffers or watts; flags `TIME_FLOAT`,"
        " `REPLACE`, `REPLACE_DOWN`, `FIRST_CORES`",
        "refused; `FLEX`, `MAGNETIC`, `PURGE_COMP`, `NO_HOLD_JOBS` are kept and shown but change nothing",
    ),
    ("`strigger --set`", "refused: flurm keeps and fires no triggers"),
    ("`scontrol create|delete node` (dynamic nodes)", "refused after slurmctld's own checks"),
    ("`sbcast`", "refused after slurmctld's own checks: flurm issues no sbcast credentials"),
)


@dataclass(frozen=True, slots=True)
class Finding:
    what: str  # the key or option and its value
    missing: str

    def __str__(self) -> str:
        return f"{self.what}: {self.missing}"


def unsupported_settings(
    config: SlurmConfig, source_version: int = SLURM_22_05_PROTOCOL_VERSION
) -> list[Finding]:
    """The settings flurm would not act on, of a slurmctld speaking ``source_version`` (its release
    decides the defaults of what slurm.conf leaves unset)."""
    out = []
    for rule in SETTINGS:
        value = rule.used(config, source_version)
        if value is not None:
            out.append(Finding(f"{rule.key}={value}", rule.missing))
    return out


def unsupported_job_options(jobs: list[Job]) -> list[Finding]:
    """One finding per option, naming how many live jobs use it and the first of them."""
    by_rule: dict[JobRule, list[int]] = {}
    for job in jobs:
        for rule in JOBS:
            if rule.used(job) is not None:
                by_rule.setdefault(rule, []).append(job.job_id)
    out = []
    for rule, ids in by_rule.items():
        what = f"{rule.option} in {len(ids)} job{'s' if len(ids) > 1 else ''} ({', '.join(map(str, ids[:5]))}"
        out.append(Finding(what + (", ...)" if len(ids) > 5 else ")"), rule.missing))
    return out


def markdown() -> str:
    """The table as a Markdown list (the README holds it between markers)."""
    by_missing: dict[str, list[str]] = {}
    for rule in SETTINGS:
        by_missing.setdefault(rule.missing, []).append(f"`{rule.key}`")
    for job_rule in JOBS:
        by_missing.setdefault(job_rule.missing, []).append(f"`{job_rule.option}`")
    lines = [f"* {', '.join(what)}: {missing}" for missing, what in by_missing.items()]
    return "\n".join(lines + [f"* {what}: {how}" for what, how in REFUSED])


MARKDOWN_BEGIN = "<!-- not supported yet: generated from state/support.py by scripts/support_list.py -->"
MARKDOWN_END = "<!-- end of the list -->"


def with_markdown_list(doc: str) -> str:
    """``doc`` with the text between the markers replaced by :func:`markdown`."""
    begin, end = doc.find(MARKDOWN_BEGIN), doc.find(MARKDOWN_END)
    if begin < 0 or end < begin:
        raise ValueError("the list's markers are missing")
    return doc[:begin] + f"{MARKDOWN_BEGIN}\n{markdown()}\n" + doc[end:]

"""acct_gather.conf as SLURM 22.05 reads it (src/common/slurm_acct_gather.c), and what slurmctld reports.

slurmctld loads the four accounting gather plugins slurm.conf names (energy, profile, interconnect,
filesystem) and reads acct_gather.conf (beside slurm.conf) against the keys those plugins declare: a key
of a plugin that is not loaded stops it. ``scontrol show config`` then lists each loaded plugin's
settings ("Account Gather"), sorted by name.

The plugins modelled here are those whose settings a site writes (interconnect/ofed and sysfs, profile/
hdf5 and influxdb) and those without any (none, energy/rapl, gpu, ibmaem, pm_counters, filesystem/
lustre). With another plugin configured (energy/ipmi, energy/xcc, ...), flurm cannot know its keys: the
file is then not checked and that plugin's settings are not reported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flurm.config.extra_conf import ExtraKind, Values, beside, read_extra_conf
from flurm.config.slurmconf import ConfigError
from flurm.config.values import BadValue

__all__ = ["AcctGatherTypes", "KeyPairs", "acct_gather_types", "read_acct_gather_conf"]

KeyPairs = tuple[tuple[str, str | None], ...]

INTERCONNECT_DEFAULT_PORT = 1
_PROFILE_NONE, _PROFILE_ENERGY, _PROFILE_TASK, _PROFILE_LUSTRE, _PROFILE_NETWORK = 0x1, 0x2, 0x4, 0x8, 0x10
_PROFILE_ALL = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class AcctGatherTypes:
    """The four plugins as slurmctld names them (legacy names translated)."""

    energy: str = "acct_gather_energy/none"
    profile: str = "acct_gather_profile/none"
    interconnect: str = "acct_gather_interconnect/none"
    filesystem: str = "acct_gather_filesystem/none"

    def names(self) -> tuple[str, str, str, str]:
        """In the order slurmctld asks them for their settings."""
        return (self.profile, self.interconnect, self.energy, self.filesystem)


def acct_gather_types(raw: Mapping[str, str]) -> AcctGatherTypes:
    """AcctGather*Type from slurm.conf's settings (lower-case keys), as slurmctld sets them."""
    energy = raw.get("acctgatherenergytype", "acct_gather_energy/none").replace("rsmi", "gpu")
    interconnect = raw.get("acctgatherinterconnecttype") or raw.get("acctgatherinfinibandtype")
    return AcctGatherTypes(
        energy=energy,
        profile=raw.get("acctgatherprofiletype", "acct_gather_profile/none"),
        interconnect=(interconnect or "acct_gather_interconnect/none").replace("infiniband", "interconnect"),
        filesystem=raw.get("acctgatherfilesystemtype", "acct_gather_filesystem/none"),
    )


def _profile_from_string(text: str) -> int:
    """acct_gather_profile_from_string: words found anywhere in the value, any case; 0 is not set."""
    lowered = text.lower()
    if "none" in lowered:
        return _PROFILE_NONE
    if "all" in lowered:
        return _PROFILE_ALL
    bits = 0
    for word, bit in (("energy", _PROFILE_ENERGY), ("task", _PROFILE_TASK), ("lustre", _PROFILE_LUSTRE)):
        if word in lowered:
            bits |= bit
    return bits | (_PROFILE_NETWORK if "network" in lowered else 0)


def _profile_to_string(bits: int) -> str:
    if bits == 0:
        return "NotSet"
    if bits == _PROFILE_NONE:
        return "None"
    names = (
        (_PROFILE_ENERGY, "Energy"),
        (_PROFILE_LUSTRE, "Lustre"),
        (_PROFILE_NETWORK, "Network"),
        (_PROFILE_TASK, "Task"),
    )
    return ",".join(name for bit, name in names if bits & bit)


def _text(values: Values, key: str) -> str | None:
    value = values.get(key.lower())
    return None if value is None else str(value)


def _profile_default(values: Values, key: str, default: int) -> int:
    text = _text(values, key)
    if text is None:
        return default
    bits = _profile_from_string(text)
    if not bits:
        raise BadValue(f"{key} can not be set to {text}, please specify a valid option")
    return bits


def _ofed(values: Values) -> KeyPairs:
    port = values.get("interconnectofedport", values.get("infinibandofedport", INTERCONNECT_DEFAULT_PORT))
    return (("InterconnectOFEDPort", str(port)),)


def _sysfs(values: Values) -> KeyPairs:
    return (("SysfsInterfaces", _text(values, "SysfsInterfaces")),)


def _hdf5(values: Values) -> KeyPairs:
    default = _profile_default(values, "ProfileHDF5Default", _PROFILE_NONE)
    directory = _text(values, "ProfileHDF5Dir")
    if directory is None:
        raise BadValue(
            "No ProfileHDF5Dir in your acct_gather.conf file.  "
            "This is required to use the acct_gather_profile/hdf5 plugin"
        )
    return (("ProfileHDF5Dir", directory), ("ProfileHDF5Default", _profile_to_string(default)))


def _influxdb(values: Values) -> KeyPairs:
    default = _profile_default(values, "ProfileInfluxDBDefault", _PROFILE_ALL)
    host, database = _text(values, "ProfileInfluxDBHost"), _text(values, "ProfileInfluxDBDatabase")
    password, user = _text(values, "ProfileInfluxDBPass"), _text(values, "ProfileInfluxDBUser")
    policy = _text(values, "ProfileInfluxDBRTPolicy")
    use = "This is required to use the acct_gather_profile/influxdb plugin"
    if host is None:
        raise BadValue(f"No ProfileInfluxDBHost in your acct_gather.conf file. {use}")
    if database is None:
        raise BadValue(f"No ProfileInfluxDBDatabase in your acct_gather.conf file. {use}")
    if password is not None and user is None:
        raise BadValue(
            "No ProfileInfluxDBUser in your acct_gather.conf file. "
            "This is required if ProfileInfluxDBPass is specified to use the "
            "acct_gather_profile/influxdb plugin"
        )
    if policy is None:
        raise BadValue(f"No ProfileInfluxDBRTPolicy in your acct_gather.conf file. {use}")
    return (
        ("ProfileInfluxDBHost", host),
        ("ProfileInfluxDBDatabase", database),
        ("ProfileInfluxDBDefault", _profile_to_string(default)),
        ("ProfileInfluxDBPass", password),
        ("ProfileInfluxDBRTPolicy", policy),
        ("ProfileInfluxDBUser", user),
    )


def _no_settings(values: Values) -> KeyPairs:
    return ()


@dataclass(frozen=True, slots=True)
class _Plugin:
    options: Mapping[str, ExtraKind]
    settings: Callable[[Values], KeyPairs]


_PLUGINS: dict[str, _Plugin] = {
    "acct_gather_interconnect/ofed": _Plugin(
        {"InterconnectOFEDPort": "u32", "InfinibandOFEDPort": "u32"}, _ofed
    ),
    "acct_gather_interconnect/sysfs": _Plugin({"SysfsInterfaces": "str"}, _sysfs),
    "acct_gather_profile/hdf5": _Plugin({"ProfileHDF5Dir": "str", "ProfileHDF5Default": "str"}, _hdf5),
    "acct_gather_profile/influxdb": _Plugin(
        {
            "ProfileInfluxDBHost": "str",
            "ProfileInfluxDBDatabase": "str",
            "ProfileInfluxDBDefault": "str",
            "ProfileInfluxDBPass": "str",
            "ProfileInfluxDBRTPolicy": "str",
            "ProfileInfluxDBUser": "str",
        },
        _influxdb,
    ),
}
_WITHOUT_SETTINGS = frozenset(
    {
        "acct_gather_energy/none",
        "acct_gather_energy/rapl",
        "acct_gather_energy/gpu",
        "acct_gather_energy/ibmaem",
        "acct_gather_energy/pm_counters",
        "acct_gather_profile/none",
        "acct_gather_interconnect/none",
        "acct_gather_filesystem/none",
        "acct_gather_filesystem/lustre",
    }
)


def read_acct_gather_conf(slurm_conf_path: str, types: AcctGatherTypes) -> KeyPairs:
    """acct_gather_conf_init then acct_gather_conf_values: the loaded plugins' settings from
    acct_gather.conf beside ``slurm_conf_path``, sorted by name; ConfigError where slurmctld stops."""
    path = beside(slurm_conf_path, "acct_gather.conf")
    plugins = [_PLUGINS[name] for name in types.names() if name in _PLUGINS]
    known = all(name in _PLUGINS or name in _WITHOUT_SETTINGS for name in types.names())
    options: dict[str, ExtraKind] = {}
    for plugin in plugins:
        options.update(plugin.options)
    values = read_extra_conf(path, options, ignore_unknown=not known)
    pairs: list[tuple[str, str | None]] = []
    try:
        for plugin in plugins:
            pairs.extend(plugin.settings(values or {}))
    except BadValue as exc:  # a plugin's conf_set stops slurmctld
        raise ConfigError(path, None, str(exc)) from None
    return tuple(sorted(pairs, key=lambda pair: pair[0]))

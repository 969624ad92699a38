"""acct_gather.conf: read against the loaded plugins' keys, reported as slurmctld 22.05 reports it.

interconnect/sysfs is compared with a real slurmctld in tests/integration (the plugins installed with
Debian's slurmctld); the others follow the plugins' sources (conf_options, conf_set, conf_values)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.config import ConfigError
from flurm.config.acct_gather import AcctGatherTypes, acct_gather_types, read_acct_gather_conf


def _read(tmp_path: Path, text: str | None, **types: str) -> tuple[tuple[str, str | None], ...]:
    if text is not None:
        (tmp_path / "acct_gather.conf").write_text(text)
    return read_acct_gather_conf(str(tmp_path / "slurm.conf"), AcctGatherTypes(**types))


def test_types_as_slurmctld_names_them() -> None:
    types = acct_gather_types(
        {
            "acctgatherenergytype": "acct_gather_energy/rsmi",
            "acctgatherinfinibandtype": "acct_gather_infiniband/ofed",
        }
    )
    assert (types.energy, types.interconnect) == ("acct_gather_energy/gpu", "acct_gather_interconnect/ofed")
    assert acct_gather_types({}) == AcctGatherTypes()


def test_settings_of_the_loaded_plugins_sorted_by_name(tmp_path: Path) -> None:
    text = "SysfsInterfaces=ib0\nProfileHDF5Dir=/var/spool/h5\nProfileHDF5Default=Energy,task\n"
    pairs = _read(
        tmp_path, text, interconnect="acct_gather_interconnect/sysfs", profile="acct_gather_profile/hdf5"
    )
    assert pairs == (
        ("ProfileHDF5Default", "Energy,Task"),
        ("ProfileHDF5Dir", "/var/spool/h5"),
        ("SysfsInterfaces", "ib0"),
    )
    assert _read(tmp_path / "none", None, interconnect="acct_gather_interconnect/sysfs") == (
        ("SysfsInterfaces", None),
    )
    assert _read(tmp_path, "InfinibandOFEDPort=2\n", interconnect="acct_gather_interconnect/ofed") == (
        ("InterconnectOFEDPort", "2"),
    )
    assert _read(tmp_path / "none", None, interconnect="acct_gather_interconnect/ofed") == (
        ("InterconnectOFEDPort", "1"),
    )
    influx = "ProfileInfluxDBHost=db:8086\nProfileInfluxDBDatabase=slurm\nProfileInfluxDBRTPolicy=autogen\n"
    assert dict(_read(tmp_path, influx, profile="acct_gather_profile/influxdb")) == {
        "ProfileInfluxDBDatabase": "slurm",
        "ProfileInfluxDBDefault": "Energy,Lustre,Network,Task",  # ALL
        "ProfileInfluxDBHost": "db:8086",
        "ProfileInfluxDBPass": None,
        "ProfileInfluxDBRTPolicy": "autogen",
        "ProfileInfluxDBUser": None,
    }


@pytest.mark.parametrize(
    ("text", "types", "message"),
    [
        ("SysfsInterfaces=ib0\n", {}, "Parsing error at unrecognized key: SysfsInterfaces"),
        (
            None,
            {"profile": "acct_gather_profile/hdf5"},
            "No ProfileHDF5Dir in your acct_gather.conf file.  "
            "This is required to use the acct_gather_profile/hdf5 plugin",
        ),
        (
            "ProfileHDF5Dir=/x\nProfileHDF5Default=bogus\n",
            {"profile": "acct_gather_profile/hdf5"},
            "ProfileHDF5Default can not be set to bogus, please specify a valid option",
        ),
        (
            "ProfileInfluxDBHost=h\nProfileInfluxDBDatabase=d\nProfileInfluxDBPass=p\n",
            {"profile": "acct_gather_profile/influxdb"},
            "No ProfileInfluxDBUser in your acct_gather.conf file. This is required if "
            "ProfileInfluxDBPass is specified to use the acct_gather_profile/influxdb plugin",
        ),
        (
            "InterconnectOFEDPort=one\n",
            {"interconnect": "acct_gather_interconnect/ofed"},
            "InterconnectOFEDPort value (one) is not a valid number",
        ),
    ],
)
def test_refused_where_slurmctld_stops(
    tmp_path: Path, text: str | None, types: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _read(tmp_path, text, **types)
    assert err.value.message == message


def test_a_plugin_flurm_does_not_model_leaves_the_file_unchecked(tmp_path: Path) -> None:
    text = "EnergyIPMIFrequency=10\nSysfsInterfaces=ib0\nstray words\n"
    pairs = _read(
        tmp_path, text, energy="acct_gather_energy/ipmi", interconnect="acct_gather_interconnect/sysfs"
    )
    assert pairs == (("SysfsInterfaces", "ib0"),)

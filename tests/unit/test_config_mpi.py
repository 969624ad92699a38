"""mpi.conf: slurmctld reports the PMIx settings where its PMIx plugin loads (the plugin file and the
PMIx library it opens are installed), whatever MpiDefault says. Without the library (this test machine,
tests/integration/test_parity_show_config.py) slurmctld sends no MPI block; the values follow mpi/pmix's
source (mpi_p_conf_set, mpi_p_conf_get_printable)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flurm.config import ConfigError
from flurm.config.mpi import PMIX_PLUGIN_LIBRARIES, pmix_loads, read_mpi_conf

PLUGIN_DIR = "/usr/lib/x86_64-linux-gnu/slurm-wlm"
INSTALLED = {f"{PLUGIN_DIR}/mpi_pmix_v4.so", PMIX_PLUGIN_LIBRARIES["mpi_pmix_v4.so"]}


def _read(tmp_path: Path, text: str | None, installed: set[str] = INSTALLED) -> object:
    if text is not None:
        (tmp_path / "mpi.conf").write_text(text)
    return read_mpi_conf(str(tmp_path / "slurm.conf"), PLUGIN_DIR, installed.__contains__)


def test_no_block_without_the_pmix_library(tmp_path: Path) -> None:
    assert _read(tmp_path, "PMIxTimeout=oops\n", {f"{PLUGIN_DIR}/mpi_pmix_v4.so"}) is None  # not even read
    assert not pmix_loads(f"/opt/slurm/lib:{PLUGIN_DIR}", lambda path: path.endswith("libpmix.so"))
    assert pmix_loads(f"/opt/slurm/lib:{PLUGIN_DIR}", INSTALLED.__contains__)


def test_the_pmix_settings_with_their_defaults(tmp_path: Path) -> None:
    assert _read(tmp_path, None) == (
        ("PMIxCliTmpDirBase", None),
        ("PMIxCollFence", None),
        ("PMIxDebug", "0"),
        ("PMIxDirectConn", "yes"),
        ("PMIxDirectConnEarly", "no"),
        ("PMIxDirectConnUCX", "no"),
        ("PMIxDirectSameArch", "no"),
        ("PMIxEnv", None),
        ("PMIxFenceBarrier", "no"),
        ("PMIxNetDevicesUCX", None),
        ("PMIxTimeout", "300"),
        ("PMIxTlsUCX", None),
    )
    text = "PMIxDirectConn=no\nPMIxTimeout=600\nPMIxEnv=A=1;B=2\nSomeOtherPluginKey=1\n"
    pairs = dict(_read(tmp_path, text))  # type: ignore[call-overload]
    assert (pairs["PMIxDirectConn"], pairs["PMIxTimeout"], pairs["PMIxEnv"]) == ("no", "600", "A=1;B=2")


def test_a_pmix_value_of_the_wrong_type_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"PMIxTimeout value \(soon\) is not a valid number"):
        _read(tmp_path, "PMIxTimeout=soon\n")

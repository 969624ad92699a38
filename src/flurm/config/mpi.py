"""mpi.conf as SLURM 22.05 reads it (src/common/slurm_mpi.c), and what slurmctld reports of it.

slurmctld loads every MPI plugin of its plugin directory and reads mpi.conf (beside slurm.conf) for those
that declare settings; of the 22.05 plugins only mpi/pmix does, and it loads only where its PMIx library
is installed: Debian's plugin (mpi_pmix_v4.so) opens ``libpmix.so`` of the libpmix-dev package, at the
path it was built with. So whether ``scontrol show config`` lists the PMIx settings ("MPI Plugins
Configuration") depends on the host, not on MpiDefault; flurm looks for the same two files.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from flurm.config.extra_conf import ExtraKind, Values, beside, read_extra_conf

__all__ = ["PMIX_OPTIONS", "pmix_loads", "read_mpi_conf", "read_pmix_settings"]

KeyPairs = tuple[tuple[str, str | None], ...]

# each PMIx plugin Debian builds, and the library it opens (PMIXP_V*_LIBPATH/libpmix.so)
PMIX_PLUGIN_LIBRARIES = {"mpi_pmix_v4.so": "/usr/lib/x86_64-linux-gnu/pmix2/lib/libpmix.so"}
PMIX_TIMEOUT_DEFAULT = 300

PMIX_OPTIONS: dict[str, ExtraKind] = {
    "PMIxCliTmpDirBase": "str",
    "PMIxCollFence": "str",
    "PMIxDebug": "u32",
    "PMIxDirectConn": "bool",
    "PMIxDirectConnEarly": "bool",
    "PMIxDirectConnUCX": "bool",
    "PMIxDirectSameArch": "bool",
    "PMIxEnv": "str",
    "PMIxFenceBarrier": "bool",
    "PMIxNetDevicesUCX": "str",
    "PMIxTimeout": "u32",
    "PMIxTlsUCX": "str",
}


def pmix_loads(plugin_dir: str, exists: Callable[[str], bool] = os.path.exists) -> bool:
    """Whether slurmctld's mpi/pmix plugin would load on this host (its init opens the library);
    ``plugin_dir`` is PluginDir, a colon-separated list."""
    return any(
        exists(os.path.join(directory, plugin)) and exists(library)
        for directory in plugin_dir.split(":")
        for plugin, library in PMIX_PLUGIN_LIBRARIES.items()
    )


def _pmix_pairs(values: Values) -> KeyPairs:
    """mpi_p_conf_get_printable of mpi/pmix (mpi_p_conf_set's defaults)."""

    def text(key: str) -> str | None:
        value = values.get(key.lower())
        return None if value is None else str(value)

    def yes(key: str, default: bool) -> str:
        return "yes" if values.get(key.lower(), default) else "no"

    return (
        ("PMIxCliTmpDirBase", text("PMIxCliTmpDirBase")),
        ("PMIxCollFence", text("PMIxCollFence")),
        ("PMIxDebug", str(values.get("pmixdebug", 0))),
        ("PMIxDirectConn", yes("PMIxDirectConn", True)),
        ("PMIxDirectConnEarly", yes("PMIxDirectConnEarly", False)),
        ("PMIxDirectConnUCX", yes("PMIxDirectConnUCX", False)),
        ("PMIxDirectSameArch", yes("PMIxDirectSameArch", False)),
        ("PMIxEnv", text("PMIxEnv")),
        ("PMIxFenceBarrier", yes("PMIxFenceBarrier", False)),
        ("PMIxNetDevicesUCX", text("PMIxNetDevicesUCX")),
        ("PMIxTimeout", str(values.get("pmixtimeout", PMIX_TIMEOUT_DEFAULT))),
        ("PMIxTlsUCX", text("PMIxTlsUCX")),
    )


def read_mpi_conf(
    slurm_conf_path: str, plugin_dir: str, exists: Callable[[str], bool] = os.path.exists
) -> KeyPairs | None:
    """mpi_g_conf_get_printable: the PMIx settings from mpi.conf, or None (no plugin with settings
    loads). mpi.conf is read passing over other keys; a PMIx value of the wrong type is a ConfigError."""
    if not pmix_loads(plugin_dir, exists):
        return None
    return read_pmix_settings(slurm_conf_path)


def read_pmix_settings(slurm_conf_path: str | None) -> KeyPairs:
    """The PMIx settings of mpi.conf beside ``slurm_conf_path`` (their defaults where it is absent or
    the path is None), as a loaded mpi/pmix plugin lists them."""
    values = None
    if slurm_conf_path is not None:
        values = read_extra_conf(beside(slurm_conf_path, "mpi.conf"), PMIX_OPTIONS, ignore_unknown=True)
    return _pmix_pairs(values or {})

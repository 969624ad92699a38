"""Configless SLURM (``SlurmctldParameters=enable_configless``): REQUEST_CONFIG 2015 -> RESPONSE_CONFIG.

As slurmctld (proc_req.c _slurm_rpc_config_request, configless_setup; fetch_config.c): a slurmd
(flag CONFIG_REQUEST_SLURMD, SlurmUser or root only) gets every file of ``SLURMD_FILES`` and the
SlurmdSpoolDir; a client gets ``CLIENT_FILES``. Each name is listed, with ``exists`` false when
the file is not there (slurmd then removes its cached copy). The files are read from the directory
of flurm's slurm.conf once per loaded configuration, as slurmctld reads them at start-up.
The files slurm.conf Include's by a bare name (no directory: they sit beside it, where configless
slurmd writes them) follow slurm.conf in both lists (fetch_config.c load_config_response_list, with
the names parse_config.c collects while slurmctld reads its slurm.conf).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from flurm.config import gres as gres_conf
from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.messages.config_files import (
    CONFIG_REQUEST_SLURMD,
    ConfigFile,
    ConfigRequest,
    ConfigResponse,
)
from flurm.rpc.transport import Reply, Request, rc_reply

if TYPE_CHECKING:
    from flurm.config.slurmconf import SlurmConfig
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.configless")

SLURMD_FILES = (
    "slurm.conf",
    "acct_gather.conf",
    "cgroup.conf",
    "cli_filter.lua",
    "ext_sensors.conf",
    "gres.conf",
    "helpers.conf",
    "job_container.conf",
    "knl_cray.conf",
    "mpi.conf",
    "oci.conf",
    "plugstack.conf",
    "topology.conf",
)
CLIENT_FILES = ("slurm.conf", "cli_filter.lua", "plugstack.conf", "topology.conf")

# per loaded configuration (by identity): the answers for slurmd and for clients
_loaded: dict[int, tuple[SlurmConfig, ConfigResponse, ConfigResponse]] = {}


def configless_enabled(config: SlurmConfig) -> bool:
    return "enable_configless" in (config.slurmctld_parameters or "").lower()


def _read(directory: Path, name: str) -> ConfigFile:
    try:
        return ConfigFile(name, True, (directory / name).read_text(errors="surrogateescape"))
    except FileNotFoundError:
        return ConfigFile(name, False, None)
    except OSError as exc:
        log.warning("configless: cannot read %s: %s", directory / name, exc)
        return ConfigFile(name, False, None)


def _bare_includes(directory: Path, top: ConfigFile, limit: int = 16) -> tuple[str, ...]:
    """The files a conf file Include's by a bare name (nested ones too), that exist: slurmctld lists
    an Include only once it read it (parse_config.c _handle_include)."""
    out: list[str] = []
    pending = [top]
    while pending and len(out) < limit:
        f = pending.pop(0)
        if not f.exists or f.content is None:
            continue
        for name in gres_conf.includes_of(f.content):
            if "/" in name or name in out:
                continue
            inc = _read(directory, name)
            if inc.exists:
                out.append(name)
                pending.append(inc)
    return tuple(out)


def responses(config: SlurmConfig) -> tuple[ConfigResponse, ConfigResponse]:
    """(for slurmd, for clients), read once for this configuration."""
    cached = _loaded.get(id(config))
    if cached is not None and cached[0] is config:
        return cached[1], cached[2]
    directory = Path(config.files[0]).parent if config.files else Path(".")
    # slurmctld keys them by the name of the file it read: under another name, slurm.conf has none
    main_file = Path(config.files[0]).name if config.files else "slurm.conf"
    includes = {"slurm.conf": config.bare_includes} if main_file == "slurm.conf" else {}
    files = {name: _read(directory, name) for name in (*SLURMD_FILES, *config.bare_includes)}
    # slurmctld reads gres.conf for its Include's alone (gres_parse_config_dummy), to send them along
    gres_includes = _bare_includes(directory, files["gres.conf"])
    if gres_includes:
        includes["gres.conf"] = gres_includes
        files.update((name, _read(directory, name)) for name in gres_includes if name not in files)

    def listed(names: tuple[str, ...]) -> tuple[ConfigFile, ...]:
        return tuple(files[n] for name in names for n in (name, *includes.get(name, ())))

    slurmd = ConfigResponse(listed(SLURMD_FILES), config.slurmd_spool_dir)
    clients = ConfigResponse(listed(CLIENT_FILES), None)
    _loaded.clear()
    _loaded[id(config)] = (config, slurmd, clients)
    return slurmd, clients


def config_request(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, ConfigRequest)
    if not configless_enabled(ctl.config):
        log.error("config request rejected: configless is disabled")
        return rc_reply(SlurmRC.ESLURM_CONFIGLESS_DISABLED)
    for_slurmd = bool(req.body.flags & CONFIG_REQUEST_SLURMD)
    if for_slurmd and not ctl.is_admin(req.uid):
        log.error("config request for slurmd configs by uid=%s rejected", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    slurmd, clients = responses(ctl.config)
    return Reply(MsgType.RESPONSE_CONFIG, slurmd if for_slurmd else clients)


HANDLERS = {MsgType.REQUEST_CONFIG: config_request}

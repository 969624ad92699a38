"""RESPONSE_BUILD_INFO (2002): slurmctld's configuration as ``scontrol show config`` reads it.

The body is slurm_ctl_conf_t packed by _pack_slurm_ctl_conf_msg (SLURM_22_05_PROTOCOL_VERSION): 215
fields in one flat run, described below as a layout table in the C packer's order. Besides the
primitives it holds four kinds of lists:

* key/value lists (pack_key_pair_list: u32 count, NO_VAL for no list, then name and value strings):
  acct_gather, cgroup, ext_sensors, mpi and select plugin settings that scontrol prints in blocks of
  their own after the main listing,
* plugin parameter lists (pack_config_plugin_params_list: u32 count or NO_VAL, then per plugin its
  name and a key/value list): node_features and slurmctld_plugstack,
* the JobDefaults list (slurm_pack_list: u32 count or NO_VAL, then per entry u16 type and u64 value),
* the control hosts: two packstr_arrays of control_cnt strings (addresses, then machine names).

The request (2001 REQUEST_BUILD_INFO) is last_update_msg_t, LastUpdateRequest in job_control.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.layout import (
    STR,
    STRS,
    TIME,
    U16,
    U32,
    U64,
    Entry,
    VersionedLayout,
    before,
    pack_str,
    pack_strs,
    read_strs,
    since,
)
from flurm.protocol.versions import NEWER, SERVED, require_22_05_decode
from flurm.protocol.wire import DecodeError, EncodeError, Reader, Writer

__all__ = ["BuildInfo", "JobDefault", "KeyPair", "KeyPairs", "PluginParams"]

KeyPair = tuple[str | None, str | None]
KeyPairs = tuple[KeyPair, ...]

_NO_LIST = NO_VAL.to_bytes(4, "big")


def _count(r: Reader, what: str, least_bytes: int) -> int | None:
    """A list's u32 count: None for NO_VAL (no list); refused if more than NO_VAL or past the end."""
    n = r.u32()
    if n == NO_VAL:
        return None
    if n > NO_VAL or n * least_bytes > r.remaining:
        raise DecodeError(f"{what}: count {n} does not fit in {r.remaining} bytes")
    return n


class _KeyPairList:
    """pack_key_pair_list / unpack_key_pair_list; None is no list (NO_VAL), () an empty one."""

    def pack(self, value: KeyPairs | None) -> bytes:
        if value is None:
            return _NO_LIST
        parts = [len(value).to_bytes(4, "big")]
        for name, val in value:
            parts.append(pack_str(name))
            parts.append(pack_str(val))
        return b"".join(parts)

    def unpack(self, r: Reader) -> KeyPairs | None:
        n = _count(r, "key pair list", 8)
        if n is None:
            return None
        return tuple((r.string(), r.string()) for _ in range(n))


@dataclass(frozen=True, slots=True)
class PluginParams:
    """config_plugin_params_t: a plugin's name and its settings."""

    name: str | None
    key_pairs: KeyPairs | None = None


class _PluginParamsList:
    """pack_config_plugin_params_list: u32 count or NO_VAL, then per plugin name + key pair list."""

    def pack(self, value: tuple[PluginParams, ...] | None) -> bytes:
        if value is None:
            return _NO_LIST
        parts = [len(value).to_bytes(4, "big")]
        for item in value:
            parts.append(pack_str(item.name))
            parts.append(KEY_PAIRS.pack(item.key_pairs))
        return b"".join(parts)

    def unpack(self, r: Reader) -> tuple[PluginParams, ...] | None:
        n = _count(r, "plugin params list", 8)
        if n is None:
            return None
        return tuple(PluginParams(r.string(), KEY_PAIRS.unpack(r)) for _ in range(n))


@dataclass(frozen=True, slots=True)
class JobDefault:
    """job_defaults_t: JobDefaults=type=value (type 1 DefCpuPerGPU, 2 DefMemPerGPU)."""

    type: int
    value: int


class _JobDefaultsList:
    """slurm_pack_list(job_defaults_pack): u32 count or NO_VAL, then u16 type + u64 value each."""

    def pack(self, value: tuple[JobDefault, ...] | None) -> bytes:
        if value is None:
            return _NO_LIST
        parts = [len(value).to_bytes(4, "big")]
        try:
            for item in value:
                parts.append(item.type.to_bytes(2, "big") + item.value.to_bytes(8, "big"))
        except (OverflowError, AttributeError) as e:
            raise EncodeError(f"JobDefaults entry does not fit its wire type: {e}") from None
        return b"".join(parts)

    def unpack(self, r: Reader) -> tuple[JobDefault, ...] | None:
        n = _count(r, "JobDefaults list", 10)
        if n is None:
            return None
        return tuple(JobDefault(r.u16(), r.u64()) for _ in range(n))


KEY_PAIRS = _KeyPairList()
PLUGIN_PARAMS = _PluginParamsList()
JOB_DEFAULTS = _JobDefaultsList()


@register(MsgType.RESPONSE_BUILD_INFO)
@dataclass(frozen=True, slots=True)
class BuildInfo(Message):
    """slurm_ctl_conf_t as 22.05 packs it. Names are the C struct's; ``srun_port_range_min/max`` are
    its two-element srun_port_range; ``control_addr``/``control_machine`` carry control_cnt each."""

    last_update: int = 0
    accounting_storage_enforce: int = 0
    accounting_storage_backup_host: str | None = None
    accounting_storage_host: str | None = None
    accounting_storage_ext_host: str | None = None
    accounting_storage_params: str | None = None
    accounting_storage_port: int = 0
    accounting_storage_tres: str | None = None
    accounting_storage_type: str | None = None
    accounting_storage_user: str | None = None
    acct_gather_conf: KeyPairs | None = None
    acct_gather_energy_type: str | None = None
    acct_gather_filesystem_type: str | None = None
    acct_gather_interconnect_type: str | None = None
    acct_gather_node_freq: int = 0
    acct_gather_profile_type: str | None = None
    authalttypes: str | None = None
    authalt_params: str | None = None
    authinfo: str | None = None
    authtype: str | None = None
    batch_start_timeout: int = 0
    boot_time: int = 0
    bb_type: str | None = None
    bcast_exclude: str | None = None
    bcast_parameters: str | None = None
    cgroup_conf: KeyPairs | None = None
    cli_filter_plugins: str | None = None
    cluster_name: str | None = None
    comm_params: str | None = None
    complete_wait: int = 0
    conf_flags: int = 0
    control_addr: tuple[str, ...] = ()
    control_machine: tuple[str, ...] = ()
    core_spec_plugin: str | None = None
    cpu_freq_def: int = 0
    cpu_freq_govs: int = 0
    cred_type: str | None = None
    def_mem_per_cpu: int = 0
    debug_flags: int = 0
    dependency_params: str | None = None
    eio_timeout: int = 0
    enforce_part_limits: int = 0
    epilog: str | None = None
    epilog_msg_time: int = 0
    epilog_slurmctld: str | None = None
    ext_sensors_conf: KeyPairs | None = None
    ext_sensors_type: str | None = None
    ext_sensors_freq: int = 0
    fed_params: str | None = None
    first_job_id: int = 0
    fs_dampening_factor: int = 0
    get_env_timeout: int = 0
    gres_plugins: str | None = None
    group_time: int = 0
    group_force: int = 0
    gpu_freq_def: str | None = None
    hash_val: int = 0
    health_check_interval: int = 0
    health_check_node_state: int = 0
    health_check_program: str | None = None
    inactive_limit: int = 0
    interactive_step_opts: str | None = None
    job_acct_gather_freq: str | None = None
    job_acct_gather_type: str | None = None
    job_acct_gather_params: str | None = None
    job_comp_host: str | None = None
    job_comp_loc: str | None = None
    job_comp_params: str | None = None
    job_comp_port: int = 0
    job_comp_type: str | None = None
    job_comp_user: str | None = None
    job_container_plugin: str | None = None
    job_credential_private_key: str | None = None
    job_credential_public_certificate: str | None = None
    job_defaults_list: tuple[JobDefault, ...] | None = None
    job_file_append: int = 0
    job_requeue: int = 0
    job_submit_plugins: str | None = None
    kill_on_bad_exit: int = 0
    kill_wait: int = 0
    launch_params: str | None = None
    launch_type: str | None = None
    licenses: str | None = None
    log_fmt: int = 0
    max_array_sz: int = 0
    max_dbd_msgs: int = 0
    mail_domain: str | None = None
    mail_prog: str | None = None
    max_job_cnt: int = 0
    max_job_id: int = 0
    max_mem_per_cpu: int = 0
    max_node_cnt: int = 0
    max_step_cnt: int = 0
    max_tasks_per_node: int = 0
    mcs_plugin: str | None = None
    mcs_plugin_params: str | None = None
    min_job_age: int = 0
    mpi_conf: KeyPairs | None = None
    mpi_default: str | None = None
    mpi_params: str | None = None
    msg_timeout: int = 0
    next_job_id: int = 0
    node_features_conf: tuple[PluginParams, ...] | None = None
    node_features_plugins: str | None = None
    node_prefix: str | None = None
    over_time_limit: int = 0
    plugindir: str | None = None
    plugstack: str | None = None
    power_parameters: str | None = None
    power_plugin: str | None = None
    preempt_mode: int = 0
    preempt_type: str | None = None
    preempt_exempt_time: int = 0
    prep_params: str | None = None
    prep_plugins: str | None = None
    priority_decay_hl: int = 0
    priority_calc_period: int = 0
    priority_favor_small: int = 0
    priority_flags: int = 0
    priority_max_age: int = 0
    priority_params: str | None = None
    priority_reset_period: int = 0
    priority_type: str | None = None
    priority_weight_age: int = 0
    priority_weight_assoc: int = 0
    priority_weight_fs: int = 0
    priority_weight_js: int = 0
    priority_weight_part: int = 0
    priority_weight_qos: int = 0
    priority_weight_tres: str | None = None
    private_data: int = 0
    proctrack_type: str | None = None
    prolog: str | None = None
    prolog_epilog_timeout: int = 0
    prolog_slurmctld: str | None = None
    prolog_flags: int = 0
    propagate_prio_process: int = 0
    propagate_rlimits: str | None = None
    propagate_rlimits_except: str | None = None
    reboot_program: str | None = None
    reconfig_flags: int = 0
    requeue_exit: str | None = None
    requeue_exit_hold: str | None = None
    resume_fail_program: str | None = None
    resume_program: str | None = None
    resume_rate: int = 0
    resume_timeout: int = 0
    resv_epilog: str | None = None
    resv_over_run: int = 0
    resv_prolog: str | None = None
    ret2service: int = 0
    route_plugin: str | None = None
    sched_params: str | None = None
    sched_logfile: str | None = None
    sched_log_level: int = 0
    sched_time_slice: int = 0
    schedtype: str | None = None
    scron_params: str | None = None
    select_type: str | None = None
    select_conf_key_pairs: KeyPairs | None = None
    select_type_param: int = 0
    slurm_conf: str | None = None
    slurm_user_id: int = 0
    slurm_user_name: str | None = None
    slurmd_user_id: int = 0
    slurmd_user_name: str | None = None
    slurmctld_addr: str | None = None
    slurmctld_debug: int = 0
    slurmctld_logfile: str | None = None
    slurmctld_params: str | None = None
    slurmctld_pidfile: str | None = None
    slurmctld_plugstack: str | None = None
    slurmctld_plugstack_conf: tuple[PluginParams, ...] | None = None
    slurmctld_port: int = 0
    slurmctld_port_count: int = 0
    slurmctld_primary_off_prog: str | None = None
    slurmctld_primary_on_prog: str | None = None
    slurmctld_syslog_debug: int = 0
    slurmctld_timeout: int = 0
    slurmd_debug: int = 0
    slurmd_logfile: str | None = None
    slurmd_params: str | None = None
    slurmd_pidfile: str | None = None
    slurmd_port: int = 0
    slurmd_spooldir: str | None = None
    slurmd_syslog_debug: int = 0
    slurmd_timeout: int = 0
    srun_epilog: str | None = None
    srun_port_range_min: int = 0
    srun_port_range_max: int = 0
    srun_prolog: str | None = None
    state_save_location: str | None = None
    suspend_exc_nodes: str | None = None
    suspend_exc_parts: str | None = None
    suspend_program: str | None = None
    suspend_rate: int = 0
    suspend_time: int = 0
    suspend_timeout: int = 0
    switch_param: str | None = None
    switch_type: str | None = None
    task_epilog: str | None = None
    task_prolog: str | None = None
    task_plugin: str | None = None
    task_plugin_param: int = 0
    tcp_timeout: int = 0
    tmp_fs: str | None = None
    topology_param: str | None = None
    topology_plugin: str | None = None
    tree_width: int = 0
    unkillable_program: str | None = None
    unkillable_timeout: int = 0
    version: str | None = None
    vsize_factor: int = 0
    wait_time: int = 0
    x11_params: str | None = None

    # 24.11 on (23.02 to 24.05 added them)
    data_parser_parameters: str | None = None
    hash_plugin: str | None = None
    max_batch_requeue: int = 0
    preempt_params: str | None = None
    suspend_exc_states: str | None = None
    tls_type: str | None = None
    # 26.05 on (25.05, 25.11 and 26.05 added them)
    certmgr_params: str | None = None
    certmgr_type: str | None = None
    cli_filter_params: str | None = None
    epilog_timeout: int = 0
    health_check_timeout: int = 0
    http_parser_type: str | None = None
    license_params: str | None = None
    metrics_auth_users: str | None = None
    metrics_params: str | None = None
    metrics_type: str | None = None
    prolog_timeout: int = 0
    slurmctld_http_auth_params: str | None = None
    slurmd_http_auth_params: str | None = None
    tls_params: str | None = None
    url_parser_type: str | None = None

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    def to_bytes(self, version: int) -> bytes:
        if len(self.control_addr) != len(self.control_machine):
            raise EncodeError("control_addr and control_machine must have one entry per control host")
        return BUILD_INFO.pack(self, _layout_version(version))

    def pack(self, w: Writer, version: int) -> None:
        w.raw(self.to_bytes(version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        info = BUILD_INFO.unpacker(_layout_version(version))(cls, r)
        if len(info.control_addr) != len(info.control_machine):
            raise DecodeError("slurm_ctl_conf: control_addr and control_machine counts differ")
        return info


def _layout_version(version: int) -> int:
    """22.05's layout is the only older one flurm knows; newer releases need their own."""
    if version in NEWER:
        return version
    require_22_05_decode(version, "slurm_ctl_conf")
    return version


class _Scripts:
    """Prolog, Epilog and their slurmctld kinds from 24.11: a packstr_array of the scripts (several
    Epilog= lines). flurm keeps one script: none is an empty array, several are refused."""

    def pack(self, value: str | None) -> bytes:
        return pack_strs(() if value is None else (value,))

    def unpack(self, r: Reader) -> str | None:
        scripts = read_strs(r)
        if len(scripts) > 1:
            raise DecodeError(f"slurm_ctl_conf: {len(scripts)} scripts of one kind; flurm keeps one")
        return scripts[0] if scripts else None


SCRIPTS = _Scripts()
_V24 = since(SLURM_24_11_PROTOCOL_VERSION)
_V26 = since(SLURM_26_05_PROTOCOL_VERSION)
_TO_24 = before(SLURM_24_11_PROTOCOL_VERSION)
_TO_26 = before(SLURM_26_05_PROTOCOL_VERSION)

# _pack_slurm_ctl_conf_msg of 22.05 and 24.11, _pack_slurm_conf of 26.05: one table
BUILD_INFO_LAYOUT: tuple[Entry, ...] = (
    ("last_update", TIME),
    ("accounting_storage_enforce", U16),
    ("accounting_storage_backup_host", STR),
    ("accounting_storage_host", STR),
    ("accounting_storage_ext_host", STR),
    ("accounting_storage_params", STR),
    ("accounting_storage_port", U16),
    ("accounting_storage_tres", STR),
    ("accounting_storage_type", STR),
    ("accounting_storage_user", STR, _TO_26),
    ("acct_gather_conf", KEY_PAIRS),
    ("acct_gather_energy_type", STR),
    ("acct_gather_filesystem_type", STR),
    ("acct_gather_interconnect_type", STR),
    ("acct_gather_node_freq", U16),
    ("acct_gather_profile_type", STR),
    ("authalttypes", STR),
    ("authalt_params", STR),
    ("authinfo", STR),
    ("authtype", STR),
    ("batch_start_timeout", U16),
    ("boot_time", TIME),
    ("bb_type", STR),
    ("bcast_exclude", STR),
    ("bcast_parameters", STR),
    ("certmgr_params", STR, _V26),
    ("certmgr_type", STR, _V26),
    ("cgroup_conf", KEY_PAIRS),
    ("cli_filter_params", STR, _V26),
    ("cli_filter_plugins", STR),
    ("cluster_name", STR),
    ("comm_params", STR),
    ("complete_wait", U16),
    ("conf_flags", U32),
    ("control_addr", STRS),
    ("control_machine", STRS),
    ("core_spec_plugin", STR, _TO_24),
    ("cpu_freq_def", U32),
    ("cpu_freq_govs", U32),
    ("cred_type", STR),
    ("data_parser_parameters", STR, _V24),
    ("def_mem_per_cpu", U64),
    ("debug_flags", U64),
    ("dependency_params", STR),
    ("eio_timeout", U16),
    ("enforce_part_limits", U16),
    ("epilog", STR, _TO_24),
    ("epilog", SCRIPTS, _V24),
    ("epilog_msg_time", U32),
    ("epilog_slurmctld", STR, _TO_24),
    ("epilog_slurmctld", SCRIPTS, _V24),
    ("epilog_timeout", U16, _V26),
    ("ext_sensors_conf", KEY_PAIRS, _TO_24),
    ("ext_sensors_type", STR, _TO_24),
    ("ext_sensors_freq", U16, _TO_24),
    ("fed_params", STR),
    ("first_job_id", U32),
    ("fs_dampening_factor", U16),
    ("get_env_timeout", U16, _TO_26),
    ("gres_plugins", STR),
    ("group_time", U16),
    ("group_force", U16),
    ("gpu_freq_def", STR),
    ("hash_plugin", STR, _V24),
    ("hash_val", U32),
    ("health_check_interval", U16),
    ("health_check_node_state", U16),
    ("health_check_program", STR),
    ("health_check_timeout", U16, _V26),
    ("http_parser_type", STR, _V26),
    ("inactive_limit", U16),
    ("interactive_step_opts", STR),
    ("job_acct_gather_freq", STR),
    ("job_acct_gather_type", STR),
    ("job_acct_gather_params", STR),
    ("job_comp_host", STR),
    ("job_comp_loc", STR),
    ("job_comp_params", STR),
    ("job_comp_port", U32),
    ("job_comp_type", STR),
    ("job_comp_user", STR),
    ("job_container_plugin", STR),
    ("job_credential_private_key", STR, _TO_24),
    ("job_credential_public_certificate", STR, _TO_24),
    ("job_defaults_list", JOB_DEFAULTS),
    ("job_file_append", U16),
    ("job_requeue", U16),
    ("job_submit_plugins", STR),
    ("kill_on_bad_exit", U16),
    ("kill_wait", U16),
    ("launch_params", STR),
    ("license_params", STR, _V26),
    ("launch_type", STR, _TO_24),
    ("licenses", STR),
    ("log_fmt", U16),
    ("max_array_sz", U32),
    ("max_batch_requeue", U32, _V24),
    ("max_dbd_msgs", U32),
    ("mail_domain", STR),
    ("mail_prog", STR),
    ("max_job_cnt", U32),
    ("max_job_id", U32),
    ("max_mem_per_cpu", U64),
    ("max_node_cnt", U32),
    ("max_step_cnt", U32),
    ("max_tasks_per_node", U16),
    ("mcs_plugin", STR),
    ("mcs_plugin_params", STR),
    ("metrics_auth_users", STR, _V26),
    ("metrics_params", STR, _V26),
    ("metrics_type", STR, _V26),
    ("min_job_age", U32),
    ("mpi_conf", KEY_PAIRS),
    ("mpi_default", STR),
    ("mpi_params", STR),
    ("msg_timeout", U16),
    ("next_job_id", U32),
    ("node_features_conf", PLUGIN_PARAMS),
    ("node_features_plugins", STR),
    ("node_prefix", STR, _TO_26),
    ("over_time_limit", U16),
    ("plugindir", STR),
    ("plugstack", STR),
    ("power_parameters", STR, _TO_24),
    ("power_plugin", STR, _TO_24),
    ("preempt_mode", U16),
    ("preempt_params", STR, _V24),
    ("preempt_type", STR),
    ("preempt_exempt_time", U32),
    ("prep_params", STR),
    ("prep_plugins", STR),
    ("priority_decay_hl", U32),
    ("priority_calc_period", U32),
    ("priority_favor_small", U16),
    ("priority_flags", U16),
    ("priority_max_age", U32),
    ("priority_params", STR),
    ("priority_reset_period", U16),
    ("priority_type", STR),
    ("priority_weight_age", U32),
    ("priority_weight_assoc", U32),
    ("priority_weight_fs", U32),
    ("priority_weight_js", U32),
    ("priority_weight_part", U32),
    ("priority_weight_qos", U32),
    ("priority_weight_tres", STR),
    ("private_data", U16),
    ("proctrack_type", STR),
    ("prolog", STR, _TO_24),
    ("prolog", SCRIPTS, _V24),
    ("prolog_epilog_timeout", U16, _TO_26),
    ("prolog_slurmctld", STR, _TO_24),
    ("prolog_slurmctld", SCRIPTS, _V24),
    ("prolog_timeout", U16, _V26),
    ("prolog_flags", U16),
    ("propagate_prio_process", U16),
    ("propagate_rlimits", STR),
    ("propagate_rlimits_except", STR),
    ("reboot_program", STR),
    ("reconfig_flags", U16),
    ("requeue_exit", STR),
    ("requeue_exit_hold", STR),
    ("resume_fail_program", STR),
    ("resume_program", STR),
    ("resume_rate", U16),
    ("resume_timeout", U16),
    ("resv_epilog", STR),
    ("resv_over_run", U16),
    ("resv_prolog", STR),
    ("ret2service", U16),
    ("route_plugin", STR, _TO_24),
    ("sched_params", STR),
    ("sched_logfile", STR),
    ("sched_log_level", U16),
    ("sched_time_slice", U16),
    ("schedtype", STR),
    ("scron_params", STR),
    ("select_type", STR),
    ("select_conf_key_pairs", KEY_PAIRS),
    ("select_type_param", U16),
    ("slurm_conf", STR),
    ("slurm_user_id", U32),
    ("slurm_user_name", STR),
    ("slurmd_user_id", U32),
    ("slurmd_user_name", STR),
    ("slurmctld_addr", STR),
    ("slurmctld_debug", U16),
    ("slurmctld_http_auth_params", STR, _V26),
    ("slurmctld_logfile", STR),
    ("slurmctld_params", STR),
    ("slurmctld_pidfile", STR),
    ("slurmctld_plugstack", STR, _TO_24),
    ("slurmctld_plugstack_conf", PLUGIN_PARAMS, _TO_24),
    ("slurmctld_port", U32),
    ("slurmctld_port_count", U16),
    ("slurmctld_primary_off_prog", STR),
    ("slurmctld_primary_on_prog", STR),
    ("slurmctld_syslog_debug", U16),
    ("slurmctld_timeout", U16),
    ("slurmd_debug", U16),
    ("slurmd_http_auth_params", STR, _V26),
    ("slurmd_logfile", STR),
    ("slurmd_params", STR),
    ("slurmd_pidfile", STR),
    ("slurmd_port", U32),
    ("slurmd_spooldir", STR),
    ("slurmd_syslog_debug", U16),
    ("slurmd_timeout", U16),
    ("srun_epilog", STR),
    ("srun_port_range_min", U16),
    ("srun_port_range_max", U16),
    ("srun_prolog", STR),
    ("state_save_location", STR),
    ("suspend_exc_nodes", STR),
    ("suspend_exc_parts", STR),
    ("suspend_exc_states", STR, _V24),
    ("suspend_program", STR),
    ("suspend_rate", U16),
    ("suspend_time", U32),
    ("suspend_timeout", U16),
    ("switch_param", STR),
    ("switch_type", STR),
    ("task_epilog", STR),
    ("task_prolog", STR),
    ("task_plugin", STR),
    ("task_plugin_param", U32),
    ("tcp_timeout", U16),
    ("tls_params", STR, _V26),
    ("tls_type", STR, _V24),
    ("tmp_fs", STR),
    ("topology_param", STR),
    ("topology_plugin", STR),
    ("tree_width", U16),
    ("unkillable_program", STR),
    ("unkillable_timeout", U16),
    ("url_parser_type", STR, _V26),
    ("version", STR),
    ("vsize_factor", U16),
    ("wait_time", U16),
    ("x11_params", STR),
)

BUILD_INFO = VersionedLayout(BuildInfo, BUILD_INFO_LAYOUT, SERVED)

"""job_desc_msg_t: the job description of sbatch (4003), srun/salloc (4001), will-run (4012) and
scontrol hold/release/update (3001), in the layouts of SLURM 22.05, 24.11 and 26.05 (``_pack_job_desc_msg``;
one table, :data:`JOB_DESC_LAYOUT`, whose entries say which releases pack them).

Every field keeps its wire value, sentinels included: NO_VAL/NO_VAL16/NO_VAL64/NO_VAL8 mean "not
given" (for 3001: "no change"), so decode -> encode gives the same bytes. The defaults are those of
``slurm_init_job_desc_msg``: ``JobDesc()`` is what scontrol starts an update from.

The client library sets bitflags USE_DEFAULT_ACCT/PART/QOS/WCKEY (bits 25-28) when account,
partition, qos or wckey is NULL before packing; this codec packs ``bitflags`` as given.

One value has a release's own spelling: "no user or group given" is NO_VAL in 22.05 and
SLURM_AUTH_NOBODY (99) from 24.11 (slurm_init_job_desc_msg; _valid_id). ``user_id``/``group_id`` hold
22.05's meaning whatever the release (NO_VAL: not given), so every handler reads them alike.
From 26.05 the job id travels in a step id (sluid, job_id, step_id, step_het_comp) at the front.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import (
    NO_VAL,
    NO_VAL8,
    NO_VAL16,
    NO_VAL64,
    PROTOCOL_VERSION,
    SELECT_PLUGIN_CONS_TRES,
    SLURM_22_05_PROTOCOL_VERSION,
    SLURM_24_11_PROTOCOL_VERSION,
    SLURM_26_05_PROTOCOL_VERSION,
    MsgType,
)
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.job_common import SELECT_PLUGIN
from flurm.protocol.messages.layout import (
    BITS,
    STR,
    STRS,
    TIME,
    U8,
    U16,
    U32,
    U64,
    VersionedLayout,
    before,
    compile_layout,
    since,
)
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import Bitmap, DecodeError, EncodeError, Reader, Writer

V24 = SLURM_24_11_PROTOCOL_VERSION
V26 = SLURM_26_05_PROTOCOL_VERSION
# "no uid/gid given" in a job description from 24.11 (slurm.h SLURM_AUTH_NOBODY); 22.05 used NO_VAL
SLURM_AUTH_NOBODY = 99


@dataclass(frozen=True, slots=True)
class CronEntry:
    """cron_entry_t as packed by pack_cron_entry (only scrontab sets it). Bit i of a field = value i."""

    flags: int = 0
    minute: Bitmap | None = None
    hour: Bitmap | None = None
    day_of_month: Bitmap | None = None
    month: Bitmap | None = None
    day_of_week: Bitmap | None = None
    cronspec: str | None = None
    line_start: int = 0
    line_end: int = 0


_pack_cron, _unpack_cron = compile_layout(
    CronEntry,
    (
        ("flags", U32),
        ("minute", BITS),
        ("hour", BITS),
        ("day_of_month", BITS),
        ("month", BITS),
        ("day_of_week", BITS),
        ("cronspec", STR),
        ("line_start", U32),
        ("line_end", U32),
    ),
)


class _CronEntryCodec:
    """u8 set (0: nothing follows, 1: the entry follows)."""

    def pack(self, value: CronEntry | None) -> bytes:
        if value is None:
            return b"\0"
        return b"\x01" + _pack_cron(value)

    def unpack(self, r: Reader) -> CronEntry | None:
        present = r.u8()
        if present == 0:
            return None
        if present != 1:
            raise DecodeError(f"crontab entry flag {present} is neither 0 nor 1")
        return _unpack_cron(CronEntry, r)


CRON_ENTRY = _CronEntryCodec()


class _NobodyIdCodec:
    """A uid or gid of a 24.11+ job description: u32 whose SLURM_AUTH_NOBODY is 22.05's NO_VAL ("not
    given"). (A NO_VAL on this wire, which no client sends and 24.11 refuses, reads as not given.)"""

    def pack(self, value: int) -> bytes:
        if not 0 <= value <= 0xFFFFFFFF:
            raise EncodeError(f"id {value!r} is not a u32")
        return (SLURM_AUTH_NOBODY if value == NO_VAL else value).to_bytes(4, "big")

    def unpack(self, r: Reader) -> int:
        value = r.u32()
        return NO_VAL if value == SLURM_AUTH_NOBODY else value


NOBODY_ID = _NobodyIdCodec()


@register(
    MsgType.REQUEST_SUBMIT_BATCH_JOB,
    MsgType.REQUEST_RESOURCE_ALLOCATION,
    MsgType.REQUEST_UPDATE_JOB,
    MsgType.REQUEST_JOB_WILL_RUN,
)
@dataclass(frozen=True, slots=True)
class JobDesc(Message):
    """job_desc_msg_t, fields in 22.05's wire order, then those of later releases. Memory in MiB
    (bit 63 = per CPU), times in minutes/epoch."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    site_factor: int = NO_VAL
    batch_features: str | None = None
    cluster_features: str | None = None
    clusters: str | None = None
    contiguous: int = NO_VAL16
    container: str | None = None
    core_spec: int = NO_VAL16
    task_dist: int = NO_VAL
    kill_on_node_fail: int = NO_VAL16
    features: str | None = None
    fed_siblings_active: int = 0
    fed_siblings_viable: int = 0
    job_id: int = NO_VAL
    job_id_str: str | None = None
    name: str | None = None
    alloc_node: str | None = None
    alloc_sid: int = NO_VAL
    array_inx: str | None = None
    burst_buffer: str | None = None
    pn_min_cpus: int = NO_VAL16
    pn_min_memory: int = NO_VAL64
    pn_min_tmp_disk: int = NO_VAL
    power_flags: int = 0
    prefer: str | None = None
    cpu_freq_min: int = NO_VAL
    cpu_freq_max: int = NO_VAL
    cpu_freq_gov: int = NO_VAL
    partition: str | None = None
    priority: int = NO_VAL
    dependency: str | None = None
    account: str | None = None
    admin_comment: str | None = None
    comment: str | None = None
    nice: int = NO_VAL
    profile: int = 0
    qos: str | None = None
    mcs_label: str | None = None
    origin_cluster: str | None = None
    open_mode: int = 0
    overcommit: int = NO_VAL8
    acctg_freq: str | None = None
    num_tasks: int = NO_VAL
    req_context: str | None = None
    req_nodes: str | None = None
    exc_nodes: str | None = None
    environment: tuple[str, ...] = ()
    spank_job_env: tuple[str, ...] = ()
    script: str | None = None
    argv: tuple[str, ...] = ()
    std_err: str | None = None
    std_in: str | None = None
    std_out: str | None = None
    submit_line: str | None = None
    work_dir: str | None = None
    immediate: int = 0
    reboot: int = NO_VAL16
    requeue: int = NO_VAL16
    shared: int = NO_VAL16
    cpus_per_task: int = NO_VAL16
    ntasks_per_node: int = NO_VAL16
    ntasks_per_board: int = 0
    ntasks_per_socket: int = NO_VAL16
    ntasks_per_core: int = NO_VAL16
    ntasks_per_tres: int = NO_VAL16
    plane_size: int = NO_VAL16
    cpu_bind_type: int = NO_VAL16
    mem_bind_type: int = NO_VAL16
    cpu_bind: str | None = None
    mem_bind: str | None = None
    time_limit: int = NO_VAL
    time_min: int = NO_VAL
    min_cpus: int = NO_VAL
    max_cpus: int = NO_VAL
    min_nodes: int = NO_VAL
    max_nodes: int = NO_VAL
    boards_per_node: int = 0
    sockets_per_board: int = 0
    sockets_per_node: int = NO_VAL16
    cores_per_socket: int = NO_VAL16
    threads_per_core: int = NO_VAL16
    user_id: int = NO_VAL
    group_id: int = NO_VAL
    alloc_resp_port: int = 0
    resp_host: str | None = None
    other_port: int = 0
    network: str | None = None
    begin_time: int = 0
    end_time: int = 0
    deadline: int = 0
    licenses: str | None = None
    mail_type: int = NO_VAL16
    mail_user: str | None = None
    reservation: str | None = None
    restart_cnt: int = 0
    warn_flags: int = 0
    warn_signal: int = 0
    warn_time: int = 0
    wckey: str | None = None
    req_switch: int = NO_VAL
    wait4switch: int = NO_VAL
    select_plugin_id: int = SELECT_PLUGIN_CONS_TRES
    wait_all_nodes: int = NO_VAL16
    bitflags: int = 0
    delay_boot: int = NO_VAL
    extra: str | None = None
    x11: int = 0
    x11_magic_cookie: str | None = None
    x11_target: str | None = None
    x11_target_port: int = 0
    cpus_per_tres: str | None = None
    mem_per_tres: str | None = None
    tres_bind: str | None = None
    tres_freq: str | None = None
    tres_per_job: str | None = None
    tres_per_node: str | None = None
    tres_per_socket: str | None = None
    tres_per_task: str | None = None
    crontab_entry: CronEntry | None = None
    # 24.11 (--container-id, --oom-kill-step, --nodes=<size list>, --resv-ports, --segment)
    container_id: str | None = None
    oom_kill_step: int = 0
    job_size_str: str | None = None
    resv_port_cnt: int = 0
    segment_size: int = 0
    # 26.05: the rest of the step id the job id travels in, and the new options
    sluid: int = 0
    step_id: int = NO_VAL
    step_het_comp: int = NO_VAL
    container_type: str | None = None
    mem_update_delay: int = 0
    mem_update_margin: int = 0
    alloc_tls_cert: str | None = None

    def to_bytes(self, version: int = PROTOCOL_VERSION) -> bytes:
        return JOB_DESC.pack(self, version)

    def pack(self, w: Writer, version: int) -> None:
        w.raw(self.to_bytes(version))

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return JOB_DESC.unpacker(version)(cls, r)


# _pack_job_desc_msg of 22.05, 24.11 and 26.05: an entry with a span is packed by those releases only
JOB_DESC_LAYOUT = (
    ("sluid", U64, since(V26)),
    ("job_id", U32, since(V26)),
    ("step_id", U32, since(V26)),
    ("step_het_comp", U32, since(V26)),
    ("site_factor", U32),
    ("batch_features", STR),
    ("cluster_features", STR),
    ("clusters", STR),
    ("contiguous", U16),
    ("container", STR),
    ("container_id", STR, since(V24)),
    ("container_type", STR, since(V26)),
    ("core_spec", U16),
    ("task_dist", U32),
    ("kill_on_node_fail", U16),
    ("features", STR),
    ("fed_siblings_active", U64),
    ("fed_siblings_viable", U64),
    ("job_id", U32, before(V26)),
    ("job_id_str", STR),
    ("name", STR),
    ("alloc_node", STR),
    ("alloc_sid", U32),
    ("array_inx", STR),
    ("burst_buffer", STR),
    ("pn_min_cpus", U16),
    ("pn_min_memory", U64),
    ("mem_update_delay", U16, since(V26)),
    ("mem_update_margin", U16, since(V26)),
    ("oom_kill_step", U16, since(V24)),
    ("pn_min_tmp_disk", U32),
    ("power_flags", U8, before(V24)),
    ("prefer", STR),
    ("cpu_freq_min", U32),
    ("cpu_freq_max", U32),
    ("cpu_freq_gov", U32),
    ("partition", STR),
    ("priority", U32),
    ("dependency", STR),
    ("account", STR),
    ("admin_comment", STR),
    ("comment", STR),
    ("nice", U32),
    ("profile", U32),
    ("qos", STR),
    ("mcs_label", STR),
    ("origin_cluster", STR),
    ("open_mode", U8),
    ("overcommit", U8),
    ("acctg_freq", STR),
    ("num_tasks", U32),
    ("req_context", STR),
    ("req_nodes", STR),
    ("exc_nodes", STR),
    ("environment", STRS),
    ("spank_job_env", STRS),
    ("script", STR),
    ("argv", STRS),
    ("std_err", STR),
    ("std_in", STR),
    ("std_out", STR),
    ("submit_line", STR),
    ("work_dir", STR),
    ("immediate", U16),
    ("reboot", U16),
    ("requeue", U16),
    ("shared", U16),
    ("cpus_per_task", U16),
    ("ntasks_per_node", U16),
    ("ntasks_per_board", U16),
    ("ntasks_per_socket", U16),
    ("ntasks_per_core", U16),
    ("ntasks_per_tres", U16),
    ("plane_size", U16),
    ("cpu_bind_type", U16),
    ("mem_bind_type", U16),
    ("cpu_bind", STR),
    ("mem_bind", STR),
    ("time_limit", U32),
    ("time_min", U32),
    ("min_cpus", U32),
    ("max_cpus", U32),
    ("min_nodes", U32),
    ("max_nodes", U32),
    ("job_size_str", STR, since(V24)),
    ("boards_per_node", U16),
    ("sockets_per_board", U16),
    ("sockets_per_node", U16),
    ("cores_per_socket", U16),
    ("threads_per_core", U16),
    ("user_id", U32, before(V24)),
    ("user_id", NOBODY_ID, since(V24)),
    ("group_id", U32, before(V24)),
    ("group_id", NOBODY_ID, since(V24)),
    ("alloc_resp_port", U16),
    ("alloc_tls_cert", STR, since(V26)),
    ("resp_host", STR),
    ("other_port", U16),
    ("resv_port_cnt", U16, since(V24)),
    ("network", STR),
    ("begin_time", TIME),
    ("end_time", TIME),
    ("deadline", TIME),
    ("licenses", STR),
    ("mail_type", U16),
    ("mail_user", STR),
    ("reservation", STR),
    ("restart_cnt", U16),
    ("warn_flags", U16),
    ("warn_signal", U16),
    ("warn_time", U16),
    ("wckey", STR),
    ("req_switch", U32),
    ("wait4switch", U32),
    ("select_plugin_id", SELECT_PLUGIN, before(V24)),
    ("wait_all_nodes", U16),
    ("bitflags", U64),
    ("delay_boot", U32),
    ("extra", STR),
    ("x11", U16),
    ("x11_magic_cookie", STR),
    ("x11_target", STR),
    ("x11_target_port", U16),
    ("cpus_per_tres", STR),
    ("mem_per_tres", STR),
    ("tres_bind", STR),
    ("tres_freq", STR),
    ("tres_per_job", STR),
    ("tres_per_node", STR),
    ("tres_per_socket", STR),
    ("tres_per_task", STR),
    ("crontab_entry", CRON_ENTRY),
    ("segment_size", U16, since(V24)),
)

JOB_DESC = VersionedLayout(JobDesc, JOB_DESC_LAYOUT, (SLURM_22_05_PROTOCOL_VERSION, *NEWER))

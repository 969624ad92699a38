"""The controller's accounting events turned into slurmdbd records, as slurmctld's accounting_storage/slurmdbd
makes them; daemon.py attaches :class:`DbdAccounting` when AccountingStorageType=accounting_storage/slurmdbd.

A record is encoded when its event happens and queued in the spool; the connection sends it. While the
mode says slurmctld is the one recording (shadow, a rollback), nothing is queued and no connection is held.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from flurm.accounting import records, resv_records
from flurm.accounting.assoc_cache import AssocCache
from flurm.accounting.client import (
    SPOOL_VERSION,
    AssocLoader,
    DbdClient,
    DbdError,
    DbdSettings,
    answer_rc,
    in_version,
)
from flurm.accounting.enforcement import tres_query
from flurm.accounting.spool import Spool
from flurm.config.ctl_conf import DEFAULT_MAX_DBD_MSGS
from flurm.config.hostlists import compress
from flurm.config.prologflags import PrologFlag, parse_prolog_flags
from flurm.modes import ModeTraits
from flurm.protocol.constants import (
    NO_VAL,
    SELECT_PLUGIN_CONS_TRES,
    JobState,
    MsgType,
    NodeState,
    NodeStateFlag,
)
from flurm.protocol.dbd_types import DbdMsgType
from flurm.protocol.messages.base import Body
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.dbd_assoc import AddTres, GetTres, GotTres, TresRec, decode_dbd, encode_dbd
from flurm.protocol.messages.dbd_conn import (
    DBD_NODE_STATE_DOWN,
    DBD_NODE_STATE_UP,
    ClusterTres,
    RegisterCtld,
)
from flurm.protocol.messages.dbd_conn import (
    NodeState as NodeStateMsg,
)
from flurm.protocol.messages.dbd_jobs import (
    DbdIdRc,
    DbdJobComplete,
    DbdJobStart,
    DbdJobSuspend,
    DbdStepComplete,
    DbdStepStart,
)
from flurm.protocol.messages.persist import persist_msg
from flurm.protocol.messages.reservations import ReserveFlag
from flurm.protocol.messages.slurmd import JobAcctInfo
from flurm.protocol.wire import WireError
from flurm.rpc.transport import Signer
from flurm.state import gres_node

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort
    from flurm.controller.steps import Step
    from flurm.state.model import Job, Node
    from flurm.state.reservations import Reservation

log = logging.getLogger("flurm.accounting")

ACCOUNTING_STORAGE_SLURMDBD = "accounting_storage/slurmdbd"
# slurmdb_setup_cluster_flags(): Debian's SLURM is built with multiple-slurmd (CLUSTER_FLAG_MULTSD), and
# flurm drives several slurmd of one host as well
CLUSTER_FLAGS = 0x80
# the TRES every cluster has, by slurmdbd's fixed ids: cpu 1, mem 2, energy 3, node 4, billing 5,
# fs/disk 6, vmem 7, pages 8
TRES_CPU, TRES_MEM, TRES_ENERGY, TRES_NODE, TRES_BILLING, TRES_FS_DISK, TRES_VMEM, TRES_PAGES = range(1, 9)
_UNAVAILABLE = NodeStateFlag.DRAIN | NodeStateFlag.FAIL


def wanted(config_type: str) -> bool:
    return config_type == ACCOUNTING_STORAGE_SLURMDBD


def max_dbd_msgs(ctl: ControllerPort) -> int:
    """MaxDBDMsgs, or slurmctld's default for it: the larger of 10,000 and twice MaxJobCount plus four
    times the nodes (slurmdbd_agent_config_setup)."""
    config = ctl.config
    default = max(DEFAULT_MAX_DBD_MSGS, 2 * config.max_job_count + 4 * len(ctl.cluster.nodes))
    given = (config.raw.get("maxdbdmsgs") or "").strip()  # a u32 (checked with slurm.conf)
    return int(given) if given.isdigit() and int(given) else default


def node_tres(node: Node) -> str:
    """A node's TRES as slurmctld records them with its state (node_ptr->tres_str)."""
    return f"{TRES_CPU}={node.cpus},{TRES_MEM}={node.real_memory},{TRES_BILLING}={node.cpus}"


def cluster_tres(nodes: list[Node]) -> str:
    """The cluster's TRES (assoc_mgr_tres_list counts, TRES_STR_FLAG_SIMPLE): every base TRES, in id order."""
    cpus = sum(n.cpus for n in nodes)
    counts = {
        TRES_CPU: cpus,
        TRES_MEM: sum(n.real_memory for n in nodes),
        TRES_ENERGY: 0,
        TRES_NODE: len(nodes),
        TRES_BILLING: cpus,
        TRES_FS_DISK: 0,
        TRES_VMEM: 0,
        TRES_PAGES: 0,
    }
    return ",".join(f"{k}={v}" for k, v in counts.items())


def _tres_name(t: TresRec) -> str:
    return f"{t.type}/{t.name}" if t.name else str(t.type)


def _dbd_msg(body: AddTres | GetTres, version: int) -> bytes:
    msg_type, data = encode_dbd(body, version)
    return struct.pack(">H", msg_type) + data


def _split(msg: bytes) -> tuple[int, bytes]:
    if len(msg) < 2:
        raise DbdError("slurmdbd sent an empty answer")
    return struct.unpack_from(">H", msg)[0], msg[2:]


def _with_sluid(body: Body, jobs: Mapping[int, Job]) -> Body:
    """A job or step record as slurmctld 26.05 makes it: the job's sluid is its db_index until slurmdbd
    answered one (job_record_set_sluid) and rides in the job start and the step ids. Sent to an older
    slurmdbd, client.in_version takes it out again (that slurmdbd gives the db_index)."""
    step_id = getattr(body, "step_id", None)
    job = jobs.get(step_id.job_id if isinstance(step_id, StepId) else getattr(body, "job_id", -1))
    if job is None or not job.sluid:
        return body
    changes: dict[str, object] = {}
    indexed = DbdJobStart | DbdJobComplete | DbdJobSuspend | DbdStepStart | DbdStepComplete
    if isinstance(body, indexed) and not body.db_index:
        changes["db_index"] = job.sluid
    if isinstance(body, DbdJobStart):
        changes["sluid"] = job.sluid
    if isinstance(body, DbdStepStart | DbdStepComplete):
        changes["step_id"] = dataclasses.replace(body.step_id, sluid=job.sluid)
    return dataclasses.replace(body, **changes) if changes else body  # type: ignore[type-var]


def _accounted_state(node: Node) -> tuple[bool, str | None] | None:
    """What accounting knows of a node: down (DOWN, DRAIN, FAIL, FUTURE) with its reason, or up; None
    while flurm does not know yet (UNKNOWN: its slurmd has not registered)."""
    if node.base_state in (NodeState.DOWN, NodeState.FUTURE) or node.flags & _UNAVAILABLE:
        return True, node.reason
    if node.base_state == NodeState.UNKNOWN:
        return None
    return False, None


class DbdAccounting:
    """The :class:`~flurm.controller.ports.AccountingSink` that feeds slurmdbd."""

    def __init__(
        self,
        ctl: ControllerPort,
        *,
        settings: DbdSettings | None = None,
        assocs: AssocLoader | None = None,
        job_ids: Callable[[Job], tuple[int, int]] | None = None,
        tres_cache: AssocCache | None = None,
    ) -> None:
        self.ctl = ctl
        self.settings = settings or DbdSettings.from_config(ctl.config)
        self.signer = Signer(self.settings.authenticator(), workers=1)
        self.spool = Spool(ctl.store, limit=max_dbd_msgs(ctl))
        self.client = DbdClient(
            self.settings,
            self.signer,
            self.spool,
            register=self._register,
            cluster_tres=self._cluster_tres,
            send_all=self._send_all,
            assocs=assocs,
        )
        self.live = False
        self.job_ids = job_ids  # a job's (association id, QOS id) in slurmdbd, from the association cache
        self._nodes: dict[str, tuple[bool, str | None] | None] = {}
        # slurmdbd's TRES, as the association cache holds them (their ids, for the records' TRES strings)
        self.tres_cache = tres_cache if tres_cache is not None else AssocCache(lambda _: None, "")
        self.client.on_connect.append(self._add_tres)
        self.acct = self._acct_cluster()
        self.contain = bool(parse_prolog_flags(ctl.config.prolog_flags) & PrologFlag.CONTAIN)
        self._usage: dict[tuple[int, int], JobAcctInfo] = {}  # steps' usage, aggregated node by node
        self.client.on_id_rc = self._took_db_index
        # the port slurmdbd is told (DBD_REGISTER_CTLD): once flurm owns slurmctld's endpoint, slurmctld's
        # own, so that the cluster is registered as a restarted slurmctld registers it
        self.register_port: int | None = None
        # the association cache's lookup of a reservation's associations, when one is attached
        self.resv_assocs_of: Callable[[Reservation], str | None] | None = None

    # -- lifecycle (daemon.py) --------------------------------------------------------------------
    def restore(self, saved: list[tuple[int, bytes]]) -> None:
        """After the cluster's state was restored: the records a previous run left unanswered (the
        store's spool), to go first."""
        self.spool = Spool(self.ctl.store, saved, limit=max_dbd_msgs(self.ctl))
        self.client.spool = self.spool
        # the nodes as saved: a drain slurmdbd heard of before the restart is not recorded again
        self.baseline_nodes()
        if saved:
            log.info("%d accounting records from before the restart wait for slurmdbd", len(saved))

    def follow_mode(self, traits: ModeTraits) -> None:
        self.live = traits.feeds_accounting
        self.client.set_active(self.live)

    async def run(self, stop: asyncio.Event) -> None:
        try:
            await self.client.run(stop)
        finally:
            self.signer.close()

    # -- what the connection sends first ----------------------------------------------------------
    def _register(self) -> RegisterCtld:
        return RegisterCtld(
            port=self.register_port or self.ctl.port,
            dimensions=1,
            flags=CLUSTER_FLAGS,
            plugin_id_select=SELECT_PLUGIN_CONS_TRES,
            # the id slurmdbd gave the cluster at an earlier registration (26.05 sends it back)
            cluster_id=self.client.cluster_id or 0,
        )

    async def _add_tres(self, client: DbdClient) -> None:
        """slurmctld's _init_tres, after the association queries: the GRES of AccountingStorageTRES that
        slurmdbd lacks are added (DBD_ADD_TRES: new TRES get ids from 1001 on, in this order), then the
        TRES list is asked again; the records' TRES strings count by these ids."""
        wanted = gres_node.tres_names(self.ctl.config.raw.get("accountingstoragetres"))
        if wanted and not self.tres_cache.tres:  # no association cache loaded them: as slurmctld asks
            self.tres_cache.tres = {t.id: t for t in await self._get_tres(client)}
        known = {_tres_name(t).lower() for t in self.tres_cache.tres.values()}
        missing = [name.lower() for name in wanted if name.lower() not in known]
        if missing:
            log.info("TRES %s not in slurmdbd: adding them", ",".join(missing))
            add = AddTres(tuple(TresRec(type="gres", name=name[5:]) for name in missing))
            rc = answer_rc(await client.request(_dbd_msg(add, client.version)), client.version)
            if rc != 0:  # slurmctld dies here ("Problem adding tres to the database")
                raise DbdError(f"slurmdbd refused the TRES {','.join(missing)}: rc {rc}")
            self.tres_cache.tres = {t.id: t for t in await self._get_tres(client)}
        self.acct = self._acct_cluster()

    async def _get_tres(self, client: DbdClient) -> tuple[TresRec, ...]:
        query = tres_query(self.ctl.config.raw.get("accountingstoragetres"))
        msg_type, body = _split(await client.request(_dbd_msg(query, client.version)))
        got = decode_dbd(msg_type, body, client.version)
        if not isinstance(got, GotTres):
            raise DbdError(f"slurmdbd answered DBD_GET_TRES with {type(got).__name__}")
        return got.items or ()

    def _acct_cluster(self) -> records.AcctCluster:
        """The cluster as the records see it now, with slurmdbd's TRES (the fixed ones until it answered)."""
        tres = tuple((t.id, _tres_name(t)) for t in self.tres_cache.tres.values() if t.type)
        return records.AcctCluster.from_cluster(self.ctl.cluster, tres or records.DEFAULT_TRES_ORDER)

    def _cluster_tres(self) -> ClusterTres:
        nodes = list(self.ctl.cluster.nodes.values())
        return ClusterTres(self.ctl.now(), compress(n.name for n in nodes) or "", cluster_tres(nodes))

    def _send_all(self, rc: int, event_time: int) -> None:
        """slurmdbd lacks what this cluster has (acct_storage_p_send_all): after a first registration or a
        change of the cluster's nodes, the jobs it has no row of (send_jobs_to_accounting) and every
        reservation (send_resvs_to_accounting); always the nodes not up (send_nodes_to_accounting)."""
        log.info("slurmdbd asked for the cluster's state (%s)", MsgType(rc).name)
        cluster = self.ctl.cluster
        if rc in (MsgType.ACCOUNTING_FIRST_REG, MsgType.ACCOUNTING_NODES_CHANGE_DB):
            self.acct = self._acct_cluster()
            for job in sorted(cluster.jobs.values(), key=lambda j: j.job_id):
                if job.db_index or job.is_finished():
                    continue
                self._queue(DbdMsgType.DBD_JOB_START, records.job_start(job, self.acct, self._ids(job)))
                if job.base_state == JobState.SUSPENDED:
                    self._queue(DbdMsgType.DBD_JOB_SUSPEND, records.job_suspend(job, self._ids(job)))
            for resv in list(cluster.reservations.items.values()):
                if rc == MsgType.ACCOUNTING_FIRST_REG:
                    self.reservation_added(resv)
                else:  # the node indexes changed: every reservation again, with its start as it is
                    self.reservation_modified(resv, 0)
        for node in cluster.nodes.values():
            state = _accounted_state(node)
            if state is not None and state[0]:
                self._node_down(node, event_time, node.reason or "First Registration", self._slurm_user())

    # -- the takeover (migration/takeover.py's AccountingPeer) -------------------------------------
    @property
    def endpoint(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    async def probe(self) -> str:
        """A PERSIST_INIT handshake with slurmdbd (raises when it fails)."""
        await self.client.probe()
        cluster = self.settings.cluster
        return f"slurmdbd at {self.endpoint} accepts cluster {cluster} (protocol {self.client.version:#06x})"

    def baseline_nodes(self) -> None:
        """What slurmdbd knows of the nodes is their state now (after a restart, as saved; at a takeover,
        as slurmctld recorded them): only a change from here is a record."""
        for node in self.ctl.cluster.nodes.values():
            self._nodes[node.name] = _accounted_state(node)

    def take_records(self, version: int, records: Sequence[bytes]) -> None:
        """slurmctld's unsent records (its dbd.messages), queued before any of flurm's own, as the
        restarted slurmctld would send them. Repacked in the spool's layout; a release flurm does not speak
        to slurmdbd, or a record that does not read, is refused (ValueError) before any is queued."""
        try:
            mine = [in_version(record, version, SPOOL_VERSION) for record in records]
        except WireError as exc:
            raise ValueError(f"slurmctld's records packed for protocol {version:#06x}: {exc}") from None
        if len(self.spool):
            log.warning("%d records of flurm's wait before slurmctld's %d", len(self.spool), len(records))
        for record in mine:
            self.spool.append(record)

    def take_unrecorded_jobs(self) -> int:
        """The jobs slurmctld had not recorded yet (no db_index: its db-index thread had not run, or
        slurmdbd was away), finished ones not yet purged included: their DBD_JOB_START, behind
        slurmctld's own records, as its db-index thread sends them after a restart (slurmdbd finds a
        row its earlier records made by the job's id and submit time). Returns how many."""
        jobs = [j for j in self.ctl.cluster.jobs.values() if not j.db_index and not j.resize_time]
        jobs = [j for j in jobs if j.submit_time]
        for job in jobs:
            msg = records.job_start(job, self.acct, self._ids(job))
            self.spool.append(persist_msg(DbdMsgType.DBD_JOB_START, msg, SPOOL_VERSION))  # live or not yet
        return len(jobs)

    # -- events (the controller) ------------------------------------------------------------------
    def node_state_changed(self, node: Node, now: int) -> None:
        state = _accounted_state(node)
        before = self._nodes.get(node.name)
        self._nodes[node.name] = state
        if state is None or state == before:
            return
        down, reason = state
        if down:
            uid = node.reason_uid if node.reason_uid != NO_VAL else self._slurm_user()
            self._node_down(node, now, reason, uid)
        else:
            self._queue(DbdMsgType.DBD_NODE_STATE, NodeStateMsg(node.name, DBD_NODE_STATE_UP, now))

    def _node_down(self, node: Node, now: int, reason: str | None, uid: int) -> None:
        msg = NodeStateMsg(node.name, DBD_NODE_STATE_DOWN, now, reason, uid, node.node_state, node_tres(node))
        self._queue(DbdMsgType.DBD_NODE_STATE, msg)

    # -- jobs and steps (accounting/records.py builds them) ------------------------------------------
    def job_eligible(self, job: Job) -> None:
        # slurmctld's db-index thread records every new job within seconds: here as it is submitted
        self._queue(DbdMsgType.DBD_JOB_START, records.job_start(job, self.acct, self._ids(job)))

    def job_started(self, job: Job) -> None:
        ids = self._ids(job)
        self._queue(DbdMsgType.DBD_JOB_START, records.job_start(job, self.acct, ids))
        if self.contain:
            self._queue(DbdMsgType.DBD_STEP_START, records.extern_step_start(job, self.acct, ids))
        if job.script is not None:
            self._queue(DbdMsgType.DBD_STEP_START, records.batch_step_start(job, self.acct, ids))

    def job_completed(self, job: Job, *, requeue: bool = False) -> None:
        ids = self._ids(job)
        if job.base_state == JobState.SUSPENDED:
            self._queue(DbdMsgType.DBD_JOB_SUSPEND, records.job_suspend(job, ids))
        for step_id in [k for k in self._usage if k[0] == job.job_id]:
            self._usage.pop(step_id, None)
        self._queue(DbdMsgType.DBD_JOB_COMPLETE, records.job_complete(job, self.acct, ids, requeue=requeue))

    def job_suspended(self, job: Job) -> None:
        self._queue(DbdMsgType.DBD_JOB_SUSPEND, records.job_suspend(job, self._ids(job)))

    def batch_step_completed(self, job: Job, exit_code: int, jobacct: JobAcctInfo | None) -> None:
        record = records.batch_step_complete(
            job, self.acct, self._ids(job), exit_code=exit_code, jobacct=jobacct, now=self.ctl.now()
        )
        self._queue(DbdMsgType.DBD_STEP_COMPLETE, record)

    def step_started(self, job: Job, step: Step) -> None:
        self._queue(DbdMsgType.DBD_STEP_START, records.step_start(job, step, self.acct, self._ids(job)))

    def step_report(self, job: Job, step_id: int, jobacct: JobAcctInfo | None) -> None:
        if jobacct is None:
            return
        key = (job.job_id, step_id)
        so_far = self._usage.get(key) or records.empty_jobacct(jobacct.tres_ids)
        self._usage[key] = records.aggregate_jobacct(so_far, jobacct)

    def step_completed(self, job: Job, step: Step) -> None:
        usage = self._usage.pop((job.job_id, step.step_id), None)
        last = not self.ctl.steps.table(job).steps  # (called once the step left the job's table)
        record = records.step_complete(
            job, step, self.acct, self._ids(job), jobacct=usage, now=self.ctl.now(), last_step=last
        )
        self._queue(DbdMsgType.DBD_STEP_COMPLETE, record)

    def _ids(self, job: Job) -> records.AcctIds:
        """The job's association and QOS ids in slurmdbd, from the association cache (0: not known), and
        its reservation's id."""
        assoc_id, qos_id = self.job_ids(job) if self.job_ids is not None else (0, 0)
        resv = self.ctl.cluster.reservations.items.get(job.reservation) if job.reservation else None
        return records.AcctIds(assoc_id=assoc_id, qos_id=qos_id, resv_id=resv.resv_id if resv else 0)

    # -- reservations ---------------------------------------------------------------------------------
    def reservation_added(self, resv: Reservation) -> None:
        if not resv.flags & ReserveFlag.TIME_FLOAT:
            rec = resv_records.added(resv, self.settings.cluster, self.acct, self._assocs(resv))
            self._queue(DbdMsgType.DBD_ADD_RESV, rec)

    def reservation_modified(self, resv: Reservation, previous_start: int) -> None:
        if not resv.flags & ReserveFlag.TIME_FLOAT:
            assocs = self._assocs(resv)
            rec = resv_records.modified(resv, previous_start, self.settings.cluster, self.acct, assocs)
            self._queue(DbdMsgType.DBD_MODIFY_RESV, rec)

    def reservation_removed(self, resv: Reservation) -> None:
        if not resv.flags & ReserveFlag.TIME_FLOAT:
            rec = resv_records.removed(resv, self.settings.cluster, self.ctl.now())
            self._queue(DbdMsgType.DBD_REMOVE_RESV, rec)

    def _assocs(self, resv: Reservation) -> str | None:
        return self.resv_assocs_of(resv) if self.resv_assocs_of is not None else None

    def _took_db_index(self, record: bytes, answer: DbdIdRc) -> None:
        """A job start's DBD_ID_RC: the job's row in slurmdbd, for the records made from now on."""
        job = self.ctl.cluster.jobs.get(answer.job_id)
        if job is not None and answer.return_code == 0:
            for changed in records.take_db_indexes({job.job_id: job}, [answer]):
                self.ctl.cluster.job_changed(changed, by_flurm=False)

    # -- helpers ----------------------------------------------------------------------------------
    def _queue(self, msg_type: int, body: Body) -> None:
        if self.live:
            self.spool.append(persist_msg(msg_type, _with_sluid(body, self.ctl.cluster.jobs), SPOOL_VERSION))

    def _slurm_user(self) -> int:
        return self.ctl.config.slurm_user_uid

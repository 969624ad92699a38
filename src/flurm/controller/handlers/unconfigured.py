"""Requests for features a flurm cluster does not have, answered as slurmctld 22.05 answers them on a
cluster where the feature is not configured: the same message type, the same return code, the same
empty body, so that every client prints what it prints there.

* Burst buffers, topology, front end nodes, the association manager: empty reports (proc_req.c,
  with no plugin or accounting behind them). From 24.11 the topology is topology/flat's (a cluster
  without one), and 26.05 reports its configuration. sprio and sshare: handlers/priority.py.
* Triggers: flurm fires none, so it holds none: ``strigger --get`` lists nothing, ``--set`` is
  refused (ESLURM_NOT_SUPPORTED) after slurmctld's own permission check, ``--clear`` and the pull
  of slurmdbd/slurmctld events answer as slurmctld's trigger_clear/trigger_pull do on an empty list.
* scrontab: refused as slurmctld refuses it without ``ScronParameters=enable``.
* Heterogeneous jobs: refused (ESLURM_NOT_SUPPORTED, "Requested operation not supported on this
  system"): flurm schedules single-component jobs only, and a site is better told so than handed a
  job with a component missing.
* Beside a running slurmctld (shadow), the reports go to slurmctld (the mode table's STATUS): its
  cluster may have what flurm's has not (accounting, a topology, burst buffers, triggers).
* Federation and slurmdbd messages (sibling job locks, multi-messages, persistent connections,
  accounting updates): answered as slurmctld answers them with no federation: sibling messages need
  a persistent connection flurm never has. slurmdbd's persistent connection (24.11 on) is served: it
  carries accounting updates (rpc/transport.py serves it once persist_init accepted it).
* The requests 24.11 and 26.05 added for features flurm does not have: after slurmctld's own check
  of the caller (its refusal, or for a slurmdbd relay from another user no reply at all), power
  saving's SuspendExc* updates, slurmdbd messages relayed by a slurmd, a slurmd's certificate (no
  certificate manager: SLURM_ERROR, as slurmctld without one), sbcast credentials without a job,
  the steps of an OCI container (an empty id is invalid, as there) are refused ESLURM_NOT_SUPPORTED.
  Node address lookups (srun) and 26.05's resource layouts of a job have no handler yet: the
  dispatcher refuses them alike (beside a slurmctld, it forwards them).
"""

from __future__ import annotations

import errno
import logging
from typing import TYPE_CHECKING

from flurm.protocol.constants import NO_VAL, MsgType, SlurmRC
from flurm.protocol.messages.crontab import CrontabRequest
from flurm.protocol.messages.dbd_assoc import AccountingUpdate
from flurm.protocol.messages.job_lookups import ContainerIdRequest, FsDampeningFactorRequest
from flurm.protocol.messages.persist import (
    PERSIST_TYPE_ACCT_UPDATE,
    PERSIST_TYPE_FED,
    PersistInitRequest,
    PersistRc,
    persist_msg,
)
from flurm.protocol.messages.reports import (
    FLAT_TOPOLOGY_CONFIG,
    AssocMgrInfoResponse,
    BurstBufferInfoResponse,
    BurstBufferStatusResponse,
    FrontEndInfoRequest,
    FrontEndInfoResponse,
    TopoConfigResponse,
    TopoInfoRequest,
    TopoInfoResponse,
    UpdateFrontEndRequest,
)
from flurm.protocol.messages.triggers import (
    TRIGGER_RES_TYPE_DATABASE,
    TRIGGER_RES_TYPE_JOB,
    TRIGGER_RES_TYPE_SLURMCTLD,
    TRIGGER_RES_TYPE_SLURMDBD,
    TriggerMessage,
)
from flurm.protocol.versions import persist_version
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.scheduler.multifactor import TRES_NAMES

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.controller")

PRIVATE_DATA_USAGE = 1 << 3  # slurm.conf PrivateData bits
PRIVATE_DATA_USERS = 1 << 4
# The TRES slurmctld names in its association manager without accounting (assoc_mgr.c's defaults).
DEFAULT_TRES_NAMES = TRES_NAMES  # assoc_mgr's TRES without accounting


def _param_words(value: str | None) -> set[str]:
    return {w.strip().lower() for w in (value or "").split(",") if w.strip()}


# -- reports --------------------------------------------------------------------------------------------


def burst_buffer_info(ctl: Controller, req: Request) -> Reply:
    return Reply(MsgType.RESPONSE_BURST_BUFFER_INFO, BurstBufferInfoResponse())


def burst_buffer_status(ctl: Controller, req: Request) -> Reply:
    return Reply(MsgType.RESPONSE_BURST_BUFFER_STATUS, BurstBufferStatusResponse(None))


# the one topology of a cluster without a topology configuration (26.05 names it)
DEFAULT_TOPOLOGY = "default"


def topo_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, TopoInfoRequest)
    if req.body.name is not None and req.body.name != DEFAULT_TOPOLOGY:
        return rc_reply(SlurmRC.ESLURM_REQUESTED_TOPO_CONFIG_UNAVAILABLE)
    return Reply(MsgType.RESPONSE_TOPO_INFO, TopoInfoResponse())


def topo_config(ctl: Controller, req: Request) -> Reply:
    """REQUEST_TOPO_CONFIG (26.05): the default topology, topology/flat's."""
    return Reply(MsgType.RESPONSE_TOPO_CONFIG, TopoConfigResponse(FLAT_TOPOLOGY_CONFIG))


def front_end_info(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, FrontEndInfoRequest)
    # without front ends slurmctld's last_front_end_update stays 0: any later time has seen it all
    if req.body.last_update - 1 >= 0:
        return rc_reply(SlurmRC.SLURM_NO_CHANGE_IN_DATA)
    return Reply(MsgType.RESPONSE_FRONT_END_INFO, FrontEndInfoResponse(ctl.now()))


def update_front_end(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, UpdateFrontEndRequest)
    if not ctl.is_admin(req.uid):
        log.error("Security violation, UPDATE_FRONT_END RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    return rc_reply(SlurmRC.ESLURM_INVALID_NODE_NAME)  # there is no front end node of that name


def assoc_mgr_info(ctl: Controller, req: Request) -> Reply:
    if ctl.config.private_data & (PRIVATE_DATA_USAGE | PRIVATE_DATA_USERS) and not ctl.is_admin(req.uid):
        # slurmctld looks the caller up among the users it caches (none without accounting), fails,
        # and sends the reply with no body at all: scontrol reports a malformed RPC
        return Reply(MsgType.RESPONSE_ASSOC_MGR_INFO, raw_body=b"")
    return Reply(MsgType.RESPONSE_ASSOC_MGR_INFO, AssocMgrInfoResponse(DEFAULT_TRES_NAMES))


# -- triggers -------------------------------------------------------------------------------------------


def trigger_get(ctl: Controller, req: Request) -> Reply:
    return Reply(MsgType.RESPONSE_TRIGGER_GET, TriggerMessage(()))


def trigger_set(ctl: Controller, req: Request) -> Reply:
    allow_users = "allow_user_triggers" in _param_words(ctl.config.slurmctld_parameters)
    if not ctl.is_admin(req.uid) and not allow_users:
        log.error("Security violation, REQUEST_TRIGGER_SET RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
    log.warning("trigger from uid %d refused: flurm does not fire event triggers", req.uid)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def trigger_clear(ctl: Controller, req: Request) -> Reply:
    """slurmctld's trigger_clear on a list with no trigger in it."""
    assert isinstance(req.body, TriggerMessage)
    if len(req.body.triggers) != 1:
        return rc_reply(errno.ESRCH)
    trig = req.body.triggers[0]
    if trig.res_type == TRIGGER_RES_TYPE_JOB:
        if _leading_int(trig.res_id) == 0:
            return rc_reply(SlurmRC.ESLURM_INVALID_JOB_ID)
    elif trig.trig_id == 0 and trig.user_id == NO_VAL:
        return rc_reply(errno.EINVAL)
    return rc_reply(errno.ESRCH)


def _leading_int(text: str | None) -> int:
    """What C's atol makes of a string: its leading digits (0 if none)."""
    digits = ""
    for ch in (text or "").strip():
        if not ch.isdigit():
            break
        digits += ch
    return int(digits) if digits else 0


def trigger_pull(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, TriggerMessage)
    if not ctl.is_admin(req.uid):
        log.error("Security violation, REQUEST_TRIGGER_PULL RPC from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    if len(req.body.triggers) != 1:
        return rc_reply(errno.ESRCH)
    pulled = (TRIGGER_RES_TYPE_SLURMCTLD, TRIGGER_RES_TYPE_SLURMDBD, TRIGGER_RES_TYPE_DATABASE)
    if req.body.triggers[0].res_type not in pulled:
        return rc_reply(errno.EINVAL)
    return rc_reply(SlurmRC.SLURM_SUCCESS)  # no trigger waits for that event


# -- scrontab -------------------------------------------------------------------------------------------


def _scrontab_enabled(ctl: Controller) -> bool:
    return "enable" in (ctl.config.raw.get("scronparameters") or "").lower()


def crontab(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, CrontabRequest)
    if not _scrontab_enabled(ctl):
        log.error("scrontab is disabled on this cluster")
        return rc_reply(SlurmRC.SLURM_ERROR)
    if req.body.uid != req.uid and not ctl.is_admin(req.uid):
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    return rc_reply(SlurmRC.ESLURM_JOB_SCRIPT_MISSING)  # flurm keeps no crontab


def update_crontab(ctl: Controller, req: Request) -> Reply:
    if not _scrontab_enabled(ctl):
        log.error("scrontab is disabled on this cluster")
        return rc_reply(SlurmRC.SLURM_ERROR)
    log.warning("crontab of uid %d refused: flurm does not run scrontab jobs", req.uid)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


# -- jobs flurm does not take ---------------------------------------------------------------------------


def het_job(ctl: Controller, req: Request) -> Reply:
    log.info("heterogeneous job from uid %d refused: flurm does not schedule them", req.uid)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


# -- controller to controller, slurmdbd to controller ---------------------------------------------------


def sibling_only(ctl: Controller, req: Request) -> Reply:
    """SIB_JOB_LOCK/UNLOCK and CTLD_MULT_MSG come from a federation sibling over a persistent
    connection; on any other connection slurmctld refuses them."""
    log.error("Security violation, %s RPC from uid=%d", MsgType(req.msg_type).name, req.uid)
    return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)


def persist_init(ctl: Controller, req: Request) -> Reply:
    """A persistent connection, opened by SlurmUser or root only (slurmctld's _slurm_rpc_persist_init).
    slurmdbd's from 24.11 (PERSIST_TYPE_ACCT_UPDATE) is accepted and then carries ACCOUNTING_UPDATE_MSG
    only; a federation sibling's is refused as slurmctld without a federation refuses it (SLURM_ERROR).
    The answer is a PERSIST_RC in the connection's own framing and in the version the request named
    (the newest flurm serves up to it), which it also carries; the connection then speaks that version."""
    assert isinstance(req.body, PersistInitRequest)
    version = persist_version(req.body.version)
    comment = None
    serves: frozenset[int] = frozenset()
    if not ctl.is_admin(req.uid):
        log.error("Security violation, REQUEST_PERSIST_INIT RPC from uid=%d", req.uid)
        rc = SlurmRC.ESLURM_USER_ID_MISSING
    elif req.body.persist_type == PERSIST_TYPE_ACCT_UPDATE:
        rc = SlurmRC.SLURM_SUCCESS
        serves = frozenset({MsgType.ACCOUNTING_UPDATE_MSG})
    else:
        rc = SlurmRC.SLURM_ERROR
        if req.body.persist_type == PERSIST_TYPE_FED:  # fed_mgr_add_sibling_conn
            comment = f"no fed_mgr_fed_rec on cluster {ctl.config.cluster_name} yet."
    answer = PersistRc(rc, comment, ret_info=version)
    return Reply(
        MsgType.PERSIST_RC,
        raw_body=persist_msg(MsgType.PERSIST_RC, answer, version),
        raw_version=version,
        persistent=True,
        serves=serves,
    )


def accounting_update(ctl: Controller, req: Request) -> Reply:
    """slurmdbd's changes to associations, QOS and users (ACCOUNTING_UPDATE_MSG), from SlurmUser or root
    only, as slurmctld's _slurm_rpc_accounting_update_msg."""
    if not ctl.is_admin(req.uid):
        log.error("Update Association request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    assert isinstance(req.body, AccountingUpdate)
    rc = ctl.acct_policy.accounting_update(req.body)
    if rc == SlurmRC.SLURM_SUCCESS and req.body.updates:
        ctl.jobs.wake()  # changed limits may let pending jobs run (or hold them)
    return rc_reply(rc)


def accounting_no_reply(ctl: Controller, req: Request) -> None:
    """ACCOUNTING_FIRST_REG and ACCOUNTING_REGISTER_CTLD: slurmctld answers neither (it sends its
    state to slurmdbd instead, which accounting_storage/none makes a no-op)."""
    if not ctl.is_admin(req.uid):
        log.error("Registration request from non-super user uid=%d", req.uid)
    return None


def fs_dampening_factor(ctl: Controller, req: Request) -> Reply:
    assert isinstance(req.body, FsDampeningFactorRequest)
    if not ctl.is_admin(req.uid):
        log.error("set FairShareDampeningFactor request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    # only priority/multifactor reads it, and flurm does not compute that: nothing else to do
    log.info("Set FairShareDampeningFactor to %d", req.body.factor)
    return rc_reply(SlurmRC.SLURM_SUCCESS)


def node_registration_status(ctl: Controller, req: Request) -> Reply:
    """A slurmd's request sent to the controller's port: slurmctld takes it for itself."""
    log.error("REQUEST_NODE_REGISTRATION_STATUS from %s: SlurmctldPort == SlurmdPort?", req.peer[0])
    return rc_reply(errno.EINVAL)


# -- what 24.11 and 26.05 added ----------------------------------------------------------------------


def suspend_exc(ctl: Controller, req: Request) -> Reply:
    """REQUEST_SET_SUSPEND_EXC_NODES/PARTS/STATES: flurm does no power saving."""
    if not ctl.is_admin(req.uid):
        log.error("set SuspendExc* request from non-super user uid=%d", req.uid)
        return rc_reply(errno.EACCES)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def dbd_relay(ctl: Controller, req: Request) -> Reply | None:
    """REQUEST_DBD_RELAY: a slurmd's message for slurmdbd, which flurm does not relay."""
    if req.uid not in (0, ctl.config.slurmd_user_uid):
        log.error("Security violation, REQUEST_DBD_RELAY RPC from uid=%d", req.uid)
        return None  # slurmctld sends no reply
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def tls_cert(ctl: Controller, req: Request) -> Reply:
    """REQUEST_TLS_CERT: flurm signs no certificates (slurmctld without a certificate manager)."""
    if not ctl.is_admin(req.uid):
        log.error("Security violation, REQUEST_TLS_CERT from uid=%d", req.uid)
        return rc_reply(SlurmRC.ESLURM_ACCESS_DENIED)
    return rc_reply(SlurmRC.SLURM_ERROR)


def sbcast_cred_no_job(ctl: Controller, req: Request) -> Reply:
    """REQUEST_SBCAST_CRED_NO_JOB (``sbcast -Z``): flurm makes sbcast credentials for jobs only."""
    if not ctl.is_admin(req.uid):
        log.error("sbcast --no-allocation credential requested from uid %d", req.uid)
        return rc_reply(SlurmRC.ESLURM_USER_ID_MISSING)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


def step_by_container_id(ctl: Controller, req: Request) -> Reply:
    """REQUEST_STEP_BY_CONTAINER_ID (``scrun``): flurm keeps no container ids of steps."""
    assert isinstance(req.body, ContainerIdRequest)
    if not req.body.container_id:
        return rc_reply(SlurmRC.ESLURM_INVALID_CONTAINER_ID)
    return rc_reply(SlurmRC.ESLURM_NOT_SUPPORTED)


HANDLERS = {
    MsgType.REQUEST_SET_SUSPEND_EXC_NODES: suspend_exc,
    MsgType.REQUEST_SET_SUSPEND_EXC_PARTS: suspend_exc,
    MsgType.REQUEST_SET_SUSPEND_EXC_STATES: suspend_exc,
    MsgType.REQUEST_DBD_RELAY: dbd_relay,
    MsgType.REQUEST_TLS_CERT: tls_cert,
    MsgType.REQUEST_SBCAST_CRED_NO_JOB: sbcast_cred_no_job,
    MsgType.REQUEST_STEP_BY_CONTAINER_ID: step_by_container_id,
    MsgType.REQUEST_BURST_BUFFER_INFO: burst_buffer_info,
    MsgType.REQUEST_BURST_BUFFER_STATUS: burst_buffer_status,
    MsgType.REQUEST_TOPO_INFO: topo_info,
    MsgType.REQUEST_TOPO_CONFIG: topo_config,
    MsgType.REQUEST_FRONT_END_INFO: front_end_info,
    MsgType.REQUEST_UPDATE_FRONT_END: update_front_end,
    MsgType.REQUEST_ASSOC_MGR_INFO: assoc_mgr_info,
    MsgType.REQUEST_TRIGGER_GET: trigger_get,
    MsgType.REQUEST_TRIGGER_SET: trigger_set,
    MsgType.REQUEST_TRIGGER_CLEAR: trigger_clear,
    MsgType.REQUEST_TRIGGER_PULL: trigger_pull,
    MsgType.REQUEST_CRONTAB: crontab,
    MsgType.REQUEST_UPDATE_CRONTAB: update_crontab,
    MsgType.REQUEST_HET_JOB_ALLOCATION: het_job,
    MsgType.REQUEST_SUBMIT_BATCH_HET_JOB: het_job,
    MsgType.REQUEST_SIB_JOB_LOCK: sibling_only,
    MsgType.REQUEST_SIB_JOB_UNLOCK: sibling_only,
    MsgType.REQUEST_CTLD_MULT_MSG: sibling_only,
    MsgType.REQUEST_PERSIST_INIT: persist_init,
    MsgType.ACCOUNTING_UPDATE_MSG: accounting_update,
    MsgType.ACCOUNTING_FIRST_REG: accounting_no_reply,
    MsgType.ACCOUNTING_REGISTER_CTLD: accounting_no_reply,
    MsgType.REQUEST_SET_FS_DAMPENING_FACTOR: fs_dampening_factor,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS: node_registration_status,
}

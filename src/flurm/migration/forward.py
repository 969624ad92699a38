"""Forwarding client requests to slurmctld while flurm is in shadow (writes) or rolled back (everything).

A MUNGE credential is meant for one use, so the client's is not passed on: flurm sends the request
signed with its own credential (as SlurmUser), and slurmctld therefore sees an administrator. So flurm
first applies the rules slurmctld would apply to the *caller*, one per request type (RULES): the job
runs as the caller's uid and gid, operator-only fields are refused or dropped as slurmctld refuses or
drops them (controller/rights.py, as flurm's own handlers), a plain user acts only on their own jobs
where slurmctld says so, and a hold they place is a user hold; operator-only requests are refused. A
plain user's read is forwarded when slurmctld's answer to SlurmUser is the one it would give them; a
request whose answer depends on the caller (a crontab, a job script) only when it is the caller's
own. Whatever flurm does not allow is refused with slurmctld's own return code for it; whatever it
forwards comes back to the client unchanged. A type without a rule, or a body flurm cannot read, is
refused (fails closed).

Releases: each request goes to slurmctld in the source's protocol version, each answer back in the
client's. When both speak the same release the bytes pass as they came (both ways). When they differ
(a 24.11 sbatch writing through flurm to a 22.05 slurmctld), the request is re-encoded in the source's
layout (decoded in the client's, encoded in the source's) only if nothing the client asked for is lost:
it must decode back equal to what the client sent, so a field the source's release has no place for,
set by the client, refuses the request (SLURM_PROTOCOL_VERSION_ERROR, saying which releases) rather
than have slurmctld run something other than what was asked. A body flurm has no codec of both
releases for is refused the same way. The answer is decoded in the source's layout and encoded in the
client's (an answer loses only what the client's release cannot show).
"""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from flurm.auth import SLURM_AUTH_NOBODY
from flurm.controller.rights import Caller, check_partitions, submission_as_caller, update_refusal
from flurm.errors import SlurmError
from flurm.migration.source import SourceClient
from flurm.protocol.constants import (
    NO_VAL,
    SLURM_24_11_PROTOCOL_VERSION,
    JobStateReason,
    MsgType,
    ShowFlags,
    SlurmRC,
)
from flurm.protocol.messages.base import Body, decode_body, encode_body
from flurm.protocol.messages.common import Opaque
from flurm.protocol.messages.crontab import CrontabRequest
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.reservations import ReservationDesc, ReservationName, ReserveFlag
from flurm.protocol.messages.stats import STAT_COMMAND_RESET, StatsInfoRequest
from flurm.protocol.messages.steps import JobStepCreateRequest
from flurm.protocol.messages.triggers import TRIGGER_RES_TYPE_JOB, Trigger, TriggerMessage
from flurm.protocol.versions import release_name
from flurm.protocol.wire import DecodeError, EncodeError
from flurm.rpc.transport import Reply, Request, rc_reply
from flurm.state.jobids import parse_job_id
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.config import SlurmConfig
    from flurm.controller.ports import ControllerPort
    from flurm.migration.mirror import Mirror

log = logging.getLogger("flurm.forward")
ALLOC_SID_USER_HOLD = 2
PRIVATE_DATA_JOBS = 1 << 0  # slurm.conf PrivateData bits
PRIVATE_DATA_NODES = 1 << 1
PRIVATE_DATA_PARTITIONS = 1 << 2
PRIVATE_DATA_USAGE = 1 << 3
PRIVATE_DATA_USERS = 1 << 4
PRIVATE_DATA_ACCOUNTS = 1 << 5
PRIVATE_DATA_RESERVATIONS = 1 << 6


class Forwarder:
    def __init__(self, ctl: ControllerPort, source: SourceClient, mirror: Mirror) -> None:
        self.ctl = ctl
        self.source = source
        self.mirror = mirror
        self.forwarded = 0
        self.refused = 0

    async def forward(self, req: Request) -> Reply:
        try:
            authorized = await self._authorize(req)
            version = await self.source.release()
            body = to_source(req, authorized, version)
        except SlurmError as exc:
            self.refused += 1
            return rc_reply(exc.rc, exc.message)
        resp = await self.source.forward(req.msg_type, body)
        self.forwarded += 1
        if req.msg_type != MsgType.REQUEST_JOB_READY:
            # let the caller see its own change at once (read-your-writes through flurm)
            try:
                await self.mirror.sync()
            except Exception as exc:
                log.info("mirror pass after a forwarded write failed: %s", exc)
        return to_client(req, resp.msg_type, resp.raw, version)

    # -- the caller's rights ----------------------------------------------------------------------
    async def _authorize(self, req: Request) -> Body | bytes:
        """What goes to slurmctld: the client's own body as it came (bytes, in its version), or the
        request rewritten as the caller's rights make it."""
        if self.ctl.is_admin(req.uid):
            return req.frame.body
        rule = RULES.get(req.msg_type)
        if rule is None:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)  # a type with no rule here: fail closed
        if isinstance(rule, AsIs):
            self._check_read(req)
        elif isinstance(rule, OperatorOnly):
            text = _job_id_text(req.body)
            if rule.job_first and text is not None:
                # slurmctld looks the job up first (by the number before any "_" or "+")
                await self._records(str(_leading_number(text)))
            raise SlurmError(rule.rc)
        elif isinstance(rule, OwnJobs):
            if not rule.private_only or self.ctl.config.private_data & PRIVATE_DATA_JOBS:
                await self._own(_job_id_text(req.body), req.uid, rule.rc)
        else:
            return await self._special(rule, req)
        return req.frame.body

    async def _special(self, rule: Special, req: Request) -> Body | bytes:
        body = req.body
        caller = Caller(req.uid, req.gid, privileged=False)
        if rule == Special.SUBMISSION and isinstance(body, JobDesc):
            return self._submission(body, caller)
        if rule == Special.JOB_UPDATE and isinstance(body, JobDesc):
            return await self._update(body, caller)
        if rule == Special.STEP_CREATE and isinstance(body, JobStepCreateRequest):
            # a step run as someone else (from 24.11 srun names nobody: the caller, as stepmgr takes it)
            nobody = req.frame.version >= SLURM_24_11_PROTOCOL_VERSION and body.user_id == SLURM_AUTH_NOBODY
            if body.user_id != req.uid and not nobody:
                raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
            await self._own(str(body.step_id.job_id), req.uid, SlurmRC.ESLURM_ACCESS_DENIED)
            return req.frame.body
        if rule == Special.STATS and isinstance(body, StatsInfoRequest):
            if body.command_id == STAT_COMMAND_RESET:  # sdiag -r
                raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
            return req.frame.body
        if rule == Special.CRONTAB and isinstance(body, CrontabRequest):
            if body.uid != req.uid:  # as SlurmUser, slurmctld would hand over anyone's crontab
                raise SlurmError(crontab_refusal(self.ctl.config))
            return req.frame.body
        if rule == Special.CRONTAB_UPDATE and crontab_refusal(self.ctl.config) == SlurmRC.SLURM_ERROR:
            raise SlurmError(SlurmRC.SLURM_ERROR)  # scrontab disabled: slurmctld's answer to everyone
        if rule == Special.CONFIG:
            if _config_for_slurmd(req.frame.body):
                raise SlurmError(config_refusal(self.ctl.config))
            return req.frame.body
        if rule == Special.RESERVATION_UPDATE and isinstance(body, ReservationDesc):
            await self._reservation_user(body.name, req.uid)
            if not body.flags & ReserveFlag.SKIP:  # (flags left unset, NO_VAL64, has the bit: as slurmctld)
                raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
            # slurmctld keeps only the name and the skip of a user's update
            return ReservationDesc(name=body.name, flags=ReserveFlag.SKIP)
        if rule == Special.RESERVATION_DELETE and isinstance(body, ReservationName):
            await self._reservation_user(body.name, req.uid)
            return req.frame.body
        if rule == Special.TRIGGER_CLEAR and isinstance(body, TriggerMessage):
            return await self._trigger_clear(body, req.uid)
        # a body flurm cannot read (no codec yet): fail closed
        raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)

    def _check_read(self, req: Request) -> None:
        rc = read_refusal(req.msg_type, getattr(req.body, "show_flags", 0), self.ctl.config)
        if rc:
            raise SlurmError(rc)

    def _submission(self, desc: JobDesc, caller: Caller) -> JobDesc:
        cluster = self.ctl.cluster
        desc = submission_as_caller(desc, caller, cluster.config.max_script_size)
        names = desc.partition.split(",")[:1] if desc.partition else [cluster.default_partition or ""]
        check_partitions(names, cluster.partitions, caller)
        return desc

    async def _update(self, desc: JobDesc, caller: Caller) -> JobDesc:
        text = desc.job_id_str or (str(desc.job_id) if desc.job_id != NO_VAL else "")
        jobs = await self._records(text)
        now = self.ctl.now()
        for job in jobs:
            rc = update_refusal(job, desc, caller, self.ctl.cluster.partitions, now)
            if rc:
                raise SlurmError(rc)
        if desc.priority == 0:
            # a plain user's hold is a user hold; on a job already held slurmctld does nothing for
            # them (an operator's request would turn an administrator's hold into theirs)
            if all(j.priority == 0 for j in jobs):
                return replace(desc, priority=NO_VAL)
            if any(j.priority == 0 and j.state_reason == JobStateReason.WAIT_HELD for j in jobs):
                raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
            desc = replace(desc, alloc_sid=ALLOC_SID_USER_HOLD)
        return desc

    async def _records(self, text: str) -> list[Job]:
        """The jobs a job id text names, as slurmctld has them now: a mirror pass first, since the
        caller's rights depend on the jobs' latest state (an operator's hold placed a moment ago
        directly at slurmctld must not be taken for the user's own)."""
        target = parse_job_id(text, self.ctl.config.max_array_size)
        await self.mirror.sync()
        jobs = self.ctl.jobs.records_for(target)
        if not jobs:
            raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
        return jobs

    async def _own(self, text: str | None, uid: int, rc: int) -> list[Job]:
        """The jobs a job id text names, all owned by ``uid``; refused with ``rc`` otherwise (and when
        the body could not be read: ``text`` None)."""
        if text is None:
            raise SlurmError(rc)
        jobs = await self._records(text)
        if any(j.user_id != uid for j in jobs):
            raise SlurmError(rc)
        return jobs

    async def _reservation_user(self, name: str | None, uid: int) -> None:
        """slurmctld's validate_resv_uid(): a plain user may delete (or skip) a reservation only with
        SlurmctldParameters=user_resv_delete and when the reservation lists them among its users.
        Where associations may decide (AccountingStorageEnforce set) flurm cannot tell: refused."""
        config = self.ctl.config
        enforce = config.raw.get("accountingstorageenforce", "").lower()
        by_users = enforce in ("", "0", "no", "none")  # no enforcement: the users listed decide
        allowed = by_users and "user_resv_delete" in (config.slurmctld_parameters or "").lower()
        if allowed and name is not None:
            await self.mirror.sync()
            resv = self.ctl.cluster.reservations.items.get(name)
            if resv is not None and uid in resv.user_ids:
                return
        raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)

    async def _trigger_clear(self, request: TriggerMessage, uid: int) -> TriggerMessage:
        """slurmctld's trigger_clear() for a plain user, on the triggers it has now: it removes only
        the caller's own (SlurmUser's request would remove anyone's), so the request sent on names the
        caller; whatever it would refuse is refused here with its code."""
        if len(request.triggers) != 1:
            raise SlurmError(errno.ESRCH)
        want = request.triggers[0]
        job_id = 0
        if want.res_type == TRIGGER_RES_TYPE_JOB:
            job_id = _leading_number(want.res_id or "")
            if job_id == 0:
                raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
        elif want.trig_id == 0 and want.user_id == NO_VAL:
            raise SlurmError(errno.EINVAL)
        rc = errno.ESRCH
        for have in await self._triggers():
            have_job = _leading_number(have.res_id or "") if have.res_type == TRIGGER_RES_TYPE_JOB else 0
            if (
                (want.trig_id and want.trig_id != have.trig_id)
                or (job_id and job_id != have_job)
                or (want.user_id != NO_VAL and want.user_id != have.user_id)
            ):
                continue
            if have.user_id != uid:
                rc = SlurmRC.ESLURM_ACCESS_DENIED
                continue
            rc = 0
        if rc:
            raise SlurmError(rc)
        return TriggerMessage((replace(want, user_id=uid),))

    async def _triggers(self) -> tuple[Trigger, ...]:
        resp = await self.source.request(MsgType.REQUEST_TRIGGER_GET, TriggerMessage())
        if resp.msg_type != MsgType.RESPONSE_TRIGGER_GET:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        answer = resp.body
        if not isinstance(answer, TriggerMessage):
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        return answer.triggers


# -- releases ---------------------------------------------------------------------------------------
def _version_refusal(req: Request, version: int, why: str) -> SlurmError:
    return SlurmError(
        SlurmRC.SLURM_PROTOCOL_VERSION_ERROR,
        f"flurm cannot pass {MsgType(req.msg_type).name} from a SLURM {release_name(req.frame.version)} "
        f"client to the SLURM {release_name(version)} slurmctld it shadows: {why}",
    )


def to_source(req: Request, authorized: Body | bytes, version: int) -> bytes:
    """The request's body in the source's ``version``: the client's bytes when it speaks that release,
    else re-encoded, and refused (SlurmError) if that would lose anything the client sent."""
    same = req.frame.version == version
    if isinstance(authorized, bytes):
        if same:
            return authorized
        authorized = req.body
    if not same and isinstance(authorized, Opaque):
        raise _version_refusal(req, version, "flurm cannot read this request")
    try:
        raw = encode_body(authorized, version)
        if not same and decode_body(req.msg_type, raw, version) != authorized:
            raise _version_refusal(
                req, version, f"it sets what SLURM {release_name(version)} has no field for"
            )
    except (EncodeError, DecodeError) as exc:  # VersionError included: no codec of that release
        raise _version_refusal(req, version, str(exc)) from exc
    return raw


def to_client(req: Request, msg_type: int, raw: bytes, version: int) -> Reply:
    """slurmctld's answer (``raw``, in the source's ``version``) in the client's version."""
    if req.frame.version == version:
        return Reply(msg_type, raw_body=raw, raw_version=version)
    try:
        return Reply(msg_type, decode_body(msg_type, raw, version))
    except DecodeError as exc:
        log.warning("answer %s of slurmctld cannot be passed on: %s", msg_type, exc)
        err = _version_refusal(req, version, f"slurmctld answered, but flurm cannot read its answer ({exc})")
        return rc_reply(err.rc, err.message)


def read_refusal(msg_type: int, show_flags: int, config: SlurmConfig) -> int:
    """0 when a plain user's request may be forwarded as it came: slurmctld's answer to SlurmUser is
    then the one it would give the user (a type whose rule is AsIs, and no PrivateData or partition
    hidden from users, Hidden or AllowGroups, that would make the answers differ); else the rc to
    refuse it with."""
    rule = RULES.get(msg_type)
    if not isinstance(rule, AsIs) or config.private_data & rule.private:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if (
        rule.private
        and not show_flags & ShowFlags.ALL
        and any(p.hidden or p.allow_groups for p in config.partitions)
    ):
        return SlurmRC.ESLURM_ACCESS_DENIED
    return 0


def crontab_refusal(config: SlurmConfig) -> int:
    """slurmctld's answer to a plain user asking for someone else's crontab: scrontab disabled
    (ScronParameters without enable) comes first, for everyone."""
    if "enable" not in config.raw.get("scronparameters", "").lower():
        return SlurmRC.SLURM_ERROR
    return SlurmRC.ESLURM_USER_ID_MISSING


def config_refusal(config: SlurmConfig) -> int:
    """slurmctld's answer to a plain user asking for slurmd's configuration files (configless)."""
    if "enable_configless" not in (config.slurmctld_parameters or "").lower():
        return SlurmRC.ESLURM_CONFIGLESS_DISABLED  # for everyone, first
    return SlurmRC.ESLURM_USER_ID_MISSING


CONFIG_REQUEST_SLURMD = 1  # config_request_msg_t.flags: slurmd's files, not a client's


def _config_for_slurmd(raw: bytes) -> bool:
    """REQUEST_CONFIG's body is its u32 flags; one that cannot be read is taken for slurmd's."""
    return len(raw) < 4 or bool(int.from_bytes(raw[:4], "big") & CONFIG_REQUEST_SLURMD)


def _job_id_text(body: object) -> str | None:
    """The job id a request names, as text ("12", "12_3", "12+1"); None when flurm cannot read the
    body (no codec: Opaque) or it names none."""
    for attr in ("sjob_id", "job_id_str"):
        text = getattr(body, attr, None)
        if isinstance(text, str) and text:
            return text
    job_id = getattr(body, "job_id", None)
    if not isinstance(job_id, int):
        job_id = getattr(getattr(body, "step_id", None), "job_id", None)
    if isinstance(job_id, int) and job_id != NO_VAL:
        return str(job_id)
    return None


def _leading_number(text: str) -> int:
    """C's strtol()/atol() of a job id text: its leading digits, 0 when there are none."""
    digits = len(text) - len(text.lstrip("0123456789"))
    return int(text[:digits]) if digits else 0


# -- the rules ------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AsIs:
    """Forwarded as it came: slurmctld gives SlurmUser the answer it gives the caller, unless one of
    the ``private`` PrivateData bits is set (a non-zero ``private``: nor when partitions are hidden)."""

    private: int = 0


@dataclass(frozen=True, slots=True)
class OperatorOnly:
    """Only an operator may: anyone else gets ``rc``. ``job_first``: slurmctld looks the job up
    before it checks the caller (an unknown job: ESLURM_INVALID_JOB_ID)."""

    rc: int
    job_first: bool = False


@dataclass(frozen=True, slots=True)
class OwnJobs:
    """A plain user may, on their own jobs only: anyone else's gets ``rc`` (an unknown job:
    ESLURM_INVALID_JOB_ID). ``private_only``: the check is made only under PrivateData=jobs."""

    rc: int
    private_only: bool = False


class Special(StrEnum):
    """Checked by a method of the Forwarder of its own."""

    SUBMISSION = "submission"  # run as the caller, operator-only fields refused or dropped
    JOB_UPDATE = "job_update"  # controller/rights.py's update rules; a user's hold is a user hold
    STEP_CREATE = "step_create"  # as the caller, in their own job
    STATS = "stats"  # sdiag; its reset (-r) operators only
    CRONTAB = "crontab"  # only the caller's own crontab
    CRONTAB_UPDATE = "crontab_update"  # (no codec yet: refused but where scrontab is disabled)
    CONFIG = "config"  # a client's config files; slurmd's only SlurmUser's
    RESERVATION_UPDATE = "reservation_update"  # user_resv_delete: a listed user may skip it
    RESERVATION_DELETE = "reservation_delete"  # user_resv_delete: a listed user may delete it
    TRIGGER_CLEAR = "trigger_clear"  # only the caller's own triggers


Rule = AsIs | OperatorOnly | OwnJobs | Special
_NOT_OPERATOR = SlurmRC.ESLURM_USER_ID_MISSING  # validate_super_user()/validate_operator() failing
_DENIED = SlurmRC.ESLURM_ACCESS_DENIED
_PRIVATE_ACCOUNTING = PRIVATE_DATA_USAGE | PRIVATE_DATA_USERS | PRIVATE_DATA_ACCOUNTS

# What slurmctld 22.05 (proc_req.c and what it calls) lets a plain user do with each request type
# the forwarder may be sent (the mode table's FORWARD in shadow or rolled back), with its refusal
# codes. A type not here is refused with ESLURM_ACCESS_DENIED (fails closed). Rules that need the
# body (the job it names) refuse a body flurm cannot read (no codec yet) with their ``rc``.
RULES: dict[int, Rule] = {
    # reads: slurmctld's answer does not depend on the caller (but for PrivateData)
    MsgType.REQUEST_PING: AsIs(),
    MsgType.REQUEST_BUILD_INFO: AsIs(),
    MsgType.REQUEST_FED_INFO: AsIs(),
    MsgType.REQUEST_JOB_INFO: AsIs(PRIVATE_DATA_JOBS),
    MsgType.REQUEST_JOB_INFO_SINGLE: AsIs(PRIVATE_DATA_JOBS),
    MsgType.REQUEST_JOB_USER_INFO: AsIs(PRIVATE_DATA_JOBS),
    MsgType.REQUEST_JOB_STEP_INFO: AsIs(PRIVATE_DATA_JOBS),
    MsgType.REQUEST_NODE_INFO: AsIs(PRIVATE_DATA_NODES),
    MsgType.REQUEST_NODE_INFO_SINGLE: AsIs(PRIVATE_DATA_NODES),
    MsgType.REQUEST_PARTITION_INFO: AsIs(PRIVATE_DATA_PARTITIONS),
    MsgType.REQUEST_RESERVATION_INFO: AsIs(PRIVATE_DATA_RESERVATIONS),
    MsgType.REQUEST_PRIORITY_FACTORS: AsIs(PRIVATE_DATA_JOBS),
    MsgType.REQUEST_JOB_END_TIME: AsIs(),  # job_end_time(): no check of the caller
    MsgType.REQUEST_SHARE_INFO: AsIs(_PRIVATE_ACCOUNTING),
    MsgType.REQUEST_ASSOC_MGR_INFO: AsIs(_PRIVATE_ACCOUNTING),
    MsgType.REQUEST_LICENSE_INFO: AsIs(),
    MsgType.REQUEST_BURST_BUFFER_INFO: AsIs(),
    MsgType.REQUEST_BURST_BUFFER_STATUS: AsIs(),
    MsgType.REQUEST_TOPO_INFO: AsIs(),
    MsgType.REQUEST_TOPO_CONFIG: AsIs(),  # 26.05
    MsgType.REQUEST_HOSTLIST_EXPANSION: AsIs(),  # 26.05: a hostlist expanded, nothing of the cluster's
    MsgType.REQUEST_FRONT_END_INFO: AsIs(),
    MsgType.REQUEST_CONTROL_STATUS: AsIs(),
    MsgType.REQUEST_TRIGGER_GET: AsIs(),  # trigger_get(): every trigger, strigger filters
    MsgType.REQUEST_NODE_REGISTRATION_STATUS: AsIs(),
    MsgType.REQUEST_JOB_READY: AsIs(),  # job_node_ready(): no check of the caller
    MsgType.REQUEST_STATS_INFO: Special.STATS,
    MsgType.REQUEST_CRONTAB: Special.CRONTAB,
    MsgType.REQUEST_UPDATE_CRONTAB: Special.CRONTAB_UPDATE,
    MsgType.REQUEST_CONFIG: Special.CONFIG,
    MsgType.REQUEST_BATCH_SCRIPT: OwnJobs(SlurmRC.ESLURM_USER_ID_MISSING),
    # submissions (a heterogeneous job's bodies have no codec yet: refused)
    MsgType.REQUEST_SUBMIT_BATCH_JOB: Special.SUBMISSION,
    MsgType.REQUEST_RESOURCE_ALLOCATION: Special.SUBMISSION,
    MsgType.REQUEST_JOB_WILL_RUN: Special.SUBMISSION,
    # the caller's own jobs
    MsgType.REQUEST_KILL_JOB: OwnJobs(_DENIED),
    MsgType.REQUEST_CANCEL_JOB_STEP: OwnJobs(_DENIED),
    MsgType.REQUEST_UPDATE_JOB: Special.JOB_UPDATE,
    MsgType.REQUEST_JOB_REQUEUE: OwnJobs(_DENIED),  # _job_requeue_op()
    MsgType.REQUEST_UPDATE_JOB_STEP: OwnJobs(SlurmRC.ESLURM_USER_ID_MISSING),  # update_step()
    MsgType.REQUEST_JOB_NOTIFY: OwnJobs(SlurmRC.ESLURM_USER_ID_MISSING),
    MsgType.REQUEST_JOB_STEP_CREATE: Special.STEP_CREATE,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION: OwnJobs(SlurmRC.ESLURM_USER_ID_MISSING),  # job_complete()
    MsgType.REQUEST_JOB_SBCAST_CRED: OwnJobs(SlurmRC.ESLURM_USER_ID_MISSING),
    # job_alloc_info(): anyone's job, but for PrivateData=jobs
    MsgType.REQUEST_JOB_ALLOCATION_INFO: OwnJobs(_DENIED, private_only=True),
    MsgType.REQUEST_HET_JOB_ALLOC_INFO: OwnJobs(_DENIED, private_only=True),
    MsgType.REQUEST_STEP_LAYOUT: OwnJobs(_DENIED, private_only=True),
    # operators only
    MsgType.REQUEST_SUSPEND: OperatorOnly(_DENIED, job_first=True),  # job_suspend[2]()
    # job_set_top(): with SchedulerParameters=enable_user_top a user may reorder their own jobs,
    # which slurmctld does differently for SlurmUser: refused here then too
    MsgType.REQUEST_TOP_JOB: OperatorOnly(_DENIED),
    MsgType.REQUEST_UPDATE_NODE: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_CREATE_NODE: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_DELETE_NODE: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_UPDATE_FRONT_END: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_UPDATE_PARTITION: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_CREATE_PARTITION: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_DELETE_PARTITION: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_CREATE_RESERVATION: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_UPDATE_RESERVATION: Special.RESERVATION_UPDATE,
    MsgType.REQUEST_DELETE_RESERVATION: Special.RESERVATION_DELETE,
    # SlurmctldParameters=allow_user_triggers lets a user set triggers of their own, run as them;
    # SlurmUser's would run as SlurmUser: refused here then too
    MsgType.REQUEST_TRIGGER_SET: OperatorOnly(_DENIED),
    MsgType.REQUEST_TRIGGER_CLEAR: Special.TRIGGER_CLEAR,
    MsgType.REQUEST_TRIGGER_PULL: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_SHUTDOWN: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_CONTROL: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_RECONFIGURE: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_TAKEOVER: OperatorOnly(_NOT_OPERATOR),
    MsgType.REQUEST_SET_DEBUG_LEVEL: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SET_DEBUG_FLAGS: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SET_SCHEDLOG_LEVEL: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_REBOOT_NODES: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SET_FS_DAMPENING_FACTOR: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SIB_JOB_LOCK: OperatorOnly(_DENIED),
    MsgType.REQUEST_SIB_JOB_UNLOCK: OperatorOnly(_DENIED),
    MsgType.REQUEST_CTLD_MULT_MSG: OperatorOnly(_DENIED),
    MsgType.REQUEST_PERSIST_INIT: OperatorOnly(_NOT_OPERATOR),
    MsgType.ACCOUNTING_UPDATE_MSG: OperatorOnly(errno.EACCES),
    MsgType.ACCOUNTING_FIRST_REG: OperatorOnly(errno.EACCES),  # slurmctld sends no reply at all
    MsgType.ACCOUNTING_REGISTER_CTLD: OperatorOnly(errno.EACCES),  # slurmctld sends no reply at all
    # 24.11's
    MsgType.REQUEST_SET_SUSPEND_EXC_NODES: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SET_SUSPEND_EXC_PARTS: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_SET_SUSPEND_EXC_STATES: OperatorOnly(errno.EACCES),
    MsgType.REQUEST_DBD_RELAY: OperatorOnly(errno.EACCES),  # slurmctld sends no reply at all
    MsgType.REQUEST_PERSIST_INIT_TLS: OperatorOnly(_NOT_OPERATOR),
    # not here, so refused to a plain user (fail closed): REQUEST_HET_JOB_ALLOCATION and
    # REQUEST_SUBMIT_BATCH_HET_JOB (no codec to check them with), REQUEST_AUTH_TOKEN (rolled back:
    # slurmctld would sign a token for whom flurm names); the types new in 24.11 and 26.05 that name
    # jobs, steps or nodes (KILL_JOBS, JOB_STATE, NODE_ALIAS_ADDRS, STEP_BY_CONTAINER_ID,
    # RESOURCE_LAYOUT, SBCAST_CRED_NO_JOB) until their bodies are checked here
}

# The operator-only types, with slurmctld's answer to anyone else.
OPERATOR_ONLY: dict[int, int] = {t: r.rc for t, r in RULES.items() if isinstance(r, OperatorOnly)}

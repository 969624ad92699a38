"""Forwarding client requests to slurmctld while flurm is in shadow (writes) or rolled back (everything).

A MUNGE credential is meant for one use, so the client's is not passed on: flurm sends the request
signed with its own credential (as SlurmUser), and slurmctld therefore sees an administrator. So flurm
first applies the rules slurmctld would apply to the *caller*, the ones of controller/rights.py that
flurm's own handlers apply: the job runs as the caller's uid and gid, operator-only fields are refused
or dropped as slurmctld refuses or drops them, a plain user may cancel, hold, release and update only
their own jobs, and a hold they place is a user hold. A plain user's read is forwarded when
slurmctld's answer to SlurmUser is the one it would give them. Whatever flurm does not allow is
refused with SLURM's own return code; whatever it forwards comes back to the client unchanged.
"""

from __future__ import annotations

import errno
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from flurm.controller.rights import Caller, check_partitions, submission_as_caller, update_refusal
from flurm.errors import SlurmError
from flurm.migration.source import SourceClient
from flurm.modes import Op, operation_of
from flurm.protocol.constants import NO_VAL, JobStateReason, MsgType, ShowFlags, SlurmRC
from flurm.protocol.messages.base import encode_body
from flurm.protocol.messages.job_control import CompleteJobAllocation, JobStepKill
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest
from flurm.protocol.messages.nodes import UpdateNodeRequest
from flurm.protocol.messages.partitions import UpdatePartitionRequest
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
            body = await self._authorize(req)
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
        return Reply(resp.msg_type, raw_body=resp.raw)

    # -- the caller's rights ----------------------------------------------------------------------
    async def _authorize(self, req: Request) -> bytes:
        admin = self.ctl.is_admin(req.uid)
        body = req.body
        if admin:
            return req.frame.body
        caller = Caller(req.uid, req.gid, privileged=False)
        op = operation_of(req.msg_type)
        if op in (Op.READ, Op.STATUS):
            self._check_read(req)
            return req.frame.body
        if op not in (Op.SUBMIT, Op.CANCEL, Op.UPDATE, Op.STEP):
            # operator-only requests (ADMIN, or any other kind): slurmctld's answer to a user
            raise SlurmError(OPERATOR_ONLY.get(req.msg_type, SlurmRC.ESLURM_ACCESS_DENIED))
        if isinstance(body, JobDesc):
            if req.msg_type == MsgType.REQUEST_UPDATE_JOB:
                return encode_body(await self._update(body, caller))
            return encode_body(self._submission(body, caller))
        if isinstance(body, JobStepKill):
            await self._own(body.sjob_id or str(body.job_id), req.uid, SlurmRC.ESLURM_ACCESS_DENIED)
            return req.frame.body
        if isinstance(body, JobIdRequest | CompleteJobAllocation):
            await self._own(str(body.job_id), req.uid, SlurmRC.ESLURM_ACCESS_DENIED)
            return req.frame.body
        if req.msg_type in (MsgType.REQUEST_JOB_STEP_CREATE, MsgType.REQUEST_JOB_ALLOCATION_INFO):
            # their bodies start with the job id (u32)
            job_id = int.from_bytes(req.frame.body[:4], "big") if len(req.frame.body) >= 4 else NO_VAL
            await self._own(str(job_id), req.uid, SlurmRC.ESLURM_ACCESS_DENIED)
            return req.frame.body
        if isinstance(body, UpdateNodeRequest | UpdatePartitionRequest):
            raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)  # what slurmctld answers a non-operator
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

    async def _own(self, text: str, uid: int, rc: int) -> list[Job]:
        """The jobs a job id text names, all owned by ``uid``; refused otherwise."""
        jobs = await self._records(text)
        if any(j.user_id != uid for j in jobs):
            raise SlurmError(rc)
        return jobs


def read_refusal(msg_type: int, show_flags: int, config: SlurmConfig) -> int:
    """0 when a plain user's read may be forwarded: slurmctld's answer to SlurmUser is then the one
    it would give the user (a read listed here, and no PrivateData or partition hidden from users,
    Hidden or AllowGroups, that would make the answers differ); else the rc to refuse it with."""
    private = _READS.get(msg_type)
    if private is None or config.private_data & private:
        return SlurmRC.ESLURM_ACCESS_DENIED
    if (
        private
        and not show_flags & ShowFlags.ALL
        and any(p.hidden or p.allow_groups for p in config.partitions)
    ):
        return SlurmRC.ESLURM_ACCESS_DENIED
    return 0


# The requests only an operator may make (the mode table's ADMIN), with slurmctld's answer to anyone
# else (proc_req.c: validate_super_user() failing).
OPERATOR_ONLY: dict[int, int] = {
    MsgType.REQUEST_SHUTDOWN: SlurmRC.ESLURM_USER_ID_MISSING,
    MsgType.REQUEST_CONTROL: SlurmRC.ESLURM_USER_ID_MISSING,
    MsgType.REQUEST_RECONFIGURE: SlurmRC.ESLURM_USER_ID_MISSING,
    MsgType.REQUEST_TAKEOVER: SlurmRC.ESLURM_USER_ID_MISSING,
    MsgType.REQUEST_SET_DEBUG_LEVEL: errno.EACCES,
    MsgType.REQUEST_SET_DEBUG_FLAGS: errno.EACCES,
    MsgType.REQUEST_SET_SCHEDLOG_LEVEL: errno.EACCES,
    MsgType.REQUEST_REBOOT_NODES: errno.EACCES,
    MsgType.REQUEST_SET_FS_DAMPENING_FACTOR: errno.EACCES,
    MsgType.REQUEST_SIB_JOB_LOCK: SlurmRC.ESLURM_ACCESS_DENIED,
    MsgType.REQUEST_SIB_JOB_UNLOCK: SlurmRC.ESLURM_ACCESS_DENIED,
    MsgType.REQUEST_CTLD_MULT_MSG: SlurmRC.ESLURM_ACCESS_DENIED,
    MsgType.REQUEST_PERSIST_INIT: SlurmRC.ESLURM_USER_ID_MISSING,
    MsgType.ACCOUNTING_UPDATE_MSG: errno.EACCES,
    MsgType.ACCOUNTING_FIRST_REG: errno.EACCES,  # slurmctld sends no reply at all
    MsgType.ACCOUNTING_REGISTER_CTLD: errno.EACCES,  # slurmctld sends no reply at all
}

# The reads a plain user's request may be forwarded for, with the PrivateData bit that would make
# slurmctld's answer to them differ (0: none; such answers also do not depend on hidden partitions).
_READS: dict[int, int] = {
    MsgType.REQUEST_PING: 0,
    MsgType.REQUEST_BUILD_INFO: 0,
    MsgType.REQUEST_FED_INFO: 0,
    MsgType.REQUEST_JOB_INFO: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_JOB_INFO_SINGLE: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_JOB_USER_INFO: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_JOB_STEP_INFO: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_NODE_INFO: PRIVATE_DATA_NODES,
    MsgType.REQUEST_NODE_INFO_SINGLE: PRIVATE_DATA_NODES,
    MsgType.REQUEST_PARTITION_INFO: PRIVATE_DATA_PARTITIONS,
    MsgType.REQUEST_RESERVATION_INFO: PRIVATE_DATA_RESERVATIONS,
    MsgType.REQUEST_PRIORITY_FACTORS: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_JOB_END_TIME: PRIVATE_DATA_JOBS,
    MsgType.REQUEST_SHARE_INFO: PRIVATE_DATA_USAGE | PRIVATE_DATA_USERS | PRIVATE_DATA_ACCOUNTS,
    MsgType.REQUEST_ASSOC_MGR_INFO: PRIVATE_DATA_USAGE | PRIVATE_DATA_USERS | PRIVATE_DATA_ACCOUNTS,
    MsgType.REQUEST_LICENSE_INFO: 0,
    MsgType.REQUEST_BURST_BUFFER_INFO: 0,
    MsgType.REQUEST_BURST_BUFFER_STATUS: 0,
    MsgType.REQUEST_TOPO_INFO: 0,
    MsgType.REQUEST_FRONT_END_INFO: 0,
    MsgType.REQUEST_CONTROL_STATUS: 0,
    MsgType.REQUEST_TRIGGER_GET: 0,
    MsgType.REQUEST_CONFIG: 0,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS: 0,
    # not here, so refused to a plain user: what slurmctld answers per caller (their crontab, their
    # job's script) and what an operator-only option changes (sdiag's reset)
}

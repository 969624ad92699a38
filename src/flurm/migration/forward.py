"""Forwarding client writes to slurmctld while flurm is in shadow.

A MUNGE credential is meant for one use, so the client's is not passed on: flurm sends the request
signed with its own credential (as SlurmUser), and slurmctld therefore sees an administrator. So flurm
first applies the rules slurmctld would apply to the *caller*: the submitted job runs as the caller's
uid and gid; only an administrator may set another owner, a priority or a negative nice; a plain user
may cancel, hold, release and update only their own jobs, may not raise a time limit, and a hold
they place is a user hold. Whatever flurm does not allow is refused with SLURM's own return code;
whatever it forwards comes back to the client unchanged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from flurm.controller.jobs import parse_job_id
from flurm.controller.transport import Reply, Request, rc_reply
from flurm.errors import SlurmError
from flurm.migration.source import SourceClient
from flurm.protocol.constants import INFINITE, NICE_OFFSET, NO_VAL, JobStateReason, MsgType, SlurmRC
from flurm.protocol.messages.base import encode_body
from flurm.protocol.messages.job_control import CompleteJobAllocation, JobStepKill
from flurm.protocol.messages.job_desc import JobDesc
from flurm.protocol.messages.job_info import JobIdRequest
from flurm.protocol.messages.nodes import UpdateNodeRequest
from flurm.protocol.messages.partitions import UpdatePartitionRequest
from flurm.state.model import Job

if TYPE_CHECKING:
    from flurm.controller.engine import Controller

log = logging.getLogger("flurm.forward")
ALLOC_SID_USER_HOLD = 2


class Forwarder:
    def __init__(self, ctl: Controller, source: SourceClient) -> None:
        self.ctl = ctl
        self.source = source
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
        if req.msg_type != MsgType.REQUEST_JOB_READY and self.ctl.mirror is not None:
            # let the caller see its own change at once (read-your-writes through flurm)
            try:
                await self.ctl.mirror.sync()
            except Exception as exc:
                log.info("mirror pass after a forwarded write failed: %s", exc)
        return Reply(resp.msg_type, raw_body=resp.raw)

    # -- the caller's rights ----------------------------------------------------------------------
    async def _authorize(self, req: Request) -> bytes:
        admin = self.ctl.is_admin(req.uid)
        body = req.body
        if admin:
            return req.frame.body
        if isinstance(body, JobDesc):
            if req.msg_type == MsgType.REQUEST_UPDATE_JOB:
                return encode_body(await self._update(body, req.uid))
            return encode_body(self._submission(body, req.uid, req.gid))
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

    @staticmethod
    def _submission(desc: JobDesc, uid: int, gid: int) -> JobDesc:
        if desc.user_id not in (NO_VAL, uid):
            raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
        if desc.group_id not in (NO_VAL, gid):
            raise SlurmError(SlurmRC.ESLURM_GROUP_ID_MISSING)
        if desc.priority not in (NO_VAL, 0, INFINITE):
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if desc.nice != NO_VAL and desc.nice < NICE_OFFSET:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        return replace(desc, user_id=uid, group_id=gid)

    async def _update(self, desc: JobDesc, uid: int) -> JobDesc:
        text = desc.job_id_str or (str(desc.job_id) if desc.job_id != NO_VAL else "")
        jobs = await self._own(text, uid, SlurmRC.ESLURM_USER_ID_MISSING)
        if desc.user_id != NO_VAL:
            raise SlurmError(SlurmRC.ESLURM_USER_ID_MISSING)
        if desc.priority not in (NO_VAL, 0, INFINITE):
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if desc.nice != NO_VAL and desc.nice < NICE_OFFSET:
            raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if desc.time_limit != NO_VAL:
            for job in jobs:
                if job.time_limit in (NO_VAL, INFINITE) or desc.time_limit > job.time_limit:
                    raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)
        if desc.priority == INFINITE:
            for job in jobs:
                if job.priority == 0 and job.state_reason == JobStateReason.WAIT_HELD:
                    raise SlurmError(SlurmRC.ESLURM_ACCESS_DENIED)  # an admin's hold
        if desc.priority == 0:
            desc = replace(desc, alloc_sid=ALLOC_SID_USER_HOLD)  # what a plain user's hold is
        return desc

    async def _own(self, text: str, uid: int, rc: int) -> list[Job]:
        """The jobs a job id text names, all owned by ``uid``; refused otherwise."""
        target = parse_job_id(text, self.ctl.config.max_array_size)
        jobs = self.ctl.jobs.records_for(target)
        if not jobs and self.ctl.mirror is not None:
            await self.ctl.mirror.sync()  # maybe too new for the mirror: look again
            jobs = self.ctl.jobs.records_for(target)
        if not jobs:
            raise SlurmError(SlurmRC.ESLURM_INVALID_JOB_ID)
        if any(j.user_id != uid for j in jobs):
            raise SlurmError(rc)
        return jobs

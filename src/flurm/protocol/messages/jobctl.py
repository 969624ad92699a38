"""Job control bodies of SLURM 22.05: batch script, top, notify, suspend, reboot.

REQUEST_BATCH_SCRIPT 2051 shares JobIdRequest's layout (job_info.py); the rest are here:
RESPONSE_BATCH_SCRIPT 2052, REQUEST_TOP_JOB 5038, REQUEST_JOB_NOTIFY 4022 (also what the controller
sends to a batch job's first node), SRUN_USER_MSG 7005, REQUEST_SUSPEND 5014, REQUEST_SUSPEND_INT
5031 (to slurmd), REQUEST_REBOOT_NODES 1015 (scontrol, and the controller to slurmd).

24.11 packs the script, top, notify and suspend bodies as 22.05 does (the notify's step id carries its
sluid, as every step id of 24.11); 26.05 (from 25.11) drops top's job id and names the job of a suspend
by a whole step id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import NO_VAL, NO_VAL16, SLURM_26_05_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import StepId, pack_job_step, unpack_job_step
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import Reader, Writer

# suspend_msg_t.op (slurm.h suspend_opts)
SUSPEND_JOB = 0
RESUME_JOB = 1

# reboot_msg_t.flags
REBOOT_FLAGS_ASAP = 0x0001


@register(MsgType.RESPONSE_BATCH_SCRIPT)
@dataclass(frozen=True, slots=True)
class BatchScriptResponse(Message):
    """2052: the script as one packed string (alike in 24.11 and 26.05)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    script: str | None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.script)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


@register(MsgType.REQUEST_TOP_JOB)
@dataclass(frozen=True, slots=True)
class TopJobRequest(Message):
    """5038 (scontrol top): u16 op (unused), u32 job_id (NO_VAL; 24.11's scontrol sends 0; gone in
    26.05), str job_id_str ("5,6_2")."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id_str: str | None
    op: int = 0
    job_id: int = NO_VAL

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.op)
        if version < SLURM_26_05_PROTOCOL_VERSION:
            w.u32(self.job_id)
        w.string(self.job_id_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        op = r.u16()
        job_id = r.u32() if version < SLURM_26_05_PROTOCOL_VERSION else NO_VAL
        return cls(r.string(), op, job_id)


@register(MsgType.REQUEST_JOB_NOTIFY)
@dataclass(frozen=True, slots=True)
class JobNotify(Message):
    """4022 (scontrol notify): the step id (the whole job: step NO_VAL) and the message."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    step_id: StepId
    message: str | None

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.string(self.message)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version), r.string())


@register(MsgType.SRUN_USER_MSG)
@dataclass(frozen=True, slots=True)
class SrunUserMsg(Message):
    """7005 to an srun/salloc: u32 job_id, str msg (it prints the message)."""

    job_id: int
    msg: str | None

    def pack(self, w: Writer, version: int) -> None:
        w.u32(self.job_id)
        w.string(self.msg)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u32(), r.string())


@register(MsgType.REQUEST_SUSPEND, MsgType.SRUN_REQUEST_SUSPEND)
@dataclass(frozen=True, slots=True)
class SuspendRequest(Message):
    """5014 (scontrol suspend|resume): u16 op (SUSPEND_JOB/RESUME_JOB), u32 job_id, str job_id_str;
    26.05: the step id (its scontrol sends job NO_VAL, step 0), u16 op, str job_id_str.
    SRUN_REQUEST_SUSPEND 7008 (to the salloc/srun owning the job) has the same layout."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    op: int
    job_id: int = NO_VAL
    job_id_str: str | None = None
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            pack_job_step(w, self.job_id, self.step, version)
            w.u16(self.op)
        else:
            w.u16(self.op)
            w.u32(self.job_id)
        w.string(self.job_id_str)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            job_id, step = unpack_job_step(r, version)
            return cls(r.u16(), job_id, r.string(), step)
        return cls(r.u16(), r.u32(), r.string())


@register(MsgType.REQUEST_SUSPEND_INT)
@dataclass(frozen=True, slots=True)
class SuspendInt(Message):
    """5031 to slurmd: u8 indf_susp, u16 job_core_spec, u32 job_id, u16 op (switch/none adds nothing)."""

    job_id: int
    op: int
    indf_susp: int = 1
    job_core_spec: int = NO_VAL16

    def pack(self, w: Writer, version: int) -> None:
        w.u8(self.indf_susp)
        w.u16(self.job_core_spec)
        w.u32(self.job_id)
        w.u16(self.op)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        indf, spec, job_id, op = r.u8(), r.u16(), r.u32(), r.u16()
        return cls(job_id, op, indf, spec)


@register(MsgType.REQUEST_REBOOT_NODES)
@dataclass(frozen=True, slots=True)
class RebootNodes(Message):
    """1015: str features, u16 flags (ASAP), u32 next_state (NO_VAL: none), str node_list, str reason."""

    node_list: str | None = None
    flags: int = 0
    next_state: int = NO_VAL
    reason: str | None = None
    features: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.features)
        w.u16(self.flags)
        w.u32(self.next_state)
        w.string(self.node_list)
        w.string(self.reason)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        features, flags, next_state = r.string(), r.u16(), r.u32()
        return cls(r.string(), flags, next_state, r.string(), features)

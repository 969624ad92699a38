"""Lookups of a running job or step and changes to the cluster's shape that flurm answers itself:

* REQUEST_JOB_END_TIME 4021 (``slurm_get_rem_time``: scontrol pidinfo, job scripts through libslurm):
  the job_alloc_info_msg_t layout of 4014; answered with SRUN_TIMEOUT 7002.
* REQUEST_JOB_SBCAST_CRED 4023 (``sbcast``): :class:`SbcastCredRequest`.
* REQUEST_STEP_LAYOUT 5021 (``sattach``): a bare step id; RESPONSE_STEP_LAYOUT 5022 the layout.
* REQUEST_UPDATE_JOB_STEP 5007 (``scontrol update StepId=... TimeLimit=``): :class:`UpdateStepRequest`.
* REQUEST_CREATE_NODE 3015 and REQUEST_DELETE_NODE 3014 (``scontrol create/delete node``): the
  update_node_msg_t layout of 3002.
* REQUEST_DELETE_PARTITION 3004 (``scontrol delete PartitionName=``): :class:`DeletePartitionRequest`.
* REQUEST_SET_FS_DAMPENING_FACTOR 1023 (``scontrol fsdampeningfactor N``): a u16.
* REQUEST_STEP_BY_CONTAINER_ID 5008 (24.11 on, ``scrun``): :class:`ContainerIdRequest`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

from flurm.protocol.constants import NO_VAL, SLURM_26_05_PROTOCOL_VERSION, MsgType
from flurm.protocol.messages.base import Message, register
from flurm.protocol.messages.credential import StepId
from flurm.protocol.messages.nodes import UpdateNodeRequest
from flurm.protocol.messages.steps import JobAllocInfoRequest, StepLayout, pack_step_layout
from flurm.protocol.versions import NEWER
from flurm.protocol.wire import DecodeError, Reader, Writer

register(MsgType.REQUEST_JOB_END_TIME)(JobAllocInfoRequest)


@register(MsgType.REQUEST_CREATE_NODE, MsgType.REQUEST_DELETE_NODE)
@dataclass(frozen=True, slots=True)
class NodeChangeRequest(UpdateNodeRequest):
    """3015 (``extra`` holds the node line to create) and 3014 (``node_names`` the nodes to delete)."""


@register(MsgType.REQUEST_JOB_SBCAST_CRED)
@dataclass(frozen=True, slots=True)
class SbcastCredRequest(Message):
    """4023: slurm_selected_step_t: the step id, u32 array_task_id, u32 het_job_offset."""

    step_id: StepId
    array_task_id: int = NO_VAL
    het_job_offset: int = NO_VAL

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)
        w.u32(self.array_task_id)
        w.u32(self.het_job_offset)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version), r.u32(), r.u32())


@register(MsgType.REQUEST_STEP_LAYOUT)
@dataclass(frozen=True, slots=True)
class StepLayoutRequest(Message):
    """5021: slurm_step_id_t."""

    step_id: StepId

    def pack(self, w: Writer, version: int) -> None:
        self.step_id.pack(w, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(StepId.unpack(r, version))


@register(MsgType.RESPONSE_STEP_LAYOUT)
@dataclass(frozen=True, slots=True)
class StepLayoutResponse(Message):
    """5022: pack_slurm_step_layout (u16 1 and the layout)."""

    layout: StepLayout

    def pack(self, w: Writer, version: int) -> None:
        pack_step_layout(w, self.layout, version)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        layout = StepLayout.unpack_optional(r, version)
        if layout is None:
            raise DecodeError("step layout response without a layout")
        return cls(layout)


@register(MsgType.REQUEST_UPDATE_JOB_STEP)
@dataclass(frozen=True, slots=True)
class UpdateStepRequest(Message):
    """5007 (21.08+ layout): u32 job_id, u32 step_id (NO_VAL: every step), u32 time_limit (minutes);
    26.05: the whole step id (sluid, job, step, het component), u32 time_limit."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    job_id: int
    step_id: int = NO_VAL
    time_limit: int = 0
    step: StepId | None = None  # as 26.05 sent it

    def pack(self, w: Writer, version: int) -> None:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            (self.step or StepId(self.job_id, self.step_id)).pack(w, version)
        else:
            w.u32(self.job_id)
            w.u32(self.step_id)
        w.u32(self.time_limit)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        if version >= SLURM_26_05_PROTOCOL_VERSION:
            step = StepId.unpack(r, version)
            return cls(step.job_id, step.step_id, r.u32(), step)
        return cls(r.u32(), r.u32(), r.u32())


@register(MsgType.REQUEST_DELETE_PARTITION)
@dataclass(frozen=True, slots=True)
class DeletePartitionRequest(Message):
    """3004: str name (alike in 24.11 and 26.05)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    name: str | None = None

    def pack(self, w: Writer, version: int) -> None:
        w.string(self.name)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.string())


@register(MsgType.REQUEST_SET_FS_DAMPENING_FACTOR)
@dataclass(frozen=True, slots=True)
class FsDampeningFactorRequest(Message):
    """1023: u16 dampening_factor."""

    factor: int = 1

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.factor)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        return cls(r.u16())


@register(MsgType.REQUEST_STEP_BY_CONTAINER_ID)
@dataclass(frozen=True, slots=True)
class ContainerIdRequest(Message):
    """5008 (24.11 and 26.05 alike): u16 show_flags, str container_id, u32 uid (whose steps)."""

    NEWER_LAYOUTS: ClassVar[frozenset[int]] = frozenset(NEWER)

    container_id: str | None = None
    uid: int = NO_VAL
    show_flags: int = 0

    def pack(self, w: Writer, version: int) -> None:
        w.u16(self.show_flags)
        w.string(self.container_id)
        w.u32(self.uid)

    @classmethod
    def unpack(cls, r: Reader, version: int) -> Self:
        show_flags, container_id = r.u16(), r.string()
        return cls(container_id, r.u32(), show_flags)

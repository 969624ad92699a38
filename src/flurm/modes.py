"""The mode machine: every mode flurm can be in, what each mode does with every kind of request, and the
transitions between modes with their guards. This table is the one place these rules live; the controller,
the CLI, the HTTP API and the docs read it.

Modes
  standalone   flurm is the cluster's controller: it answers, schedules and drives the slurmd nodes.
  shadow       slurmctld rules; flurm mirrors it, answers reads from the mirror and forwards writes to it.
  switching    the takeover is under way: reads are answered from the frozen mirror, writes wait for its end.
  rolled_back  the migration was called off: flurm forwards everything to slurmctld (a transparent proxy).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from flurm.protocol.constants import MsgType


class Mode(StrEnum):
    STANDALONE = "standalone"
    SHADOW = "shadow"
    SWITCHING = "switching"
    ROLLED_BACK = "rolled_back"


class Op(StrEnum):
    """Kinds of requests, each handled per mode."""

    READ = "read"  # squeue, sinfo, scontrol show, ping
    SUBMIT = "submit"  # sbatch, srun/salloc allocations
    CANCEL = "cancel"  # scancel
    UPDATE = "update"  # scontrol hold/release/update
    STEP = "step"  # srun steps inside an allocation
    NODE = "node"  # slurmd and slurmstepd talking to their controller


class Action(StrEnum):
    LOCAL = "local"  # flurm handles it itself
    FORWARD = "forward"  # sent on to slurmctld, its reply relayed unchanged
    HOLD = "hold"  # waits until the mode changes, then is handled by the new mode
    REFUSE = "refuse"  # answered with an error


# What each mode does with each kind of request.
POLICY: dict[Mode, dict[Op, Action]] = {
    Mode.STANDALONE: {
        Op.READ: Action.LOCAL,
        Op.SUBMIT: Action.LOCAL,
        Op.CANCEL: Action.LOCAL,
        Op.UPDATE: Action.LOCAL,
        Op.STEP: Action.LOCAL,
        Op.NODE: Action.LOCAL,
    },
    Mode.SHADOW: {
        Op.READ: Action.LOCAL,
        Op.SUBMIT: Action.FORWARD,
        Op.CANCEL: Action.FORWARD,
        Op.UPDATE: Action.FORWARD,
        Op.STEP: Action.FORWARD,
        Op.NODE: Action.REFUSE,  # the nodes still belong to slurmctld
    },
    Mode.SWITCHING: {
        Op.READ: Action.LOCAL,
        Op.SUBMIT: Action.HOLD,
        Op.CANCEL: Action.HOLD,
        Op.UPDATE: Action.HOLD,
        Op.STEP: Action.HOLD,
        Op.NODE: Action.HOLD,  # slurmd may register with flurm before the switch has finished
    },
    Mode.ROLLED_BACK: {
        Op.READ: Action.FORWARD,
        Op.SUBMIT: Action.FORWARD,
        Op.CANCEL: Action.FORWARD,
        Op.UPDATE: Action.FORWARD,
        Op.STEP: Action.FORWARD,
        Op.NODE: Action.REFUSE,
    },
}


@dataclass(frozen=True, slots=True)
class ModeTraits:
    """What runs in the background in a mode."""

    mirrors: bool  # the mirror loop follows slurmctld
    schedules: bool  # flurm's scheduler starts jobs
    drives_nodes: bool  # flurm talks to slurmd (registration, pings, launches)


TRAITS: dict[Mode, ModeTraits] = {
    Mode.STANDALONE: ModeTraits(mirrors=False, schedules=True, drives_nodes=True),
    Mode.SHADOW: ModeTraits(mirrors=True, schedules=False, drives_nodes=False),
    Mode.SWITCHING: ModeTraits(mirrors=False, schedules=False, drives_nodes=False),
    Mode.ROLLED_BACK: ModeTraits(mirrors=False, schedules=False, drives_nodes=False),
}


class Guard(StrEnum):
    """Conditions a transition needs; the migration code checks each one by name."""

    PREFLIGHT_PASSED = (
        "preflight_passed"  # source reachable, mirror in sync, nodes reachable, endpoint bindable
    )
    SOURCE_STOPPED = "source_stopped"  # slurmctld has shut down and saved its state
    SOURCE_RUNNING = "source_running"  # slurmctld is still up (nothing to lose by going back)
    SOURCE_REACHABLE = "source_reachable"
    MIRROR_IN_SYNC = "mirror_in_sync"


# Allowed transitions and the guards each needs. Anything not listed is refused.
TRANSITIONS: dict[tuple[Mode, Mode], tuple[Guard, ...]] = {
    (Mode.SHADOW, Mode.SWITCHING): (Guard.PREFLIGHT_PASSED,),
    (Mode.SWITCHING, Mode.STANDALONE): (Guard.SOURCE_STOPPED,),
    (Mode.SWITCHING, Mode.SHADOW): (Guard.SOURCE_RUNNING,),  # a takeover that failed before slurmctld stopped
    (Mode.SHADOW, Mode.ROLLED_BACK): (Guard.SOURCE_RUNNING,),
    (Mode.ROLLED_BACK, Mode.SHADOW): (Guard.SOURCE_REACHABLE,),
}

# How each message type is classified. Unlisted types are READ-only replies or errors.
OPERATION_OF: dict[int, Op] = {
    MsgType.REQUEST_PING: Op.READ,
    MsgType.REQUEST_FED_INFO: Op.READ,
    MsgType.REQUEST_JOB_INFO: Op.READ,
    MsgType.REQUEST_JOB_INFO_SINGLE: Op.READ,
    MsgType.REQUEST_JOB_USER_INFO: Op.READ,
    MsgType.REQUEST_NODE_INFO: Op.READ,
    MsgType.REQUEST_NODE_INFO_SINGLE: Op.READ,
    MsgType.REQUEST_PARTITION_INFO: Op.READ,
    MsgType.REQUEST_BUILD_INFO: Op.READ,
    MsgType.REQUEST_AUTH_TOKEN: Op.READ,  # flurm signs it with the cluster's key (forwarded when rolled back)
    MsgType.REQUEST_JOB_READY: Op.STEP,
    MsgType.REQUEST_SUBMIT_BATCH_JOB: Op.SUBMIT,
    MsgType.REQUEST_RESOURCE_ALLOCATION: Op.SUBMIT,
    MsgType.REQUEST_KILL_JOB: Op.CANCEL,
    MsgType.REQUEST_CANCEL_JOB_STEP: Op.CANCEL,
    MsgType.REQUEST_UPDATE_JOB: Op.UPDATE,
    MsgType.REQUEST_UPDATE_NODE: Op.UPDATE,
    MsgType.REQUEST_UPDATE_PARTITION: Op.UPDATE,
    MsgType.REQUEST_CREATE_PARTITION: Op.UPDATE,
    MsgType.REQUEST_JOB_STEP_CREATE: Op.STEP,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION: Op.STEP,
    MsgType.REQUEST_JOB_ALLOCATION_INFO: Op.STEP,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO: Op.STEP,
    MsgType.REQUEST_JOB_STEP_INFO: Op.READ,
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS: Op.NODE,
    MsgType.REQUEST_COMPLETE_BATCH_SCRIPT: Op.NODE,
    MsgType.MESSAGE_EPILOG_COMPLETE: Op.NODE,
    MsgType.REQUEST_STEP_COMPLETE: Op.NODE,
    MsgType.REQUEST_JOB_REQUEUE: Op.NODE,
    MsgType.REQUEST_COMPLETE_PROLOG: Op.NODE,
}


def operation_of(msg_type: int) -> Op:
    return OPERATION_OF.get(msg_type, Op.READ)


def action(mode: Mode, msg_type: int) -> Action:
    return POLICY[mode][operation_of(msg_type)]


class TransitionError(Exception):
    """A mode change the table does not allow, or whose guard does not hold."""

    def __init__(self, current: Mode, target: Mode, reason: str) -> None:
        super().__init__(f"cannot go from {current} to {target}: {reason}")
        self.current = current
        self.target = target
        self.reason = reason


def check_transition(current: Mode, target: Mode, holding: set[Guard]) -> None:
    """Raise TransitionError unless current -> target is allowed and every guard it needs holds."""
    if current == target:
        raise TransitionError(current, target, "already in that mode")
    guards = TRANSITIONS.get((current, target))
    if guards is None:
        allowed = sorted(t.value for (c, t) in TRANSITIONS if c == current)
        raise TransitionError(
            current, target, "not allowed (allowed: " + (", ".join(allowed) or "none") + ")"
        )
    missing = [g.value for g in guards if g not in holding]
    if missing:
        raise TransitionError(current, target, "guard not met: " + ", ".join(missing))


def describe() -> str:
    """The table as text (``flurm modes`` prints it; the docs show it)."""
    ops = list(Op)
    lines = ["mode          " + " ".join(f"{o.value:<8}" for o in ops)]
    for mode in Mode:
        lines.append(f"{mode.value:<13} " + " ".join(f"{POLICY[mode][o].value:<8}" for o in ops))
    lines.append("")
    lines.append("transitions:")
    for (a, b), guards in TRANSITIONS.items():
        lines.append(f"  {a.value} -> {b.value}: " + ", ".join(g.value for g in guards))
    return "\n".join(lines)

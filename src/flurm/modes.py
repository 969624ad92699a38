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

import errno
import re
from dataclasses import dataclass
from enum import StrEnum

from flurm.protocol.constants import MsgType, SlurmRC
from flurm.protocol.errors import FlurmError
from flurm.protocol.messages.admin import REQUEST_FLURM_ADMIN


class Mode(StrEnum):
    STANDALONE = "standalone"
    SHADOW = "shadow"
    SWITCHING = "switching"
    ROLLED_BACK = "rolled_back"


class Op(StrEnum):
    """Kinds of requests, each handled per mode."""

    READ = "read"  # squeue, sinfo, scontrol show, ping
    STATUS = "status"  # reads only the ruling controller can answer: its counters, caches and job scripts
    SUBMIT = "submit"  # sbatch, srun/salloc allocations
    CANCEL = "cancel"  # scancel
    UPDATE = "update"  # scontrol hold/release/update
    STEP = "step"  # srun steps inside an allocation
    NODE = "node"  # slurmd and slurmstepd talking to their controller
    ADMIN = "admin"  # what only an operator may ask of the controller: shutdown, reconfigure, debug levels
    FLURM = "flurm"  # flurm's own administrative RPC (`flurm status`, `flurm takeover`, ...)
    UNCLASSIFIED = "unclassified"  # a type not in OPERATION_OF: refused in every mode (fails closed)


class Action(StrEnum):
    LOCAL = "local"  # flurm handles it itself
    FORWARD = "forward"  # sent on to slurmctld, its reply relayed unchanged
    HOLD = "hold"  # waits until the mode changes, then is handled by the new mode
    REFUSE = "refuse"  # answered with an error


# What each mode does with each kind of request.
POLICY: dict[Mode, dict[Op, Action]] = {
    Mode.STANDALONE: {
        Op.READ: Action.LOCAL,
        Op.STATUS: Action.LOCAL,
        Op.SUBMIT: Action.LOCAL,
        Op.CANCEL: Action.LOCAL,
        Op.UPDATE: Action.LOCAL,
        Op.STEP: Action.LOCAL,
        Op.NODE: Action.LOCAL,
        Op.ADMIN: Action.LOCAL,
        Op.FLURM: Action.LOCAL,
        Op.UNCLASSIFIED: Action.REFUSE,
    },
    Mode.SHADOW: {
        Op.READ: Action.LOCAL,
        Op.STATUS: Action.FORWARD,
        Op.SUBMIT: Action.FORWARD,
        Op.CANCEL: Action.FORWARD,
        Op.UPDATE: Action.FORWARD,
        Op.STEP: Action.FORWARD,
        Op.NODE: Action.REFUSE,  # the nodes still belong to slurmctld
        Op.ADMIN: Action.FORWARD,  # slurmctld rules; the forwarder lets only an operator's through
        Op.FLURM: Action.LOCAL,
        Op.UNCLASSIFIED: Action.REFUSE,
    },
    Mode.SWITCHING: {
        Op.READ: Action.LOCAL,
        Op.STATUS: Action.HOLD,
        Op.SUBMIT: Action.HOLD,
        Op.CANCEL: Action.HOLD,
        Op.UPDATE: Action.HOLD,
        Op.STEP: Action.HOLD,
        Op.NODE: Action.HOLD,  # slurmd may register with flurm before the switch has finished
        Op.ADMIN: Action.HOLD,
        Op.FLURM: Action.LOCAL,  # `flurm takeover` follows the switch through it
        Op.UNCLASSIFIED: Action.REFUSE,
    },
    Mode.ROLLED_BACK: {
        Op.READ: Action.FORWARD,
        Op.STATUS: Action.FORWARD,
        Op.SUBMIT: Action.FORWARD,
        Op.CANCEL: Action.FORWARD,
        Op.UPDATE: Action.FORWARD,
        Op.STEP: Action.FORWARD,
        Op.NODE: Action.REFUSE,
        Op.ADMIN: Action.FORWARD,  # only an operator's (the forwarder refuses anyone else's)
        Op.FLURM: Action.LOCAL,
        Op.UNCLASSIFIED: Action.REFUSE,
    },
}

# The return codes of REFUSE: slurmctld answers a message type it does not know with EINVAL
# (slurmctld_req(): "invalid RPC msg_type"); a type flurm knows but will not take in this mode gets
# ESLURM_NOT_SUPPORTED.
UNCLASSIFIED_RC = errno.EINVAL
REFUSED_RC = SlurmRC.ESLURM_NOT_SUPPORTED


class HealthCheck(StrEnum):
    """What GET /health requires; each mode lists its own (TRAITS)."""

    STORE_WRITABLE = "store_writable"  # flurm's store takes writes
    SOURCE_REACHABLE = "source_reachable"  # slurmctld answers a ping
    MIRROR_FRESH = "mirror_fresh"  # the mirror's last pass is recent
    NODE_UP = "node_up"  # at least one node is up (when the cluster has nodes)


@dataclass(frozen=True, slots=True)
class ModeTraits:
    """What a mode runs in the background, keeps on disk, how flurm starts in it, what health needs."""

    mirrors: bool  # the mirror loop follows slurmctld
    schedules: bool  # flurm's scheduler starts jobs
    drives_nodes: bool  # flurm talks to slurmd (registration, pings, launches)
    uses_source: bool  # flurm talks to slurmctld (the SLURM source): mirror, forwards, takeover
    saves_state: bool  # the cluster's jobs and nodes are written to flurm's store
    resumed: bool  # written to the store as the mode, and a restart resumes it whatever `flurm run` asks
    feeds_accounting: bool  # flurm's records go to slurmdbd (else slurmctld is the one recording)
    started_by: str  # the command that starts flurm in this mode ("": none does)
    health: tuple[HealthCheck, ...]  # what GET /health requires


TRAITS: dict[Mode, ModeTraits] = {
    Mode.STANDALONE: ModeTraits(
        mirrors=False,
        schedules=True,
        drives_nodes=True,
        uses_source=False,
        saves_state=True,
        resumed=True,  # after a takeover flurm owns the cluster: never shadow a stopped slurmctld again
        feeds_accounting=True,
        started_by="flurm run",
        health=(HealthCheck.STORE_WRITABLE, HealthCheck.NODE_UP),
    ),
    Mode.SHADOW: ModeTraits(
        mirrors=True,
        schedules=False,
        drives_nodes=False,
        uses_source=True,
        saves_state=False,  # slurmctld's state is not flurm's to keep
        resumed=False,
        feeds_accounting=False,  # slurmctld records the cluster
        started_by="flurm run --shadow",
        health=(HealthCheck.STORE_WRITABLE, HealthCheck.SOURCE_REACHABLE, HealthCheck.MIRROR_FRESH),
    ),
    Mode.SWITCHING: ModeTraits(
        mirrors=False,
        schedules=False,
        drives_nodes=False,
        uses_source=True,
        saves_state=True,
        resumed=False,  # a restart mid-switch starts as asked: slurmctld's saved state still holds all
        feeds_accounting=False,  # until the takeover ends, slurmctld's records stand
        started_by="",
        health=(HealthCheck.STORE_WRITABLE,),  # slurmctld is stopped on purpose during the switch
    ),
    Mode.ROLLED_BACK: ModeTraits(
        mirrors=False,
        schedules=False,
        drives_nodes=False,
        uses_source=True,
        saves_state=True,
        resumed=False,
        feeds_accounting=False,  # slurmctld records again
        started_by="",
        health=(HealthCheck.STORE_WRITABLE, HealthCheck.SOURCE_REACHABLE),
    ),
}


def run_mode(shadow: bool) -> Mode:
    """The mode `flurm run` (``--shadow``: `flurm run --shadow`) asks for."""
    command = "flurm run --shadow" if shadow else "flurm run"
    return next(m for m in Mode if TRAITS[m].started_by == command)


def start_mode(requested: Mode, saved: object) -> Mode:
    """The mode a start begins in: the store's (``saved``, its "mode" meta) when that mode is resumed,
    else the one asked for."""
    for mode in Mode:
        if saved == mode.value and TRAITS[mode].resumed:
            return mode
    return requested


class Guard(StrEnum):
    """Conditions a transition needs; the migration code checks each one by name."""

    PREFLIGHT_PASSED = (
        "preflight_passed"  # source reachable, mirror in sync, nodes reachable, endpoint bindable
    )
    SOURCE_STOPPED = "source_stopped"  # slurmctld has shut down and saved its state
    SOURCE_RUNNING = "source_running"  # slurmctld is still up (nothing to lose by going back)
    SOURCE_REACHABLE = "source_reachable"
    MIRROR_IN_SYNC = "mirror_in_sync"


class By(StrEnum):
    """Who may make a transition."""

    OPERATOR = "operator"  # asked for over the admin RPC (`flurm mode --set`, `flurm rollback`) or HTTP
    TAKEOVER = "takeover"  # only the takeover makes it (`flurm takeover` starts that)


@dataclass(frozen=True, slots=True)
class Transition:
    guards: tuple[Guard, ...]
    by: By


# Allowed transitions, the guards each needs and who makes it. Anything not listed is refused.
TRANSITIONS: dict[tuple[Mode, Mode], Transition] = {
    (Mode.SHADOW, Mode.SWITCHING): Transition((Guard.PREFLIGHT_PASSED,), By.TAKEOVER),
    (Mode.SWITCHING, Mode.STANDALONE): Transition((Guard.SOURCE_STOPPED,), By.TAKEOVER),
    # a takeover that failed before slurmctld stopped (an operator's request would race the takeover)
    (Mode.SWITCHING, Mode.SHADOW): Transition((Guard.SOURCE_RUNNING,), By.TAKEOVER),
    (Mode.SHADOW, Mode.ROLLED_BACK): Transition((Guard.SOURCE_RUNNING,), By.OPERATOR),
    (Mode.ROLLED_BACK, Mode.SHADOW): Transition((Guard.SOURCE_REACHABLE,), By.OPERATOR),
}

# How each message type flurm takes is classified: every type flurm's handlers answer, every type it
# forwards to slurmctld, and the operator-only types of slurmctld. Any other type is UNCLASSIFIED.
OPERATION_OF: dict[int, Op] = {
    MsgType.REQUEST_PING: Op.READ,
    MsgType.REQUEST_FED_INFO: Op.READ,
    MsgType.REQUEST_JOB_INFO: Op.READ,
    MsgType.REQUEST_JOB_INFO_SINGLE: Op.READ,
    MsgType.REQUEST_JOB_USER_INFO: Op.READ,
    MsgType.REQUEST_NODE_INFO: Op.READ,
    MsgType.REQUEST_NODE_INFO_SINGLE: Op.READ,
    MsgType.REQUEST_PARTITION_INFO: Op.READ,
    MsgType.REQUEST_BUILD_INFO: Op.STATUS,  # slurmctld's debug flags and next job id as of now
    MsgType.REQUEST_AUTH_TOKEN: Op.READ,  # flurm signs it with the cluster's key (forwarded when rolled back)
    MsgType.REQUEST_JOB_READY: Op.STEP,
    MsgType.REQUEST_SUBMIT_BATCH_JOB: Op.SUBMIT,
    MsgType.REQUEST_RESOURCE_ALLOCATION: Op.SUBMIT,
    MsgType.REQUEST_JOB_WILL_RUN: Op.SUBMIT,  # --test-only: checked like a submission
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
    MsgType.REQUEST_COMPLETE_PROLOG: Op.NODE,
    MsgType.REQUEST_SHUTDOWN: Op.ADMIN,
    MsgType.REQUEST_CONTROL: Op.ADMIN,
    MsgType.REQUEST_RECONFIGURE: Op.ADMIN,
    MsgType.REQUEST_TAKEOVER: Op.ADMIN,
    MsgType.REQUEST_SET_DEBUG_LEVEL: Op.ADMIN,
    MsgType.REQUEST_SET_DEBUG_FLAGS: Op.ADMIN,
    MsgType.REQUEST_SET_SCHEDLOG_LEVEL: Op.ADMIN,
    # the rest of what slurmctld 22.05 dispatches (proc_req.c slurmctld_rpcs[])
    MsgType.REQUEST_JOB_REQUEUE: Op.UPDATE,  # scontrol requeue (slurmd's requeue of a failed launch too)
    MsgType.REQUEST_HET_JOB_ALLOCATION: Op.SUBMIT,
    MsgType.REQUEST_SUBMIT_BATCH_HET_JOB: Op.SUBMIT,
    MsgType.REQUEST_BATCH_SCRIPT: Op.STATUS,
    MsgType.REQUEST_SHARE_INFO: Op.STATUS,
    MsgType.REQUEST_PRIORITY_FACTORS: Op.STATUS,
    MsgType.REQUEST_JOB_END_TIME: Op.STATUS,
    MsgType.REQUEST_FRONT_END_INFO: Op.STATUS,
    MsgType.REQUEST_RESERVATION_INFO: Op.READ,
    MsgType.REQUEST_BURST_BUFFER_INFO: Op.STATUS,
    MsgType.REQUEST_BURST_BUFFER_STATUS: Op.STATUS,
    MsgType.REQUEST_TOPO_INFO: Op.STATUS,
    MsgType.REQUEST_STATS_INFO: Op.STATUS,  # a reset of the counters is checked by its handler
    MsgType.REQUEST_LICENSE_INFO: Op.READ,
    MsgType.REQUEST_ASSOC_MGR_INFO: Op.STATUS,
    MsgType.REQUEST_CONTROL_STATUS: Op.STATUS,
    MsgType.REQUEST_TRIGGER_GET: Op.STATUS,
    MsgType.REQUEST_CRONTAB: Op.STATUS,
    MsgType.REQUEST_CONFIG: Op.STATUS,  # configless slurmd and clients fetch their config
    MsgType.REQUEST_STEP_LAYOUT: Op.STEP,
    MsgType.REQUEST_JOB_SBCAST_CRED: Op.STEP,
    MsgType.REQUEST_UPDATE_JOB_STEP: Op.UPDATE,
    MsgType.REQUEST_SUSPEND: Op.UPDATE,
    MsgType.REQUEST_TOP_JOB: Op.UPDATE,
    MsgType.REQUEST_JOB_NOTIFY: Op.UPDATE,
    MsgType.REQUEST_UPDATE_FRONT_END: Op.UPDATE,
    MsgType.REQUEST_CREATE_NODE: Op.UPDATE,
    MsgType.REQUEST_DELETE_NODE: Op.UPDATE,
    MsgType.REQUEST_DELETE_PARTITION: Op.UPDATE,
    MsgType.REQUEST_CREATE_RESERVATION: Op.UPDATE,
    MsgType.REQUEST_UPDATE_RESERVATION: Op.UPDATE,
    MsgType.REQUEST_DELETE_RESERVATION: Op.UPDATE,
    MsgType.REQUEST_TRIGGER_SET: Op.UPDATE,
    MsgType.REQUEST_TRIGGER_CLEAR: Op.UPDATE,
    MsgType.REQUEST_TRIGGER_PULL: Op.UPDATE,
    MsgType.REQUEST_UPDATE_CRONTAB: Op.UPDATE,
    MsgType.REQUEST_REBOOT_NODES: Op.ADMIN,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS: Op.READ,  # slurmctld answers it EINVAL (talking to itself)
    MsgType.REQUEST_SET_FS_DAMPENING_FACTOR: Op.ADMIN,
    MsgType.REQUEST_SIB_JOB_LOCK: Op.ADMIN,  # federation: a sibling controller, as SlurmUser
    MsgType.REQUEST_SIB_JOB_UNLOCK: Op.ADMIN,
    MsgType.REQUEST_CTLD_MULT_MSG: Op.ADMIN,
    MsgType.REQUEST_PERSIST_INIT: Op.ADMIN,
    MsgType.ACCOUNTING_UPDATE_MSG: Op.ADMIN,  # slurmdbd, as SlurmUser
    MsgType.ACCOUNTING_FIRST_REG: Op.ADMIN,
    MsgType.ACCOUNTING_REGISTER_CTLD: Op.ADMIN,
    # types the newer releases' slurmctld takes (24.11: proc_req.c slurmctld_rpcs[]; 26.05 likewise)
    MsgType.REQUEST_KILL_JOBS: Op.CANCEL,  # scancel from 24.11
    MsgType.REQUEST_JOB_STATE: Op.READ,  # squeue --only-job-state
    MsgType.REQUEST_NODE_ALIAS_ADDRS: Op.READ,  # srun asking for its nodes' addresses
    MsgType.REQUEST_STEP_BY_CONTAINER_ID: Op.READ,  # scrun
    MsgType.REQUEST_HOSTLIST_EXPANSION: Op.READ,  # 26.05: hostlist functions of the clients
    MsgType.REQUEST_RESOURCE_LAYOUT: Op.STEP,  # 26.05
    MsgType.REQUEST_TOPO_CONFIG: Op.STATUS,  # 26.05: scontrol show topology
    MsgType.REQUEST_SBCAST_CRED_NO_JOB: Op.STEP,  # sbcast -Z
    MsgType.REQUEST_SET_SUSPEND_EXC_NODES: Op.ADMIN,  # scontrol update SuspendExcNodes=
    MsgType.REQUEST_SET_SUSPEND_EXC_PARTS: Op.ADMIN,
    MsgType.REQUEST_SET_SUSPEND_EXC_STATES: Op.ADMIN,
    MsgType.REQUEST_DBD_RELAY: Op.ADMIN,  # slurmdbd messages relayed through slurmctld
    MsgType.REQUEST_PERSIST_INIT_TLS: Op.ADMIN,
    MsgType.REQUEST_TLS_CERT: Op.NODE,  # a slurmd asking for its certificate
    MsgType.RESPONSE_UPDATE_JOB_MEM: Op.NODE,  # 26.05: slurmd reporting a job's memory
    REQUEST_FLURM_ADMIN: Op.FLURM,
}


# Every request type slurmctld 22.05 dispatches (src/slurmctld/proc_req.c, slurmctld_rpcs[]): each is
# classified above, and each is answered (tests/integration/test_every_request_answered.py).
SLURMCTLD_2205_REQUESTS: tuple[MsgType, ...] = (
    MsgType.REQUEST_RESOURCE_ALLOCATION,
    MsgType.REQUEST_HET_JOB_ALLOCATION,
    MsgType.REQUEST_BUILD_INFO,
    MsgType.REQUEST_JOB_INFO,
    MsgType.REQUEST_JOB_USER_INFO,
    MsgType.REQUEST_JOB_INFO_SINGLE,
    MsgType.REQUEST_BATCH_SCRIPT,
    MsgType.REQUEST_SHARE_INFO,
    MsgType.REQUEST_PRIORITY_FACTORS,
    MsgType.REQUEST_JOB_END_TIME,
    MsgType.REQUEST_FED_INFO,
    MsgType.REQUEST_FRONT_END_INFO,
    MsgType.REQUEST_NODE_INFO,
    MsgType.REQUEST_NODE_INFO_SINGLE,
    MsgType.REQUEST_PARTITION_INFO,
    MsgType.MESSAGE_EPILOG_COMPLETE,
    MsgType.REQUEST_CANCEL_JOB_STEP,
    MsgType.REQUEST_COMPLETE_JOB_ALLOCATION,
    MsgType.REQUEST_COMPLETE_PROLOG,
    MsgType.REQUEST_COMPLETE_BATCH_SCRIPT,
    MsgType.REQUEST_JOB_STEP_CREATE,
    MsgType.REQUEST_JOB_STEP_INFO,
    MsgType.REQUEST_JOB_WILL_RUN,
    MsgType.REQUEST_SIB_JOB_LOCK,
    MsgType.REQUEST_SIB_JOB_UNLOCK,
    MsgType.REQUEST_CTLD_MULT_MSG,
    MsgType.MESSAGE_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_JOB_ALLOCATION_INFO,
    MsgType.REQUEST_HET_JOB_ALLOC_INFO,
    MsgType.REQUEST_JOB_SBCAST_CRED,
    MsgType.REQUEST_PING,
    MsgType.REQUEST_RECONFIGURE,
    MsgType.REQUEST_CONTROL,
    MsgType.REQUEST_TAKEOVER,
    MsgType.REQUEST_SHUTDOWN,
    MsgType.REQUEST_SUBMIT_BATCH_JOB,
    MsgType.REQUEST_SUBMIT_BATCH_HET_JOB,
    MsgType.REQUEST_UPDATE_FRONT_END,
    MsgType.REQUEST_UPDATE_JOB,
    MsgType.REQUEST_CREATE_NODE,
    MsgType.REQUEST_UPDATE_NODE,
    MsgType.REQUEST_DELETE_NODE,
    MsgType.REQUEST_CREATE_PARTITION,
    MsgType.REQUEST_UPDATE_PARTITION,
    MsgType.REQUEST_DELETE_PARTITION,
    MsgType.REQUEST_CREATE_RESERVATION,
    MsgType.REQUEST_UPDATE_RESERVATION,
    MsgType.REQUEST_DELETE_RESERVATION,
    MsgType.REQUEST_RESERVATION_INFO,
    MsgType.REQUEST_NODE_REGISTRATION_STATUS,
    MsgType.REQUEST_SUSPEND,
    MsgType.REQUEST_TOP_JOB,
    MsgType.REQUEST_AUTH_TOKEN,
    MsgType.REQUEST_JOB_REQUEUE,
    MsgType.REQUEST_JOB_READY,
    MsgType.REQUEST_BURST_BUFFER_INFO,
    MsgType.REQUEST_STEP_COMPLETE,
    MsgType.REQUEST_STEP_LAYOUT,
    MsgType.REQUEST_UPDATE_JOB_STEP,
    MsgType.REQUEST_CONFIG,
    MsgType.REQUEST_TRIGGER_SET,
    MsgType.REQUEST_TRIGGER_GET,
    MsgType.REQUEST_TRIGGER_CLEAR,
    MsgType.REQUEST_TRIGGER_PULL,
    MsgType.REQUEST_JOB_NOTIFY,
    MsgType.REQUEST_SET_DEBUG_FLAGS,
    MsgType.REQUEST_SET_DEBUG_LEVEL,
    MsgType.REQUEST_SET_SCHEDLOG_LEVEL,
    MsgType.ACCOUNTING_UPDATE_MSG,
    MsgType.ACCOUNTING_FIRST_REG,
    MsgType.ACCOUNTING_REGISTER_CTLD,
    MsgType.REQUEST_TOPO_INFO,
    MsgType.REQUEST_REBOOT_NODES,
    MsgType.REQUEST_STATS_INFO,
    MsgType.REQUEST_LICENSE_INFO,
    MsgType.REQUEST_KILL_JOB,
    MsgType.REQUEST_ASSOC_MGR_INFO,
    MsgType.REQUEST_PERSIST_INIT,
    MsgType.REQUEST_SET_FS_DAMPENING_FACTOR,
    MsgType.REQUEST_CONTROL_STATUS,
    MsgType.REQUEST_BURST_BUFFER_STATUS,
    MsgType.REQUEST_CRONTAB,
    MsgType.REQUEST_UPDATE_CRONTAB,
)


# The request types slurmctld 24.11 and 26.05 take beyond 22.05's (and those they no longer take).
SLURMCTLD_2411_NEW_REQUESTS: tuple[MsgType, ...] = (
    MsgType.REQUEST_DBD_RELAY,
    MsgType.REQUEST_JOB_STATE,
    MsgType.REQUEST_KILL_JOBS,
    MsgType.REQUEST_NODE_ALIAS_ADDRS,
    MsgType.REQUEST_PERSIST_INIT_TLS,
    MsgType.REQUEST_SBCAST_CRED_NO_JOB,
    MsgType.REQUEST_SET_SUSPEND_EXC_NODES,
    MsgType.REQUEST_SET_SUSPEND_EXC_PARTS,
    MsgType.REQUEST_SET_SUSPEND_EXC_STATES,
    MsgType.REQUEST_STEP_BY_CONTAINER_ID,
    MsgType.REQUEST_TLS_CERT,
)
SLURMCTLD_2605_NEW_REQUESTS: tuple[MsgType, ...] = (
    MsgType.REQUEST_HOSTLIST_EXPANSION,
    MsgType.REQUEST_RESOURCE_LAYOUT,
    MsgType.REQUEST_TOPO_CONFIG,
    MsgType.RESPONSE_UPDATE_JOB_MEM,
)
SLURMCTLD_2605_GONE_REQUESTS: tuple[MsgType, ...] = (
    MsgType.REQUEST_FRONT_END_INFO,
    MsgType.REQUEST_UPDATE_FRONT_END,
    MsgType.REQUEST_PERSIST_INIT_TLS,
)
SLURMCTLD_2411_REQUESTS = (*SLURMCTLD_2205_REQUESTS, *SLURMCTLD_2411_NEW_REQUESTS)
SLURMCTLD_2605_REQUESTS = tuple(
    t
    for t in (*SLURMCTLD_2411_REQUESTS, *SLURMCTLD_2605_NEW_REQUESTS)
    if t not in SLURMCTLD_2605_GONE_REQUESTS
)


def operation_of(msg_type: int) -> Op:
    return OPERATION_OF.get(msg_type, Op.UNCLASSIFIED)


def action(mode: Mode, msg_type: int) -> Action:
    return POLICY[mode][operation_of(msg_type)]


def refusal_rc(msg_type: int) -> int:
    """The return code a refused request is answered with."""
    return UNCLASSIFIED_RC if operation_of(msg_type) == Op.UNCLASSIFIED else REFUSED_RC


class TransitionError(FlurmError):
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
    transition = TRANSITIONS.get((current, target))
    if transition is None:
        allowed = sorted(t.value for (c, t) in TRANSITIONS if c == current)
        raise TransitionError(
            current, target, "not allowed (allowed: " + (", ".join(allowed) or "none") + ")"
        )
    missing = [g.value for g in transition.guards if g not in holding]
    if missing:
        raise TransitionError(current, target, "guard not met: " + ", ".join(missing))


def check_operator_request(current: Mode, target: Mode) -> None:
    """Raise TransitionError unless an operator may ask for current -> target (its guards are checked
    when it is made)."""
    transition = TRANSITIONS.get((current, target))
    if transition is not None and transition.by != By.OPERATOR:
        raise TransitionError(current, target, f"only the {transition.by} makes it: use `flurm takeover`")
    if transition is None:
        check_transition(current, target, set())  # says why not


def _cell(ok: bool) -> str:
    return "yes" if ok else "-"


def _trait_rows() -> list[tuple[str, list[str]]]:
    """(what, one value per mode) for every trait."""
    t = TRAITS
    return [
        ("mirrors slurmctld", [_cell(t[m].mirrors) for m in Mode]),
        ("schedules", [_cell(t[m].schedules) for m in Mode]),
        ("drives slurmd", [_cell(t[m].drives_nodes) for m in Mode]),
        ("talks to slurmctld", [_cell(t[m].uses_source) for m in Mode]),
        ("saves jobs and nodes", [_cell(t[m].saves_state) for m in Mode]),
        ("resumed by a restart", [_cell(t[m].resumed) for m in Mode]),
        ("started by", [t[m].started_by or "-" for m in Mode]),
        ("health needs", [", ".join(h.value for h in t[m].health) for m in Mode]),
    ]


def _types_of(op: Op) -> list[str]:
    names = {int(t): t.name for t in MsgType}
    names[REQUEST_FLURM_ADMIN] = f"REQUEST_FLURM_ADMIN ({REQUEST_FLURM_ADMIN:#x})"
    return [names.get(t, f"{t:#x}") for t, o in OPERATION_OF.items() if o == op]


def describe() -> str:
    """The table as text (``flurm modes`` prints it)."""
    ops = list(Op)
    width = max(len(o.value) for o in ops) + 1
    lines = ["op" + " " * (width - 2) + " ".join(f"{m.value:<12}" for m in Mode)]
    for op in ops:
        lines.append(f"{op.value:<{width}}" + " ".join(f"{POLICY[m][op].value:<12}" for m in Mode))
    lines.append("")
    for what, cells in _trait_rows():
        lines.append(f"{what}: " + "; ".join(f"{m.value} {c}" for m, c in zip(Mode, cells, strict=True)))
    lines.append("")
    lines.append("transitions:")
    for (a, b), tr in TRANSITIONS.items():
        lines.append(
            f"  {a.value} -> {b.value} (by the {tr.by.value}): " + ", ".join(g.value for g in tr.guards)
        )
    lines.append("")
    lines.append("message types:")
    for op in ops:
        names = _types_of(op)
        lines.append(f"  {op.value}: " + (", ".join(names) if names else "every other type"))
    lines.append(f"refused: rc {UNCLASSIFIED_RC} (EINVAL) for an unclassified type, else {int(REFUSED_RC)}")
    return "\n".join(lines)


def markdown() -> str:
    """The table as Markdown (``flurm modes --markdown``; docs/migration.md holds it between markers)."""
    modes = [m.value for m in Mode]
    out = ["| request | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for op in Op:
        out.append(f"| {op.value} | " + " | ".join(POLICY[m][op].value for m in Mode) + " |")
    for what, cells in _trait_rows():
        out.append(f"| *{what}* | " + " | ".join(cells) + " |")
    out += ["", "| transition | guards | made by |", "|---|---|---|"]
    for (a, b), tr in TRANSITIONS.items():
        out.append(f"| {a.value} -> {b.value} | {', '.join(g.value for g in tr.guards)} | {tr.by.value} |")
    out += ["", "| request | message types |", "|---|---|"]
    for op in Op:
        names = _types_of(op)
        out.append(f"| {op.value} | " + (", ".join(f"`{n}`" for n in names) or "every other type") + " |")
    out += [
        "",
        f"A refused request is answered with `EINVAL` ({UNCLASSIFIED_RC}) when its type is unclassified, as"
        " slurmctld answers a type it does not know, else with `ESLURM_NOT_SUPPORTED`"
        f" ({int(REFUSED_RC)}).",
    ]
    return "\n".join(out)


MARKDOWN_BEGIN = "<!-- mode table: generated by `flurm modes --markdown`; do not edit -->"
MARKDOWN_END = "<!-- end of mode table -->"


def with_markdown_table(doc: str) -> str:
    """``doc`` with the text between the markers replaced by :func:`markdown`."""
    pattern = re.compile(re.escape(MARKDOWN_BEGIN) + ".*?" + re.escape(MARKDOWN_END), re.DOTALL)
    if not pattern.search(doc):
        raise ValueError("the mode table's markers are missing")
    return pattern.sub(lambda _: f"{MARKDOWN_BEGIN}\n{markdown()}\n{MARKDOWN_END}", doc)


# Bodies only SlurmUser or root may have decoded: the request of anyone else is refused (EACCES, as its
# handler refuses it) before its body is read into records. slurmdbd's association updates may be 16 MiB
# (protocol/limits.py), which would cost anyone who sent one its decoding on the event loop.
DECODED_FOR_ADMINS_ONLY: frozenset[int] = frozenset({MsgType.ACCOUNTING_UPDATE_MSG})

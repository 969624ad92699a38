"""The takeover's accounting part against a fake slurmdbd peer (the real one: the integration tests): the
pre-flight's slurmdbd check, slurmctld's unsent records (dbd.messages) queued before flurm's own and the
file renamed once flurm holds them, the nodes' states taken as what slurmdbd knows; and dbd.messages'
layout, every cut of it a DecodeError."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from test_takeover import Setup

from flurm.migration import dbd_messages
from flurm.migration.dbd_messages import DbdMessages, decode_dbd_messages, encode_dbd_messages
from flurm.modes import Mode
from flurm.protocol.wire import Bitmap, DecodeError

V = 0x2600
RECORDS = [struct.pack(">H", 1424) + b"job complete", struct.pack(">H", 1441) + b"step start"]


@dataclass
class FakeDbd:
    """What the takeover asks of accounting; ``steps`` is the takeover's own list (the order of it all)."""

    steps: list[str]
    reachable: bool = True
    version: int = V
    taken: list[bytes] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return "dbd.example:6819"

    async def probe(self) -> str:
        self.steps.append("probe slurmdbd")
        if not self.reachable:
            raise ConnectionRefusedError(111, "Connect call failed")
        return "slurmdbd answers"

    def take_records(self, version: int, records: Sequence[bytes]) -> None:
        if version != self.version:
            raise ValueError(f"packed for protocol {version:#06x}")
        self.steps.append(f"take {len(records)} records")
        self.taken += records

    def baseline_nodes(self) -> None:
        self.steps.append("baseline nodes")

    def take_unrecorded_jobs(self) -> int:
        self.steps.append("unrecorded jobs")
        return 0


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Setup, FakeDbd]]:
    s = Setup(tmp_path)
    dbd = FakeDbd(s.steps)
    s.takeover.accounting = dbd
    yield s, dbd
    s.close()


def state_dir(s: Setup) -> Path:
    return Path(s.ctl.config.state_save_location)


def test_slurmdbd_unreachable_fails_the_preflight_naming_where(setup: tuple[Setup, FakeDbd]) -> None:
    s, dbd = setup
    dbd.reachable = False
    result = asyncio.run(s.takeover.run())
    assert not result.ok and result.error == "pre-flight failed"
    failed = [c for c in result.checks if not c.ok]
    assert [c.name for c in failed] == ["slurmdbd_reachable"]
    assert failed[0].detail.startswith("slurmdbd at dbd.example:6819: ConnectionRefusedError")
    assert "mode switching" not in s.steps and s.ctl.mode == Mode.SHADOW


def test_without_accounting_there_is_no_slurmdbd_check(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    try:
        result = asyncio.run(s.takeover.run(dry_run=True))
    finally:
        s.close()
    assert "slurmdbd_reachable" not in [c.name for c in result.checks]


def test_slurmctld_s_unsent_records_go_first_and_the_file_is_renamed_once_durable(
    setup: tuple[Setup, FakeDbd],
) -> None:
    s, dbd = setup
    path = state_dir(s) / "dbd.messages"
    path.write_bytes(encode_dbd_messages(V, RECORDS))
    result = asyncio.run(s.takeover.run())
    assert result.ok, result
    assert dbd.taken == RECORDS
    steps = s.steps
    # taken while the mode still says slurmctld's records stand, before anything of flurm's; the file is
    # renamed only once flurm's store holds them
    first, then = steps.index("take 2 records"), steps.index("unrecorded jobs")
    assert first < then < steps.index("mode standalone")
    names = [(e.step, e.status) for e in s.takeover.events]
    assert names.index(("persist", "ok")) < names.index(("accounting", "info"))
    assert not path.exists()
    assert (state_dir(s) / "dbd.messages.taken-by-flurm").read_bytes() == encode_dbd_messages(V, RECORDS)
    assert any("2 records slurmctld had not sent" in e.detail for e in s.takeover.events)


def test_records_of_another_layout_are_left_in_the_file_and_said(setup: tuple[Setup, FakeDbd]) -> None:
    s, dbd = setup
    path = state_dir(s) / "dbd.messages"
    path.write_bytes(encode_dbd_messages(0x2A00, RECORDS))
    result = asyncio.run(s.takeover.run())
    assert result.ok  # slurmctld is gone: the takeover goes on, and says what it left
    assert dbd.taken == [] and path.exists()
    failed = [e.detail for e in s.takeover.events if e.step == "accounting" and e.status == "failed"]
    assert failed == ["2 unsent records in slurmctld's dbd.messages left there: packed for protocol 0x2a00"]


def test_an_empty_file_or_none_is_nothing_to_send(setup: tuple[Setup, FakeDbd]) -> None:
    s, dbd = setup
    (state_dir(s) / "dbd.messages").write_bytes(b"")  # slurmctld's file after a stop with nothing left
    assert asyncio.run(s.takeover.run()).ok
    assert dbd.taken == [] and (state_dir(s) / "dbd.messages").exists()
    assert "baseline nodes" in s.steps


def test_the_layout_round_trips() -> None:
    data = encode_dbd_messages(V, RECORDS)
    # u32 size in host order, the packed "VER9728", the end mark
    assert data[4:8] == struct.pack(">I", 8) and data[8:16] == b"VER9728\0"
    assert decode_dbd_messages(data) == DbdMessages(V, tuple(RECORDS))
    assert decode_dbd_messages(b"") == DbdMessages(0, ())


@pytest.mark.parametrize("cut", range(1, len(encode_dbd_messages(V, RECORDS))))
def test_every_cut_is_a_decode_error(cut: int) -> None:
    data = encode_dbd_messages(V, RECORDS)
    if cut in _record_ends(data):
        assert len(decode_dbd_messages(data[:cut]).records) < len(RECORDS)  # whole records: fewer
        return
    with pytest.raises(DecodeError):
        decode_dbd_messages(data[:cut])


def _record_ends(data: bytes) -> set[int]:
    ends, pos = set(), 0
    while pos < len(data):
        size = int.from_bytes(data[pos : pos + 4], "little")
        pos += 4 + size + 4
        ends.add(pos)
    return ends


@pytest.mark.parametrize(
    "bad",
    [
        struct.pack("<I", 2) + b"ab" + struct.pack("<I", 0xDEAD3219),  # no version string
        encode_dbd_messages(V, [b"x"]),  # a record without a message type
        encode_dbd_messages(V, [])[:-1] + b"\0",  # a wrong end mark
        struct.pack("<I", dbd_messages.MAX_RECORD + 1),  # a record too large
    ],
)
def test_malformed_files_are_decode_errors(bad: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_dbd_messages(bad)


def test_running_srun_steps_join_the_adopted_job_s_step_table() -> None:
    from dataclasses import replace

    from flurm.config import parse_text
    from flurm.controller.steps import JobSteps
    from flurm.migration import saved_state, statefile
    from flurm.protocol.constants import SLURM_BATCH_SCRIPT, JobState
    from flurm.state.cluster import Cluster

    golden = Path(__file__).resolve().parents[1] / "golden" / "statefile" / "job_state"
    saved_file = statefile.decode_job_state(golden.read_bytes())
    running = saved_file.job(1)  # the golden's two-node job: its batch step only
    (batch,) = running.steps
    srun = replace(
        batch,
        step_id=0,
        name="bash",
        host="login1",
        port=40001,
        srun_pid=77,
        memory_allocated=(100,),
        core_bitmap_job=Bitmap(8, 0x01),  # of the job's cores (4 on each node): core 0 of the first node
    )
    saved = replace(running, steps=(batch, srun), next_step_id=1)
    config = parse_text(
        "ClusterName=c\nSlurmctldHost=localhost\nNodeName=compute-node-[1-2] CPUs=4\n"
        "PartitionName=debug Nodes=ALL Default=YES\n"
    )
    job = saved_state.job_from_saved(saved, Cluster(config, None, lambda: 0))
    assert saved_state.take_steps(job, saved) == 1
    table = JobSteps.of(job)
    assert list(table.steps) == [0] and SLURM_BATCH_SCRIPT not in table.steps  # the batch step: not kept
    step = table.steps[0]
    assert (step.nodes, step.tids, step.name, step.addr, step.port) == (
        ("compute-node-1",),
        ((0,),),
        "bash",
        "login1",
        40001,
    )
    assert (step.mem, step.start_time, table.next_step_id) == ((100,), batch.start_time, 1)
    assert step.cores == ((0,),)
    assert saved_state.take_steps(job, saved) == 0  # once
    pending = replace(saved, job_state=int(JobState.PENDING))
    fresh = saved_state.job_from_saved(pending, Cluster(config, None, lambda: 0))
    assert saved_state.take_steps(fresh, pending) == 0  # a job not running has none

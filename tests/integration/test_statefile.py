"""flurm.migration.statefile against the real thing: slurmctld 22.05 saves its jobs on SIGTERM, we read them.

One cluster (real slurmctld, two slurmd of 4 CPUs and 1000 MB each, memory a consumable resource) gets a
mix of jobs: running on two nodes, running with -c 2, an array with running and throttled pending tasks,
held, pending on a dependency or a begin time, completed, failed, cancelled, and one submitted just
before the stop. ``scontrol -d show job -o`` and ``scontrol write batch_script`` are recorded, slurmctld
is stopped with SIGTERM (the same path REQUEST_SHUTDOWN takes), and StateSaveLocation/job_state and
the script/environment files are compared with what slurmctld showed, field by field.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hostlist
import pytest

from flurm.config import hostlists
from flurm.migration.statefile import (
    JobStateFile,
    SavedJob,
    read_job_environment,
    read_job_script,
    read_job_state,
)
from flurm.protocol.constants import (
    INFINITE,
    MEM_PER_CPU,
    NO_VAL,
    REASON_TEXT,
    SLURM_BATCH_SCRIPT,
    JobState,
)
from harness.loopback import SlurmCluster, cluster

EXTRA_CONF = "MinJobAge=600\nKillWait=2\nSelectTypeParameters=CR_Core_Memory\nDefMemPerCPU=100"
_FIELD = re.compile(r"([\w:/]+)=(.*?)(?= [\w:/]+=|\s*$)")
_DETAIL = re.compile(r"Nodes=(\S+) CPU_IDs=(\S*) Mem=(\d+)")
_STATE_NAME = {JobState.COMPLETE: "COMPLETED", JobState.OOM: "OUT_OF_MEMORY"}
SCRIPT = '#!/bin/sh\n# a script file with arguments\necho "$@"\nsleep 300\n'


@dataclass
class Captured:
    shown: dict[int, dict[str, str]]  # scontrol show job, by JobId
    details: dict[int, list[tuple[str, str, int]]]  # -d lines: (nodes, CPU_IDs, Mem)
    scripts: dict[int, str]  # scontrol write batch_script, by job id
    ids: dict[str, int]
    state: JobStateFile
    state_dir: Path  # a copy of StateSaveLocation
    mode: int  # permission bits of job_state
    stopped_at: int


def _show(c: SlurmCluster) -> tuple[dict[int, dict[str, str]], dict[int, list[tuple[str, str, int]]]]:
    out = c.run("scontrol", "-d", "show", "job", "-o").check().stdout
    shown: dict[int, dict[str, str]] = {}
    details: dict[int, list[tuple[str, str, int]]] = {}
    for line in out.splitlines():
        if not line.strip():
            continue
        fields = {k: v.strip() for k, v in _FIELD.findall(line)}
        job_id = int(fields["JobId"])
        shown[job_id] = fields
        details[job_id] = [(n, cpus, int(mem)) for n, cpus, mem in _DETAIL.findall(line)]
    return shown, details


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captured]:
    work = Path("/tmp/flurm-statefile-test")  # short, machine-independent paths in the records
    work.mkdir(exist_ok=True)
    (work / "job.sh").write_text(SCRIPT)
    keep = tmp_path_factory.mktemp("statefile")
    with cluster("slurmctld", nodes=2, cpus=4, extra_conf=EXTRA_CONF) as c:
        c.wait_ready()

        def sb(*args: str) -> int:
            return c.sbatch("-D", str(work), "-o", "/dev/null", *args)

        ids: dict[str, int] = {}
        ids["done"] = sb("-J", "done", "--wrap", "true")
        ids["failed"] = sb("-J", "failed", "--wrap", "exit 3")
        ids["cancelled"] = sb("-H", "-J", "cancelled", "--wrap", "true")
        c.run("scancel", str(ids["cancelled"])).check()
        c.wait_state(ids["done"], ["COMPLETED"])
        c.wait_state(ids["failed"], ["FAILED"])
        c.wait_state(ids["cancelled"], ["CANCELLED"])
        ids["two"] = sb("-N", "2", "--mem=100", "-t", "10", "--comment=two nodes", "--wrap", "sleep 300")
        ids["cpus"] = sb(
            "-c", "2", "--mem=200", "-t", "5", "--mail-type=END", "--mail-user=a@b", "--wrap", "sleep 300"
        )
        ids["array"] = sb("--array=0-5%2", "-t", "3", "--wrap", "sleep 300")
        ids["held"] = sb(
            "-H", "--nice=10", "-J", "held", "-x", "compute-node-2", "--comment=on hold",
            str(work / "job.sh"), "alpha", "beta",
        )  # fmt: skip
        ids["dep"] = sb(
            f"--dependency=afterok:{ids['two']}", "--export=ALL,FLURM_MARK=dep-42", "--wrap", "true"
        )
        ids["begin"] = sb("--begin=now+1hour", "-n", "2", "-t", "1-00:00:00", "--wrap", "true")
        for name in ("two", "cpus"):
            c.wait_state(ids[name], ["RUNNING"])
        for task in (0, 1):
            c.wait_state(f"{ids['array']}_{task}", ["RUNNING"])
        shown, details = _show(c)
        scripts = {}
        for name in ("held", "dep", "array"):
            scripts[ids[name]] = (
                c.run("scontrol", "write", "batch_script", str(ids[name]), "-").check().stdout
            )
        # the last one: accepted an instant before the stop, so only the shutdown save can hold it
        ids["last"] = sb("-H", "-J", "last", "--wrap", "true")
        pid = int((c.dir / "run" / "slurmctld.pid").read_text())
        stopped_at = int(time.time())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists():
            assert time.monotonic() < deadline, "slurmctld did not exit after SIGTERM"
            time.sleep(0.05)
        state_dir = c.dir / "state"
        mode = stat.S_IMODE((state_dir / "job_state").stat().st_mode)
        shutil.copytree(state_dir, keep / "state")
    yield Captured(
        shown, details, scripts, ids, read_job_state(keep / "state"), keep / "state", mode, stopped_at
    )


def _ts(t: int) -> str:
    return "Unknown" if t == 0 else time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t))


def _minutes(m: int) -> str:
    if m == INFINITE:
        return "UNLIMITED"
    days, rest = divmod(m, 24 * 60)
    hms = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{hms}" if days else hms


def _exit(status: int) -> str:
    return f"{status >> 8 & 0xFF}:{status & 0x7F}"


def _ids(text: str) -> tuple[int, ...]:
    """ "0-1,3" -> (0, 1, 3)"""
    out: list[int] = []
    for part in filter(None, text.split(",")):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return tuple(out)


def _null(v: str | None) -> str:
    return "(null)" if v is None else v


def _compare(j: SavedJob, s: dict[str, str]) -> None:
    d = j.details
    assert d is not None
    assert s["JobName"] == j.name
    assert s["UserId"] == f"root({j.user_id})" and s["GroupId"] == f"root({j.group_id})"
    assert int(s["Priority"]) == j.priority
    assert int(s["Nice"]) == j.nice == d.nice_value
    assert s["JobState"] == _STATE_NAME.get(j.base_state, j.base_state.name)
    assert s["Reason"] == (j.state_desc or REASON_TEXT[j.state_reason])
    assert s["Dependency"] == _null(d.dependency)
    assert int(s["Requeue"]) == d.requeue and int(s["Restarts"]) == j.restart_cnt
    assert int(s["BatchFlag"]) == j.batch_flag and int(s["Reboot"]) == j.reboot
    assert s["ExitCode"] == _exit(j.exit_code) and s["DerivedExitCode"] == _exit(j.derived_ec)
    if j.time_limit != NO_VAL:  # NO_VAL: scontrol shows the partition's limit (UNLIMITED here)
        assert s["TimeLimit"] == _minutes(j.time_limit)
    else:
        assert s["TimeLimit"] == "UNLIMITED"
    assert s["SubmitTime"] == _ts(j.submit_time) and s["EligibleTime"] == _ts(j.eligible_time)
    assert s["AccrueTime"] == _ts(d.accrue_time) and s["LastSchedEval"] == _ts(j.last_sched_eval)
    assert s["Partition"] == j.partition
    assert s["AllocNode:Sid"] == f"{j.alloc_node}:{j.alloc_sid}"
    assert s["ReqNodeList"] == _null(d.req_nodes) and s["ExcNodeList"] == _null(d.exc_nodes)
    assert s["CPUs/Task"] == str(d.cpus_per_task_value)
    assert int(s["MinCPUsNode"]) == d.pn_min_cpus
    if d.pn_min_memory & MEM_PER_CPU:
        assert s["MinMemoryCPU"] == f"{d.pn_min_memory & ~MEM_PER_CPU}M"
    else:
        assert s["MinMemoryNode"] == f"{d.pn_min_memory}M"
    assert s["Features"] == _null(d.features) and int(s["Contiguous"]) == d.contiguous
    assert s["WorkDir"] == d.work_dir and s["StdIn"] == d.std_in and s["StdOut"] == d.std_out
    assert s["Command"] == (" ".join(d.argv) if d.argv else "(null)")
    assert s.get("Comment") == j.comment
    if j.mail_type:
        assert s["MailUser"] == j.mail_user and s["MailType"] == "END" and j.mail_type == 2
    assert s["TRES"] == (j.tres_fmt_alloc_str or j.tres_fmt_req_str)
    if not j.is_pending():
        assert s["StartTime"] == _ts(j.start_time) and s["EndTime"] == _ts(j.end_time)
        assert s["NodeList"] == (j.nodes or "") and s.get("BatchHost") == j.batch_host
    if j.nodes:  # it held an allocation
        assert int(s["NumNodes"]) == j.total_nodes and int(s["NumCPUs"]) == j.total_cpus


def test_every_job_matches_scontrol(captured: Captured) -> None:
    by_id = {j.job_id: j for j in captured.state.jobs}
    assert set(by_id) == set(captured.shown) | {captured.ids["last"]}
    for job_id, s in captured.shown.items():
        _compare(by_id[job_id], s)


def test_header(captured: Captured) -> None:
    st = captured.state
    assert st.version_str == "PROTOCOL_VERSION" and st.protocol_version == 0x2600
    assert st.time >= captured.stopped_at  # written on the way out
    assert st.job_id_sequence >= max(j.job_id for j in st.jobs) + 1
    assert captured.mode == 0o600  # readable by SlurmUser only
    assert (captured.state_dir / "job_state.old").exists()


def test_last_job_only_in_the_shutdown_save(captured: Captured) -> None:
    last = captured.state.job(captured.ids["last"])
    assert last.name == "last" and last.is_held()
    assert (
        read_job_script(captured.state_dir, last.script_job_id)
        == "#!/bin/sh\n# This script was created by sbatch --wrap.\n\ntrue\n"
    )


def test_allocations(captured: Captured) -> None:
    for name in ("two", "cpus"):
        j = captured.state.job(captured.ids[name])
        assert j.is_running() and j.job_resources is not None
        r = j.job_resources
        names = hostlists.expand(r.nodes or "")
        assert names == hostlist.expand_hostlist(j.nodes)
        cores = dict(zip(names, r.cores_by_node(), strict=True))
        mem = dict(zip(names, r.memory_allocated, strict=True))
        cpus = dict(zip(names, r.cpus, strict=True))
        seen = set()
        for group, cpu_ids, shown_mem in captured.details[j.job_id]:
            for node in hostlist.expand_hostlist(group):
                seen.add(node)
                assert cores[node] == _ids(cpu_ids)
                assert mem[node] == shown_mem
                assert cpus[node] == len(cores[node])  # one thread per core
        assert seen == set(names)
        (step,) = j.steps
        assert step.step_id == SLURM_BATCH_SCRIPT and step.layout is not None
        assert step.layout.node_list == j.batch_host
    two = captured.state.job(captured.ids["two"])
    assert two.job_resources is not None and two.job_resources.memory_allocated == (100, 100)
    assert two.details is not None and (two.details.min_nodes, two.details.pn_min_memory) == (2, 100)
    wide = captured.state.job(captured.ids["cpus"])
    assert wide.details is not None and wide.details.cpus_per_task == 2
    assert wide.job_resources is not None and wide.job_resources.cpus == (2,)
    assert wide.job_resources.memory_allocated == (200,)


def test_array(captured: Captured) -> None:
    array_id = captured.ids["array"]
    records = [j for j in captured.state.jobs if j.array_job_id == array_id]
    meta = [j for j in records if j.is_array_meta()]
    tasks = sorted((j for j in records if not j.is_array_meta()), key=lambda j: j.array_task_id)
    assert len(meta) == 1 and meta[0].job_id == array_id
    assert meta[0].array is not None and meta[0].array.max_run_tasks == 2
    assert meta[0].array.pending_task_ids == (2, 3, 4, 5)
    assert captured.shown[array_id]["ArrayTaskId"] == "2-5%2"
    assert [t.array_task_id for t in tasks] == [0, 1] and all(t.is_running() for t in tasks)
    for t in tasks:
        s = captured.shown[t.job_id]
        assert (int(s["ArrayJobId"]), int(s["ArrayTaskId"])) == (t.array_job_id, t.array_task_id)
        assert t.script_job_id == array_id
    assert read_job_script(captured.state_dir, array_id) == captured.scripts[array_id]


def test_finished(captured: Captured) -> None:
    done = captured.state.job(captured.ids["done"])
    failed = captured.state.job(captured.ids["failed"])
    cancelled = captured.state.job(captured.ids["cancelled"])
    assert done.base_state == JobState.COMPLETE and done.exit_code == 0
    assert failed.base_state == JobState.FAILED and failed.exit_code >> 8 == 3
    assert (
        cancelled.base_state == JobState.CANCELLED
        and cancelled.nodes is None
        and cancelled.job_resources is None
    )
    assert cancelled.start_time == cancelled.end_time > 0  # cancelled while pending: both are the cancel time
    assert failed.end_time >= failed.start_time > 0


def test_pending_scripts_and_environment(captured: Captured) -> None:
    held = captured.state.job(captured.ids["held"])
    assert held.is_held() and held.details is not None
    assert held.details.argv == (str(Path("/tmp/flurm-statefile-test/job.sh")), "alpha", "beta")
    assert held.details.exc_nodes == "compute-node-2" and held.comment == "on hold"
    assert read_job_script(captured.state_dir, held.job_id) == SCRIPT == captured.scripts[held.job_id]
    dep = captured.state.job(captured.ids["dep"])
    assert dep.details is not None and dep.details.dependency == f"afterok:{captured.ids['two']}(unfulfilled)"
    assert read_job_script(captured.state_dir, dep.job_id) == captured.scripts[dep.job_id]
    env = read_job_environment(captured.state_dir, dep.job_id)
    assert env is not None and "FLURM_MARK=dep-42" in env
    assert any(e.startswith("SLURM_CONF=") for e in env) and all("=" in e for e in env)
    begin = captured.state.job(captured.ids["begin"])
    assert begin.details is not None and begin.details.num_tasks == 2
    assert begin.time_limit == 24 * 60 and begin.eligible_time >= captured.stopped_at + 3500
    assert captured.shown[begin.job_id]["NumTasks"] == "2"
    for j in captured.state.jobs:
        if j.is_pending():
            assert read_job_script(captured.state_dir, j.script_job_id) is not None
            assert read_job_environment(captured.state_dir, j.script_job_id)

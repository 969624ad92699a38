"""The migration rehearsal (`make demo`, scripts/rehearsal.sh) end to end: real munged, slurmctld, slurmd and
clients on loopback, flurm in shadow with its HTTP API, deploy/docker/scripts/test-migration.sh through all
eight phases, the takeover with test_long running included. Every phase must pass, the results file must be
well formed, and nothing the rehearsal started may be left behind.

JOB_MINUTE_SECONDS=3 shortens the test jobs (test_long: 90 s), so the whole run takes about two minutes.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PHASES = {
    1: "SLURM cluster",
    2: "test jobs submitted to slurmctld",
    3: "flurm in shadow mode",
    4: "import from slurmctld",
    5: "traffic switched to flurm",
    6: "original jobs still tracked",
    7: "new jobs through flurm, then the takeover",
    8: "summary",
}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    results = tmp_path_factory.mktemp("rehearsal") / "migration.json"
    env = {**os.environ, "RESULTS_FILE": str(results), "JOB_MINUTE_SECONDS": "3"}
    env.pop("SLURM_CONF", None)
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "rehearsal.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )
    return proc, results


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return proc.stdout + proc.stderr


def test_every_phase_passes(rehearsal: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, results = rehearsal
    doc = json.loads(results.read_text())
    failed = [
        f"phase {c['phase']}: {c['name']}: {c['detail']}" for c in doc["checks"] if c["result"] != "PASS"
    ]
    assert not failed, "\n".join(failed) + "\n" + output(proc)[-4000:]
    assert proc.returncode == 0, output(proc)[-4000:]
    assert doc["result"] == "PASS"
    assert [(p["phase"], p["title"], p["result"]) for p in doc["phases"]] == [
        (n, title, "PASS") for n, title in PHASES.items()
    ]
    for phase in doc["phases"]:
        assert phase["checks"] > 0 and phase["failed"] == 0, phase


def test_results_file_is_well_formed(rehearsal: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results = rehearsal
    doc: dict[str, Any] = json.loads(results.read_text())
    assert set(doc) >= {"test", "started_at", "finished_at", "duration_seconds", "environment", "result"}
    assert set(doc) >= {"passed", "failed", "phases", "checks"}
    assert doc["passed"] + doc["failed"] == len(doc["checks"]) >= 50
    assert doc["environment"]["job_minute_seconds"] == 3
    assert doc["environment"]["slurmctld"].startswith("127.0.0.1:")
    for check in doc["checks"]:
        assert set(check) == {"name", "phase", "result", "detail", "duration"}, check
        assert isinstance(check["name"], str) and check["name"]
        assert check["phase"] in PHASES
        assert check["result"] in ("PASS", "FAIL")
        assert isinstance(check["detail"], str)
        assert isinstance(check["duration"], int | float) and check["duration"] >= 0
    names = [c["name"] for c in doc["checks"]]
    assert len(names) == len(set(names)), "check names are unique"
    assert [c["phase"] for c in doc["checks"]] == sorted(c["phase"] for c in doc["checks"])


def test_the_checks_that_matter_ran(rehearsal: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _, results = rehearsal
    doc = json.loads(results.read_text())
    by_name = {c["name"]: c for c in doc["checks"]}

    def one(pattern: str) -> dict[str, Any]:
        found = [c for name, c in by_name.items() if re.fullmatch(pattern, name)]
        assert len(found) == 1, (pattern, sorted(by_name))
        return found[0]

    assert one(r"GET /health is 200 and healthy")["phase"] == 3
    assert one(r"POST /api/import with the token \(trigger-import\.sh\)")["phase"] == 4
    # every job, node and partition compared one by one, through the API and through scontrol
    imported = [
        c for c in doc["checks"] if c["phase"] == 4 and re.match(r"(job|node|partition) \S+: ", c["name"])
    ]
    kinds = {(c["name"].split()[0], "API" in c["name"]) for c in imported}
    assert kinds == {(k, api) for k in ("job", "node", "partition") for api in (True, False)}
    # test_short, test_long and the array (its tasks split off as they start) on both comparisons
    assert len([c for c in imported if c["name"].startswith("job ")]) >= 2 * 3
    assert one(r"sbatch through flurm \(forwarded to slurmctld\)")["phase"] == 5
    assert one(r"job \d+ \(POST /api/jobs\) is scheduled and completes")["phase"] == 7
    takeover = one(r"POST /api/takeover \(slurmctld stops, flurm takes its port\)")
    assert "mode: standalone" in takeover["detail"] and "running job(s) adopted" in takeover["detail"]
    long_done = one(r"test_long \(\d+\) completes under flurm with exit code 0:0")
    assert "not restarted" in long_done["detail"]
    assert one(r"a new job after the takeover is scheduled by flurm and completes")["phase"] == 7


def test_phases_are_printed_as_they_run(rehearsal: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = rehearsal
    out = output(proc)
    positions = [out.find(f"== Phase {n}: {title} ==") for n, title in PHASES.items()]
    assert all(p >= 0 for p in positions) and positions == sorted(positions), out[-3000:]
    assert re.search(r"^  PASS  slurmctld answers scontrol ping \(\d+\.\d+s\)", out, re.M)
    assert re.search(r"^PASS: \d+ passed, 0 failed in [\d.]+ s", out, re.M)


def test_nothing_is_left_behind(rehearsal: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    proc, _ = rehearsal
    m = re.search(r"loopback cluster under (/tmp/flurm-rehearsal\.\S+):", output(proc))
    assert m, output(proc)[-2000:]
    root = m.group(1)
    assert not Path(root).exists()
    leftovers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if root in cmdline or root in environ:
            leftovers.append(f"{entry.name}: {cmdline}")
    assert not leftovers

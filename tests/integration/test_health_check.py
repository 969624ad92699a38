"""HealthCheckProgram runs every HealthCheckInterval, the controller asking slurmd (REQUEST_HEALTH_CHECK).

slurmd runs the program once by itself when it starts; every later run is the controller's doing.
The program appends a line to a file per run: under slurmctld and under flurm alike the file grows
past that first line, and from its third run on the program's own ``scontrol update ...
state=drain`` drains the node with its reason, as a real health check does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import poll

from harness.loopback import SlurmCluster
from harness.loopback import cluster as loopback_cluster

SCRIPT = """#!/bin/sh
echo run >> {dir}/runs
if [ "$(wc -l < {dir}/runs)" -ge 3 ] && [ -f {dir}/conf ]; then
    SLURM_CONF="$(cat {dir}/conf)" scontrol update nodename=compute-node-1 state=drain \\
        reason="health check failed"
fi
"""


@contextlib.contextmanager
def checked_cluster(controller: str) -> Iterator[tuple[SlurmCluster, Path]]:
    work = Path(tempfile.mkdtemp(prefix=f"flurm-health-{controller}-"))
    work.chmod(0o755)
    script = work / "check.sh"
    script.write_text(SCRIPT.format(dir=work))
    os.chmod(script, 0o755)
    conf = f"HealthCheckProgram={script}\nHealthCheckInterval=2\nHealthCheckNodeState=ANY"
    try:
        with loopback_cluster(controller, nodes=1, cpus=2, extra_conf=conf) as c:
            (work / "conf").write_text(str(c.conf))  # the program's scontrol talks to this cluster
            yield c, work / "runs"
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("controller", ["slurmctld", "flurm"])
def test_health_check_program_runs_every_interval(controller: str) -> None:
    with checked_cluster(controller) as (c, runs):

        def count() -> int:
            with contextlib.suppress(OSError):
                return len(runs.read_text().splitlines())
            return 0

        poll(f"[{controller}] three runs of the health check program", lambda: count() >= 3, timeout=60)

        def drained() -> bool:
            r = c.run("sinfo", "-h", "-N", "-o", "%N %t %E")
            return r.stdout.split(maxsplit=2)[1:] == ["drain", "health check failed\n"]

        poll(f"[{controller}] node drained by the health check", drained, timeout=30)

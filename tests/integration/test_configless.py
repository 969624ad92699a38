"""Configless: a slurmd with no slurm.conf of its own fetches it from the controller and runs jobs.

``SlurmctldParameters=enable_configless``; compute-node-1 runs from the cluster's slurm.conf as
usual, compute-node-2's slurmd is started with ``--conf-server 127.0.0.1:PORT`` only
(harness.launcher.start_configless_slurmd): it sends REQUEST_CONFIG, writes what RESPONSE_CONFIG
carries to its conf-cache, registers and runs a batch job, under slurmctld and under flurm alike.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from parity import poll

from harness import launcher
from harness.loopback import SlurmCluster

CONFIGLESS_NODE = "compute-node-2"


class ConfiglessCluster(SlurmCluster):
    """Two nodes; the launcher leaves compute-node-2 alone, the test starts it configless."""

    def start_daemons(self) -> None:
        assert self._settings is not None
        self._settings = dataclasses.replace(self._settings, configless_nodes=(CONFIGLESS_NODE,))
        super().start_daemons()

    def node_state(self, node: str) -> str:
        return self.run("sinfo", "-h", "-N", "-n", node, "-o", "%t").stdout.strip()

    def wait_ready(self, timeout: float = 30.0) -> None:
        poll(f"[{self.controller}] compute-node-1 idle", lambda: self.node_state("compute-node-1") == "idle")


@contextlib.contextmanager
def configless_cluster(
    controller: str, includes: dict[str, str] | None = None, beside: dict[str, str] | None = None
) -> Iterator[ConfiglessCluster]:
    """``includes``: files written beside slurm.conf, which Include's each by its bare name; ``beside``:
    other files written beside it."""
    tmp = Path(tempfile.mkdtemp(prefix=f"flurm-it-{controller}-"))
    os.chmod(tmp, 0o755)
    (tmp / "etc").mkdir()
    for name, text in {**(includes or {}), **(beside or {})}.items():
        (tmp / "etc" / name).write_text(text)
    extra = "".join(f"\nInclude {name}" for name in includes or {})
    c = ConfiglessCluster(
        tmp, controller, nodes=2, cpus=2, extra_conf="SlurmctldParameters=enable_configless" + extra
    )
    try:
        c.start()
        if controller == "slurmctld":
            c.wait_ready()
        yield c
    finally:
        c.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("controller", ["slurmctld", "flurm"])
def test_configless_slurmd_registers_and_runs_a_job(controller: str) -> None:
    with configless_cluster(controller) as c:
        launcher.start_configless_slurmd(c.dir, CONFIGLESS_NODE, c.ctld_port)
        poll(
            f"[{controller}] {CONFIGLESS_NODE} idle",
            lambda: c.node_state(CONFIGLESS_NODE) == "idle",
            timeout=60,
        )
        cache = c.dir / "spool" / CONFIGLESS_NODE / "conf-cache" / "slurm.conf"
        assert cache.read_text() == c.conf.read_text()
        job = c.sbatch(
            "-w", CONFIGLESS_NODE, "-o", "configless.out", "--wrap", "echo ran on $SLURMD_NODENAME"
        )
        assert c.wait_state(job, ["COMPLETED", "FAILED"]) == "COMPLETED"
        assert (c.jobs_dir / "configless.out").read_text() == f"ran on {CONFIGLESS_NODE}\n"


@pytest.mark.parametrize("controller", ["slurmctld", "flurm"])
def test_configless_slurmd_gets_the_files_slurm_conf_includes(controller: str) -> None:
    """slurm.conf Include's a file beside it: the configless slurmd gets it too (without it, its
    copy of slurm.conf would not parse and it would not start)."""
    included = {"nodes-extra.conf": "# sent along with slurm.conf\n"}
    with configless_cluster(controller, included) as c:
        launcher.start_configless_slurmd(c.dir, CONFIGLESS_NODE, c.ctld_port)
        poll(
            f"[{controller}] {CONFIGLESS_NODE} idle",
            lambda: c.node_state(CONFIGLESS_NODE) == "idle",
            timeout=60,
        )
        cache = c.dir / "spool" / CONFIGLESS_NODE / "conf-cache"
        assert (cache / "nodes-extra.conf").read_text() == included["nodes-extra.conf"]


@pytest.mark.parametrize("controller", ["slurmctld", "flurm"])
def test_configless_slurmd_gets_the_files_gres_conf_includes(controller: str) -> None:
    """gres.conf Include's a file beside it by its bare name: slurmctld reads gres.conf for its Include's
    (gres_parse_config_dummy) and sends the file along, nested Include's too."""
    beside = {
        "gres.conf": "# GPUs are listed elsewhere\nInclude gres-nodes.conf\n",
        "gres-nodes.conf": "Include gres-more.conf\n",
        "gres-more.conf": "# nothing here\n",
    }
    with configless_cluster(controller, beside=beside) as c:
        launcher.start_configless_slurmd(c.dir, CONFIGLESS_NODE, c.ctld_port)
        poll(
            f"[{controller}] {CONFIGLESS_NODE} idle",
            lambda: c.node_state(CONFIGLESS_NODE) == "idle",
            timeout=60,
        )
        cache = c.dir / "spool" / CONFIGLESS_NODE / "conf-cache"
        for name, text in beside.items():
            assert (cache / name).read_text() == text, name

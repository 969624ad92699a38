"""deploy/docker: the migration test environment's files are consistent with one another.

Docker is not available where the tests run, so this checks what can be checked without it: every file a
Dockerfile copies exists, the images are Debian 12 with SLURM from Debian's packages, the compose services,
addresses, ports, volumes and commands are the ones documented, and the defaults of scripts/lib.sh (which the
loopback rehearsal overrides) are the compose values. The slurm.conf templates, rendered with those defaults,
are read by flurm's own slurm.conf reader.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from flurm.config import load

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "deploy" / "docker"
COMPOSE = DOCKER / "docker-compose.migration.yml"
IN_IMAGE = "/opt/migration/"  # where the Dockerfiles put deploy/docker's scripts, config and jobs

SERVICES = {
    # service: (address on migration-net, exposed ports, host name)
    "slurm-controller": ("172.30.0.10", {"6817", "6820", "8080"}, "slurm-controller"),
    "slurm-node": ("172.30.0.11", {"6818"}, "compute-node-1"),
    "test-runner": ("172.30.0.100", set(), "test-runner"),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def defaults() -> dict[str, str]:
    """scripts/lib.sh's settings in a clean environment: what the containers get."""
    names = [
        "CLUSTER_NAME SLURMCTLD_HOST SLURMCTLD_ADDR SLURMCTLD_PORT SLURMD_PORT NODE_NAME NODE_HOSTNAME",
        "NODE_ADDR NODE_CPUS FLURM_ADDR FLURM_PORT FLURM_HTTP_PORT FLURM_HTTP_HOST FLURM_LISTEN",
        "FLURM_STATE_DIR FLURM_API_TOKEN_FILE SECRETS_DIR JOBS_DIR CLUSTER_CONF CLIENT_CONF MUNGE_SOCKET",
        "JOB_MINUTE_SECONDS MIGRATION_ROOT",
    ]
    script = f". {shlex.quote(str(DOCKER / 'scripts' / 'lib.sh'))}; " + "".join(
        f'printf "%s=%s\\n" {n} "${{{n}}}"; ' for n in " ".join(names).split()
    )
    out = subprocess.run(
        ["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def dockerfile_of(service: dict[str, Any]) -> tuple[Path, Path]:
    build = service["build"]
    context = (DOCKER / build["context"]).resolve()
    return context, context / build["dockerfile"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, f"{dockerfile}: dangling continuation"
    return out


def copy_sources(args: str) -> list[str]:
    """The source paths of a COPY/ADD line (shell or JSON form, flags dropped): all words but the target."""
    words = json.loads(args) if args.startswith("[") else shlex.split(args)
    words = [w for w in words if not w.startswith("--")]
    assert len(words) >= 2, f"COPY/ADD needs a source and a target: {args}"
    return words[:-1]


def test_the_four_services_and_the_network(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"slurm-controller", "slurm-node", "flurm-controller", "test-runner"}
    net = compose["networks"]["migration-net"]
    assert net["ipam"]["config"] == [{"subnet": "172.30.0.0/16"}]
    for name, (addr, ports, host) in SERVICES.items():
        svc = services[name]
        assert svc["networks"]["migration-net"]["ipv4_address"] == addr, name
        assert set(svc.get("expose", [])) == ports, name
        assert svc["hostname"] == host, name
    # flurm lives in slurm-controller's network namespace: slurmctld's address is its address, so it can
    # own SlurmctldHost:SlurmctldPort after the takeover; its name resolves to that namespace
    flurm = services["flurm-controller"]
    assert flurm["network_mode"] == "service:slurm-controller"
    assert "networks" not in flurm and "expose" not in flurm and "ports" not in flurm
    assert "flurm-controller" in services["slurm-controller"]["networks"]["migration-net"]["aliases"]
    addresses = [s["networks"]["migration-net"]["ipv4_address"] for s in services.values() if "networks" in s]
    assert len(addresses) == len(set(addresses))


def test_start_order_waits_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    deps = {name: svc.get("depends_on", {}) for name, svc in services.items()}
    assert deps["slurm-controller"] == {}
    assert deps["slurm-node"] == {"slurm-controller": {"condition": "service_healthy"}}
    assert set(deps["flurm-controller"]) == {"slurm-controller", "slurm-node"}
    assert set(deps["test-runner"]) == {"slurm-controller", "slurm-node", "flurm-controller"}
    for name, dep in deps.items():
        assert all(d == {"condition": "service_healthy"} for d in dep.values()), name


def test_commands_and_health_checks_are_scripts_of_the_repo(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        health = svc["healthcheck"]["test"]
        assert health[0] == "CMD" and health[2] == name, name
        for path in (svc["command"][0], health[1]):
            assert path.startswith(IN_IMAGE + "scripts/"), path
            local = DOCKER / path.removeprefix(IN_IMAGE)
            assert local.is_file() and os.access(local, os.X_OK), f"{name}: {local} missing or not executable"


def test_volumes_are_declared_and_mounted_where_the_scripts_look(
    compose: dict[str, Any], defaults: dict[str, str]
) -> None:
    declared = set(compose["volumes"])
    where = {
        "secrets": defaults["SECRETS_DIR"],
        "slurmctld-state": "/var/spool/slurmctld",
        "flurm-state": defaults["FLURM_STATE_DIR"],
        "job-files": defaults["JOBS_DIR"],
    }
    assert declared == set(where)
    used = set()
    for name, svc in compose["services"].items():
        for spec in svc.get("volumes", []):
            source, target = spec.split(":")[:2]
            if source.startswith("."):
                assert (name, target) == ("test-runner", IN_IMAGE + "test-results")
                continue
            assert source in declared, f"{name}: undeclared volume {source}"
            assert target == where[source], f"{name}: {source} mounted at {target}"
            used.add((name, source))
    # what must be shared, is: the MUNGE key everywhere, slurmctld's saved state with flurm (the takeover
    # reads it), the job files between the node that writes them and the runner that checks them
    assert {(s, "secrets") for s in compose["services"]} <= used
    assert {("slurm-controller", "slurmctld-state"), ("flurm-controller", "slurmctld-state")} <= used
    assert {("slurm-node", "job-files"), ("test-runner", "job-files")} <= used
    env = compose["services"]["test-runner"]["environment"]
    assert env["RESULTS_FILE"] == IN_IMAGE + "test-results/migration.json"
    assert env["JOB_MINUTE_SECONDS"] == "${JOB_MINUTE_SECONDS:-60}"


def test_every_file_the_dockerfiles_copy_exists(compose: dict[str, Any]) -> None:
    seen = set()
    for name, svc in compose["services"].items():
        context, dockerfile = dockerfile_of(svc)
        assert context == REPO, f"{name}: build context is the repository root"
        assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
        seen.add(dockerfile.name)
        copies = [args for word, args in instructions(dockerfile) if word in ("COPY", "ADD")]
        assert copies, dockerfile
        for args in copies:
            for src in copy_sources(args):
                matches = list(context.glob(src.rstrip("/"))) if any(c in src for c in "*?[") else []
                path = context / src
                assert path.exists() or matches, f"{dockerfile.name}: COPY {src} does not exist"
    assert seen == {"Dockerfile.slurm-full", "Dockerfile.flurm-migration", "Dockerfile.test-runner"}


def test_images_are_debian_12_with_debian_packages(compose: dict[str, Any]) -> None:
    for svc in compose["services"].values():
        _, dockerfile = dockerfile_of(svc)
        steps = instructions(dockerfile)
        froms = [args for word, args in steps if word == "FROM"]
        assert froms and all(
            f.split()[0] in ("debian:12-slim", "debian:12", "debian:bookworm-slim") for f in froms
        )
        runs = " && ".join(args for word, args in steps if word == "RUN")
        for command in runs.split("&&"):
            if "apt-get install" in command:
                assert "--no-install-recommends" in command, f"{dockerfile.name}: {command}"
        assert "munge" in runs
        if "slurm-full" in dockerfile.name:
            assert all(p in runs for p in ("slurmctld", "slurmd", "slurm-client"))
        else:
            # flurm from this repository, with pip, in a virtual environment
            assert "pip install" in runs and "/src/flurm" in runs


def test_script_defaults_are_the_compose_values(compose: dict[str, Any], defaults: dict[str, str]) -> None:
    services = compose["services"]
    ctld, node = services["slurm-controller"], services["slurm-node"]
    assert defaults["MIGRATION_ROOT"] == ""
    assert defaults["SLURMCTLD_ADDR"] == ctld["networks"]["migration-net"]["ipv4_address"]
    assert defaults["SLURMCTLD_HOST"] == ctld["hostname"]
    assert defaults["NODE_ADDR"] == node["networks"]["migration-net"]["ipv4_address"]
    assert defaults["NODE_HOSTNAME"] == node["hostname"] == defaults["NODE_NAME"] == "compute-node-1"
    assert defaults["FLURM_ADDR"] == defaults["SLURMCTLD_ADDR"]  # the shared network namespace
    assert {defaults["SLURMCTLD_PORT"], defaults["FLURM_PORT"], defaults["FLURM_HTTP_PORT"]} == set(
        ctld["expose"]
    )
    assert (defaults["SLURMCTLD_PORT"], defaults["SLURMD_PORT"]) == ("6817", "6818")
    assert (defaults["FLURM_PORT"], defaults["FLURM_HTTP_PORT"]) == ("6820", "8080")
    assert defaults["JOB_MINUTE_SECONDS"] == "60"


def test_environment_overrides_the_defaults() -> None:
    """The rehearsal sets its own ports: the environment wins over config/flurm-migration.env."""
    lib = shlex.quote(str(DOCKER / "scripts" / "lib.sh"))
    script = f". {lib}; echo $FLURM_PORT $FLURM_HTTP_PORT $SLURMCTLD_ADDR"
    env = {"PATH": os.environ["PATH"], "FLURM_PORT": "23001", "SLURMCTLD_ADDR": "127.0.0.1"}
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["23001", "8080", "127.0.0.1"]


def render(template: str, root: Path, extra: dict[str, str] | None = None) -> Path:
    out = root / "out.conf"
    script = (
        f". {shlex.quote(str(DOCKER / 'scripts' / 'lib.sh'))}; "
        f"render_conf {shlex.quote(str(DOCKER / 'config' / template))} {shlex.quote(str(out))}"
    )
    env = {"PATH": os.environ["PATH"], **(extra or {})}
    subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)
    return out


def test_cluster_conf_renders_to_what_flurm_reads(tmp_path: Path, defaults: dict[str, str]) -> None:
    config = load(render("slurm-migration.conf", tmp_path))
    assert config.cluster_name == "migration"
    assert [(h.name, h.addr) for h in config.control_hosts] == [("slurm-controller", "172.30.0.10")]
    assert config.slurmctld_addresses() == (("172.30.0.10", 6817),)
    assert config.slurmd_port == 6818
    assert config.munge_socket == defaults["MUNGE_SOCKET"] == "/run/munge/munge.sock"
    assert config.state_save_location == "/var/spool/slurmctld"
    (node,) = config.nodes
    assert (node.name, node.hostname, node.addr) == ("compute-node-1", "compute-node-1", "172.30.0.11")
    assert [p.name for p in config.partitions] == ["debug"]
    assert config.proctrack_type == "proctrack/linuxproc"  # no cgroups in containers


def test_loopback_rendering_differs_only_in_addresses_ports_and_paths(tmp_path: Path) -> None:
    compose_text = render("slurm-migration.conf", tmp_path).read_text()
    loop_env = {
        "MIGRATION_ROOT": "/tmp/rehearsal",
        "SLURMCTLD_HOST": "localhost",
        "SLURMCTLD_ADDR": "127.0.0.1",
        "NODE_HOSTNAME": "localhost",
        "NODE_ADDR": "127.0.0.1",
        "SLURMCTLD_PORT": "23001",
        "SLURMD_PORT": "23002",
    }
    loop = load(render("slurm-migration.conf", tmp_path, loop_env))
    assert loop.slurmctld_addresses() == (("127.0.0.1", 23001),)
    assert loop.state_save_location == "/tmp/rehearsal/var/spool/slurmctld"
    loop_text = (tmp_path / "out.conf").read_text()
    changed = [
        (a, b) for a, b in zip(compose_text.splitlines(), loop_text.splitlines(), strict=True) if a != b
    ]
    keys = {a.split("=", 1)[0] for a, _ in changed}
    assert keys == {
        "SlurmctldHost",
        "SlurmctldPort",
        "SlurmdPort",
        "AuthInfo",
        "AuthAltParameters",  # the JWT key's path
        "StateSaveLocation",
        "SlurmdSpoolDir",
        "SlurmctldPidFile",
        "SlurmdPidFile",
        "SlurmctldLogFile",
        "SlurmdLogFile",
        "NodeName",
    }


def test_client_conf_renders_and_names_the_same_controller(tmp_path: Path) -> None:
    client = load(render("slurm-client.conf", tmp_path))
    assert client.slurmctld_addresses() == (("172.30.0.10", 6817),)
    assert client.cluster_name == "migration"
    assert client.munge_socket == "/run/munge/munge.sock"


def test_an_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    template = tmp_path / "bad.conf"
    template.write_text("ClusterName=@CLUSTER_NAME@\nSlurmctldPort=@NO_SUCH_SETTING@\n")
    script = f". {shlex.quote(str(DOCKER / 'scripts' / 'lib.sh'))}; render_conf {template} {tmp_path / 'o'}"
    r = subprocess.run(
        ["bash", "-c", script], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True
    )
    assert r.returncode != 0 and "@NO_SUCH_SETTING@" in r.stderr


def test_test_jobs_are_the_seed_jobs_and_shorten_with_one_variable() -> None:
    jobs = {p.name: p.read_text() for p in (DOCKER / "jobs").glob("*.sh")}
    assert set(jobs) == {"test_short.sh", "test_long.sh", "test_array.sh"}
    assert "for i in 1 2 3 4 5; do" in jobs["test_short.sh"]  # 5 minutes
    assert "seq 1 30" in jobs["test_long.sh"]  # 30 minutes
    assert "#SBATCH --array=1-5" in jobs["test_array.sh"]  # 5 tasks
    for name, text in jobs.items():
        assert "minute=${JOB_MINUTE_SECONDS:-60}" in text, name
        assert text.startswith("#!/bin/bash\n#SBATCH --job-name="), name


def test_the_seed_scripts_exist() -> None:
    names = {
        "test-migration.sh",
        "start-slurm-controller.sh",
        "start-slurm-node.sh",
        "start-flurm-shadow.sh",
        "start-flurm-active.sh",
        "submit-test-jobs.sh",
        "verify-import.sh",
        "switch-traffic.sh",
        "trigger-import.sh",
    }
    for name in names:
        path = DOCKER / "scripts" / name
        assert path.is_file() and os.access(path, os.X_OK), name
        assert path.read_text().startswith("#!/usr/bin/env bash\n"), name
    for name in ("config/slurm-migration.conf", "config/slurm-client.conf", "config/cgroup.conf"):
        assert (DOCKER / name).is_file(), name
    assert (DOCKER / "config" / "flurm-migration.env").is_file()

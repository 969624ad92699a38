"""Capture real GRES traffic of one SLURM release: slurmctld <-> slurmd, slurmctld <-> clients, and the
state files slurmctld saves, for the GRES codecs' golden files.

    python tests/golden/gres/capture.py RELEASE WORKDIR OUTDIR [--base PORT]

RELEASE is 22.05 (the host's), 24.11 or 26.05 (slurmctld, slurmd and clients from its chroot,
harness/releases.py). The cluster is harness/launcher.py's with two nodes of 2 sockets x 2 cores and
GresTypes=gpu,shard:

    compute-node-1  Gres=gpu:tesla:2          gres.conf File=WORKDIR/dev/nvidia[0-1]
    compute-node-2  Gres=gpu:a100:2,shard:4   File=WORKDIR/dev/nvidia2 Cores=0-1 Links=-1,0,
                                              File=WORKDIR/dev/nvidia3 Cores=2-3 Links=0,-1; shard Count=4

The device files are character devices (major 195, as NVIDIA's) made here; nothing opens them. slurmd
and the clients read WORKDIR/etc/slurm.conf (SlurmctldPort=BASE+2); slurmctld reads a copy
(SlurmctldPort=BASE, each node's Port= its proxy's). harness/capture_proxy.py proxies BASE+2 -> BASE
("ctld-*": slurmd, slurmstepd, srun, sbatch... to slurmctld) and BASE+20+i -> BASE+10+i ("slurmdN-*":
slurmctld to node N's slurmd). PrologFlags=Alloc, so slurmctld sends REQUEST_LAUNCH_PROLOG.

Variants (--variant): "mixed" and "shared" (tests/golden/gres/README.md says what they run).

Scenario of the default variant (outputs.txt says what each client printed, steps.log when): node
views; job 0 -N2 --gres=gpu:1 runs an srun step on both nodes; job 1 holds tesla index 0 (sleep); job 2 asks
--gres=gpu:tesla:1 and so gets index 1, prints its environment and runs an srun --gres=gpu:tesla:1 step
that sleeps; client views of both (scontrol -d, squeue %b, sinfo %G / gresused, scontrol show step); job 3
--gpus=2 --cpus-per-gpu=1 --mem-per-gpu=100 on node 2 runs srun steps (--gpus=1, --gres=gpu:a100:1); job 4
--gpus-per-node=a100:1, job 5 -n2 --gpus-per-task=1, job 6 --gres=shard:2, job 7 --gpus-per-socket=1, job 8
--gres=gpu:1 --gres-flags=enforce-binding --gpu-bind=closest --gpu-freq=low, salloc --gres=gpu:1, a
standalone srun --gpus=1; a refused --gres=gpu:k80:1; then slurmctld stops with jobs 1 and 2 running
(OUTDIR/state/{job_state,node_state} are its saved files), restarts (REQUEST_NODE_REGISTRATION_STATUS,
registrations listing the running jobs) and jobs 1 and 2 are cancelled (REQUEST_TERMINATE_JOB).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from harness import launcher, releases  # noqa: E402

NODE_GRES = {
    "default": {"compute-node-1": "gpu:tesla:2", "compute-node-2": "gpu:a100:2,shard:4"},
    "mixed": {"compute-node-1": "gpu:tesla:1,gpu:k80:1", "compute-node-2": "gpu:2"},
    "shared": {
        "compute-node-1": "gpu:tesla:2,mps:200,bandwidth:no_consume:4G",
        "compute-node-2": "gpu:2,bandwidth:no_consume:4G",
    },
}
GRES_TYPES = {"default": "gpu,shard", "mixed": "gpu", "shared": "gpu,mps,bandwidth"}


def gres_conf(dev: Path, variant: str) -> str:
    if variant == "shared":
        return (
            f"NodeName=compute-node-1 Name=gpu Type=tesla File={dev}/nvidia[0-1]\n"
            f"NodeName=compute-node-1 Name=mps Count=100 File={dev}/nvidia0\n"
            f"NodeName=compute-node-1 Name=mps Count=100 File={dev}/nvidia1\n"
            f"NodeName=compute-node-2 Name=gpu File={dev}/nvidia[2-3]\n"
            "Name=bandwidth Count=4G\n"
        )
    if variant == "mixed":
        return (
            f"NodeName=compute-node-1 Name=gpu Type=tesla File={dev}/nvidia0\n"
            f"NodeName=compute-node-1 Name=gpu Type=k80 File={dev}/nvidia1\n"
            f"NodeName=compute-node-2 Name=gpu File={dev}/nvidia[2-3]\n"
        )
    return (
        f"NodeName=compute-node-1 Name=gpu Type=tesla File={dev}/nvidia[0-1]\n"
        f"NodeName=compute-node-2 Name=gpu Type=a100 File={dev}/nvidia2 Cores=0-1 Links=-1,0\n"
        f"NodeName=compute-node-2 Name=gpu Type=a100 File={dev}/nvidia3 Cores=2-3 Links=0,-1\n"
        "NodeName=compute-node-2 Name=shard Count=4\n"
    )


def with_node_gres(text: str, node_gres: dict[str, str]) -> str:
    lines = []
    for line in text.splitlines(True):
        m = re.match(r"NodeName=(\S+) ", line)
        if m and m.group(1) in node_gres:
            line = line.rstrip("\n") + f" Gres={node_gres[m.group(1)]}\n"
        lines.append(line)
    return "".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("release", choices=list(releases.RELEASES))
    p.add_argument("workdir", type=Path)
    p.add_argument("outdir", type=Path)
    p.add_argument("--base", type=int, default=39200)
    p.add_argument("--variant", choices=list(NODE_GRES), default="default")
    a = p.parse_args()
    base = a.base
    ctld, ctld_proxy = base, base + 2
    node_ports = [base + 10, base + 11]
    node_proxies = [base + 20, base + 21]
    out = a.outdir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    release = releases.get(a.release)
    workdir = a.workdir.resolve()
    dev = workdir / "dev"
    dev.mkdir(parents=True, exist_ok=True)
    for i in range(4):
        node = dev / f"nvidia{i}"
        if not node.exists():
            os.mknod(node, 0o666 | 0o020000, os.makedev(195, i))
    gres_types = GRES_TYPES[a.variant]
    settings = launcher.Settings(
        controller="external",
        nodes=2,
        cpus=4,
        ctld_port=ctld_proxy,
        slurmd_port=base + 1,
        node_port_base=node_ports[0],
        release=a.release,
        node_features=("", ""),
        node_shape=(2, 2, 1),
        etc_files=(("gres.conf", gres_conf(dev, a.variant)),),
        extra_conf=f"GresTypes={gres_types}\nPrologFlags=Alloc\nSlurmdTimeout=60\n",
    )
    render = launcher.render_conf
    launcher.render_conf = lambda layout, s: with_node_gres(render(layout, s), NODE_GRES[a.variant])
    steps = open(out / "steps.log", "a")  # noqa: SIM115
    outputs = open(out / "outputs.txt", "a")  # noqa: SIM115

    def step(text: str) -> None:
        print(f"=== {time.strftime('%T')} {text}", file=steps, flush=True)
        print(f"=== {text}", flush=True)

    pairs = [(ctld_proxy, ctld, "ctld")] + [
        (proxy, port, f"slurmd{i}")
        for i, (proxy, port) in enumerate(zip(node_proxies, node_ports, strict=True), 1)
    ]
    proxies = [
        subprocess.Popen(
            [sys.executable, "-m", "harness.capture_proxy", str(listen), str(up), str(out), label],
            cwd=ROOT,
            stdout=open(out / f"proxy-{label}.log", "w"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        for listen, up, label in pairs
    ]
    layout = launcher.start(workdir, settings)
    conf = layout.conf
    ctld_conf = conf.with_name("controller.conf")
    text = conf.read_text().replace(f"SlurmctldPort={ctld_proxy}", f"SlurmctldPort={ctld}")
    for port, proxy in zip(node_ports, node_proxies, strict=True):
        text = text.replace(f" Port={port} ", f" Port={proxy} ")
    ctld_conf.write_text(text)
    jobs = layout.dir / "jobs"
    jobs.chmod(0o1777)

    def start_ctld() -> None:
        subprocess.run(
            release.command(["slurmctld", "-f", str(ctld_conf)], ctld_conf, share=[layout.dir]),
            check=True,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SLURM_CONF": str(ctld_conf)},
        )

    def stop_ctld() -> None:
        pid = launcher.pidfile_pid(layout.slurmctld_pidfile, layout.dir)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while launcher.pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)

    def client(*argv: str, record: bool = True) -> str:
        cmd = release.command(list(argv), conf, share=[layout.dir], cwd=jobs)
        try:
            r = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=90,
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C", "SLURM_CONF": str(conf)},
                cwd=jobs,
            )
            text = r.stdout + r.stderr + (f"[rc {r.returncode}]\n" if r.returncode else "")
        except subprocess.TimeoutExpired:
            text = "[timeout]\n"
        if record:
            print(f"$ {' '.join(argv)}\n{text}", file=outputs, flush=True)
        return text

    def state(job: str) -> str:
        for word in client("scontrol", "show", "job", job, record=False).split():
            if word.startswith("JobState="):
                return word.removeprefix("JobState=")
        return ""

    def wait(job: str, states: tuple[str, ...], timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s = state(job)
            if s in states:
                return s
            time.sleep(0.5)
        step(f"job {job} is {state(job)}, not one of {states}")
        return ""

    def wait_idle(timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = client("sinfo", "-h", "-N", "-o", "%T", record=False).split()
            if states and all(s == "idle" for s in states):
                return
            time.sleep(0.5)
        step("nodes not idle: " + client("sinfo", "-N", "-h", "-o", "%N %T %E", record=False))

    def sbatch(*args: str) -> str:
        text = client("sbatch", "--parsable", *args)
        return text.strip().split(";")[0] if text.strip().split(";")[0].isdigit() else ""

    done = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT")
    names = "JOB_GPUS|GPUS|STEP_GPUS|GRES|SHARDS|TRES|CPUS_PER_GPU|MEM_PER_GPU"
    env_dump = f"env | grep -E '^(CUDA|GPU|ROCR|SLURM_({names})|SLURM_JOB_ID)' | sort"

    def save_state() -> None:
        stop_ctld()
        (out / "state").mkdir(exist_ok=True)
        for name in ("job_state", "node_state"):
            with contextlib.suppress(OSError):
                shutil.copyfile(layout.dir / "state" / name, out / "state" / name)

    def mixed(env_dump: str) -> None:
        step("job 1: -w compute-node-1 --gres=gpu:1 (node of a tesla and a k80)")
        j1 = sbatch("-J", "any", "-w", "compute-node-1", "--gres=gpu:1", "-o", "job1.out",
                    "--wrap", f"{env_dump}; sleep 300")  # fmt: skip
        wait(j1, ("RUNNING",))
        step("job 2: -w compute-node-1 --gres=gpu:k80:1 with an srun --gres=gpu:k80:1 step")
        j2 = sbatch("-J", "k80", "-w", "compute-node-1", "--gres=gpu:k80:1", "-o", "job2.out",
                    "--wrap", f"{env_dump}; srun --gres=gpu:k80:1 sleep 300")  # fmt: skip
        wait(j2, ("RUNNING",))
        step("job 3: -w compute-node-2 --gres=gpu:2 (untyped node) with srun -n1 --gres=gpu:1")
        j3 = sbatch("-J", "untyped", "-w", "compute-node-2", "--gres=gpu:2", "-o", "job3.out",
                    "--wrap", f"{env_dump}; echo ---; srun -n1 --gres=gpu:1 sh -c \"{env_dump}\"",
                    )  # fmt: skip
        wait(j3, ("COMPLETED", "FAILED"))
        step("job 4: -N2 --gpus-per-node=1 (pending: node 1 is full)")
        j4 = sbatch("-J", "pend", "-N2", "--gpus-per-node=1", "-o", "job4.out", "--wrap", env_dump)
        time.sleep(3)
        step("views")
        for j in (j1, j2, j3, j4):
            client("scontrol", "show", "job", "-d", j)
        client("squeue", "-o", "%i %b %T %r %N")
        client("scontrol", "show", "node", "-d")
        client("sinfo", "-N", "-O", "nodelist,gres:40,gresused:60")
        client("scontrol", "show", "step")
        step("stop slurmctld with jobs 1 and 2 running and 4 pending")
        save_state()
        step("restart slurmctld")
        start_ctld()
        time.sleep(15)
        step("cancel jobs 1 and 2; job 4 runs")
        client("scancel", j1, j2)
        wait(j4, ("COMPLETED", "FAILED"))
        client("scontrol", "show", "job", "-d", j4)
        time.sleep(3)
        for n in range(1, 5):
            with contextlib.suppress(OSError):
                (out / f"job{n}.out").write_text((jobs / f"job{n}.out").read_text())
        step("done")

    def shared(env_dump: str) -> None:
        step("job 1: -w compute-node-1 --gres=mps:50 with an srun --gres=mps:25 step")
        j1 = sbatch("-J", "mps", "-w", "compute-node-1", "--gres=mps:50", "-o", "job1.out",
                    "--wrap", f"{env_dump}; echo ---; srun --gres=mps:25 sh -c \"{env_dump}\"",
                    )  # fmt: skip
        wait(j1, ("COMPLETED", "FAILED"))
        step("job 2: -w compute-node-1 --gres=gpu:1,bandwidth:1G")
        j2 = sbatch("-J", "gpubw", "-w", "compute-node-1", "--gres=gpu:1,bandwidth:1G", "-o", "job2.out",
                    "--wrap", env_dump)  # fmt: skip
        wait(j2, ("COMPLETED", "FAILED"))
        step("job 3: -w compute-node-2 --gres=bandwidth:2G (count only, not consumed)")
        j3 = sbatch(
            "-J", "bw", "-w", "compute-node-2", "--gres=bandwidth:2G", "-o", "job3.out", "--wrap", env_dump
        )
        wait(j3, ("COMPLETED", "FAILED"))
        step("jobs 4 and 5: -w compute-node-1 --gres=mps:100; -w compute-node-2 --gres=gpu:1,bandwidth:3G")
        j4 = sbatch("-J", "mpsheld", "-w", "compute-node-1", "--gres=mps:100", "-o", "job4.out",
                    "--wrap", f"{env_dump}; sleep 300")  # fmt: skip
        j5 = sbatch("-J", "bwheld", "-w", "compute-node-2", "--gres=gpu:1,bandwidth:3G", "-o", "job5.out",
                    "--wrap", f"{env_dump}; sleep 300")  # fmt: skip
        wait(j4, ("RUNNING",))
        wait(j5, ("RUNNING",))
        time.sleep(2)
        step("views")
        for j in (j1, j2, j3, j4, j5):
            client("scontrol", "show", "job", "-d", j)
        client("squeue", "-o", "%i %b %T %r %N")
        client("scontrol", "show", "node", "-d")
        client("sinfo", "-N", "-O", "nodelist,gres:60,gresused:80")
        step("stop slurmctld with jobs 4 and 5 running")
        save_state()
        step("restart slurmctld")
        start_ctld()
        time.sleep(15)
        step("cancel jobs 4 and 5")
        client("scancel", j4, j5)
        wait(j4, ("CANCELLED",))
        wait(j5, ("CANCELLED",))
        time.sleep(3)
        for n in range(1, 6):
            with contextlib.suppress(OSError):
                (out / f"job{n}.out").write_text((jobs / f"job{n}.out").read_text())
        step("done")

    try:
        start_ctld()
        step("wait for the nodes")
        wait_idle()
        step("node views")
        client("scontrol", "show", "node", "-d")
        client("sinfo", "-N", "-o", "%N %G %T")
        client("sinfo", "-N", "-O", "nodelist,gres:40,gresused:60")
        if a.variant == "mixed":
            mixed(env_dump)
            return 0
        if a.variant == "shared":
            shared(env_dump)
            return 0
        step("job 0: -N2 --gres=gpu:1 with an srun step on both nodes")
        j0 = sbatch("-J", "two", "-N2", "--gres=gpu:1", "-o", "job0.out",
                    "--wrap", f"{env_dump}; echo ---; srun -N2 -n2 sh -c \"{env_dump}\"")  # fmt: skip
        wait(j0, done)
        client("scontrol", "show", "job", "-d", j0)
        step("job 1: holds tesla index 0")
        j1 = sbatch("-J", "hold", "-w", "compute-node-1", "--gres=gpu:tesla:1", "-o", "job1.out",
                    "--wrap", f"{env_dump}; sleep 300")  # fmt: skip
        wait(j1, ("RUNNING",))
        step("job 2: --gres=gpu:tesla:1 (index 1)")
        j2 = sbatch("-J", "idx1", "-w", "compute-node-1", "--gres=gpu:tesla:1", "-o", "job2.out",
                    "--wrap", f"{env_dump}; srun --gres=gpu:tesla:1 sleep 300")  # fmt: skip
        wait(j2, ("RUNNING",))
        time.sleep(2)
        step("views of jobs 1, 2")
        client("scontrol", "show", "job", "-d", j1)
        client("scontrol", "show", "job", "-d", j2)
        client("squeue", "-o", "%i %b %T %N")
        client("squeue", "-O", "jobid,tres-per-node:30,tres-per-job:30,tres-per-task:30")
        client("scontrol", "show", "step")
        client("scontrol", "show", "node", "-d")
        client("sinfo", "-N", "-O", "nodelist,gres:40,gresused:60")
        step("job 3: --gpus=2 --cpus-per-gpu=1 --mem-per-gpu=100 with srun steps")
        j3 = sbatch("-J", "steps", "-w", "compute-node-2", "--gpus=2", "--cpus-per-gpu=1",
                    "--mem-per-gpu=100", "-o", "job3.out", "--wrap",
                    f"{env_dump}; echo ---; srun -n1 --gpus=1 sh -c \"{env_dump}\"; echo ---; "
                    f"srun -n1 --gres=gpu:a100:1 sh -c \"{env_dump}\"; echo ---; "
                    "srun -n1 --gpus=1 sh -c 'scontrol show step $SLURM_JOB_ID.$SLURM_STEP_ID; sleep 1'"
                    )  # fmt: skip
        wait(j3, done)
        step("job 4: --gpus-per-node=a100:1")
        j4 = sbatch("-J", "gpn", "--gpus-per-node=a100:1", "-o", "job4.out", "--wrap", env_dump)
        wait(j4, done)
        step("job 5: -n2 --gpus-per-task=1")
        j5 = sbatch("-J", "gpt", "-n2", "-w", "compute-node-2", "--gpus-per-task=1", "-o", "job5.out",
                    "--wrap", f"{env_dump}; srun sh -c \"{env_dump}\"")  # fmt: skip
        wait(j5, done)
        step("job 6: --gres=shard:2")
        j6 = sbatch("-J", "shard", "--gres=shard:2", "-o", "job6.out", "--wrap", env_dump)
        wait(j6, done)
        step("job 7: --gpus-per-socket=1 --sockets-per-node=1")
        j7 = sbatch("-J", "gps", "-w", "compute-node-2", "--gpus-per-socket=1", "--sockets-per-node=1",
                    "-o", "job7.out", "--wrap", env_dump)  # fmt: skip
        wait(j7, done)
        step("job 8: --gres=gpu:1 --gres-flags=enforce-binding --gpu-bind=closest --gpu-freq=low")
        j8 = sbatch("-J", "bind", "-w", "compute-node-2", "--gres=gpu:1", "--gres-flags=enforce-binding",
                    "--gpu-bind=closest", "--gpu-freq=low", "-o", "job8.out", "--wrap", env_dump)  # fmt: skip
        wait(j8, done)
        step("salloc --gres=gpu:1")
        client("salloc", "-w", "compute-node-2", "--gres=gpu:1", "sh", "-c", f"{env_dump}")
        step("srun --gpus=1")
        client("srun", "-w", "compute-node-2", "--gpus=1", "sh", "-c", env_dump)
        step("refused: --gres=gpu:k80:1")
        client("sbatch", "--gres=gpu:k80:1", "--wrap", "true")
        time.sleep(2)
        for j in (j3, j4, j5, j6, j7, j8):
            client("scontrol", "show", "job", "-d", j)
        step("stop slurmctld with jobs 1 and 2 running")
        save_state()
        step("restart slurmctld")
        start_ctld()
        time.sleep(15)
        client("scontrol", "show", "job", "-d", j2)
        step("cancel jobs 1 and 2")
        client("scancel", j1, j2)
        wait(j1, done)
        wait(j2, done)
        time.sleep(3)
        for n in range(0, 9):
            with contextlib.suppress(OSError):
                (out / f"job{n}.out").write_text((jobs / f"job{n}.out").read_text())
        step("done")
    finally:
        stop_ctld()
        launcher.stop(layout.dir)
        for proxy in proxies:
            proxy.terminate()
            proxy.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

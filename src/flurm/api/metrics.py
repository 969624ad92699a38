"""Prometheus metrics: counted as things happen (RPCs), or read from the controller at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from flurm import __version__
from flurm.api.views import gpu_counts, job_state_name, node_state_name
from flurm.modes import Mode
from flurm.protocol.constants import MsgType
from flurm.state import gres

if TYPE_CHECKING:
    from flurm.controller.ports import ControllerPort
    from flurm.migration.host import Migration

RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _rpc_name(msg_type: int) -> str:
    try:
        return MsgType(msg_type).name
    except ValueError:
        return str(msg_type)


class ControllerCollector(Collector):
    """Everything read from the controller's state when Prometheus scrapes."""

    def __init__(self, ctl: ControllerPort, migration: Migration | None) -> None:
        self.ctl = ctl
        self.migration = migration

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        ctl = self.ctl
        cluster = ctl.cluster
        info = GaugeMetricFamily("flurm_info", "flurm version and cluster", labels=["version", "cluster"])
        info.add_metric([__version__, ctl.config.cluster_name], 1)
        yield info

        mode = GaugeMetricFamily("flurm_mode", "1 for the mode flurm is in", labels=["mode"])
        for m in Mode:
            mode.add_metric([m.value], 1 if ctl.mode == m else 0)
        yield mode

        jobs = GaugeMetricFamily("flurm_jobs", "Jobs by state", labels=["state"])
        counts: dict[str, int] = {}
        for job in cluster.jobs.values():
            name = job_state_name(job)
            counts[name] = counts.get(name, 0) + 1
        for state in ("PENDING", "RUNNING", "COMPLETING", "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"):
            counts.setdefault(state, 0)
        for state, n in sorted(counts.items()):
            jobs.add_metric([state], n)
        yield jobs

        nodes = GaugeMetricFamily("flurm_nodes", "Nodes by state", labels=["state"])
        ncounts: dict[str, int] = {}
        for node in cluster.node_list:
            name = node_state_name(node)
            ncounts[name] = ncounts.get(name, 0) + 1
        for state, n in sorted(ncounts.items()):
            nodes.add_metric([state], n)
        yield nodes

        yield from self._gpus()

        passes = CounterMetricFamily("flurm_scheduler_passes", "Scheduler passes")
        passes.add_metric([], ctl.scheduler_passes)
        yield passes
        last = GaugeMetricFamily("flurm_scheduler_last_pass_seconds", "Duration of the last scheduler pass")
        last.add_metric([], ctl.last_schedule_duration)
        yield last

        migration = self.migration
        if migration is not None:
            st = migration.mirror.stats
            age = migration.mirror.age()
            lag = GaugeMetricFamily(
                "flurm_sync_age_seconds", "Seconds since the last mirror pass reached slurmctld"
            )
            lag.add_metric([], age if age is not None else float("nan"))
            yield lag
            dur = GaugeMetricFamily("flurm_sync_pass_seconds", "Duration of the last mirror pass")
            dur.add_metric([], st.last_pass_seconds)
            yield dur
            sync_passes = CounterMetricFamily("flurm_sync_passes", "Mirror passes")
            sync_passes.add_metric([], st.passes)
            yield sync_passes
            imports = CounterMetricFamily("flurm_import_jobs", "Jobs imported by the mirror", labels=["kind"])
            imports.add_metric(["new"], st.jobs_new)
            imports.add_metric(["changed"], st.jobs_changed)
            imports.add_metric(["vanished"], st.jobs_vanished)
            yield imports
            full = CounterMetricFamily("flurm_import_full", "Full imports")
            full.add_metric([], st.full_imports)
            yield full
            errors = CounterMetricFamily("flurm_sync_errors", "Mirror passes that failed")
            errors.add_metric([], st.errors)
            yield errors

        if migration is not None and migration.takeover.result is not None:
            r = migration.takeover.result
            if r.gap_seconds is not None:
                gap = GaugeMetricFamily("flurm_takeover_gap_seconds", "How long client writes were held")
                gap.add_metric([], r.gap_seconds)
                yield gap
            if r.endpoint_gap_seconds is not None:
                egap = GaugeMetricFamily(
                    "flurm_takeover_endpoint_gap_seconds",
                    "slurmctld's port closed until flurm listened on it",
                )
                egap.add_metric([], r.endpoint_gap_seconds)
                yield egap
            adopted = GaugeMetricFamily("flurm_takeover_adopted_jobs", "Running jobs adopted at the takeover")
            adopted.add_metric([], r.adopted_running)
            yield adopted

    def _gpus(self) -> Iterator[GaugeMetricFamily]:
        """GPUs (GRES gpu) each node has and its jobs hold, per type ("" untyped), and per partition."""
        cluster = self.ctl.cluster
        total = GaugeMetricFamily("flurm_node_gpus", "GPUs a node has, per type", labels=["node", "type"])
        used = GaugeMetricFamily(
            "flurm_node_gpus_allocated", "GPUs jobs hold on a node, per type", labels=["node", "type"]
        )
        for node in cluster.node_list:
            g = node.gres_inv.get("gpu")
            if g is None:
                continue
            for u in gres.usage(g):
                total.add_metric([node.name, u.type or ""], u.total)
                used.add_metric([node.name, u.type or ""], u.used)
        yield total
        yield used
        ptotal = GaugeMetricFamily(
            "flurm_partition_gpus", "GPUs of a partition's nodes", labels=["partition"]
        )
        pused = GaugeMetricFamily(
            "flurm_partition_gpus_allocated", "GPUs jobs hold on a partition's nodes", labels=["partition"]
        )
        for part in cluster.partitions.values():
            have, held = gpu_counts(cluster.partition_nodes(part))
            ptotal.add_metric([part.name], have)
            pused.add_metric([part.name], held)
        yield ptotal
        yield pused


class Metrics:
    """A registry of flurm's own (not the process-global one: several controllers may live in a test)."""

    def __init__(self, ctl: ControllerPort, migration: Migration | None) -> None:
        self.registry = CollectorRegistry()
        self.rpc_total = Counter(
            "flurm_rpc_requests", "SLURM RPCs served", ["type", "result"], registry=self.registry
        )
        self.rpc_seconds = Histogram(
            "flurm_rpc_duration_seconds",
            "Time to serve a SLURM RPC",
            ["type"],
            buckets=RPC_BUCKETS,
            registry=self.registry,
        )
        self.http_total = Counter(
            "flurm_http_requests", "HTTP API requests", ["path", "code"], registry=self.registry
        )
        self.registry.register(ControllerCollector(ctl, migration))

    def observe_rpc(self, msg_type: int, uid: int, seconds: float, ok: bool) -> None:
        name = _rpc_name(msg_type)
        self.rpc_total.labels(name, "ok" if ok else "error").inc()
        self.rpc_seconds.labels(name).observe(seconds)

"""The slurm.conf lines of a simulated fleet: N nodes on 127.0.0.1, each on a port of its own."""

from __future__ import annotations

from dataclasses import dataclass

# SLURM's node ports are u16; the fleet keeps clear of the privileged ones
MIN_PORT, MAX_PORT = 1024, 65535
MAX_NODES = 60_000


class FleetConfError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class FleetShape:
    nodes: int
    cpus: int
    port_base: int
    memory_mib: int = 0  # 0: 1000 MiB per node (SLURM's units: RealMemory is MiB)
    prefix: str = "sim"
    partition: str = "fleet"

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES:
            raise FleetConfError(f"--nodes must be 1..{MAX_NODES}, not {self.nodes}")
        if not 1 <= self.cpus <= 65535:
            raise FleetConfError(f"--cpus must be 1..65535, not {self.cpus}")
        if self.port_base < MIN_PORT or self.port_base + self.nodes - 1 > MAX_PORT:
            last = self.port_base + self.nodes - 1
            raise FleetConfError(f"ports {self.port_base}..{last} are outside {MIN_PORT}..{MAX_PORT}")
        if self.memory_mib < 0:
            raise FleetConfError(f"--memory must be 0 (the default) or more MiB, not {self.memory_mib}")
        if not self.prefix.isalpha():
            raise FleetConfError(f"--prefix must be letters only, not {self.prefix!r}")

    @property
    def width(self) -> int:
        """Digits of the node numbers: zero-padded, so names sort as numbers do."""
        return len(str(self.nodes))

    @property
    def node_range(self) -> str:
        return f"{self.prefix}[{1:0{self.width}d}-{self.nodes:0{self.width}d}]"

    def lines(self) -> str:
        last_port = self.port_base + self.nodes - 1
        memory = self.memory_mib or 1000
        # one port per node: a Port= range pairs the node range with ports in order (multiple-slurmd
        # form; slurmd refuses a prefix form such as 170[01-03], so the range is written whole)
        ports = f"Port=[{self.port_base}-{last_port}]" if self.nodes > 1 else f"Port={self.port_base}"
        return (
            f"NodeName={self.node_range} NodeHostname=localhost NodeAddr=127.0.0.1 {ports} "
            f"CPUs={self.cpus} RealMemory={memory} State=UNKNOWN\n"
            f"PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n"
        )

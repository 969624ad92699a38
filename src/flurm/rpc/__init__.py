"""The SLURM RPC transport shared by the server and every client flurm runs (slurmd, slurmctld, the CLI)."""

"""Accounting: what flurm sends the site's slurmdbd (the persistent connection, the durable spool of
records, the records of node, job, step and reservation events) as slurmctld's accounting_storage/slurmdbd
plugin does. The controller reaches it only through ``controller.ports.AccountingSink``; daemon.py
attaches it."""

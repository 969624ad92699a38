"""Accounting: what flurm sends the site's slurmdbd (records.py builds the job and step records)."""

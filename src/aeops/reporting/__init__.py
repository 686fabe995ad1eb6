"""Reporting: the run report, the summary table and the DVC plots."""

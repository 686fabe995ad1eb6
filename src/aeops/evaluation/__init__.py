"""Scores, metrics, thresholds, plots and classical baselines."""

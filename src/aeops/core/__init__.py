"""Foundations every layer may use: errors, files and atomic writes, logging, the
environment, config sections."""

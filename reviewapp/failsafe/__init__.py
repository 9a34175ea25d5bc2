"""Fail-safe: model operating modes, monitors, alerts and data-quality profiles."""

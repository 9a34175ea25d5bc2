"""Queue and model health figures from rollups kept by the worker, and /metrics."""

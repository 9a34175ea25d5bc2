"""Governance's REST API under ``/api/v1/`` (change requests, policy versions)."""

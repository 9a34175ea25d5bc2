"""Audit log, roles and shared helpers: used by every app, uses none."""

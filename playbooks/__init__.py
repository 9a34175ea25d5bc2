"""Playbooks, incidents, RCA, rollback decisions and post-mortems (a later issue)."""

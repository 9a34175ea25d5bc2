"""Fault tests start real workers and brokers: the fixtures live in tests/processes.py."""

from tests.processes import private_broker, redis_server, start_worker  # noqa: F401

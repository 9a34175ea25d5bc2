"""Every write of the fail-safe app (modes, alerts, profiles): one function per use case."""

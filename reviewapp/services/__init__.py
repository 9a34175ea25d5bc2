"""Every write of the queue app, one function per use case (docs/architecture.md)."""

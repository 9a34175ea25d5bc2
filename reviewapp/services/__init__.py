"""Every write of the queue app, one function per use case (see DESIGN.md)."""

"""Threshold policies (versioned, immutable, hashed) and, later, their change workflow."""

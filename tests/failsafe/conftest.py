"""Fixtures shared by the fail-safe tests."""

# The delivery tests' local webhook receiver, and a model whose callback is that receiver
# (the producer's model.mode_changed event is a delivery like a decision).
from tests.delivery.conftest import hooked_model, receiver  # noqa: F401

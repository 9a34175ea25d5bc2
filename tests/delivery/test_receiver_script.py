"""bench/webhook_receiver.py accepts what the sender signs and refuses anything else."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

from reviewapp.delivery.signing import webhook_headers
from reviewapp.delivery.validators import generate_callback_secret, secret_key_bytes

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "webhook_receiver.py"


def _receiver():
    spec = importlib.util.spec_from_file_location("webhook_receiver", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_receiver_verifies_our_signature():
    receiver = _receiver()
    secret = generate_callback_secret()
    body = b'{"type":"decision.made"}'
    headers = webhook_headers(
        key=secret_key_bytes(secret), message_id="msg_1", timestamp=int(time.time()), body=body
    )
    assert receiver.verify(secret, headers, body) == ""
    assert receiver.verify(secret, headers, body + b" ") == "SIGNATURE MISMATCH"
    assert receiver.verify(generate_callback_secret(), headers, body) == "SIGNATURE MISMATCH"
    old = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
    assert receiver.verify(secret, old, body) == "timestamp outside 5 minutes"

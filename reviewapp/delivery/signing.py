"""Standard Webhooks signatures (https://www.standardwebhooks.com/): pure functions."""

from __future__ import annotations

import base64
import hashlib
import hmac


def sign(*, key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_headers(*, key: bytes, message_id: str, timestamp: int, body: bytes) -> dict:
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(key=key, message_id=message_id, timestamp=timestamp, body=body),
    }

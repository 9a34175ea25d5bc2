"""A tiny webhook receiver for local development: prints each delivery and checks its signature.

    python bench/webhook_receiver.py --port 9009 --secret whsec_...

Point a model's callback at http://127.0.0.1:9009/hook (Delivery -> callback page; `make run`
turns on WEBHOOK_ALLOW_LOOPBACK so a loopback URL is accepted) and paste the signing secret the
page shows once. Each POST is printed with "signature ok" or "SIGNATURE MISMATCH" and answered
204 (or 401 on a bad signature). Standard Webhooks: HMAC-SHA256 of "id.timestamp.body".
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOLERANCE_SECONDS = 5 * 60


def expected_signature(secret: str, message_id: str, timestamp: str, body: bytes) -> str:
    encoded = secret.removeprefix("whsec_")
    key = base64.b64decode(encoded + "=" * (-len(encoded) % 4))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def verify(secret: str, headers, body: bytes) -> str:
    """'' when the delivery is genuine, else what is wrong."""
    message_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    if not (message_id and timestamp.isdigit()):
        return "missing webhook-id or webhook-timestamp"
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return "timestamp outside 5 minutes"
    want = expected_signature(secret, message_id, timestamp, body)
    given = [part.split(",", 1)[-1] for part in headers.get("webhook-signature", "").split()]
    return "" if any(hmac.compare_digest(want, g) for g in given) else "SIGNATURE MISMATCH"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9009)
    parser.add_argument("--secret", required=True, help="the model's whsec_... signing secret")
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the standard library's name
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            problem = verify(args.secret, self.headers, body)
            try:
                shown = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
            except ValueError:
                shown = body.decode("utf-8", "replace")
            print(f"--- {self.headers.get('webhook-id')} {problem or 'signature ok'}\n{shown}")
            self.send_response(401 if problem else 204)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print(f"Listening on http://127.0.0.1:{args.port}/ (Ctrl-C stops)")
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()

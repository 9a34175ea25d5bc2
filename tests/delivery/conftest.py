"""Delivery fixtures: a real HTTP receiver on 127.0.0.1 and a model that calls it."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reviewapp.delivery.validators import generate_callback_secret
from tests.factories import MLModelFactory, UserFactory, make_policy


class Receiver:
    """A real HTTP server on 127.0.0.1 that answers scripted status codes, then 200."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(
                        {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                    )
                    code = receiver.script.pop(0) if receiver.script else 200
                answer = json.dumps({"received": code < 300}).encode()
                self.send_response(code)
                if 300 <= code < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/failsafe"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def fail_first(self, n: int, code: int = 503) -> None:
        self.script = [code] * n


@pytest.fixture
def receiver():
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def hooked_model(db, receiver):
    """A model whose callback URL is the local receiver, with a fresh signing secret."""
    model = MLModelFactory(slug="card-fraud", labels=["fraud", "legit"], criticality="critical")
    make_policy(model)
    model.callback_url = receiver.url
    model.callback_secret = generate_callback_secret()
    model.save()
    return model


@pytest.fixture
def ana(db):
    return UserFactory(username="ana", roles=["reviewer"])

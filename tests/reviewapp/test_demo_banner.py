"""make run's banner: the sign-in details in a box, with where they are kept, once the app
answers /healthz."""

from __future__ import annotations

import socket

from django.test import override_settings

from reviewapp.management.commands.demo_banner import Command


def test_the_box_holds_the_credentials_and_says_where_they_are_kept(tmp_path):
    (tmp_path / "demo-credentials.txt").write_text("Password: failsafe-demo\n  fs_abc_def\n")
    with override_settings(VAR_DIR=tmp_path):
        box = Command.box().splitlines()
    assert box[0] == box[-1] and set(box[0]) == {"+", "-"}
    assert len({len(line) for line in box}) == 1  # every line as wide as the frame
    text = "\n".join(box)
    assert "fs_abc_def" in text and "failsafe-demo" in text
    assert str(tmp_path / "demo-credentials.txt") in text
    assert "Ctrl-C stops everything." in box[-2]


def test_a_closed_port_is_not_healthy():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert not Command._healthy(f"http://127.0.0.1:{port}/healthz")

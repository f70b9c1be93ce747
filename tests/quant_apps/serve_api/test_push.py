"""The push channel over real HTTP: a kill switch reaches an open event stream; resuming."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_apps.serve import Auth, Server, bind, create_app, origin_for

from .conftest import BEARER


@pytest.fixture
def served(session: Any, auth: Auth, tmp_path: Path) -> Iterator[str]:
    static = tmp_path / "static"
    static.mkdir()
    (static / "app.css").write_text("body{}")
    sock = bind("127.0.0.1", 0)
    origin = origin_for("127.0.0.1", sock.getsockname()[1])
    app = create_app(
        session.control, auth, origin=origin, event_wait_s=0.05, heartbeat_s=0.1, static_dir=static
    )
    server = Server(app, sock, graceful_s=1)
    thread = threading.Thread(target=server.run)
    thread.start()
    yield origin
    server.stop()
    thread.join()


def _messages(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """SSE messages as dicts of their fields (a comment counts as field ``comment``)."""
    message: dict[str, str] = {}
    for line in lines:
        if not line:
            if message:
                yield message
            message = {}
            continue
        field, _, value = line.partition(":")
        message[field or "comment"] = value.strip()


def _until(messages: Iterator[dict[str, str]], wanted: Any) -> dict[str, str]:
    for message in messages:
        if wanted(message):
            return message
    raise AssertionError("the stream ended")  # pragma: no cover - a failure


def test_a_kill_switch_reaches_an_open_stream_and_a_reconnect_resumes(served: str) -> None:
    with httpx.Client(base_url=served, headers=BEARER, timeout=30) as client:
        with client.stream("GET", "/api/v1/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            messages = _messages(stream.iter_lines())
            first = next(messages)
            assert first["retry"] == "2000"
            # Everything published so far arrives first (the session traded 30 bars).
            _until(messages, lambda m: m.get("event") == "decision")
            engaged = client.post("/api/v1/killswitch/engage", json={"reason": "from the API"})
            assert engaged.json()["ok"] is True
            change = _until(
                messages,
                lambda m: m.get("event") == "change" and "from the API" in m.get("data", ""),
            )
            data = json.loads(change["data"])
            assert "alice" in json.dumps(data)
            _until(messages, lambda m: m.get("comment") == "heartbeat")
        seen = int(change["id"])
        client.post("/api/v1/killswitch/release", json={"reason": "after the stream"})
        resume = {"Last-Event-ID": str(seen)}
        with client.stream("GET", "/api/v1/events", headers=resume) as stream:
            messages = _messages(stream.iter_lines())
            later = _until(messages, lambda m: "after the stream" in m.get("data", ""))
            assert int(later["id"]) > seen
        with client.stream("GET", "/api/v1/events", params={"after": seen}) as stream:
            messages = _messages(stream.iter_lines())
            again = _until(messages, lambda m: "id" in m)
            assert int(again["id"]) > seen
        anonymous = httpx.get(f"{served}/api/v1/events")
        assert anonymous.status_code == 401


def test_static_files_are_served_and_cacheable(served: str) -> None:
    answer = httpx.get(f"{served}/static/app.css")
    assert answer.text == "body{}"
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert "no-store" not in answer.headers.get("cache-control", "")


def test_the_stream_ends_when_the_session_closes_its_events(served: str, session: Any) -> None:
    with httpx.Client(base_url=served, headers=BEARER, timeout=30) as client:
        last = session.control.hub.last_id
        with client.stream("GET", "/api/v1/events", params={"after": last}) as stream:
            messages = _messages(stream.iter_lines())
            assert next(messages)["retry"] == "2000"
            session.control.hub.close()
            # Nothing more can come: the server ends the stream instead of waiting forever.
            assert all("id" not in message for message in messages)

"""A scripted HTTP server on 127.0.0.1 for the network edge's tests.

``fault_server(*actions)`` starts a server that answers its n-th request with the n-th
action (then ``200 {}``), and records every request it read. Actions:

- ``reply(status, body, headers)``: a normal answer;
- ``CLOSE``: read the whole request, then close the connection without answering (the request
  arrived; the client cannot know whether it was acted on);
- ``HANG``: read the whole request and answer nothing until the test ends (the client's read
  timeout fires);
- ``TRUNCATE``: promise a longer body than is sent, then close.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import pytest

CLOSE = ("close",)
HANG = ("hang",)
TRUNCATE = ("truncate",)


def reply(status: int = 200, body: bytes = b"{}", headers: dict[str, str] | None = None) -> Any:
    """A normal answer."""
    return ("reply", status, body, headers or {})


@attrs.frozen
class Seen:
    """One request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@attrs.define
class FaultServer:
    """A running scripted server."""

    url: str
    requests: list[Seen]


@pytest.fixture
def fault_server() -> Iterator[Callable[..., FaultServer]]:
    """Start scripted servers on free ports; all stop when the test ends."""
    servers: list[ThreadingHTTPServer] = []
    release = threading.Event()

    def start(*actions: Any) -> FaultServer:
        script = list(actions)
        seen: list[Seen] = []
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with lock:
                    seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                        )
                    )
                    action = script.pop(0) if script else reply()
                if action == CLOSE:
                    self.close_connection = True
                    return
                if action == HANG:
                    release.wait(30)
                    self.close_connection = True
                    return
                if action == TRUNCATE:
                    self.send_response(200)
                    self.send_header("Content-Length", "100")
                    self.end_headers()
                    self.wfile.write(b'{"error": [')
                    self.close_connection = True
                    return
                _, status, payload, headers = action
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _handle  # noqa: N815
            do_POST = _handle  # noqa: N815

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return FaultServer(f"http://127.0.0.1:{server.server_address[1]}", seen)

    yield start
    release.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (connecting is refused)."""
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"

"""Binding and running the operator server: real uvicorn on a real 127.0.0.1 socket."""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from quant_apps.serve import Auth, Server, bind, check_bind, create_app, origin_for
from quant_apps.serve.server import is_loopback
from quant_core import SimClock
from quant_core.errors import QuantError

TOKEN = "server-test-token"


def test_loopback_is_the_default_and_remote_needs_the_flag() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_bind(host, allow_remote=False)
        assert is_loopback(host)
    for host in ("0.0.0.0", "192.168.1.5", "example.org", "::"):
        with pytest.raises(QuantError) as info:
            check_bind(host, allow_remote=False)
        assert info.value.reason_code == "REMOTE_BIND_REFUSED"
        check_bind(host, allow_remote=True)
    assert origin_for("127.0.0.1", 80) == "http://127.0.0.1:80"


def test_bind_gives_a_free_port_and_reports_a_taken_one() -> None:
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0
        with pytest.raises(OSError, match="in use"):
            bind("127.0.0.1", port)
    finally:
        sock.close()
    six = bind("::1", 0)
    assert six.family == socket.AF_INET6
    six.close()


@pytest.fixture
def running() -> Iterator[tuple[Server, str]]:
    auth = Auth(TOKEN, "alice", clock=SimClock(0))
    sock = bind("127.0.0.1", 0)
    origin = origin_for("127.0.0.1", sock.getsockname()[1])
    server = Server(create_app(None, auth, origin=origin), sock)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run)
    thread.start()
    try:
        yield server, origin
    finally:
        server.stop()
        thread.join()


def test_the_server_answers_over_http_and_stops(running: tuple[Server, str]) -> None:
    server, origin = running
    assert server.port == int(origin.rsplit(":", 1)[1])
    with httpx.Client(base_url=origin) as client:
        # The socket listens before uvicorn starts: an early request waits in the backlog.
        answer = client.get("/api/v1/session", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answer.json()["operator"] == "alice"
        assert "server" not in answer.headers
        assert server.started
        assert client.get("/api/v1/session").status_code == 401


def test_run_in_the_main_thread_turns_a_signal_into_a_clean_stop() -> None:
    auth = Auth(TOKEN, "alice", clock=SimClock(0))
    sock = bind("127.0.0.1", 0)
    server = Server(create_app(None, auth, origin="http://x"), sock)  # type: ignore[arg-type]
    before = signal.getsignal(signal.SIGTERM)
    timer = threading.Timer(0.0, lambda: _signal_when_started(server))
    timer.start()
    server.run()  # returns once SIGTERM has been handled, without killing the process
    timer.join()
    assert signal.getsignal(signal.SIGTERM) is before
    assert server.signals == [signal.SIGTERM]
    assert sock.fileno() == -1


def _signal_when_started(server: Server) -> None:
    import os

    while not server.started:
        threading.Event().wait(0.01)
    os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_before_start_still_stops() -> None:
    auth = Auth(TOKEN, "alice", clock=SimClock(0))
    server = Server(create_app(None, auth, origin="http://x"), bind("127.0.0.1", 0))  # type: ignore[arg-type]
    server._record(signal.SIGINT, None)
    server.run()  # should_exit is already set: uvicorn starts and stops at once
    assert server.signals == [signal.SIGINT]

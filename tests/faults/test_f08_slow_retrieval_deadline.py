"""Finding 8: the slow-retrieval deadline holds even when no chunk arrives.

A local 127.0.0.1 server sends the response headers and then nothing; the injected clock is
moved past the deadline by the server itself. The download must end with ``SLOW_RETRIEVAL``
because the deadline is watched independently of chunk arrival: the read timeout is set far
beyond the test's life, so only the watchdog can end the download.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from quant_bundle import BundleRejectedError, reasons
from quant_bundle.update import HttpSource
from quant_core import NS_PER_SECOND, SimClock

DEADLINE_S = 4.0


@pytest.fixture
def stalled() -> Iterator[tuple[str, SimClock, threading.Event]]:
    """A server whose body never comes, and a clock it moves past the deadline."""
    clock = SimClock(1_700_000_000 * NS_PER_SECOND)
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.flush()
            clock.advance_by(int((DEADLINE_S + 3.4) * NS_PER_SECOND))
            release.wait(600)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", clock, release
    finally:
        release.set()
        server.shutdown()
        server.server_close()


def test_the_deadline_ends_a_download_that_receives_nothing(
    stalled: tuple[str, SimClock, threading.Event], tmp_path: Path
) -> None:
    url, clock, release = stalled
    source = HttpSource(url, clock, DEADLINE_S, poll_s=0.01, read_timeout_s=3600.0)
    dest = tmp_path / "bundle.tar.zst"
    with pytest.raises(BundleRejectedError) as info:
        source.fetch("bundle.tar.zst", dest, 10_000)
    assert info.value.reason_code == reasons.SLOW_RETRIEVAL
    assert not release.is_set()  # the server never sent a byte of the body
    assert not dest.exists()


def _endless(clock: SimClock) -> Iterator[bytes]:
    """One byte, then the clock passes the deadline, then a byte at a time, forever."""
    yield b"x"
    clock.advance_by(int((DEADLINE_S + 1) * NS_PER_SECOND))
    stop = threading.Event()
    while True:
        stop.wait(0.001)
        yield b"x"


def test_without_a_socket_the_deadline_ends_the_stream_at_the_next_chunk(tmp_path: Path) -> None:
    clock = SimClock(1_700_000_000 * NS_PER_SECOND)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=_endless(clock))

    source = HttpSource(
        "http://example.invalid",
        clock,
        DEADLINE_S,
        transport=httpx.MockTransport(handler),
        poll_s=0.001,
    )
    with pytest.raises(BundleRejectedError) as info:
        source.fetch("bundle.tar.zst", tmp_path / "b", 1 << 40)
    assert info.value.reason_code == reasons.SLOW_RETRIEVAL


def test_a_broken_body_before_the_deadline_is_an_unavailable_source(tmp_path: Path) -> None:
    clock = SimClock(1_700_000_000 * NS_PER_SECOND)

    def broken() -> Iterator[bytes]:
        yield b"x"
        raise httpx.ReadError("connection reset")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=broken())

    source = HttpSource(
        "http://example.invalid", clock, DEADLINE_S, transport=httpx.MockTransport(handler)
    )
    with pytest.raises(BundleRejectedError) as info:
        source.fetch("bundle.tar.zst", tmp_path / "b", 100)
    assert info.value.reason_code == reasons.UPDATE_SOURCE_UNAVAILABLE

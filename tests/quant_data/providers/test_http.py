"""The shared HTTP policy: retries, backoff determinism, rate limiting, redaction."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from quant_core import Secret, SimClock
from quant_data import ProviderError, RawPage
from quant_data.http import (
    HttpClient,
    HttpPolicy,
    RateLimiter,
    Response,
    default_sleep,
    parse_reset_time,
    parse_retry_after,
    redact_headers,
    sim_sleep,
    status_error,
)

NS = 1_000_000_000
KEY = "sk-test-SECRET-0123456789"


def _ok(response: Response) -> bytes:
    return response.expect_ok("t").raw.payload


def _client(
    handler: Callable[[httpx.Request], httpx.Response], clock: SimClock | None = None, **kw: Any
) -> tuple[HttpClient, SimClock]:
    clock = clock or SimClock(0)
    client = HttpClient(
        "t",
        "http://127.0.0.1:1/base/",
        clock=clock,
        seed=kw.pop("seed", 3),
        transport=httpx.MockTransport(handler),
        **kw,
    )
    return client, clock


def test_policy_validation() -> None:
    for bad in (
        {"max_attempts": 0},
        {"jitter": 1.5},
        {"rate_per_s": 0},
        {"burst": 0},
        {"timeout_s": 0},
        {"backoff_base_s": -1},
    ):
        with pytest.raises(ValueError, match="must be"):
            HttpPolicy(**bad)


def test_backoff_is_exponential_capped_and_jittered() -> None:
    policy = HttpPolicy(backoff_base_s=2, backoff_max_s=10, jitter=0.5)
    # attempt 1: base 2; attempt 3: 8; attempt 5: capped at 10. unit 0 -> half, unit 1 -> full.
    assert policy.backoff_s(1, 0.0) == 1.0
    assert policy.backoff_s(3, 1.0) == 8.0
    assert policy.backoff_s(5, 0.5) == 7.5


def test_retries_then_succeeds_and_path_and_query() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(502 if len(seen) < 3 else 200, content=b"done")

    client, clock = _client(handler)
    assert client.get("/x", {"z": "1", "a": "b c"}, parse=_ok) == b"done"
    assert len(seen) == 3 == client.requests_sent
    assert seen[0].url.path == "/base/x"
    assert seen[0].url.params["a"] == "b c"
    assert client.last_raw is not None
    assert client.last_raw.request == "GET /x?a=b+c&z=1"
    assert client.last_raw.status == 200
    assert clock.now_ns() > 0


def test_same_seed_same_delays_other_seed_differs() -> None:
    def run(seed: int) -> list[int]:
        stamps: list[int] = []
        clock = SimClock(0)

        def handler(request: httpx.Request) -> httpx.Response:
            stamps.append(clock.now_ns())
            return httpx.Response(503)

        client, _ = _client(
            handler, clock, seed=seed, policy=HttpPolicy(max_attempts=4, rate_per_s=1000, burst=10)
        )
        with pytest.raises(ProviderError):
            client.get("/x", {}, parse=_ok)
        return stamps

    assert run(1) == run(1)
    assert run(1) != run(2)
    gaps = [b - a for a, b in zip(run(1), run(1)[1:], strict=False)]
    # base 1 s doubling, jitter 0.5: delay k is within [2**(k-1)/2, 2**(k-1)] seconds
    for k, gap in enumerate(gaps, start=1):
        assert 2 ** (k - 1) / 2 * NS <= gap <= 2 ** (k - 1) * NS + NS // 1000


def test_gives_up_after_max_attempts_with_reason() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503, content=b"busy")

    client, _ = _client(handler, policy=HttpPolicy(max_attempts=3))
    with pytest.raises(ProviderError) as info:
        client.get("/x", {}, parse=_ok)
    assert len(calls) == 3
    assert info.value.reason_code == "PROVIDER_UNAVAILABLE"
    assert info.value.retryable
    assert "gave up after 3 attempts" in str(info.value)


def test_fatal_error_not_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401, content=b"nope")

    client, _ = _client(handler)
    with pytest.raises(ProviderError) as info:
        client.get("/x", {}, parse=_ok)
    assert len(calls) == 1
    assert info.value.reason_code == "PROVIDER_AUTH_FAILED"
    assert not info.value.retryable
    assert info.value.exit_code == 1


def test_retry_after_honoured_and_too_long_fails() -> None:
    stamps: list[int] = []
    clock = SimClock(0)

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now_ns())
        if len(stamps) == 1:
            return httpx.Response(429, headers={"Retry-After": "30"})
        return httpx.Response(200, content=b"ok")

    client, _ = _client(handler, clock, policy=HttpPolicy(backoff_base_s=0.1))
    assert client.get("/x", {}, parse=_ok) == b"ok"
    assert stamps[1] - stamps[0] >= 30 * NS

    def slow(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "3600"})

    client2, _ = _client(slow, policy=HttpPolicy(max_wait_s=60))
    with pytest.raises(ProviderError) as info:
        client2.get("/x", {}, parse=_ok)
    assert info.value.reason_code == "PROVIDER_RATE_LIMITED"
    assert info.value.retry_after_s == 3600
    assert client2.requests_sent == 1


@pytest.mark.parametrize(
    "exc", [httpx.ConnectTimeout("t"), httpx.ReadTimeout("t"), httpx.RemoteProtocolError("cut")]
)
def test_transport_failures_are_retryable(exc: Exception) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return httpx.Response(200, content=b"ok")

    client, _ = _client(handler)
    assert client.get("/x", {}, parse=_ok) == b"ok"
    assert len(calls) == 2


def test_real_timeout_against_a_silent_local_server() -> None:
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        clock = SimClock(0)
        client = HttpClient(
            "t",
            f"http://127.0.0.1:{port}",
            clock=clock,
            seed=0,
            policy=HttpPolicy(timeout_s=0.2, max_attempts=1),
        )
        with pytest.raises(ProviderError) as info:
            client.get("/x", {}, parse=_ok)
        assert info.value.reason_code == "PROVIDER_UNAVAILABLE"
        assert "timeout" in str(info.value)
        client.close()
    finally:
        server.close()


def test_rate_limiter_token_bucket() -> None:
    clock = SimClock(0)
    limiter = RateLimiter(4.0, 2, clock, sim_sleep(clock))
    waits = [limiter.acquire() for _ in range(4)]
    assert waits == [0.0, 0.0, 0.25, 0.25]
    clock.advance_by(10 * NS)  # refill is capped at the burst
    assert [limiter.acquire() for _ in range(3)] == [0.0, 0.0, 0.25]
    limiter.pause_until(clock.now_ns() + 5 * NS)
    assert limiter.paused_until_ns == clock.now_ns() + 5 * NS
    before = clock.now_ns()
    limiter.acquire()
    assert clock.now_ns() - before >= 5 * NS


def test_client_rate_limit_spaces_requests() -> None:
    stamps: list[int] = []
    clock = SimClock(0)

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now_ns())
        return httpx.Response(200)

    client, _ = _client(handler, clock, policy=HttpPolicy(rate_per_s=2.0, burst=1))
    for _ in range(4):
        client.get("/x", {}, parse=_ok)
    assert [b - a for a, b in itertools.pairwise(stamps)] == [NS // 2] * 3


def test_status_error_classification() -> None:
    def err(status: int, headers: dict[str, str] | None = None) -> ProviderError | None:
        raw = RawPage("p", "GET /", 0, status, b"")
        return status_error("p", Response(raw, headers or {}), "m")

    assert err(200) is None
    expected = {
        400: ("PROVIDER_BAD_REQUEST", False),
        401: ("PROVIDER_AUTH_FAILED", False),
        403: ("PROVIDER_AUTH_FAILED", False),
        404: ("PROVIDER_ERROR", False),
        408: ("PROVIDER_UNAVAILABLE", True),
        429: ("PROVIDER_RATE_LIMITED", True),
        500: ("PROVIDER_UNAVAILABLE", True),
        503: ("PROVIDER_UNAVAILABLE", True),
    }
    for status, (code, retry) in expected.items():
        e = err(status)
        assert e is not None
        assert (e.reason_code, e.retryable, e.status) == (code, retry, status)
    e503 = err(503, {"retry-after": "2"})
    assert e503 is not None
    assert e503.retry_after_s == 2.0


def test_parse_helpers() -> None:
    assert parse_retry_after("1.5", 0) == 1.5
    assert parse_retry_after("-3", 0) == 0.0
    assert parse_retry_after("nan", 0) is None
    assert parse_retry_after("Thu, 01 Jan 1970 00:01:00 GMT", 0) == 60.0
    assert parse_reset_time(None) is None
    assert parse_reset_time("2022-01-11T19:02:51.0913704Z") == 1_641_927_771_091_370_400
    assert redact_headers([("Authorization", "x"), ("a", "b")]) == {
        "Authorization": "**********",
        "a": "b",
    }
    assert default_sleep(SimClock(0)).__name__ == "sleep"
    import time

    assert default_sleep(object()) is time.sleep  # type: ignore[arg-type]


def test_secret_never_in_logs_reprs_errors_or_records(caplog: pytest.LogCaptureFixture) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["X-Key"])
        if len(sent) == 1:
            raise httpx.ConnectError(f"refused while sending key {KEY}")
        return httpx.Response(401, content=f"bad key {KEY}".encode())

    caplog.set_level(logging.DEBUG)
    client, _ = _client(handler, secret_headers={"X-Key": Secret(KEY)})

    def parse(response: Response) -> bytes:
        return response.expect_ok("t", response.raw.payload.decode()).raw.payload

    with pytest.raises(ProviderError) as info:
        client.get("/x", {"q": "1"}, parse=parse)
    assert sent == [KEY, KEY]  # the key did go to the server...
    assert KEY not in str(info.value)  # ...but nowhere else
    assert KEY not in repr(info.value)
    assert KEY not in info.value.message
    assert KEY not in caplog.text
    assert "**********" in caplog.text
    assert KEY not in repr(client)
    assert client.last_raw is not None
    assert KEY not in client.last_raw.request
    assert info.value.__cause__ is None


def test_empty_secret_scrubs_nothing() -> None:
    client, _ = _client(lambda r: httpx.Response(200), secret_headers={"X-Key": Secret("")})
    assert client.scrub("text") == "text"


_DELAYS_SCRIPT = """
import httpx
from quant_core import SimClock
from quant_data import ProviderError
from quant_data.http import HttpClient, HttpPolicy
clock = SimClock(0)
stamps = []
def handler(request):
    stamps.append(clock.now_ns())
    return httpx.Response(503)
client = HttpClient("t", "http://127.0.0.1:1", clock=clock, seed=42,
                    policy=HttpPolicy(max_attempts=6), transport=httpx.MockTransport(handler))
try:
    client.get("/x", {}, parse=lambda r: r.expect_ok("t"))
except ProviderError:
    pass
print(stamps)
"""


def test_backoff_schedule_identical_in_another_process() -> None:
    import os
    import subprocess
    import sys

    runs = [
        subprocess.run(
            [sys.executable, "-c", _DELAYS_SCRIPT],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "999")
    ]
    assert runs[0] == runs[1]
    assert runs[0].count(",") == 5  # six attempts


def test_adapters_close_their_pool() -> None:
    from quant_data.providers import CoinApiProvider, CoinGeckoClient, KrakenPublicProvider

    for adapter in (
        CoinApiProvider("http://x", None, clock=SimClock(0), seed=0),
        KrakenPublicProvider("http://x", clock=SimClock(0), seed=0),
        CoinGeckoClient("http://x", clock=SimClock(0), seed=0),
    ):
        adapter.close()
        assert adapter.http._client.is_closed

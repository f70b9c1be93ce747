"""The write policy against a real HTTP server on 127.0.0.1: sent once, never retried blindly."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

import httpx
import pytest

from quant_core import SimClock
from quant_core.settings import Secret
from quant_net import (
    ProviderError,
    Response,
    UnknownOutcomeError,
    WriteClient,
    WriteNotSentError,
    WritePolicy,
    kraken,
)

from .conftest import CLOSE, HANG, TRUNCATE, FaultServer, reply

NS = 1_000_000_000
KEY = "api-key-SECRET-987"
Start = Callable[..., FaultServer]


def _ok(response: Response) -> bytes:
    return response.expect_ok().payload


def _client(url: str, clock: SimClock | None = None, **kw: object) -> WriteClient:
    return WriteClient(
        "kraken",
        url,
        clock=clock or SimClock(0),
        policy=kw.pop("policy", WritePolicy(timeout_s=0.5, rate_per_s=100, burst=10)),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def test_a_write_is_sent_once_with_its_form_and_signature(
    fault_server: Start, caplog: pytest.LogCaptureFixture
) -> None:
    server = fault_server(reply(200, b'{"error": [], "result": {"txid": ["O1"]}}'))
    caplog.set_level(logging.DEBUG)
    signed: list[tuple[str, bytes]] = []

    def sign(path: str, body: bytes) -> Mapping[str, str]:
        signed.append((path, body))
        return {"API-Sign": "sig-SECRET"}

    client = _client(server.url, secret_headers={"API-Key": Secret(KEY)})
    found = client.post(
        "/0/private/AddOrder",
        {"nonce": "7", "cl_ord_id": "c-1", "pair": "XBTUSD"},
        parse=kraken.result,
        sign=sign,
    )
    assert found == {"txid": ["O1"]}
    [seen] = server.requests
    assert (seen.method, seen.path) == ("POST", "/0/private/AddOrder")
    assert seen.body == b"nonce=7&cl_ord_id=c-1&pair=XBTUSD"
    assert signed == [("/0/private/AddOrder", seen.body)]
    assert seen.headers["content-type"] == "application/x-www-form-urlencoded"
    assert (seen.headers["api-key"], seen.headers["api-sign"]) == (KEY, "sig-SECRET")
    assert KEY not in caplog.text
    assert "sig-SECRET" not in caplog.text
    assert client.last_response is not None
    assert client.last_response.request == "POST /0/private/AddOrder"
    assert client.requests_sent == 1
    client.close()


@pytest.mark.parametrize("fault", [HANG, CLOSE, TRUNCATE], ids=["timeout", "closed", "truncated"])
def test_a_failure_after_sending_is_an_unknown_outcome(fault_server: Start, fault: object) -> None:
    server = fault_server(fault)
    client = _client(server.url)
    with pytest.raises(UnknownOutcomeError) as info:
        client.post("/0/private/AddOrder", {"cl_ord_id": "c-1"}, parse=_ok)
    error = info.value
    assert error.reason_code == "WRITE_OUTCOME_UNKNOWN"
    assert error.cause == "PROVIDER_UNAVAILABLE"
    assert not error.retryable
    assert error.exit_code == 1
    assert "POST /0/private/AddOrder" in error.message
    assert len(server.requests) == 1  # the request arrived, and was never sent again
    assert server.requests[0].body == b"cl_ord_id=c-1"
    assert error.__cause__ is None


@pytest.mark.parametrize("status", [500, 502, 503, 408])
def test_server_errors_on_a_write_are_unknown_outcomes(fault_server: Start, status: int) -> None:
    server = fault_server(reply(status, b"upstream"))
    with pytest.raises(UnknownOutcomeError) as info:
        _client(server.url).post("/o", {}, parse=_ok)
    assert (info.value.status, info.value.cause) == (status, "PROVIDER_UNAVAILABLE")
    assert len(server.requests) == 1


def test_definitive_refusals_pass_through_unchanged(fault_server: Start) -> None:
    server = fault_server(
        reply(429, b"slow", {"Retry-After": "4"}),
        reply(400, b"bad"),
        reply(200, b'{"error": ["EOrder:Insufficient funds"]}'),
        reply(200, b'{"error": ["EAPI:Rate limit exceeded"]}'),
    )
    client = _client(server.url)
    with pytest.raises(ProviderError) as throttled:
        client.post("/o", {}, parse=_ok)
    assert type(throttled.value) is ProviderError
    assert (throttled.value.reason_code, throttled.value.retry_after_s) == (
        "PROVIDER_RATE_LIMITED",
        4.0,
    )
    with pytest.raises(ProviderError) as bad:
        client.post("/o", {}, parse=_ok)
    assert bad.value.reason_code == "PROVIDER_BAD_REQUEST"
    with pytest.raises(ProviderError) as funds:
        client.post("/o", {}, parse=kraken.result)
    assert (type(funds.value), funds.value.reason_code) == (ProviderError, "PROVIDER_ERROR")
    with pytest.raises(ProviderError) as limited:
        client.post("/o", {}, parse=kraken.result)
    assert (type(limited.value), limited.value.reason_code) == (
        ProviderError,
        "PROVIDER_RATE_LIMITED",
    )
    assert len(server.requests) == 4


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (b'{"error": ["EService:Unavailable"]}', "PROVIDER_UNAVAILABLE"),
        (b'{"error": ["EGeneral:Internal error"]}', "PROVIDER_UNAVAILABLE"),
        (b'{"error": [], "resu', "PROVIDER_RESPONSE_INVALID"),
    ],
)
def test_exchange_service_errors_and_unreadable_answers_are_unknown(
    fault_server: Start, body: bytes, cause: str
) -> None:
    server = fault_server(reply(200, body))
    with pytest.raises(UnknownOutcomeError) as info:
        _client(server.url).post("/0/private/AddOrder", {}, parse=kraken.result)
    assert (info.value.cause, info.value.status) == (cause, 200)
    assert len(server.requests) == 1


def test_a_refused_connection_is_not_sent(refused_url: str) -> None:
    client = _client(refused_url)
    with pytest.raises(WriteNotSentError) as info:
        client.post("/o", {"cl_ord_id": "c-1"}, parse=_ok)
    assert info.value.reason_code == "WRITE_NOT_SENT"
    assert info.value.retryable
    assert client.requests_sent == 1


def test_transport_errors_are_judged_by_whether_the_request_left() -> None:
    def raising(exc: Exception) -> WriteClient:
        def handler(request: httpx.Request) -> httpx.Response:
            raise exc

        return WriteClient(
            "t", "http://127.0.0.1:1", clock=SimClock(0), transport=httpx.MockTransport(handler)
        )

    for not_sent in (httpx.ConnectTimeout("t"), httpx.PoolTimeout("t"), httpx.ConnectError("x")):
        with pytest.raises(WriteNotSentError):
            raising(not_sent).post("/o", {}, parse=_ok)
    for lost in (httpx.WriteTimeout("t"), httpx.ReadError("r"), httpx.RemoteProtocolError("p")):
        with pytest.raises(UnknownOutcomeError):
            raising(lost).post("/o", {}, parse=_ok)


def test_secrets_echoed_in_errors_are_scrubbed() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError(f"reset while sending {KEY}")

    client = WriteClient(
        "t",
        "http://127.0.0.1:1",
        clock=SimClock(0),
        transport=httpx.MockTransport(handler),
        secret_headers={"API-Key": Secret(KEY)},
    )
    with pytest.raises(UnknownOutcomeError) as info:
        client.post("/o", {}, parse=_ok)
    assert KEY not in info.value.message
    assert KEY not in repr(client)

    def echo(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, content=f"bad key {KEY}".encode())

    echoing = WriteClient(
        "t",
        "http://127.0.0.1:1",
        clock=SimClock(0),
        transport=httpx.MockTransport(echo),
        secret_headers={"API-Key": Secret(KEY)},
    )
    with pytest.raises(ProviderError) as refused:
        echoing.post("/o", {}, parse=lambda r: r.expect_ok(r.payload.decode()))
    assert refused.value.reason_code == "PROVIDER_AUTH_FAILED"
    assert KEY not in refused.value.message


def test_writes_take_tokens_from_the_rate_limiter(fault_server: Start) -> None:
    server = fault_server()
    clock = SimClock(0)
    client = _client(server.url, clock, policy=WritePolicy(rate_per_s=2.0, burst=1))
    for _ in range(3):
        client.post("/o", {}, parse=lambda r: json.loads(r.payload))
    assert clock.now_ns() == NS  # two waits of half a second on the simulated clock
    assert len(server.requests) == 3

"""RT-10: read-path failures (5xx, busy, timeouts, truncated answers).

Pass criterion: retried with capped exponential backoff and seeded jitter on the injected
clock; after N attempts a typed error with a reason code; a write is never retried.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from tests.quant_exec.kraken._harness import (  # noqa: F401  # the live fixtures
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
    live,
)

from quant_exec.venues.kraken import KrakenPrivateClient, OrderAck
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError, ReadPolicy, UnknownOutcomeError

BTC = "XBTUSD"


def _buy(client: KrakenPrivateClient, cl: str = "c1", volume: str = "0.5") -> OrderAck:
    return client.add_order(
        pair=BTC, side="buy", order_type="market", volume=Decimal(volume), cl_ord_id=cl
    )


def _code(call: object) -> tuple[str, bool]:
    assert callable(call)
    with pytest.raises(ProviderError) as caught:
        call()
    return caught.value.reason_code, isinstance(caught.value, UnknownOutcomeError)


def test_rt_10_read_service_failures_are_retried(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    fake.inject("Balance", FakeFault.SERVICE_BUSY, FakeFault.HTTP_500)
    assert client.balance()["ZUSD"] == Decimal(100000)
    assert fake.calls == ["Balance"] * 3
    fake.inject("Balance", *[FakeFault.SERVICE_UNAVAILABLE] * 3)
    assert _code(client.balance) == ("VENUE_BUSY", False)  # gives up after 3 attempts


def test_a_truncated_answer_is_retried_on_a_read_and_unknown_on_a_write(
    client: KrakenPrivateClient, fake: FakeKraken
) -> None:
    fake.inject("Balance", FakeFault.TRUNCATED)
    assert client.balance()["ZUSD"] == Decimal(100000)
    assert fake.calls == ["Balance", "Balance"]
    fake.inject("AddOrder", FakeFault.TRUNCATED)
    assert _code(lambda: _buy(client, "t1")) == ("WRITE_OUTCOME_UNKNOWN", True)
    assert fake.calls.count("AddOrder") == 1  # never resent
    found = client.find_order("t1")
    assert found is not None
    assert found.status == "closed"  # it was placed: the query tells, not a resend


def _backoff(tmp_path: Path, run: int, faults: int) -> tuple[list[float], str | None]:
    waits: list[float] = []
    with live(
        tmp_path / str(run),
        seed=99,
        read_policy=ReadPolicy(
            timeout_s=0.3, rate_per_s=100.0, burst=100, max_attempts=4, backoff_max_s=3.0
        ),
    ) as running:

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            running.clock.advance_by(round(seconds * 10**9))

        running.client.reads.sleep = sleep
        plan = [FakeFault.HTTP_500, FakeFault.ACCEPT_THEN_TIMEOUT, FakeFault.SERVICE_BUSY]
        running.fake.inject("Balance", *(plan * 2)[:faults])
        try:
            running.client.balance()
        except ProviderError as exc:
            return waits, exc.reason_code
        return waits, None


def test_rt_10_capped_seeded_backoff_then_a_typed_error(tmp_path: Path) -> None:
    waits, failed = _backoff(tmp_path, 1, 3)
    assert failed is None  # 5xx, a timeout, busy: then the answer
    assert waits == _backoff(tmp_path, 2, 3)[0]  # the seed fixes every delay
    for attempt, wait in enumerate(waits, start=1):  # base 1 s doubling, 50 % jitter, cap 3 s
        cap = min(3.0, 2.0 ** (attempt - 1))
        assert cap / 2 <= wait <= cap
    waits, failed = _backoff(tmp_path, 3, 4)
    assert failed == "PROVIDER_UNAVAILABLE"  # gave up after 4 attempts (the last: HTTP 500)
    assert len(waits) == 3

"""The onboarding checks against the fake Kraken over real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from quant_apps.runtime.trading.credentials import (
    CredentialStore,
    CredentialsUnavailableError,
    KrakenCredentials,
)
from quant_apps.runtime.trading.onboarding import (
    REQUIRED_PERMISSIONS,
    ConnectError,
    ConnectReport,
    check_key,
    connect_key,
    open_client,
)
from quant_core import NS_PER_SECOND, SimClock
from quant_exec.venues.kraken import TRADING_PERMISSIONS
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken

START = 1_700_000_000 * NS_PER_SECOND


def _check(
    fake: FakeKraken, tmp_path: Path, *, skew_s: float = 0.0, volume: str = "0.0001"
) -> ConnectReport:
    fake.skew_s = skew_s  # the exchange's clock (its public Time) ahead of the client's
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, server.secret)
        client = open_client(creds, server.base_url, clock=fake.clock, state_dir=tmp_path)
        try:
            return check_key(
                client,
                base_url=server.base_url,
                fingerprint=creds.fingerprint,
                volume=Decimal(volume),
            )
        finally:
            client.close()


def test_a_trading_key_passes_every_check(
    make_fake: Callable[..., FakeKraken], tmp_path: Path
) -> None:
    report = _check(make_fake(SimClock(START)), tmp_path)
    assert report.ok
    assert report.reason_code is None
    assert [c.name for c in report.checks] == ["key", "clock", "balance", "open_orders", "dry_run"]
    assert report.key_name == "fake-key"
    assert set(report.permissions) == {p for p, _, _ in REQUIRED_PERMISSIONS}
    details = {c.name: c.detail for c in report.checks}
    assert details["balance"] == "balance: ZUSD 10000"
    assert details["open_orders"] == "0 open orders"
    assert details["dry_run"].endswith("valid (nothing placed)")
    assert report.to_json()["ok"] is True
    assert "reason_code" not in report.to_json()


def test_a_key_that_may_withdraw_is_refused_first(
    make_fake: Callable[..., FakeKraken], tmp_path: Path
) -> None:
    perms = frozenset({*TRADING_PERMISSIONS, "websocket", "withdraw_funds"})
    fake = make_fake(SimClock(START), permissions=perms)
    report = _check(fake, tmp_path)
    assert not report.ok
    assert report.reason_code == "KRAKEN_KEY_SCOPE"
    (check,) = report.checks
    assert "may withdraw (withdraw_funds)" in check.detail
    assert fake.calls == ["GetApiKeyInfo"]  # nothing else was asked with such a key
    assert report.to_json()["reason_code"] == "KRAKEN_KEY_SCOPE"


def test_missing_permissions_are_named(
    make_fake: Callable[..., FakeKraken], tmp_path: Path
) -> None:
    fake = make_fake(SimClock(START), permissions=frozenset({"query_funds", "create_orders"}))
    (check,) = _check(fake, tmp_path).checks
    assert check.detail.endswith(
        "lacks query_open_orders, query_closed_orders, cancel_orders, websocket"
    )


@pytest.mark.parametrize(("skew_s", "ok"), [(-5.0, True), (5.0, True), (6.5, False), (-7, False)])
def test_the_clock_skew_limit(
    make_fake: Callable[..., FakeKraken], tmp_path: Path, skew_s: float, ok: bool
) -> None:
    report = _check(make_fake(SimClock(START)), tmp_path, skew_s=skew_s)
    clock = report.checks[1]
    assert clock.ok is ok
    if not ok:
        assert report.reason_code == "CLOCK_SKEW"  # R's check, the only one
        assert "fix the system clock" in clock.detail
        assert len(report.checks) == 2


def test_the_dry_run_refusals(make_fake: Callable[..., FakeKraken], tmp_path: Path) -> None:
    below = _check(make_fake(SimClock(START)), tmp_path, volume="0.00001")
    assert below.reason_code == "VENUE_ORDER_MINIMUM"
    assert below.checks[-1].name == "dry_run"
    poor = make_fake(SimClock(START))
    poor.book.balances["ZUSD"] = Decimal(0)
    report = _check(poor, tmp_path)
    assert report.ok
    assert "accepted but for funds" in report.checks[-1].detail
    assert poor.book.orders == {}  # a dry run places nothing


def test_a_wrong_secret_fails_the_first_call(
    make_fake: Callable[..., FakeKraken], tmp_path: Path
) -> None:
    fake = make_fake(SimClock(START))
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, "b3RoZXItc2VjcmV0")
        client = open_client(creds, server.base_url, clock=fake.clock, state_dir=tmp_path)
        report = check_key(
            client,
            base_url=server.base_url,
            fingerprint=creds.fingerprint,
        )
        client.close()
    assert report.reason_code == "VENUE_AUTH_INVALID"
    assert len(report.checks) == 1


def _connect(fake: FakeKraken, store: CredentialStore, tmp_path: Path) -> tuple[str, str]:
    """Connect the fake's key; (its URL, its fingerprint)."""
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, server.secret)
        client = open_client(creds, server.base_url, clock=fake.clock, state_dir=tmp_path)
        try:
            connect_key(
                creds, base_url=server.base_url, store=store, client=client, clock=fake.clock
            )
        finally:
            client.close()
    return server.base_url, creds.fingerprint


def test_connect_stores_a_key_that_passed(
    make_fake: Callable[..., FakeKraken], tmp_path: Path, secret_service: KeyringBackend
) -> None:
    store = CredentialStore(secret_service)
    url, fingerprint = _connect(make_fake(SimClock(START)), store, tmp_path)
    found = store.load(url)
    assert found is not None
    assert found.fingerprint == fingerprint
    assert found.validated_ns == START
    assert store.delete(url)


def test_connect_stores_nothing_when_a_check_fails(
    make_fake: Callable[..., FakeKraken], tmp_path: Path, secret_service: KeyringBackend
) -> None:
    store = CredentialStore(secret_service)
    fake = make_fake(SimClock(START), permissions=frozenset({"withdraw_funds"}))
    with pytest.raises(ConnectError) as caught:
        _connect(fake, store, tmp_path)
    assert caught.value.reason_code == "KRAKEN_KEY_SCOPE"
    assert caught.value.report.checks[0].name == "key"
    assert "may withdraw" in caught.value.message
    assert fake.calls == ["GetApiKeyInfo"]


def test_connect_fails_closed_before_any_call(
    make_fake: Callable[..., FakeKraken], tmp_path: Path
) -> None:
    fake = make_fake(SimClock(START))
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, server.secret)
        client = open_client(creds, server.base_url, clock=fake.clock, state_dir=tmp_path)
        with pytest.raises(CredentialsUnavailableError):
            connect_key(
                creds, base_url=server.base_url, store=CredentialStore(fail.Keyring()),  # type: ignore[no-untyped-call]
                client=client, clock=fake.clock,
            )  # fmt: skip
        client.close()
    assert fake.calls == []

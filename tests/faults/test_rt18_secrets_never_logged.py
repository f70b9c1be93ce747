"""RT-18: a planted Kraken key and secret appear in no log, repr, exception or file.

Onboarding runs at DEBUG logging against the fake Kraken over HTTP: a passing check and store,
a refused key (may withdraw), a wrong secret (the exchange refuses the signature), a dry run
refused, a write of unknown outcome. Then every captured log record (``caplog``, all loggers at
DEBUG), every repr and message of the objects and errors involved and every file written under
the test's directory is searched for the key, the secret (base64 and decoded) and each
``API-Sign`` value the fake received: 0 hits. The same scan follows a session trading on the
live venue (orders, a write of unknown outcome, the kill switch). The end-to-end CLI flow does
the same for its processes' output and files (``tests/quant_apps/live/test_live_flow_e2e.py``).
"""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from quant_apps.runtime.trading.credentials import CredentialStore, KrakenCredentials
from quant_apps.runtime.trading.onboarding import ConnectError, connect_key, open_client
from quant_core import SimClock
from quant_core.errors import QuantError
from quant_exec.venues.kraken import TRADING_PERMISSIONS
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken, serve_fake_kraken

KEY = "rt18-planted-public-key-8c3e"
SECRET = base64.b64encode(b"rt18 planted private key 71f0, never in a log").decode()
START = 1_700_000_000 * 10**9


class _Memory(KeyringBackend):
    """An in-memory credential store (the OS store's interface; RT-19 covers its absence)."""

    priority = -1  # never chosen by keyring itself

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def _fake(**kwargs: Any) -> FakeKraken:
    fake = FakeKraken(SimClock(START), api_key=KEY, secret=SECRET, **kwargs)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    fake.book.balances["ZUSD"] = Decimal("1000")
    return fake


def test_no_planted_secret_in_logs_reprs_errors_or_files(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    signatures: list[str] = []
    creds = KrakenCredentials.parse(KEY, SECRET)
    store = CredentialStore(_Memory())
    texts += [repr(creds), str(creds)]

    def run(fake: FakeKraken, credentials: KrakenCredentials, *, volume: str = "0.0001") -> None:
        with serve_fake_kraken(fake, hang_s=1.0) as server:
            client = open_client(credentials, server.base_url, clock=fake.clock,
                                 state_dir=tmp_path / "nonces")  # fmt: skip
            texts.append(repr(client))
            try:
                report = connect_key(
                    credentials, base_url=server.base_url, store=store, client=client,
                    clock=fake.clock, volume=Decimal(volume),
                )  # fmt: skip
                texts.append(repr(report))
                stored = store.load(server.base_url)
                texts.extend([repr(stored), str(stored.about() if stored else None)])
            except QuantError as exc:
                texts.extend([str(exc), repr(exc), repr(exc.to_dict())])
                if isinstance(exc, ConnectError):
                    texts.append(repr(exc.report.to_json()))
            finally:
                client.close()
        signatures.extend(fake.signatures)

    run(_fake(), creds)  # passes and is stored
    withdraw = frozenset({*TRADING_PERMISSIONS, "websocket", "withdraw_funds"})
    run(_fake(permissions=withdraw), creds)  # refused: may withdraw
    run(_fake(), KrakenCredentials.parse(KEY, base64.b64encode(b"wrong").decode()))  # bad sign
    run(_fake(), creds, volume="0.00000001")  # the dry run is refused
    busy = _fake()
    busy.inject("AddOrder", FakeFault.ACCEPT_THEN_500)  # a write of unknown outcome
    run(busy, creds)

    assert signatures, "the fake saw no signed request"
    needles = [KEY, SECRET, base64.b64decode(SECRET).decode(), *set(signatures)]
    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged at DEBUG: the scan would prove nothing"
    haystacks = {"logs": logged, "reprs and errors": "\n".join(texts)}
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a planted secret ({needle[:6]}…) is in {where}"


def test_no_planted_secret_from_the_live_venue_path(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """A live session on the fake (orders, a write of unknown outcome, a halt) at DEBUG."""
    from quant_apps.runtime import PaperLogWriter, ProviderSync, TradingRuntime
    from quant_core import Instrument, Timeframe
    from quant_data import SourceBar, StoreFeed
    from quant_data.store import MemoryProvider, Store
    from quant_exec import BacktestConfig, RecordedPredictor
    from quant_exec.session import example_bars, example_predictions
    from quant_exec.venues.kraken import KrakenVenue

    caplog.set_level(logging.DEBUG)
    bars = example_bars(n_bars=60)
    hour = Timeframe.H1.ns
    clock = SimClock(min(b.open_time_ns for b in bars) + hour)
    fake = FakeKraken(clock, api_key=KEY, secret=SECRET)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("41600"))
    fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2300"))
    fake.book.balances["ZUSD"] = Decimal("10000")
    fake.inject("AddOrder", FakeFault.ACCEPT_THEN_500)  # the first order's outcome is unknown
    source = [
        SourceBar("memory", b.instrument.base, "USD", "1h", b.open_time_ns, str(b.open),
                  str(b.high), str(b.low), str(b.close), str(b.volume))
        for b in bars
    ]  # fmt: skip
    store = Store.open("sqlite://", clock=clock)
    writer = PaperLogWriter(tmp_path / "decisions.jsonl")
    with serve_fake_kraken(fake, hang_s=1.0) as server:
        creds = KrakenCredentials.parse(KEY, SECRET)
        client = open_client(creds, server.base_url, clock=clock, state_dir=tmp_path / "n")
        pairs = {Instrument("BTC", "USD"): "XBTUSD", Instrument("ETH", "USD"): "ETHUSD"}
        assets = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}
        runtime = TradingRuntime(
            feed=StoreFeed(store, ["BTC", "ETH"], "USD", Timeframe.H1, prefer=["memory"]),
            sync=ProviderSync(store, MemoryProvider(source, page_limit=500), ["BTC", "ETH"], "USD",
                              Timeframe.H1),
            clock=clock, predictor=RecordedPredictor(example_predictions(bars)),
            config=BacktestConfig.defaults(), writer=writer, header={"paper": {"run": 1}},
            venue=lambda engine_clock: KrakenVenue(
                client, clock=engine_clock, pairs=pairs, assets=assets),
        )  # fmt: skip
        venue = runtime.engine.venue
        assert isinstance(venue, KrakenVenue)
        try:
            runtime.start()
            for _ in range(12):
                runtime.cycle()
                clock.advance_by(hour)
            runtime.halt("drill", actor="ops")
            runtime.service()
            texts = [repr(venue), repr(client), repr(runtime.read_model())]
        finally:
            venue.close()
    assert "AddOrder" in fake.calls, "the session never traded: the scan would prove little"
    needles = [KEY, SECRET, base64.b64decode(SECRET).decode(), *set(fake.signatures)]
    haystacks = {"logs": caplog.text, "reprs": "\n".join(texts)}
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a planted secret ({needle[:6]}…) is in {where}"

"""The kill-switch drill on the live path: the session's working order is cancelled at the
exchange and verified gone, over real HTTP against the fake Kraken.

The runtime is the paper session's (:class:`TradingRuntime`, example bars and recorded
predictions so that it trades), its venue the live :class:`KrakenVenue` on a private client
for the fake exchange, which fills half of each market order at once (so an order stays
working there). Engaging the kill switch must send a cancel for it, and the venue's open orders
must then verify it gone: a ``kill_switch_verify`` risk line with ``KILL_SWITCH_VERIFIED``,
and no open order left on the exchange.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from quant_apps.runtime import PaperLogWriter, ProviderSync, TradingRuntime
from quant_apps.runtime.trading.credentials import KrakenCredentials
from quant_apps.runtime.trading.live import KeepAliveWaiter
from quant_apps.runtime.trading.onboarding import open_client
from quant_core import Instrument, SimClock, Timeframe
from quant_data import SourceBar, StoreFeed
from quant_data.store import MemoryProvider, Store
from quant_exec import BacktestConfig, RecordedPredictor, read_log
from quant_exec.session import example_bars, example_predictions
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken

H = Timeframe.H1.ns
SYMBOLS = ["BTC", "ETH"]
PAIRS = {Instrument("BTC", "USD"): "XBTUSD", Instrument("ETH", "USD"): "ETHUSD"}
ASSETS = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}


def _source() -> list[SourceBar]:
    return [
        SourceBar("memory", b.instrument.base, b.instrument.quote.value, "1h", b.open_time_ns,
                  str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume))
        for b in example_bars(n_bars=60)
    ]  # fmt: skip


def test_engaging_cancels_the_working_order_at_the_exchange(tmp_path: Path) -> None:
    bars = example_bars(n_bars=60)
    clock = SimClock(min(b.open_time_ns for b in bars) + H)
    fake = FakeKraken(clock)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("41600"))
    fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2300"))
    fake.book.balances["ZUSD"] = Decimal("10000")
    fake.book.partial_fill = Decimal("0.5")  # half now: the rest stays working
    store = Store.open("sqlite://", clock=clock)
    provider = MemoryProvider(_source(), page_limit=500)
    writer = PaperLogWriter(tmp_path / "decisions.jsonl")
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, server.secret)
        client = open_client(creds, server.base_url, clock=clock, state_dir=tmp_path)
        runtime = TradingRuntime(
            feed=StoreFeed(store, SYMBOLS, "USD", Timeframe.H1, prefer=["memory"]),
            sync=ProviderSync(store, provider, SYMBOLS, "USD", Timeframe.H1),
            clock=clock,
            predictor=RecordedPredictor(example_predictions(bars)),
            config=BacktestConfig.defaults(),
            writer=writer,
            header={"paper": {"run": writer.next_run}},
            venue=lambda engine_clock: KrakenVenue(
                client, clock=engine_clock, pairs=PAIRS, assets=ASSETS
            ),
        )
        venue = runtime.engine.venue
        assert isinstance(venue, KrakenVenue)
        try:
            runtime.start()
            for _ in range(40):
                runtime.cycle()
                if runtime.engine.orders:
                    break
                clock.advance_by(H)  # nothing is open yet: the dead-man's switch cancels nothing
            working = sorted(runtime.engine.orders)
            assert working, "the session never had an order working"
            open_at_venue = {o.cl_ord_id for o in client.open_orders().orders}
            assert {KrakenVenue.kraken_id(oid) for oid in working} <= open_at_venue
            runtime.halt("drill", actor="ops")
            runtime.service()
            clock.advance_by(10**9)
            runtime.cycle()
            assert client.open_orders().count == 0  # nothing of the session left working
        finally:
            venue.close()
    (run,) = read_log(writer.path)
    verify = [line for line in run.risk if line["change"] == "kill_switch_verify"]
    assert verify
    assert verify[-1]["reason_code"] == "KILL_SWITCH_VERIFIED"
    engage = next(line for line in run.risk if line["change"] == "kill_switch")
    assert sorted(engage["cancel_requested"]) == working


class _Waits:
    """A waiter that only counts (the keep-alive's own calls are what is checked)."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.woken = 0

    def wait(self, timeout_s: float) -> None:
        self.waits.append(timeout_s)

    def wake(self) -> None:
        self.woken += 1


def test_the_runner_keeps_the_dead_mans_switch_armed_between_cycles(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = SimClock(1_700_000_000 * 10**9)
    fake = FakeKraken(clock)
    inner = _Waits()
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        creds = KrakenCredentials.parse(server.api_key, server.secret)
        client = open_client(creds, server.base_url, clock=clock, state_dir=tmp_path)
        keeper = KeepAliveWaiter(inner, client, clock, dead_man_s=60, refresh_s=20)
        keeper.wait(1.0)
        armed = fake.book.cancel_at_ns
        assert armed == clock.now_ns() + 60 * 10**9
        clock.advance_by(19 * 10**9)
        keeper.wait(1.0)  # not due yet
        assert (keeper.rearmed, fake.book.cancel_at_ns) == (1, armed)
        clock.advance_by(10**9)
        keeper.wait(1.0)  # due: re-armed from now
        assert fake.book.cancel_at_ns == clock.now_ns() + 60 * 10**9
        fake.permissions = frozenset()
        clock.advance_by(20 * 10**9)
        keeper.wait(1.0)  # refused: logged, not raised (the switch then fires)
        assert keeper.rearmed == 2
        assert "dead-man's switch not re-armed" in caplog.text
        keeper.wake()
        never = KeepAliveWaiter(inner, client, clock, dead_man_s=0, refresh_s=20)
        calls = len(fake.calls)
        never.wait(1.0)
        assert len(fake.calls) == calls
        client.close()
    assert inner.waits == [1.0] * 5
    assert inner.woken == 1

"""Finding 5: a short provider page inside the requested window does not end pagination.

Half a page twice (the emulator's ``partial`` fault) used to make a backfill report success
after 3 requests with 462 of 662 bars missing. Now a page shorter than the limit proves
coverage only up to its last bar: the backfill goes on from there, gets every bar, and a window
that still has missing slots is reported incomplete in the backfill's result and in the
``quant data backfill`` exit code, not only in ``data status``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import SimClock, Timeframe, iso_to_ns
from quant_core.settings import Secret
from quant_data import Store, SyntheticMarket
from quant_data.backfill import BackfillReport, backfill, minimum_requests, retry_gaps
from quant_data.emulator import FaultKind, FaultPlan, FaultRule, serve_emulator
from quant_data.providers import CoinApiProvider
from quant_data.store import SeriesKey

H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
BARS = 662
END = START + BARS * H
NOW = END + H // 2
MARKET = SyntheticMarket(seed=7, symbols=("BTC",), start_ns=START, end_ns=END + 24 * H)
HALF_PAGE_TWICE = FaultPlan(
    rules=(FaultRule(FaultKind.PARTIAL, dialect="coinapi", endpoint="history", count=2),)
)


def _backfill(plan: FaultPlan | None) -> tuple[BackfillReport, Store]:
    with serve_emulator(MARKET, clock=SimClock(NOW), faults=plan) as emulator:
        provider = CoinApiProvider(
            emulator.base_url("coinapi"), Secret("k"), clock=SimClock(NOW), seed=0, page_limit=300
        )
        store = Store.open("sqlite://", clock=SimClock(NOW))
        report = backfill(
            store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
            start_ns=START, end_ns=END,
        )  # fmt: skip
    return report, store


def test_half_a_page_twice_goes_on_from_the_last_bar_received() -> None:
    clean, clean_store = _backfill(None)
    cut, cut_store = _backfill(HALF_PAGE_TWICE)
    assert cut.series[0].bars_new == clean.series[0].bars_new
    assert cut.series[0].bars_new + cut.series[0].missing == BARS
    series = SeriesKey("coinapi", "BTC", "USD", "1h")
    # the only slots missing are the no-trade hours CoinAPI omits, as without the fault
    assert cut_store.gaps(series) == clean_store.gaps(series)
    assert cut.missing == clean.missing == len(clean_store.gaps(series)) < 10
    # the two half pages covered 300 hours; the rest takes the minimum number of requests
    assert cut.requests == 2 + minimum_requests(START + 300 * H, END, Timeframe.H1, 300)
    assert clean.requests == minimum_requests(START, END, Timeframe.H1, 300)


def test_a_window_the_provider_cannot_fill_is_reported_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hole = FaultPlan(
        rules=(FaultRule(FaultKind.STATUS, dialect="coinapi", status=550, first=1, count=None),)
    )
    with serve_emulator(MARKET, clock=SimClock(NOW), faults=hole) as emulator:
        provider = CoinApiProvider(
            emulator.base_url("coinapi"), Secret("k"), clock=SimClock(NOW), seed=0, page_limit=300
        )
        store = Store.open("sqlite://", clock=SimClock(NOW))
        report = backfill(
            store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
            start_ns=START, end_ns=END,
        )  # fmt: skip
        assert not report.complete
        assert report.series[0].bars_new + report.missing == BARS
        assert report.missing >= BARS - 300
        # a rerun of the finished job fetches nothing and still says what is missing
        again = backfill(
            store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
            start_ns=START, end_ns=END,
        )  # fmt: skip
        assert again.missing == report.missing
        assert again.requests == 0
        # so does a retry of the gaps the provider still cannot fill
        retried = retry_gaps(store, provider, symbols=["BTC"], quote="USD", timeframe="1h")
        assert retried.missing == report.missing

        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("HIST_MARKET_DATA_PROVIDER", "coinapi")
        monkeypatch.setenv("HIST_MARKET_DATA_BASE_URL", emulator.base_url("coinapi"))
        monkeypatch.setenv("HIST_MARKET_DATA_API_KEY", "k")
        emulator.set_faults(hole)
        url = f"sqlite:///{tmp_path / 'store.sqlite'}"
        args = ["data", "backfill", "--symbols", "BTC", "--provider", "coinapi",
                "--start", "2024-01-01T00:00:00Z", "--end", "2024-01-28T14:00:00Z",
                "--database-url", url]  # fmt: skip
        result = CliRunner().invoke(app, [*args, "--json"])
        assert result.exit_code == 1, result.output
        doc = json.loads(result.stdout)
        assert doc["ok"] is False
        assert doc["reason_code"] == "BACKFILL_INCOMPLETE"
        assert doc["series"][0]["missing"] + doc["series"][0]["bars_new"] == BARS
        assert doc["series"][0]["missing"] >= BARS - 100
        human = CliRunner().invoke(app, args)
        assert human.exit_code == 1
        assert "BACKFILL_INCOMPLETE" in human.output
        assert f"missing {doc['series'][0]['missing']:>5}" in human.output

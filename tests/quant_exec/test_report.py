"""The HTML report: buy-and-hold yardstick, drawdowns, markers, extra tables, determinism."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_exec.report import (
    ReportData,
    buy_and_hold_return_pct,
    buy_and_hold_series,
    drawdown_series,
    render_report,
)

D = Decimal
H = 3_600 * 10**9


def _data(**kw: object) -> ReportData:
    base: dict[str, object] = {
        "title": "r",
        "equity": ((0, D(1000)), (H, D(900)), (2 * H, D(1100))),
        "closes": {
            "BTC/USD": ((0, D(100)), (H, D(50)), (2 * H, D(150))),
            "ETH/USD": ((H, D(10)), (2 * H, D(20))),
        },
        "fills": ((H, "BTC/USD", "buy", D(50)), (2 * H, "BTC/USD", "sell", D(150))),
        "reason_counts": {"ENTRY": 1, "TAKE_PROFIT_PARTIAL": 1},
        "metrics": {"return_pct": "10"},
        "identity": {"dataset_hash": "sha256:d", "bundle_hash": "sha384:b"},
    }
    base.update(kw)
    return ReportData(**base)  # type: ignore[arg-type]


def test_buy_and_hold_by_hand() -> None:
    # 1000 split 500/500. BTC bought at 100; ETH's half waits as cash until its first close.
    line = buy_and_hold_series(_data().closes, D(1000), [0, H, 2 * H])
    # t0: 500 + 500 cash; t1: 500*50/100 + 500*10/10 = 750; t2: 500*1.5 + 500*2 = 1750.
    assert [v for _, v in line] == [D(1000), D(750), D(1750)]
    assert [t for t, _ in line] == [0, H, 2 * H]


def test_buy_and_hold_holds_the_last_close_between_bars() -> None:
    closes = {"A": ((0, D(10)), (3 * H, D(30)))}
    line = buy_and_hold_series(closes, D(100), [0, H, 2 * H, 3 * H])
    assert [v for _, v in line] == [D(100), D(100), D(100), D(300)]


def test_buy_and_hold_without_prices_is_flat_cash() -> None:
    assert buy_and_hold_series({}, D(5), [0, H]) == [(0, D(5)), (H, D(5))]
    assert buy_and_hold_series({"A": ()}, D(5), [0]) == [(0, D(5))]
    # A zero first close cannot be bought: its share stays cash rather than dividing by zero.
    assert buy_and_hold_series({"A": ((0, D(0)), (H, D(3)))}, D(8), [0, H]) == [
        (0, D(8)),
        (H, D(8)),
    ]


@given(
    st.lists(st.integers(min_value=1, max_value=10_000), min_size=1, max_size=30),
    st.integers(min_value=1, max_value=10**6),
)
def test_one_instrument_buy_and_hold_tracks_its_price(prices: list[int], cash: int) -> None:
    closes = {"A": tuple((i * H, D(p)) for i, p in enumerate(prices))}
    line = buy_and_hold_series(closes, D(cash), [i * H for i in range(len(prices))])
    for (_, value), price in zip(line, prices, strict=True):
        assert value == D(cash) * D(price) / D(prices[0])


def test_buy_and_hold_return() -> None:
    assert buy_and_hold_return_pct(_data()) == D("75.0000")
    assert buy_and_hold_return_pct(_data(equity=())) is None
    explicit = ((0, D(200)), (H, D(100)))
    assert buy_and_hold_return_pct(_data(benchmark=explicit)) == D("-50.0000")
    assert buy_and_hold_return_pct(_data(benchmark=((0, D(0)), (H, D(1))))) is None


def _polyline_points(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in pts.split()]  # type: ignore[misc]
        for pts in re.findall(r'<polyline[^>]*points="([^"]*)"', svg)
    ]


def test_equity_and_drawdown_charts_draw_strategy_and_buy_and_hold() -> None:
    html = render_report(_data())
    sections = html.split("<h2>")
    equity = next(s for s in sections if s.startswith("Equity"))
    drawdown = next(s for s in sections if s.startswith("Drawdown"))
    for chart in (equity, drawdown):
        assert chart.count("<svg") == 1
        assert chart.count("<polyline") == 2
        assert "buy and hold" in chart
        assert "strategy" in chart
    # Shared scale: the buy-and-hold peak (1750) is the top of the equity chart, so its last
    # point is higher on screen (smaller y) than the strategy's last point (1100).
    hold, strategy = _polyline_points(equity)
    assert hold[-1][1] < strategy[-1][1]
    assert len(hold) == len(strategy) == 3
    # The buy-and-hold return appears in the summary table.
    assert "buy_and_hold_return_pct" in html
    assert "75.0000" in html


def test_caller_metric_wins_over_the_derived_buy_and_hold_return() -> None:
    html = render_report(_data(metrics={"buy_and_hold_return_pct": "given"}))
    assert "given" in html
    assert "75.0000" not in html


def test_markers_tables_hashes_and_escaping() -> None:
    data = _data(tables={"Data <x>": {"bars": 5, "source": "a&b"}, "A first": {"k": "v"}})
    html = render_report(data)
    assert html == render_report(data)
    assert "Data &lt;x&gt;" in html
    assert "a&amp;b" in html
    assert html.index("<h2>A first") < html.index("<h2>Data &lt;x&gt;")
    assert html.index("<h2>Identity") < html.index("<h2>A first") < html.index("<h2>Equity")
    assert "sha384:b" in html
    assert "sha256:d" in html
    # One marker per fill, on its instrument's chart, coloured by side, with the time.
    btc = html.split("<h3>BTC/USD")[1].split("<h3>")[0]
    eth = html.split("<h3>ETH/USD")[1]
    assert btc.count("<circle") == 2
    assert eth.count("<circle") == 0
    assert "buy 50 at 1970-01-01 01:00" in btc
    assert 'fill="#c62828"' in btc
    assert 'fill="#1a7f37"' in btc
    # Axis labels give the chart's time span.
    assert "1970-01-01 00:00" in html
    assert "1970-01-01 02:00" in html
    assert "<script" not in html
    assert "http" not in html
    assert "<link" not in html


def test_single_line_charts_have_no_legend_and_empty_inputs_say_so() -> None:
    one = render_report(_data(closes={"BTC/USD": ((0, D(1)),)}, fills=()))
    price = one.split("<h3>BTC/USD")[1]
    assert "<rect" not in price.split("</svg>")[0]
    empty = render_report(_data(equity=(), closes={}, fills=(), reason_counts={}))
    assert empty.count("(no data)") == 2
    assert "(no decisions)" in empty


@pytest.mark.parametrize("values", [[100, 80, 120, 60], [5], [0, 0]])
def test_drawdown_is_never_positive_and_zero_at_new_peaks(values: list[int]) -> None:
    series = [(i, D(v)) for i, v in enumerate(values)]
    dd = drawdown_series(series)
    peak = D(0)
    for (_, v), (_, d) in zip(series, dd, strict=True):
        assert d <= 0
        if v >= peak:
            assert d == 0
        peak = max(peak, v)

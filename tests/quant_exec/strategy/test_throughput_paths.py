"""The throughput work changed how the engine computes, never what it writes.

Each fast path is checked against its general (reference) form:

* :meth:`DecisionLog.add` (fields, record made on demand) against
  :meth:`DecisionLog.append` (record first);
* :meth:`Ledger.valuation` against :meth:`Ledger.snapshot` (digits and exponent);
* the engine's lazily made per-event snapshot against a snapshot taken before the
  evaluations of that event time;
* the benchmark's integer-cents SMA cross against the plain Decimal means.
"""

from __future__ import annotations

import pickle
import runpy
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import Bar, Instrument, Timeframe, canonical_json, canonical_text
from quant_core.errors import CanonicalizationError
from quant_core.events import HorizonForecast, Prediction, Predictor
from quant_core.profiles import StrategyProfile
from quant_exec.decisions import DecisionLog, DecisionRecord
from quant_exec.ledger import Ledger, PortfolioSnapshot
from quant_exec.orders import OrderFilled
from quant_exec.session import BacktestConfig, TradingSession
from quant_exec.strategy import MarketContext, PositionView, StrategyState, decide

BENCHMARKS = Path(__file__).resolve().parents[3] / "benchmarks"
H = Timeframe.H1.ns

# --- values of inputs -----------------------------------------------------------------------

keys = st.text(max_size=8) | st.sampled_from(["price", "p_up", "1h", "é", '"q"', "\u2028"])
scalars = (
    st.integers(-(10**30), 10**30)
    | st.floats()  # NaN and infinities included: both writers must refuse them
    | st.decimals()  # NaN, sNaN and infinities included
    | st.just(-0.0)
    | st.text(max_size=8)
    | st.none()
    | st.booleans()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
any_keys = keys | st.integers(-3, 3)


def general(value: Any) -> str | type[Exception]:
    """The canonical encoder's text, or the error type it refuses with."""
    try:
        return canonical_text(value)
    except (CanonicalizationError, ValueError, TypeError) as exc:
        return type(exc)


# --- DecisionLog.add against DecisionLog.append ---------------------------------------------

texts = st.text(max_size=10) | st.sampled_from(["none", "bar", "BTC/USD", "HOLD_POSITION"])
fields = st.tuples(
    st.integers(0, 2**63),
    texts,
    st.none() | texts,
    texts,
    st.lists(texts, min_size=1, max_size=3).map(tuple),
    texts,
    st.dictionaries(keys, scalars.filter(lambda v: general(v) is not None), max_size=4).filter(
        lambda d: isinstance(general(d), str)
    ),
    st.none() | st.decimals(allow_nan=False, allow_infinity=False),
    st.none() | texts,
    st.none() | texts,
)


@given(st.lists(st.tuples(fields, st.booleans()), max_size=6))
def test_add_writes_what_append_writes_and_records_the_same(
    batch: list[tuple[tuple[Any, ...], bool]],
) -> None:
    by_add, by_append = DecisionLog({"model_id": "m"}), DecisionLog({"model_id": "m"})
    for values_, use_append in batch:  # ``by_add`` mixes both ways of appending
        record = DecisionRecord(*values_)
        numbered = by_append.append(record)
        if use_append:
            by_add.append(record)
        else:
            assert by_add.add(*values_) == numbered.seq
    assert by_add.to_bytes() == by_append.to_bytes()
    assert by_add.records == by_append.records
    assert by_add.records == by_add.records  # made once, read again
    assert by_add.reason_counts() == by_append.reason_counts()
    assert len(by_add) == len(by_append) == len(batch)
    header = by_add.to_bytes().splitlines(keepends=True)[0]
    assert by_add.to_bytes() == header + b"".join(
        canonical_json(r.to_record()) + b"\n" for r in by_add.records
    )


def test_add_of_unusual_field_types_takes_the_general_path() -> None:
    log = DecisionLog({})
    log.add(5, "bar", "BTC/USD", "none", ["NO_EDGE"], "p", {"a": 1})  # type: ignore[arg-type]
    log.add(6, "bar", None, "buy", ("ENTRY",), "p", {}, 7)  # type: ignore[arg-type]
    expected = [
        DecisionRecord(5, "bar", "BTC/USD", "none", ["NO_EDGE"], "p", {"a": 1}, seq=1),  # type: ignore[arg-type]
        DecisionRecord(6, "bar", None, "buy", ("ENTRY",), "p", {}, 7, seq=2),  # type: ignore[arg-type]
    ]
    lines = log.to_bytes().splitlines(keepends=True)[1:]
    assert lines == [canonical_json(r.to_record()) + b"\n" for r in expected]


# --- Ledger.valuation against the snapshot ---------------------------------------------------

BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**6), places=4)
amounts = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(5), places=4)


@given(
    st.lists(st.tuples(st.sampled_from([BTC, ETH]), amounts, prices), max_size=4),
    st.dictionaries(st.sampled_from(["BTC", "ETH"]), prices | st.just(Decimal("1E+3"))),
)
def test_valuation_is_the_snapshots_cash_positions_and_value(
    buys: list[tuple[Instrument, Decimal, Decimal]], marks: dict[str, Decimal]
) -> None:
    ledger = Ledger("USD", Decimal("1E+7"))
    for n, (instrument, quantity, price) in enumerate(buys):
        fill = OrderFilled(
            f"O-{n}", instrument, "buy", f"t{n}", price, quantity, "0.5", ts_event=1, ts_init=1
        )
        ledger.apply(fill)
    ledger.mark(marks)
    for _ in range(2):  # the second read uses the kept positions view
        cash, positions, value = ledger.valuation()
        snapshot = ledger.snapshot()
        assert (cash, dict(positions)) == (snapshot.cash, dict(snapshot.positions))
        assert str(value) == str(snapshot.portfolio_value)  # same digits, same exponent
        assert positions is snapshot.positions


# --- the engine's per-event snapshot ----------------------------------------------------------


class Bullish:
    """Every instrument, every bar: a confident up forecast (both enter at one event time)."""

    model_id = "test:bullish"
    horizons_ns = (H, 24 * H)

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        forecasts = tuple(HorizonForecast(h, 0.9) for h in self.horizons_ns)
        return tuple(Prediction(i, as_of_ns, as_of_ns, forecasts, self.model_id) for i in history)


class Watching:
    """A predictor that notes a ledger snapshot as the evaluations of each event time begin.

    The engine asks for predictions after the bars' fills and marks and before it evaluates,
    so this is the snapshot an eager engine would have handed the risk gates.
    """

    def __init__(self, inner: Predictor) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.horizons_ns = inner.horizons_ns
        self.ledger: Ledger | None = None
        self.before: dict[int, PortfolioSnapshot] = {}

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        assert self.ledger is not None
        self.before[as_of_ns] = self.ledger.snapshot()
        return self.inner.predict(as_of_ns, history)


def test_every_risk_check_of_an_event_time_sees_the_snapshot_from_before_its_evaluations(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    watching = Watching(Bullish())
    session = TradingSession([BTC, ETH], Timeframe.H1, watching, BacktestConfig.defaults())
    watching.ledger = session.ledger
    seen: list[tuple[int, PortfolioSnapshot]] = []
    snapshot = session._snapshot  # what the risk gates of each intent are handed

    def noting() -> PortfolioSnapshot:
        made = snapshot()
        seen.append((session.clock.now_ns(), made))
        return made

    monkeypatch.setattr(session, "_snapshot", noting)
    for n in range(6):
        price = str(100 + n)
        session.on_bars(
            [Bar(i, "1h", n * H, price, price, price, price, "1e9") for i in (BTC, ETH)]
        )
    times = [t for t, _ in seen]
    assert len(set(times)) < len(times)  # some event time checked two orders
    for ts, handed in seen:
        assert handed == watching.before[ts]
        assert handed is next(s for t, s in seen if t == ts)  # one snapshot per event time


# --- the benchmark's predictor ------------------------------------------------------------------


def test_the_benchmarks_sma_cross_gives_the_signals_of_decimal_means(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    bench = runpy.run_path(str(BENCHMARKS / "bench_backtest.py"))
    fast_n, slow_n, btc = bench["FAST"], bench["SLOW"], bench["BTC"]
    bars = bench["make_bars"](400)
    predictor = bench["SmaCross"]()
    signals: list[float | None] = []
    expected: list[float | None] = []
    for n in range(1, len(bars) + 1):
        seen = bars[:n]
        out = predictor.predict(seen[-1].close_time_ns, {btc: seen})
        signals.append(out[0].forecasts[0].p_up if out else None)
        if n < slow_n:
            expected.append(None)
            continue
        fast_mean = sum(b.close for b in seen[-fast_n:]) / fast_n
        slow_mean = sum(b.close for b in seen[-slow_n:]) / slow_n
        expected.append(1.0 if fast_mean > slow_mean else 0.0 if fast_mean < slow_mean else 0.5)
    assert signals == expected
    assert {1.0, 0.0} <= set(signals)
    sys.modules.pop("_harness", None)


# --- cached instrument hashes ---------------------------------------------------------------------


def test_instrument_hashes_stay_value_hashes() -> None:
    again = Instrument("BTC", "USD")
    copied = pickle.loads(pickle.dumps(BTC))
    assert hash(again) == hash(BTC) == hash(copied)
    assert {BTC: 1}[copied] == 1
    assert len({BTC, again, copied, ETH}) == 2


# --- the strategy's inputs --------------------------------------------------------------------


@pytest.mark.parametrize("horizons", [(H,), (H, 4 * H), (H, 4 * H, 24 * H)])
@pytest.mark.parametrize("held", [Decimal(0), Decimal("0.5")])
def test_p_up_inputs_name_every_horizon_of_the_prediction(
    horizons: tuple[int, ...], held: Decimal
) -> None:
    forecasts = tuple(HorizonForecast(h, 0.5 + n / 10) for n, h in enumerate(horizons))
    prediction = Prediction(BTC, H, H, forecasts, "m")
    position = PositionView(held, Decimal(100))
    assert position.is_open == (held > 0)
    context = MarketContext(Decimal(100), Decimal(10_000), Decimal(10_000), Decimal("0.001"))
    outcome = decide(
        StrategyState(), position, context, prediction, StrategyProfile(), new_bar=True
    )
    assert outcome.inputs["p_up"] == {f.label: f.p_up for f in forecasts}
    assert outcome.inputs["position"] == held

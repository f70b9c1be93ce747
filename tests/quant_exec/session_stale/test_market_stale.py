"""A pair whose live market data is stale gets no new risk; exits go; recovery trades again.

The engine's per-instrument hook (:meth:`TradingSession.market_stale`, decision 0113), on the
deterministic example bars and predictions (no clock, no network).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from quant_core import Instrument, Timeframe
from quant_exec import BacktestConfig, TradingSession, reasons
from quant_exec.errors import EngineInputError
from quant_exec.session import RecordedPredictor, example_bars, example_predictions

BARS = example_bars(n_bars=200)
TIMES = sorted({b.open_time_ns for b in BARS})
BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")


def _session() -> TradingSession:
    return TradingSession(
        sorted({b.instrument for b in BARS}),
        Timeframe.H1,
        RecordedPredictor(example_predictions(BARS)),
        BacktestConfig.defaults(),
    )


def _run(session: TradingSession, before: Callable[[int], object] = lambda i: None) -> None:
    for i, open_ns in enumerate(TIMES):
        before(i)
        session.on_bars([b for b in BARS if b.open_time_ns == open_ns])


def _actions(session: TradingSession, name: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(str(r.action), r.reason_codes) for r in session.log.records if r.instrument == name]


def test_a_stale_pair_gets_no_new_entry_and_trades_again_once_valid() -> None:
    session = _session()

    def mark(i: int) -> None:
        if i == 0:
            assert session.market_stale(BTC, True, reasons.MARKET_DATA_STALE, now_ns=TIMES[0])
        if i == 20:
            assert session.market_stale(BTC, False, reasons.MARKET_DATA_VALID, now_ns=TIMES[20])

    _run(session, mark)
    btc = _actions(session, "BTC/USD")
    first_buy = next(i for i, (action, _) in enumerate(btc) if action == "buy")
    refused = [codes for action, codes in btc[:first_buy] if action == "rejected"]
    assert refused
    assert all(codes[-1] == reasons.MARKET_DATA_STALE for codes in refused)
    assert ("buy", ("ENTRY",)) in _actions(session, "ETH/USD")  # the other pair was not held
    stale_lines = [r for r in session.log.risk if r["change"] == "market_stale"]
    assert [(r["instrument"], r["stale"], r["reason_code"]) for r in stale_lines] == [
        ("BTC/USD", True, "MARKET_DATA_STALE"),
        ("BTC/USD", False, "MARKET_DATA_VALID"),
    ]
    buy_ts = [
        r.ts_ns for r in session.log.records if r.instrument == "BTC/USD" and r.action == "buy"
    ]
    assert min(buy_ts) >= TIMES[20]


def test_exits_still_go_while_the_pair_is_stale() -> None:
    session = _session()

    def mark(i: int) -> None:
        if ETH.base in session.ledger.positions:  # once it is held
            session.market_stale(ETH, True, reasons.MARKET_DATA_STALE, now_ns=TIMES[i])

    _run(session, mark)
    eth = [(action, codes) for action, codes in _actions(session, "ETH/USD") if action != "none"]
    assert eth[0] == ("buy", ("ENTRY",))  # held before it went stale
    assert ("sell", ("TAKE_PROFIT_PARTIAL",)) in eth  # an exit is not new risk
    assert all(action != "buy" for action, _ in eth[1:])
    assert ("rejected", ("REENTRY", "MARKET_DATA_STALE")) in eth


def test_no_change_logs_nothing_and_the_log_is_the_same_bytes() -> None:
    plain, touched = _session(), _session()
    _run(plain)
    _run(touched, lambda i: touched.market_stale(BTC, False, "MARKET_DATA_VALID", now_ns=0))
    assert touched.log.to_bytes() == plain.log.to_bytes()
    assert not touched.market_stale(BTC, False, "MARKET_DATA_VALID", now_ns=0)


def test_an_unknown_instrument_is_refused() -> None:
    with pytest.raises(EngineInputError):
        _session().market_stale(Instrument("SOL", "USD"), True, "MARKET_DATA_STALE", now_ns=0)

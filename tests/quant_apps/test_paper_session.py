"""The paper loop against run_backtest, timestamp-exact, and the engine seams it uses.

A provider without request pacing (:class:`quant_data.store.MemoryProvider`) leaves the clock
exactly at each bar close when the cycle reads it, so the paper session and a backtest of the
same bars and predictions must write the same decision records: same times, same orders, same
fills (only the log position ``seq`` shifts by the paper session's first heartbeat).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_apps.runtime import PaperLogWriter, ProviderSync, TradingRuntime
from quant_core import Instrument, SimClock, Timeframe
from quant_core.events import InMemoryFeed
from quant_data import SourceBar, StoreFeed
from quant_data.store import MemoryProvider, Store
from quant_exec import BacktestConfig, RecordedPredictor, TradingSession, read_log, run_backtest
from quant_exec.errors import EngineInputError
from quant_exec.session import example_bars, example_predictions

H = Timeframe.H1.ns


def _source(bars: tuple[object, ...]) -> list[SourceBar]:
    return [
        SourceBar(
            "memory",
            b.instrument.base,  # type: ignore[attr-defined]
            b.instrument.quote.value,  # type: ignore[attr-defined]
            "1h",
            b.open_time_ns,  # type: ignore[attr-defined]
            str(b.open),  # type: ignore[attr-defined]
            str(b.high),  # type: ignore[attr-defined]
            str(b.low),  # type: ignore[attr-defined]
            str(b.close),  # type: ignore[attr-defined]
            str(b.volume),  # type: ignore[attr-defined]
        )
        for b in bars
    ]


def test_paper_cycles_equal_the_backtest_on_the_same_bars(tmp_path: Path) -> None:
    bars = example_bars(n_bars=60)
    predictor = RecordedPredictor(example_predictions(bars))
    first = min(b.open_time_ns for b in bars)
    t0 = first + H  # startup: bar 0 has just closed; it becomes the warm-up history
    clock = SimClock(t0)
    store = Store.open("sqlite://", clock=clock)
    writer = PaperLogWriter(tmp_path / "decisions.jsonl")
    provider = MemoryProvider(_source(bars), page_limit=500)
    session = TradingRuntime(
        feed=StoreFeed(store, ["BTC", "ETH"], "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, provider, ["BTC", "ETH"], "USD", Timeframe.H1),
        clock=clock,
        predictor=predictor,
        config=BacktestConfig.defaults(),
        writer=writer,
        header={"paper": {"run": 1}},
    )
    assert session.start() == 2
    assert session.backfilled == 2
    reports = []
    for _ in range(59):
        reports.append(session.cycle())
        assert session.next_cycle_ns() == clock.now_ns() + H + 2 * 10**9
        clock.advance_by(H)
    assert reports[0].heartbeat
    assert [r.bars for r in reports[1:]] == [2] * 58
    assert all(r.now_ns == t0 + i * H for i, r in enumerate(reports))
    engine = session.engine
    assert engine.fills, "the example's oracle predictions trade"

    live = list(store.materialize(["BTC", "ETH"], "USD", "1h", t0, t0 + 58 * H).bars())
    result = run_backtest(InMemoryFeed(live), predictor, BacktestConfig.defaults())
    paper_records = [r for r in engine.log.records if r.trigger != "heartbeat"]
    assert len(paper_records) == len(result.log.records)
    for paper, backtest in zip(paper_records, result.log.records, strict=True):
        assert paper.seq == backtest.seq + 1  # the first cycle's heartbeat came first
        assert paper.to_record() | {"seq": 0} == backtest.to_record() | {"seq": 0}
    assert engine.fills == list(result.fills)
    assert str(engine.ledger.snapshot().portfolio_value) == result.metrics["final_value"]
    # The file holds exactly the session's log, flushed cycle by cycle.
    assert (tmp_path / "decisions.jsonl").read_bytes() == engine.log.to_bytes()
    [run] = read_log(tmp_path / "decisions.jsonl")
    assert run.session["paper"] == {"run": 1}
    assert len(run.decisions) == len(engine.log)
    assert run.orders == list(engine.log.orders)
    summary = session.summary(interrupted=False)
    assert summary["log_hash"] == engine.log.log_hash()
    assert summary["fills"] == len(result.fills)
    assert summary["portfolio_value"] == result.metrics["final_value"]


def test_warm_up_and_header_seams_refuse_misuse() -> None:
    bars = example_bars(n_bars=30)
    instruments = sorted({b.instrument for b in bars}, key=lambda i: i.base)

    def session(**kwargs: object) -> TradingSession:
        return TradingSession(
            instruments,
            Timeframe.H1,
            RecordedPredictor(example_predictions(bars)),
            BacktestConfig.defaults(),
            **kwargs,  # type: ignore[arg-type]
        )

    with pytest.raises(EngineInputError):
        session(header={"model_id": "x"})
    s = session(header={"paper": {"run": 7}})
    assert s.session["paper"] == {"run": 7}
    btc = [b for b in bars if b.instrument.base == "BTC"]
    with pytest.raises(EngineInputError):
        s.warm([btc[1], btc[0]])  # out of order
    with pytest.raises(EngineInputError):
        s.warm([btc[0].__class__(Instrument("DOGE", "USD"), "1h", 0, 1, 1, 1, 1, 1)])
    s.warm(btc[:2])
    assert [b.open_time_ns for b in s.history[btc[0].instrument]] == [
        btc[0].open_time_ns,
        btc[1].open_time_ns,
    ]
    assert len(s.log) == 0  # history only: nothing decided
    group = [b for b in bars if b.open_time_ns == btc[2].open_time_ns]
    s.on_bars(group)
    with pytest.raises(EngineInputError):
        s.warm(btc[3:])  # too late: a bar was processed

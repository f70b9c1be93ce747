"""A paper session's restart carries its cash, positions and open orders over (issue 17).

Run 1 trades until it holds a position and stops; run 2 opens on the same log file, carries
run 1's books over (its header's ``carry``), reconciles with its paper venue (nothing to flag)
and trades on from there: no fill is booked twice, none is lost, and the ledger always equals
the paper venue's account.
"""

from __future__ import annotations

from pathlib import Path

from quant_apps.runtime import PaperLogWriter, ProviderSync, TradingRuntime
from quant_apps.runtime.trading.paper import carry_over
from quant_core import Instrument, SimClock, Timeframe
from quant_core.audit import AuditLog, read_audit_log
from quant_data import SourceBar, StoreFeed
from quant_data.store import MemoryProvider, Store
from quant_exec import BacktestConfig, RecordedPredictor, read_log
from quant_exec.orders import Order, new_state
from quant_exec.session import CarryOver, example_bars, example_predictions

H = Timeframe.H1.ns
SYMBOLS = ["BTC", "ETH"]


def _runtime(
    clock: SimClock,
    store: Store,
    provider: MemoryProvider,
    path: Path,
    carry: CarryOver | None,
    audit: AuditLog | None = None,
) -> TradingRuntime:
    bars = example_bars(n_bars=60)
    writer = PaperLogWriter(path)
    return TradingRuntime(
        feed=StoreFeed(store, SYMBOLS, "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, provider, SYMBOLS, "USD", Timeframe.H1),
        clock=clock,
        predictor=RecordedPredictor(example_predictions(bars)),
        config=BacktestConfig.defaults(),
        writer=writer,
        header={"paper": {"run": writer.next_run}},
        carry=carry,
        audit=audit,
    )


def _source() -> list[SourceBar]:
    return [
        SourceBar(
            "memory",
            b.instrument.base,
            b.instrument.quote.value,
            "1h",
            b.open_time_ns,
            str(b.open),
            str(b.high),
            str(b.low),
            str(b.close),
            str(b.volume),
        )
        for b in example_bars(n_bars=60)
    ]


def _account(runtime: TradingRuntime) -> dict[str, object]:
    ledger = runtime.engine.ledger
    return {"USD": ledger.cash, **{b: p.quantity for b, p in ledger.positions.items()}}


def test_a_restart_holding_a_position_carries_it_over(tmp_path: Path) -> None:
    t0 = min(b.open_time_ns for b in example_bars(n_bars=60)) + H
    clock = SimClock(t0)
    store = Store.open("sqlite://", clock=clock)
    provider = MemoryProvider(_source(), page_limit=500)
    path = tmp_path / "decisions.jsonl"
    assert carry_over(PaperLogWriter(path), "USD") is None  # a first run carries nothing
    first = _runtime(clock, store, provider, path, None)
    first.start()
    while not first.engine.ledger.positions or not first.engine.orders:
        first.cycle()  # until it holds a position and has an order working
        clock.advance_by(H)
    held, working = _account(first), sorted(first.engine.orders)
    # Run 1 stops here; run 2 opens the same log.
    writer = PaperLogWriter(path)
    carry = carry_over(writer, "USD")
    assert carry is not None
    assert sorted(s.client_order_id for s in carry.orders) == working
    assert carry_over(writer, "EUR") is None  # another quote currency starts afresh
    second = _runtime(clock, store, provider, path, carry)
    second.start()
    assert second.reconciliation.findings == ()
    assert _account(second) == held
    assert sorted(second.engine.orders) == working  # the working order goes on working
    assert second.engine.venue.balances() == dict(sorted(held.items()))
    for _ in range(12):
        second.cycle()
        clock.advance_by(H)
        venue = {k: v for k, v in second.engine.venue.balances().items() if v}
        assert venue == _account(second)  # the ledger equals the paper venue's account
    runs = read_log(path)
    assert [r.session["paper"]["run"] for r in runs] == [1, 2]
    assert runs[1].session["carry"]["positions"].keys() == held.keys() - {"USD"}
    trades = [
        o["event"]["trade_id"]
        for r in runs
        for o in r.orders
        if o["event"]["event"] == "OrderFilled" and not o["duplicate"]
    ]
    assert len(trades) == len(set(trades))  # no fill booked twice across the restart
    assert any(o["order_id"] in working for o in runs[1].orders)  # run 2 finished them


def test_a_restart_that_finds_something_logs_and_audits_it(tmp_path: Path) -> None:
    t0 = min(b.open_time_ns for b in example_bars(n_bars=60)) + H
    clock = SimClock(t0)
    store = Store.open("sqlite://", clock=clock)
    provider = MemoryProvider(_source(), page_limit=500)
    path = tmp_path / "decisions.jsonl"
    # An intent journaled just before the crash, never sent: the restart sends it once.
    intent = Order.create(Instrument("BTC", "USD"), "buy", "0.01", ts_init=t0, sequence=1)
    carry = CarryOver("10000", (), (new_state(intent),), None, 1)
    audit = AuditLog(tmp_path / "audit.jsonl", clock)
    runtime = _runtime(clock, store, provider, path, carry, audit)
    runtime.start()
    assert runtime.reconciliation.findings == (("RECONCILE_RESENT", intent.client_order_id),)
    (entry,) = read_audit_log(tmp_path / "audit.jsonl")
    assert entry.kind == "session.reconcile"
    (run,) = read_log(path)
    assert run.risk[0]["reason_code"] == "RECONCILE_RESENT"  # on disk before any bar
    assert [o["event"]["event"] for o in run.orders] == ["OrderSubmitted"]

"""The ledger: hand-computed bookings, refusals that change nothing, replay, PnL identity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quant_core import Instrument, QuoteCurrency
from quant_exec import reasons
from quant_exec.errors import InsufficientCashError, LedgerError
from quant_exec.ledger import EntryKind, Ledger, PortfolioSnapshot
from quant_exec.orders import OrderAccepted, OrderFilled

BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
D = Decimal


def fill(
    trade_id: str,
    side: str,
    qty: str,
    price: str,
    fee: str = "0",
    instrument: Instrument = BTC,
    ts: int = 1,
) -> OrderFilled:
    return OrderFilled("O-1", instrument, side, trade_id, price, qty, fee, ts_event=ts, ts_init=ts)


def state(ledger: Ledger) -> tuple[object, ...]:
    return (
        ledger.cash,
        dict(ledger.positions),
        ledger.realized_pnl,
        ledger.fees_paid,
        ledger.entries,
        ledger.peak_pv,
    )


def test_buy_then_sell_hand_computed() -> None:
    ledger = Ledger("USD", D(1000))
    ledger.apply(fill("t1", "buy", "2", "100", "1"))
    assert ledger.cash == D(799)
    assert ledger.positions["BTC"].avg_cost == D("100.5")
    ledger.apply(fill("t2", "buy", "2", "110", "1"))
    # cost basis 201 + 221 = 422 over 4 units
    assert ledger.positions["BTC"].avg_cost == D("105.5")
    assert ledger.cash == D(578)
    entry = ledger.apply(fill("t3", "sell", "3", "120", "2"))
    assert entry is not None
    assert entry.kind is EntryKind.FILL
    # proceeds 360 - 2 = 358; cost 3 * 105.5 = 316.5; realised 41.5
    assert entry.realized_pnl == D("41.5")
    assert ledger.realized_pnl == D("41.5")
    assert ledger.cash == D(936)
    assert ledger.positions["BTC"].quantity == 1
    assert ledger.positions["BTC"].avg_cost == D("105.5")  # unchanged by a sell
    assert ledger.fees_paid == D(4)
    ledger.apply(fill("t4", "sell", "1", "100"))
    assert "BTC" not in ledger.positions
    assert ledger.realized_pnl == D("36")
    assert ledger.cash == D(1036)


def test_non_fill_events_and_duplicates_change_nothing() -> None:
    ledger = Ledger("USD", D(1000))
    assert ledger.apply(OrderAccepted("O-1", ts_event=1, ts_init=1)) is None
    ledger.apply(fill("t1", "buy", "1", "100"))
    before = state(ledger)
    assert ledger.apply(fill("t1", "buy", "1", "100")) is None
    assert ledger.has_trade("t1")
    assert state(ledger) == before


def test_fill_that_would_make_cash_negative_is_refused_and_changes_nothing() -> None:
    ledger = Ledger("USD", D(100))
    ledger.apply(fill("t1", "buy", "0.5", "100", "1"))
    before = state(ledger)
    with pytest.raises(InsufficientCashError) as err:
        ledger.apply(fill("t2", "buy", "0.5", "100", "0.01"))  # needs 50.01, has 49
    assert err.value.reason_code == reasons.LEDGER_INSUFFICIENT_CASH
    assert state(ledger) == before
    assert not ledger.has_trade("t2")
    # exactly all the cash is fine: cash may reach zero, never below
    ledger.apply(fill("t3", "buy", "0.48", "100", "1"))
    assert ledger.cash == 0


def test_sell_fee_larger_than_proceeds_cannot_overdraw() -> None:
    ledger = Ledger("USD")
    ledger.deposit("1", ts_ns=0)
    ledger.apply(fill("t1", "buy", "1", "1"))
    with pytest.raises(InsufficientCashError):
        ledger.apply(fill("t2", "sell", "1", "1", "5"))


def test_short_sell_and_foreign_currency_are_refused() -> None:
    ledger = Ledger("USD", D(1000))
    with pytest.raises(LedgerError) as err:
        ledger.apply(fill("t1", "sell", "1", "100"))
    assert err.value.reason_code == reasons.LEDGER_SHORT_POSITION
    ledger.apply(fill("t2", "buy", "1", "100"))
    with pytest.raises(LedgerError):
        ledger.apply(fill("t3", "sell", "1.5", "100"))
    cad = Instrument("BTC", "CAD")
    with pytest.raises(LedgerError) as err:
        ledger.apply(fill("t4", "buy", "1", "100", instrument=cad))
    assert err.value.reason_code == reasons.LEDGER_CURRENCY_MISMATCH
    assert ledger.positions["BTC"].quantity == 1


def test_deposits_and_withdrawals() -> None:
    ledger = Ledger(QuoteCurrency.USD, "10", ts_ns=3)
    assert ledger.entries[0].kind is EntryKind.DEPOSIT
    assert ledger.entries[0].ts_event == 3
    ledger.withdraw("4", ts_ns=4)
    assert ledger.cash == 6
    with pytest.raises(InsufficientCashError):
        ledger.withdraw("7", ts_ns=5)
    for bad in ("0", "-1"):
        with pytest.raises(LedgerError):
            ledger.deposit(bad, ts_ns=5)
        with pytest.raises(LedgerError):
            ledger.withdraw(bad, ts_ns=5)
    assert ledger.cash == 6
    assert [e.seq for e in ledger.entries] == [1, 2]
    assert ledger.snapshot().net_deposits == 6
    assert repr(ledger) == "Ledger(USD, cash=6, positions=0)"


def test_replay_rebuilds_the_same_balances() -> None:
    ledger = Ledger("USD", D(5000))
    ledger.apply(fill("a", "buy", "1", "1000", "2"))
    ledger.apply(fill("b", "buy", "3", "200", "1", instrument=ETH))
    ledger.apply(fill("c", "sell", "0.5", "1100", "1"))
    ledger.withdraw("100", ts_ns=9)
    again = Ledger.replay("USD", ledger.entries)
    assert again.entries == ledger.entries
    assert again.cash == ledger.cash
    assert dict(again.positions) == dict(ledger.positions)
    assert again.realized_pnl == ledger.realized_pnl


def test_marks_pv_peak_drawdown_and_pnl_identity() -> None:
    ledger = Ledger("USD", D(1000))
    ledger.apply(fill("a", "buy", "2", "100", "1"))
    ledger.apply(fill("b", "buy", "10", "10", "0.5", instrument=ETH))
    snap = ledger.snapshot()
    # with no market marks, holdings are valued at their first fill price
    assert snap.marks == {"BTC": D(100), "ETH": D(10)}
    assert snap.portfolio_value == D("998.5")
    assert ledger.peak_pv == D(1000)
    ledger.mark({"BTC": D(150), "ETH": D(5)})
    snap = ledger.snapshot()
    assert snap.portfolio_value == D("1048.5")  # 698.5 cash + 2 * 150 + 10 * 5
    assert ledger.peak_pv == D("1048.5")
    ledger.mark({"BTC": D(50)})
    snap = ledger.snapshot()
    assert snap.portfolio_value == D("848.5")
    assert snap.drawdown_pct == D(200) * 100 / D("1048.5")
    assert snap.open_positions == 2
    assert snap.position_value("XRP") == 0
    assert snap.mark_of("XRP") is None
    assert snap.portfolio_value - snap.net_deposits == snap.realized_pnl + snap.unrealized_pnl
    assert ledger.portfolio_value() == snap.portfolio_value


def test_snapshot_edge_cases() -> None:
    empty = PortfolioSnapshot(QuoteCurrency.USD, D(0), {}, {}, D(0))
    assert empty.drawdown_pct == 0
    assert empty.portfolio_value == 0
    above = PortfolioSnapshot(QuoteCurrency.USD, D(10), {}, {}, D(5))
    assert above.drawdown_pct == 0

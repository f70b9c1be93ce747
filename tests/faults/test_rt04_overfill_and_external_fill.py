"""RT-04 (and the attack of issue 17, item 4): overfills and fills for unknown orders.

The attack: a fill for an order the session did not know killed the session with an untyped
``KeyError``. Pass criterion: flag ``OVERFILL`` / ``EXTERNAL_FILL``, halt new orders on that
instrument, never a silent merge: each is a ``risk`` line with its reason code, and the session
runs to its end.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from tests.faults._kraken_rig import (
    WsRig,
    assert_ledger_is_the_account,
    move_prices,
    session_fake,
    ws_rig,
)
from tests.quant_exec.kraken.venue._harness import BTC
from tests.quant_exec.reconcile._harness import Journal, grouped, new_session
from tests.quant_exec.safety._venue import ETH, external_fill, scripted_session

from quant_core import Bar, SimClock
from quant_exec import reasons
from quant_exec.orders import OrderFilled, OrderStatus
from quant_exec.session import BacktestConfig, TradingSession
from quant_exec.venues.kraken.fake import FakeKraken


def test_an_unknown_fill_and_an_overfill_flag_halt_and_log_without_a_crash() -> None:
    session, venue, bars = scripted_session()
    venue.inject(external_fill("attack-1", side="sell", quantity="3"))  # the attack's fill
    for group in bars:
        session.on_bars(group)
    assert session.guard.halted == {ETH: reasons.EXTERNAL_FILL}
    # the attacked run placed no ETH order at all; overfill a filled order of a clean run
    clean, clean_venue, clean_bars = scripted_session()
    for group in clean_bars:
        clean.on_bars(group)
    oid, done = next((k, s) for k, s in clean.done.items() if s.status is OrderStatus.FILLED)
    order = done.order
    clean_venue.inject(
        OrderFilled(
            oid, order.instrument, order.side, "attack-2", "1", "1", "0", ts_event=1, ts_init=1
        )
    )
    clean.heartbeat(clean.clock.now_ns())
    assert clean.guard.halted == {order.instrument: reasons.OVERFILL}
    for run, code in ((session, reasons.EXTERNAL_FILL), (clean, reasons.OVERFILL)):
        (line,) = [r for r in run.log.risk if r["change"] == "instrument_halt"]
        assert line["reason_code"] == code
        assert line["instrument"] == str(ETH)
    assert session.guard.unreconciled[0].trade_id == "attack-1"
    assert clean.done[oid].filled_qty == done.filled_qty + 1


def _session_on_the_fake(w: WsRig, path: Path) -> tuple[TradingSession, list[list[Bar]]]:
    session = new_session(w.rig.clock, w.venue(), Journal(path))
    return session, grouped()


def _feed(w: WsRig, session: TradingSession, groups: list[list[Bar]]) -> None:
    for group in groups:
        move_prices(w.rig.fake, group)
        session.on_bars(group, now_ns=max(group[0].close_time_ns, w.rig.clock.now_ns()))


def test_rt_04_a_fill_of_an_order_placed_elsewhere_on_the_account_halts_without_a_crash(
    tmp_path: Path,
) -> None:
    """Someone trades ETH on the same Kraken account (the website, another bot) mid-run: the
    fill arrives over the WebSocket and the REST poll with no cl_ord_id of the session's. It is
    flagged EXTERNAL_FILL (never merged), ETH is halted, and the session runs to its end."""
    groups = grouped()
    clock = SimClock(groups[0][0].open_time_ns)
    cash = BacktestConfig.defaults().initial_cash
    with ws_rig(clock, tmp_path, session_fake(clock, groups[0], cash)) as w:
        fake = w.rig.fake
        session, groups = _session_on_the_fake(w, tmp_path / "decisions.jsonl")
        _feed(w, session, groups[:10])
        external = fake.book.place_elsewhere("ETHUSD", "buy", Decimal("0.5"))
        sent_before = fake.calls.count("AddOrder")
        eth_orders_before = _eth_orders(fake)
        _feed(w, session, groups[10:])
        session.heartbeat(clock.now_ns() + 60 * 10**9)
        assert any(i.get("exec_id") == external for i in w.received)  # it came over the WS
        assert session.guard.halted == {ETH: reasons.EXTERNAL_FILL}
        (line,) = [r for r in session.log.risk if r["change"] == "instrument_halt"]
        assert (line["reason_code"], line["instrument"]) == (reasons.EXTERNAL_FILL, str(ETH))
        assert external in json.dumps(line)  # flagged with the fill: never a silent merge
        assert session.guard.unreconciled == []  # the ledger could fold it (cash for a buy)
        assert_ledger_is_the_account(session, fake)  # so the ledger still is the account
        assert _eth_orders(fake) == eth_orders_before  # no new ETH order after the halt
        assert fake.calls.count("AddOrder") >= sent_before  # BTC trades on


def _eth_orders(fake: FakeKraken) -> list[str]:
    return sorted(
        t for t, o in fake.book.orders.items()
        if o["descr"]["pair"] == "ETHUSD" and o["cl_ord_id"] is not None
    )  # fmt: skip


def test_rt_04_the_venue_reports_more_than_the_order_quantity(tmp_path: Path) -> None:
    """The fake fills one of the session's orders again after it was filled in full (its
    account, REST trades and WebSocket executions all report the extra volume): OVERFILL is
    flagged and kept unreconciled, the instrument halted, the session runs to its end."""
    groups = grouped()
    clock = SimClock(groups[0][0].open_time_ns)
    cash = BacktestConfig.defaults().initial_cash
    with ws_rig(clock, tmp_path, session_fake(clock, groups[0], cash)) as w:
        fake = w.rig.fake
        session, groups = _session_on_the_fake(w, tmp_path / "decisions.jsonl")
        at = 0
        while not any(o["status"] == "closed" for o in fake.book.orders.values()):
            _feed(w, session, groups[at : at + 1])  # until one of the session's orders filled
            at += 1
        txid, placed = next((t, o) for t, o in fake.book.orders.items() if o["status"] == "closed")
        pair = fake.book.pairs[placed["descr"]["pair"]]
        extra = fake.book._fill(txid, Decimal(placed["vol"]), pair.price, maker=False)
        assert Decimal(placed["vol_exec"]) > Decimal(placed["vol"])  # the venue overfilled
        _feed(w, session, groups[at:])
        session.heartbeat(clock.now_ns() + 60 * 10**9)
        instrument = BTC if placed["descr"]["pair"] == "XBTUSD" else ETH
        assert session.guard.halted == {instrument: reasons.OVERFILL}
        (line,) = [r for r in session.log.risk if r["change"] == "instrument_halt"]
        assert (line["reason_code"], line["instrument"]) == (reasons.OVERFILL, str(instrument))
        assert extra in json.dumps(line)  # flagged with the fill, booked (the venue traded)
        done = [s for s in session.done.values() if s.filled_qty > s.order.quantity]
        assert len(done) == 1  # the order took the fill beyond its quantity, and is done
        assert_ledger_is_the_account(session, fake)

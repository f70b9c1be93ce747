"""A fill for an order the session does not know: flagged EXTERNAL_FILL, never a crash.

Decision 0097: the instrument is halted for new orders (later intents there are refused with
``EXTERNAL_FILL``), a ``risk`` line records the fill, and the ledger books it when it can (so
it keeps matching the venue's account) or keeps it as an unreconciled item when it cannot.
"""

from __future__ import annotations

from decimal import Decimal

from tests.quant_exec.safety._venue import ETH, external_fill, scripted_session

from quant_core import Instrument
from quant_exec import reasons
from quant_exec.decisions import Action
from quant_exec.orders import OrderAccepted, OrderFilled, OrderSubmitted

BTC = Instrument("BTC", "USD")


def _halt_lines(session: object) -> list[dict[str, object]]:
    log = session.log  # type: ignore[attr-defined]
    return [line for line in log.risk if line["change"] == "instrument_halt"]


def test_an_unknown_sell_is_flagged_held_unreconciled_and_halts_the_instrument() -> None:
    session, venue, bars = scripted_session()
    fill = external_fill("x-1", side="sell")
    venue.inject(fill)
    for group in bars:
        session.on_bars(group)
    (line,) = _halt_lines(session)
    assert line["reason_code"] == reasons.EXTERNAL_FILL
    assert line["instrument"] == "ETH/USD"
    assert line["booked"] is False  # nothing held: the ledger cannot sell it
    assert line["ledger_reason_code"] == reasons.LEDGER_SHORT_POSITION
    assert line["fill"] == fill.to_record()
    assert session.guard.unreconciled == [fill]
    assert session.guard.halted == {ETH: reasons.EXTERNAL_FILL}
    # the halt is honoured: no order on ETH, and its intents carry the flag as the refusal
    assert not [s for s in session.done.values() if s.order.instrument == ETH]
    refused = [r for r in session.log.records if r.action == Action.REJECTED]
    assert refused
    assert all(r.instrument == "ETH/USD" for r in refused)
    assert all(r.reason_codes[-1] == reasons.EXTERNAL_FILL for r in refused)
    assert session.ledger.positions.get("ETH") is None
    assert session.result().fills == ()


def test_an_unknown_buy_is_booked_so_the_ledger_matches_the_venue() -> None:
    session, venue, bars = scripted_session(n_bars=30)
    cash = session.ledger.cash
    venue.inject(external_fill("x-2", quantity="0.5"))
    session.on_bars(bars[0])
    (line,) = _halt_lines(session)
    assert (line["booked"], "ledger_reason_code" in line) == (True, False)
    assert session.ledger.positions["ETH"].quantity == Decimal("0.5")
    assert session.ledger.cash == cash - Decimal("50.01")
    assert session.guard.unreconciled == []
    (record,) = session.fills
    assert (record.instrument, record.reason_code) == ("ETH/USD", reasons.EXTERNAL_FILL)


def test_the_same_external_trade_again_changes_nothing() -> None:
    session, venue, bars = scripted_session(n_bars=30)
    venue.inject(external_fill("x-3"), external_fill("x-3"))
    session.on_bars(bars[0])
    venue.inject(external_fill("x-3", oid="O-another"))  # the same trade id, any order id
    session.on_bars(bars[1])
    assert len(_halt_lines(session)) == 1
    assert len(session.ledger.entries) == 2  # the deposit and the one fill
    assert len(session.fills) == 1


def test_a_fill_that_contradicts_its_order_is_external() -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    order = next(iter(session.done.values())).order
    wrong = OrderFilled(
        order.client_order_id, BTC, order.side, "x-4", "100", "0.01", "0", ts_event=1, ts_init=1
    )
    before = session.done[order.client_order_id]
    venue.inject(wrong)
    session.heartbeat(session.clock.now_ns() + 1)
    (line,) = _halt_lines(session)
    assert (line["reason_code"], line["instrument"]) == (reasons.EXTERNAL_FILL, "BTC/USD")
    assert session.done[order.client_order_id] is before  # the order is untouched
    assert session.guard.halted == {BTC: reasons.EXTERNAL_FILL}


def test_events_for_unknown_orders_and_illegal_transitions_are_logged_not_raised() -> None:
    session, venue, bars = scripted_session()
    for group in bars:
        session.on_bars(group)
    oid = next(iter(session.done))
    before = session.done[oid]
    venue.inject(
        OrderAccepted("O-nobody", ts_event=1, ts_init=1),
        OrderSubmitted(oid, ts_event=2, ts_init=2),  # a done order cannot be submitted again
    )
    session.heartbeat(session.clock.now_ns() + 1)
    refused = [line for line in session.log.risk if line["change"] == "order_event_refused"]
    assert [line["reason_code"] for line in refused] == [
        reasons.ORDER_UNKNOWN,
        reasons.ORDER_INVALID_TRANSITION,
    ]
    assert [line["event"]["client_order_id"] for line in refused] == ["O-nobody", oid]
    assert session.done[oid] is before
    assert session.guard.halted == {}


def test_the_report_tells_halts_and_refused_events_in_words() -> None:
    session, venue, bars = scripted_session(n_bars=30)
    venue.inject(
        external_fill("x-5", side="sell"), OrderAccepted("O-nobody", ts_event=1, ts_init=1)
    )
    for group in bars:
        session.on_bars(group)
    texts = list(session.result().report_data().tables["Risk changes"].values())
    assert texts == [
        "ETH/USD halted: EXTERNAL_FILL (sell 0.01 @ 100, trade x-5, held unreconciled)",
        "OrderAccepted for O-nobody refused: ORDER_UNKNOWN",
    ]

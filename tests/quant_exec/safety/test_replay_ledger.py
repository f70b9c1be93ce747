"""The ledger rebuilt from a decision log alone agrees with the session's, flags included."""

from __future__ import annotations

from pathlib import Path

from tests.quant_exec.safety._venue import ETH, external_fill, scripted_session

from quant_exec.decisions import read_log, replay_ledger
from quant_exec.orders import OrderFilled, Side


def test_replay_books_what_the_session_booked_and_leaves_out_what_it_held(
    tmp_path: Path,
) -> None:
    session, venue, bars = scripted_session()
    seen = 0
    while not [s for s in session.orders.values() if s.order.side is Side.BUY]:
        session.on_bars(bars[seen])
        seen += 1
    order = next(iter(session.orders.values())).order
    dear = OrderFilled(
        order.client_order_id, ETH, "buy", "dear", "1000000000", order.quantity, "0",
        ts_event=9, ts_init=9,
    )  # fmt: skip
    # a fill the cash cannot pay (held; the broker's own fill then overfills the order), an
    # external buy (booked) and an external sell of more than is held (held)
    venue.inject(
        dear, external_fill("ext-buy", quantity="0.5"), external_fill("ext-sell", "sell", "9")
    )
    for group in bars[seen:]:
        session.on_bars(group)
    codes = [(line["reason_code"], line["booked"]) for line in session.log.risk]
    assert codes == [
        ("LEDGER_INSUFFICIENT_CASH", False),
        ("EXTERNAL_FILL", True),
        ("EXTERNAL_FILL", False),
        ("OVERFILL", True),
    ]
    path = tmp_path / "decisions.jsonl"
    session.log.write(path)
    (run,) = read_log(path)
    books, live = replay_ledger(run), session.ledger
    assert (books.cash, dict(books.positions)) == (live.cash, dict(live.positions))
    assert (books.fees_paid, books.realized_pnl) == (live.fees_paid, live.realized_pnl)
    assert [e.fill for e in books.entries] == [e.fill for e in live.entries]

"""RT-11: partial and shifting history pages (``TradesHistory``, ``ClosedOrders``).

Kraken serves history newest first, 50 rows a page by ``ofs``; the fake inserts new trades
between page fetches, truncates a page's JSON and overstates ``count``.

Pass criterion: the final set equals the ground truth by txid (no skips, no duplicates):
paging pins the window (time/txid) and deduplicates, not ``ofs`` alone; a truncated or
invalid page is retried, never accepted as partial data.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from tests.quant_exec.kraken._harness import (  # noqa: F401  # the live fixtures
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
)

from quant_core import SimClock
from quant_exec.venues.kraken import KrakenPrivateClient
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken
from quant_net import ProviderError

BTC = "XBTUSD"


def _history(fake: FakeKraken, clock: SimClock, n: int) -> None:
    """``n`` fills placed elsewhere, two per second (ties in time are ordered by id)."""
    for i in range(n):
        fake.book.place_elsewhere(BTC, "buy" if i % 2 == 0 else "sell", Decimal("0.001"))
        if i % 2:
            clock.advance_by(10**9)


def _naive(client: KrakenPrivateClient) -> list[str]:
    """Paging by ``ofs`` alone, as the pass criterion forbids."""
    seen: list[str] = []
    ofs = 0
    while True:
        page = client.trades_history(ofs=ofs).trades
        seen += [t.trade_id for t in page]
        if len(page) < 50:
            return seen
        ofs += len(page)


def test_trades_inserted_between_pages_neither_skip_nor_double(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    _history(fake, clock, 130)
    truth = set(fake.book.trades)
    fake.inject("TradesHistory", FakeFault.PASS, FakeFault.INSERT_TRADES, FakeFault.INSERT_TRADES)
    found = client.all_trades()
    ids = [t.trade_id for t in found.trades]
    assert len(ids) == len(set(ids)) == found.count == 130
    assert set(ids) == truth  # the 6 inserted meanwhile wait for the next call
    assert [(t.time_ns, t.trade_id) for t in found.trades] == sorted(
        (t.time_ns, t.trade_id) for t in found.trades
    )  # oldest first
    assert len(fake.book.trades) == 136
    later = client.all_trades(start=ids[-1])
    assert [t.trade_id for t in later.trades] == sorted(set(fake.book.trades) - truth)
    # The same plan defeats paging by ofs alone: rows shift and come back twice.
    fake.inject("TradesHistory", FakeFault.PASS, FakeFault.INSERT_TRADES, FakeFault.INSERT_TRADES)
    naive = _naive(client)
    assert len(naive) > len(set(naive))


def test_a_truncated_page_is_retried_and_count_is_not_trusted(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    _history(fake, clock, 120)
    fake.inject("TradesHistory", FakeFault.PASS, FakeFault.TRUNCATED, FakeFault.COUNT_OFF)
    found = client.all_trades()
    assert {t.trade_id for t in found.trades} == set(fake.book.trades)
    assert fake.calls.count("TradesHistory") == 4  # three pages, the truncated one twice
    fake.inject("TradesHistory", FakeFault.COUNT_OFF)
    page = client.trades_history()
    assert (len(page.trades), page.count) == (50, 127)  # count != items
    fake.inject("Balance", FakeFault.COUNT_OFF)  # an answer without a count keeps its shape
    assert "count" not in client.balance()


def test_closed_orders_page_by_close_time_with_new_ones_arriving(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    _history(fake, clock, 110)
    for n in range(5):  # some canceled orders among the filled ones
        client.add_order(
            pair=BTC,
            side="buy",
            order_type="limit",
            volume=Decimal(1),
            price=Decimal(100),
            cl_ord_id=f"c{n}",
        )
        client.cancel_order(cl_ord_id=f"c{n}")
        clock.advance_by(10**9)
    truth = {t for t, o in fake.book.orders.items() if o["status"] != "open"}
    fake.inject("TradesHistory", FakeFault.INSERT_TRADES)  # not this method: no effect here
    fake.inject("ClosedOrders", FakeFault.PASS, FakeFault.INSERT_TRADES, FakeFault.TRUNCATED)
    found = client.all_closed_orders()
    assert [o.txid for o in found.orders] == sorted(truth)
    assert found.count == 115
    assert sum(o.status == "canceled" for o in found.orders) == 5
    newer = client.all_closed_orders(start=max(truth))
    assert len(newer.orders) == 3  # the fills inserted while paging


def test_a_window_that_does_not_settle_is_refused_not_cut(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    _history(fake, clock, 60)
    with pytest.raises(ProviderError) as caught:
        client.all_trades(max_pages=1)
    assert caught.value.reason_code == "KRAKEN_PAGES_UNSETTLED"
    empty = client.all_trades(start=clock.now_ns() // 10**9)
    assert empty.trades == ()


def test_windows_by_time_and_by_id_and_bad_bounds(
    client: KrakenPrivateClient, fake: FakeKraken, clock: SimClock
) -> None:
    start_s = clock.now_ns() // 10**9
    _history(fake, clock, 20)  # 10 seconds, two fills each
    window = client.trades_history(start=start_s + 2, end=start_s + 4)
    assert [t.time_ns // 10**9 - start_s for t in window.trades] == [3, 3, 4, 4]
    first = min(fake.book.trades)
    assert len(client.all_trades(end=first).trades) == 1
    for bad in ({"start": "soon"}, {"end": "Infinity"}, {"ofs": "-1"}):
        with pytest.raises(ProviderError) as caught:
            client.trades_history(**bad)  # type: ignore[arg-type]
        assert caught.value.reason_code == "PROVIDER_BAD_REQUEST"

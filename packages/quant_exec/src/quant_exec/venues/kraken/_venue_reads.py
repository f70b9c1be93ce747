"""The venue's batched Kraken reads: every fill since a time, orders by txid, client ids.

Kraken pages ``TradesHistory`` 50 fills at a time (``ofs``) and takes at most 50 txids per
``QueryOrders``; these helpers page and batch, and read each trade id once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from quant_exec.venues.kraken._client import KrakenPrivateClient
from quant_exec.venues.kraken._types import KrakenOrder, KrakenTrade
from quant_exec.venues.kraken._venue_wire import from_kraken_id

__all__ = ["all_trades", "client_ids", "query_many"]

BATCH: Final = 50
"""Kraken's page size and its most txids per ``QueryOrders``."""


def all_trades(client: KrakenPrivateClient, start: int | None) -> list[KrakenTrade]:
    """Every fill since ``start`` (Unix seconds; ``None``: all), each trade id once, oldest first.

    Pages by offset until a short page or ``count`` fills were read.
    """
    seen: dict[str, KrakenTrade] = {}
    offset = 0
    while True:
        page = client.trades_history(start=start, ofs=offset or None)
        seen.update((t.trade_id, t) for t in page.trades)
        offset += len(page.trades)
        if len(page.trades) < BATCH or offset >= page.count:
            break
    return sorted(seen.values(), key=lambda t: (t.time_ns, t.trade_id))


def query_many(client: KrakenPrivateClient, txids: list[str]) -> dict[str, KrakenOrder]:
    """The orders ``txids`` name (``QueryOrders`` in batches of 50), by txid."""
    found: dict[str, KrakenOrder] = {}
    for i in range(0, len(txids), BATCH):
        page = client.query_orders(tuple(txids[i : i + BATCH]))
        found.update((o.txid, o) for o in page.orders)
    return found


def client_ids(
    client: KrakenPrivateClient, known: Mapping[str, str], txids: Iterable[str]
) -> dict[str, str]:
    """The session's client order id of each of ``txids``.

    ``known``'s when it has it, else Kraken's (``""`` for an order placed without one).
    """
    wanted = set(txids)
    names = {t: known[t] for t in wanted if t in known}
    missing = sorted(wanted - set(names))
    for txid, order in query_many(client, missing).items():
        names[txid] = from_kraken_id(order.cl_ord_id) if order.cl_ord_id else ""
    return names

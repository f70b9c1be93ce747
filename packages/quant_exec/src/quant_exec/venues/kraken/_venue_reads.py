"""The venue's batched Kraken reads: orders by txid, client ids.

Kraken takes at most 50 txids per ``QueryOrders``; these helpers batch. History (fills) is
paged by the client itself (:meth:`KrakenPrivateClient.all_trades`: a pinned window, each
trade id once), never here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from quant_exec.venues.kraken._client import KrakenPrivateClient
from quant_exec.venues.kraken._types import KrakenOrder
from quant_exec.venues.kraken._venue_wire import from_kraken_id

__all__ = ["BATCH", "client_ids", "query_many"]

BATCH: Final = 50
"""Kraken's most txids per ``QueryOrders``."""


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

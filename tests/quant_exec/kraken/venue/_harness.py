"""Shared pieces of the venue tests: instruments, pairs, orders and executions items."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from quant_core import Instrument, SimClock, ns_to_iso
from quant_core.settings import Secret
from quant_exec.orders import Order, OrderEvent, OrderType, Side
from quant_exec.venues.kraken import KrakenPrivateClient, KrakenVenue, NonceSource
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
from quant_exec.venues.kraken.fake._book import FakeRefusal
from quant_net import ReadPolicy, WritePolicy

BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
PAIRS = {BTC: "XBTUSD", ETH: "ETHUSD"}
ASSETS = {"XXBT": "BTC", "XETH": "ETH", "ZUSD": "USD"}

_sequence = [0]


def order(
    side: str = "buy",
    quantity: str = "0.1",
    *,
    instrument: Instrument = BTC,
    limit: str | None = None,
    clock: SimClock | None = None,
) -> Order:
    """A fresh order (a new client order id each call)."""
    _sequence[0] += 1
    return Order.create(
        instrument,
        Side(side),
        quantity,
        ts_init=clock.now_ns() if clock else 0,
        sequence=_sequence[0],
        order_type=OrderType.LIMIT if limit is not None else OrderType.MARKET,
        limit_price=None if limit is None else Decimal(limit),
    )


def names(events: Any) -> list[str]:
    """The events' type names."""
    return [type(e).__name__ for e in events]


def execution(
    exec_type: str, order_id: str, cl_ord_id: str | None, ts_ns: int, **fields: Any
) -> dict[str, Any]:
    """One Kraken v2 ``executions`` item, as Kraken documents it."""
    item: dict[str, Any] = {
        "exec_type": exec_type,
        "order_id": order_id,
        "timestamp": ns_to_iso(ts_ns),
        **fields,
    }
    if cl_ord_id is not None:
        item["cl_ord_id"] = cl_ord_id
    return item


def only(events: list[OrderEvent], kind: type) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


@attrs.define
class Rig:
    """A fake exchange served on 127.0.0.1 and the clients and venues pointed at it."""

    fake: FakeKraken
    base_url: str
    clock: SimClock
    directory: Path
    made: list[Any] = attrs.Factory(list)

    def client(self, **overrides: Any) -> KrakenPrivateClient:
        """A client of the fake (a short write timeout: a hung answer is an unknown outcome)."""
        options: dict[str, Any] = {
            "api_key": Secret(self.fake.api_key),
            "secret": Secret(self.fake.secret),
            "clock": self.clock,
            "seed": 11,
            "nonce": NonceSource(self.directory / "kraken.nonce", self.clock),
            "read_policy": ReadPolicy(timeout_s=5.0, rate_per_s=1000.0, burst=1000,
                                      max_attempts=3),
            "write_policy": WritePolicy(timeout_s=0.3, rate_per_s=1000.0, burst=1000),
        }  # fmt: skip
        options.update(overrides)
        client = KrakenPrivateClient(self.base_url, **options)
        self.made.append(client)
        return client

    def venue(self, client: KrakenPrivateClient | None = None, **options: Any) -> KrakenVenue:
        """A venue on a new client (or ``client``)."""
        venue = KrakenVenue(
            client or self.client(), clock=self.clock, pairs=PAIRS, assets=ASSETS, **options
        )
        self.made.append(venue)
        return venue


@contextlib.contextmanager
def kraken_rig(clock: SimClock, directory: Path, fake: FakeKraken | None = None) -> Iterator[Rig]:
    """Serve ``fake`` (default: BTC and ETH against USD, funded) for the block."""
    if fake is None:
        fake = FakeKraken(clock)
        fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
        fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2000"))
        fake.book.balances["ZUSD"] = Decimal("100000")
    with serve_fake_kraken(fake, hang_s=5.0) as server:
        rig = Rig(fake, server.base_url, clock, directory)
        try:
            yield rig
        finally:
            for made in reversed(rig.made):
                made.close()


def refuse_next_order(fake: FakeKraken, error: str) -> None:
    """Make the fake answer the next ``AddOrder`` with Kraken's ``error`` (after every check).

    For a refusal the fake's own account never gives (``EGeneral:Invalid arguments`` to an
    order that is well formed as far as the fake checks).
    """
    book = fake.book
    place = book.add_order

    def refuse(form: dict[str, str]) -> dict[str, Any]:
        book.add_order = place  # type: ignore[method-assign]
        raise FakeRefusal(error)

    book.add_order = refuse  # type: ignore[method-assign]


def drop_next_txid(fake: FakeKraken) -> None:
    """Make the fake place the next order but answer without its txid."""
    book = fake.book
    place = book.add_order

    def placed(form: dict[str, str]) -> dict[str, Any]:
        book.add_order = place  # type: ignore[method-assign]
        return {"descr": place(form)["descr"]}

    book.add_order = placed  # type: ignore[method-assign]

"""The v2 book and its CRC32, against Kraken's published example."""

from __future__ import annotations

import json
from decimal import Decimal

from quant_exec.venues.kraken import BookState
from quant_exec.venues.kraken._ws_book import book_checksum, checksum_text

# Kraken's "Book checksum (WebSocket v2)" guide: this snapshot's checksum is 3310070434.
KRAKEN_EXAMPLE = """{"channel":"book","type":"snapshot","data":[{"symbol":"BTC/USD",
"bids":[{"price":45283.5,"qty":0.10000000},{"price":45283.4,"qty":1.54582015},
{"price":45282.1,"qty":0.10000000},{"price":45281.0,"qty":0.10000000},
{"price":45280.3,"qty":1.54592586},{"price":45279.0,"qty":0.07990000},
{"price":45277.6,"qty":0.03310103},{"price":45277.5,"qty":0.30000000},
{"price":45277.3,"qty":1.54602737},{"price":45276.6,"qty":0.15445238}],
"asks":[{"price":45285.2,"qty":0.00100000},{"price":45286.4,"qty":1.54571953},
{"price":45286.6,"qty":1.54571109},{"price":45289.6,"qty":1.54560911},
{"price":45290.2,"qty":0.15890660},{"price":45291.8,"qty":1.54553491},
{"price":45294.7,"qty":0.04454749},{"price":45296.1,"qty":0.35380000},
{"price":45297.5,"qty":0.09945542},{"price":45299.5,"qty":0.18772827}],
"checksum":3310070434}]}"""

ASKS_TEXT = (
    "45285210000045286415457195345286615457110945289615456091145290215890660"
    "452918154553491452947445474945296135380000452975994554245299518772827"
)


def _example() -> tuple[BookState, dict[str, object]]:
    item = json.loads(KRAKEN_EXAMPLE, parse_float=Decimal)["data"][0]
    book = BookState("BTC/USD", depth=10)
    book.apply(item, snapshot=True)
    return book, item


def test_kraken_published_example_checksum() -> None:
    book, item = _example()
    assert book.checksum() == item["checksum"] == 3310070434
    assert checksum_text(book.asks(), []) == ASKS_TEXT


def test_only_the_top_ten_levels_count() -> None:
    book, _ = _example()
    deeper = BookState("BTC/USD", depth=25)
    deeper.apply(
        {
            "bids": [{"price": p, "qty": q} for p, q in book.bids()]
            + [{"price": Decimal("45000.0"), "qty": Decimal("9.00000000")}],
            "asks": [{"price": p, "qty": q} for p, q in book.asks()]
            + [{"price": Decimal("46000.0"), "qty": Decimal("9.00000000")}],
        },
        snapshot=True,
    )
    assert len(deeper.bids()) == 11
    assert deeper.checksum() == 3310070434


def test_updates_remove_zero_levels_and_truncate_to_depth() -> None:
    book, _ = _example()
    book.apply(
        {
            "bids": [
                {"price": Decimal("45283.5"), "qty": 0},
                {"price": Decimal("45284.0"), "qty": Decimal("2.00000000")},
                {"price": Decimal("45284.1"), "qty": Decimal("1.00000000")},
            ],
            "asks": [
                {"price": Decimal("45285.0"), "qty": Decimal("0.50000000")},
                {"price": Decimal("45999.0"), "qty": 0},
            ],
        },
        snapshot=False,
    )
    bids, asks = book.bids(), book.asks()
    assert len(bids) == len(asks) == 10
    assert book.best_bid() == Decimal("45284.1")
    assert book.best_ask() == Decimal("45285.0")
    assert bids[-1][0] == Decimal("45277.3")  # 45276.6 fell out of the depth
    assert asks[-1][0] == Decimal("45297.5")
    assert book.checksum() == book_checksum(asks, bids)


def test_an_empty_book() -> None:
    book = BookState("ETH/USD", depth=10)
    book.apply({}, snapshot=True)
    assert (book.best_bid(), book.best_ask(), book.checksum()) == (None, None, 0)
    assert repr(book) == "BookState('ETH/USD', bids=0, asks=0)"

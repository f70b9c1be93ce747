"""One pair's level-2 order book from Kraken's WebSocket v2 ``book`` channel, with its CRC32.

Kraken's book checksum (WebSocket v2, "Book checksum" guide) is a CRC32 over the top 10 price
levels: asks low to high, then bids high to low; each level contributes its ``price`` then its
``qty`` written exactly as on the wire (full precision) with the ``.`` removed and the leading
zeros stripped. The book therefore keeps each level's wire text, not a float: messages are
parsed with ``parse_float=Decimal`` and a :class:`~decimal.Decimal` keeps its trailing zeros.

Examples:
    Kraken's published example (the guide's snapshot, checksum 3310070434), abridged here to
    its first two levels a side:

    >>> from decimal import Decimal as D
    >>> book = BookState("BTC/USD", depth=10)
    >>> book.apply({"bids": [{"price": D("45283.5"), "qty": D("0.10000000")},
    ...                      {"price": D("45283.4"), "qty": D("1.54582015")}],
    ...             "asks": [{"price": D("45285.2"), "qty": D("0.00100000")},
    ...                      {"price": D("45286.4"), "qty": D("1.54571953")}]}, snapshot=True)
    >>> book.best_bid(), book.best_ask()
    (Decimal('45283.5'), Decimal('45285.2'))
    >>> checksum_text(book.asks(), book.bids())
    '45285210000045286415457195345283510000000452834154582015'
    >>> book.checksum()
    2050935876
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

__all__ = ["CHECKSUM_LEVELS", "BookState", "book_checksum", "checksum_text"]

CHECKSUM_LEVELS: Final = 10
"""Kraken's checksum covers the top 10 levels a side, whatever the subscribed depth."""

Level = tuple[Decimal, Decimal]


def _digits(value: Decimal) -> str:
    return format(value, "f").replace(".", "").lstrip("0")


def checksum_text(asks: Sequence[Level], bids: Sequence[Level]) -> str:
    """The string Kraken's CRC32 runs over: top-10 asks (low→high) then bids (high→low).

    Args:
        asks: ask levels, best (lowest) first.
        bids: bid levels, best (highest) first.

    Examples:
        >>> from decimal import Decimal as D
        >>> checksum_text([(D("45285.2"), D("0.00100000"))], [(D("0.05000"), D("0.00000304"))])
        '4528521000005000304'
    """
    parts = [
        _digits(price) + _digits(qty)
        for price, qty in (*asks[:CHECKSUM_LEVELS], *bids[:CHECKSUM_LEVELS])
    ]
    return "".join(parts)


def book_checksum(asks: Sequence[Level], bids: Sequence[Level]) -> int:
    """Kraken's book checksum: the unsigned CRC32 of :func:`checksum_text`.

    Args:
        asks: ask levels, best (lowest) first.
        bids: bid levels, best (highest) first.

    Examples:
        >>> book_checksum([], [])
        0
    """
    return zlib.crc32(checksum_text(asks, bids).encode("ascii")) & 0xFFFFFFFF


def _levels(raw: Any) -> Iterable[Level]:
    for level in raw or ():
        yield Decimal(level["price"]), Decimal(level["qty"])


class BookState:
    """One pair's book as the ``book`` channel describes it, truncated to the subscribed depth.

    Args:
        symbol: Kraken's v2 symbol (``"BTC/USD"``).
        depth: the subscribed depth (levels kept a side).

    Attributes:
        symbol: the pair.
        depth: levels kept a side.
    """

    def __init__(self, symbol: str, *, depth: int) -> None:
        self.symbol = symbol
        self.depth = depth
        self._bids: dict[Decimal, Decimal] = {}
        self._asks: dict[Decimal, Decimal] = {}

    def __repr__(self) -> str:
        return f"BookState({self.symbol!r}, bids={len(self._bids)}, asks={len(self._asks)})"

    def apply(self, item: Mapping[str, Any], *, snapshot: bool) -> None:
        """Apply one ``book`` data item: a snapshot replaces the book, an update edits it.

        A level with ``qty`` 0 is removed; afterwards each side is truncated to ``depth``
        (Kraken sends no removal for levels that fall out of scope).

        Args:
            item: the wire item (``bids``/``asks`` lists of ``{"price", "qty"}``).
            snapshot: whether the message was a snapshot.
        """
        if snapshot:
            self._bids.clear()
            self._asks.clear()
        for side, raw in ((self._bids, item.get("bids")), (self._asks, item.get("asks"))):
            for price, qty in _levels(raw):
                if qty == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        for side, best_first in ((self._bids, True), (self._asks, False)):
            for price in sorted(side, reverse=not best_first)[: max(0, len(side) - self.depth)]:
                del side[price]

    def bids(self) -> list[Level]:
        """Bid levels, best (highest price) first."""
        return sorted(self._bids.items(), reverse=True)

    def asks(self) -> list[Level]:
        """Ask levels, best (lowest price) first."""
        return sorted(self._asks.items())

    def best_bid(self) -> Decimal | None:
        """The highest bid price (``None`` for an empty side)."""
        return max(self._bids) if self._bids else None

    def best_ask(self) -> Decimal | None:
        """The lowest ask price (``None`` for an empty side)."""
        return min(self._asks) if self._asks else None

    def checksum(self) -> int:
        """Kraken's CRC32 over this book's top 10 levels (:func:`book_checksum`)."""
        return book_checksum(self.asks(), self.bids())

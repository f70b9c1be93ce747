"""Paging Kraken's history (``TradesHistory``, ``ClosedOrders``) so that no row is lost or doubled.

Kraken serves history newest first, :data:`PAGE_SIZE` rows a page, by offset (``ofs``) in a
window (``start`` exclusive, ``end`` inclusive, each Unix seconds or a row id). Rows arriving
between two page fetches are newer than every row already seen and shift the offsets, so
:func:`paged` pins ``end`` to the first page's newest id (the window then holds still),
pages by offset inside it, deduplicates by id (any shift inside the window repeats rows, it
never skips one) and stops at the first short page; ``count`` is not trusted (it changes
while paging). A truncated or invalid page never reaches here: it is a malformed answer,
retried by the read path.

Examples:
    >>> rows = [f"T{i:03d}" for i in range(120, 0, -1)]  # newest first
    >>> def fetch(start, end, ofs):
    ...     window = rows[rows.index(end):] if end else rows
    ...     return window[ofs:ofs + PAGE_SIZE]
    >>> found = paged(fetch, str, lambda page: max(page), start=None, end=None, max_pages=5)
    >>> len(found), min(found), max(found)
    (120, 'T001', 'T120')
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, TypeVar

from quant_exec.venues.kraken._errors import PagingError

__all__ = ["PAGE_SIZE", "Bound", "paged"]

T = TypeVar("T")

PAGE_SIZE: Final = 50
"""Rows Kraken serves per history page."""

Bound = int | str | None
"""A history window's bound: Unix seconds, a row id (trade or order txid), or none."""


def paged(
    fetch: Callable[[Bound, Bound, int], Sequence[T]],
    ident: Callable[[T], str],
    newest: Callable[[Sequence[T]], str],
    *,
    start: Bound,
    end: Bound,
    max_pages: int,
) -> dict[str, T]:
    """Every row of the window, by id.

    Args:
        fetch: one page: ``(start, end, ofs)`` → its rows.
        ident: a row's id.
        newest: the id of a page's newest row (the pinned ``end``).
        start: the window's exclusive lower bound.
        end: its inclusive upper bound (``None``: pinned to the first page's newest row).
        max_pages: the page budget.

    Raises:
        PagingError: the window did not end within ``max_pages`` pages.
    """
    found: dict[str, T] = {}
    ofs = 0
    for _ in range(max_pages):
        rows = fetch(start, end, ofs)
        if end is None and rows:
            end = newest(rows)
        for row in rows:
            found.setdefault(ident(row), row)
        if len(rows) < PAGE_SIZE:
            return found
        ofs += len(rows)
    raise PagingError(f"kraken: history did not settle within {max_pages} pages")

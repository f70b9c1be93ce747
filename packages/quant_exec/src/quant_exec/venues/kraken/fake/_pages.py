"""How the fake pages ``TradesHistory`` and ``ClosedOrders``: as Kraken does, 50 a page.

Rows are ordered newest first by (time, id). ``start`` (exclusive) and ``end`` (inclusive)
bound the window, each a Unix time in seconds or a row id (then that row's place in the
order is the bound); ``ofs`` skips that many rows of the window; ``count`` is the size of
the whole window, not of the page. New rows arriving between two page fetches therefore
shift the offsets: a client paging by ``ofs`` alone sees rows twice (and would skip rows
were any removed); pinning ``end`` to the first page's newest id keeps the window still.

Examples:
    >>> rows = {f"T{i}": {"time": str(i)} for i in range(1, 121)}
    >>> found, count = window(rows, "time", {"ofs": "50"})
    >>> count, len(found), next(iter(found)), list(found)[-1]
    (120, 50, 'T70', 'T21')
    >>> found, count = window(rows, "time", {"start": "T100", "end": "110"})
    >>> count, list(found)[0], list(found)[-1]
    (10, 'T110', 'T101')
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

__all__ = ["INVALID_ARGUMENTS", "PAGE_SIZE", "FakeRefusal", "window"]

INVALID_ARGUMENTS: Final = "EGeneral:Invalid arguments"


class FakeRefusal(Exception):  # noqa: N818  # a signal carrying Kraken's text, not an error of ours
    """Kraken's error string for a refused call (the fake's internal signal)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


PAGE_SIZE: Final = 50
"""Rows per page, as Kraken serves them."""

_Key = tuple[Decimal, str]


def _bound(rows: Mapping[str, Mapping[str, Any]], time_key: str, value: str, name: str) -> _Key:
    if value in rows:
        return (Decimal(str(rows[value][time_key])), value)
    try:
        seconds = Decimal(value)
    except InvalidOperation:
        raise FakeRefusal(f"{INVALID_ARGUMENTS}:{name}") from None
    if not seconds.is_finite():
        raise FakeRefusal(f"{INVALID_ARGUMENTS}:{name}")
    return (seconds, "\uffff")  # after every id of that second: a time bound takes them all


def window(
    rows: Mapping[str, Mapping[str, Any]], time_key: str, form: Mapping[str, str]
) -> tuple[dict[str, Any], int]:
    """One page of ``rows`` (newest first) and the size of the whole window.

    Args:
        rows: id → Kraken's info object.
        time_key: the field holding each row's time (``time``, ``closetm``).
        form: the call's ``start``, ``end`` and ``ofs``.

    Raises:
        FakeRefusal: ``EGeneral:Invalid arguments`` for a bound or offset that is neither.
    """
    keyed = sorted(((Decimal(str(row[time_key])), rid) for rid, row in rows.items()), reverse=True)
    if "start" in form:
        low = _bound(rows, time_key, form["start"], "start")
        keyed = [k for k in keyed if k > low]
    if "end" in form:
        high = _bound(rows, time_key, form["end"], "end")
        keyed = [k for k in keyed if k <= high]
    ofs = form.get("ofs", "0")
    if not ofs.isdigit():
        raise FakeRefusal(f"{INVALID_ARGUMENTS}:ofs")
    page = keyed[int(ofs) : int(ofs) + PAGE_SIZE]
    return {rid: rows[rid] for _, rid in page}, len(keyed)

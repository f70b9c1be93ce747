"""The values the store takes and returns: series keys, cursors, ingest results, reports."""

from __future__ import annotations

import enum

import attrs

__all__ = [
    "CursorUpdate",
    "GapStatus",
    "IngestResult",
    "SeriesKey",
    "SeriesStatus",
    "VerifyReport",
]


class GapStatus(enum.StrEnum):
    """The status of a gap-ledger slot (stored as its value)."""

    OPEN = "open"
    """The source did not deliver the slot."""
    RETRIED = "retried"
    """Still missing after at least one retry."""
    FILLED = "filled"
    """A bar arrived later."""
    CONFIRMED_NO_TRADE = "confirmed_no_trade"
    """A source confirmed that nothing traded in the slot."""


@attrs.frozen(order=True)
class SeriesKey:
    """One source's series: (source, symbol, quote, timeframe)."""

    source: str
    symbol: str
    quote: str
    timeframe: str


@attrs.frozen
class CursorUpdate:
    """A job cursor to write in the same transaction as a page."""

    job: str
    series: SeriesKey
    next_ns: int
    done: bool


@attrs.frozen
class IngestResult:
    """What one page changed. Every row of the page is counted in exactly one bucket."""

    seq: int
    repeat: bool = False
    bars_new: int = 0
    bars_corrected: int = 0
    bars_unchanged: int = 0
    duplicates_collapsed: int = 0
    quarantined: dict[str, int] = attrs.field(factory=dict)
    gaps_opened: int = 0
    gaps_confirmed: int = 0
    gaps_filled: int = 0

    @property
    def quarantined_total(self) -> int:
        """Rows quarantined, all reasons together."""
        return sum(self.quarantined.values())


@attrs.frozen
class SeriesStatus:
    """Coverage and findings of one series (``quant data status``)."""

    source: str
    symbol: str
    quote: str
    timeframe: str
    bars: int
    first_open_ns: int | None
    last_open_ns: int | None
    gaps: dict[str, int]
    quarantined: int
    corrections: int


@attrs.frozen
class VerifyReport:
    """The result of :meth:`Store.verify`: ``ok`` or the first failed check and why."""

    ok: bool
    checks: tuple[str, ...]
    reason_code: str | None = None
    message: str | None = None

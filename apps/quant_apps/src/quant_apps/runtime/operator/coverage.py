"""What the operator sees of the data and the audit log: coverage, gaps, last sync, chain check.

:func:`data_coverage` answers, per instrument of a session, what ``quant data status`` shows
(:meth:`quant_data.Store.status`: bars, first and last bar, gap counts, quarantine,
corrections) plus the gap ledger's missing slots folded into ranges and the newest sync
log entry. :func:`verify_audit` is ``quant audit verify`` as data
(:func:`quant_core.audit.verify_audit_log`). Both return plain JSON data: times as int ns plus
ISO text.

Examples:
    >>> from quant_core import SimClock
    >>> from quant_data import Store
    >>> store = Store.open("sqlite://", clock=SimClock(0))
    >>> report = data_coverage(store, ["BTC"], "USD", "1h")
    >>> [(i["instrument"], i["bars"], i["last_sync"]) for i in report["instruments"]]
    [('BTC/USD', 0, None)]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from quant_core import Timeframe, ns_to_iso, reasons
from quant_core.audit import verify_audit_log
from quant_core.errors import ValidationError
from quant_data import Store
from quant_data.store import GapStatus

__all__ = ["MAX_GAP_RANGES", "data_coverage", "verify_audit"]

MAX_GAP_RANGES = 100
"""The most gap ranges listed per instrument (the newest; ``gaps_total`` counts them all)."""

_MISSING = (GapStatus.OPEN, GapStatus.RETRIED, GapStatus.CONFIRMED_NO_TRADE)
"""Ledger statuses that are gaps (a ``filled`` slot has its bar)."""


def _iso(ts_ns: int | None) -> str | None:
    return None if ts_ns is None else ns_to_iso(ts_ns)


def _ranges(slots: Iterable[tuple[str, int, str]], step: int) -> list[dict[str, Any]]:
    """Consecutive slots of one source and reason, sorted, folded into ``[start, end)``."""
    out: list[dict[str, Any]] = []
    for source, open_ns, reason in sorted(slots):
        last = out[-1] if out else None
        if (
            last is not None
            and (last["source"], last["reason"]) == (source, reason)
            and last["end_ns"] == open_ns
        ):
            last["end_ns"] = open_ns + step
            last["slots"] += 1
            continue
        out.append(
            {"source": source, "reason": reason, "start_ns": open_ns, "end_ns": open_ns + step,
             "slots": 1}
        )  # fmt: skip
    for item in out:
        item["start"], item["end"] = ns_to_iso(item["start_ns"]), ns_to_iso(item["end_ns"])
    return sorted(out, key=lambda r: (r["start_ns"], r["source"]))


def data_coverage(
    store: Store, symbols: Sequence[str], quote: str, timeframe: str | Timeframe
) -> dict[str, Any]:
    """Coverage, gaps and the last sync of each of ``symbols`` (in ``quote``, ``timeframe``).

    Args:
        store: the market-data store.
        symbols: the session's coins (``"BTC"``…), in the order to report them.
        quote: their quote currency.
        timeframe: the bar timeframe (``"1h"`` or a :class:`~quant_core.Timeframe`).

    Returns:
        ``{"database", "latest_seq", "quote", "timeframe", "instruments": [...]}``; each
        instrument: ``symbol``, ``instrument``, ``bars`` (the most of any source),
        ``first_open_ns``/``first_open`` and ``last_open_ns``/``last_open`` (over its
        sources), ``gaps`` (the newest :data:`MAX_GAP_RANGES` ranges ``{source, reason,
        start_ns, end_ns, start, end, slots}``, ``end`` exclusive; reason ``open``,
        ``retried`` or ``confirmed_no_trade``), ``gaps_total`` (ranges),
        ``gap_slots`` (slots per ledger status), ``quarantined``, ``corrections``,
        ``sources`` (per source: ``source``, ``bars``, first and last open time) and
        ``last_sync`` (the newest sync log entry of any source, or ``None``).

    Raises:
        ValidationError: ``INVALID_INPUT`` for an unknown timeframe.
        StorageError: the store cannot be read.
    """
    try:
        tf = Timeframe(timeframe)
    except ValueError:
        raise ValidationError(
            f"unknown timeframe {timeframe!r}", reason_code=reasons.INVALID_INPUT
        ) from None
    entries = {symbol: _empty(symbol, quote) for symbol in symbols}

    def mine(symbol: str, row_quote: str, row_timeframe: str) -> bool:
        return symbol in entries and row_quote == quote and row_timeframe == tf.value

    for series in store.status():
        if mine(series.symbol, series.quote, series.timeframe):
            entry = entries[series.symbol]
            entry["quarantined"] += series.quarantined
            entry["corrections"] += series.corrections
            for status, count in series.gaps.items():
                entry["gap_slots"][status] = entry["gap_slots"].get(status, 0) + count
            entry["sources"].append(
                {
                    "source": series.source,
                    "bars": series.bars,
                    "first_open_ns": series.first_open_ns,
                    "first_open": _iso(series.first_open_ns),
                    "last_open_ns": series.last_open_ns,
                    "last_open": _iso(series.last_open_ns),
                }
            )
    slots: dict[str, list[tuple[str, int, str]]] = {symbol: [] for symbol in entries}
    for row in store.ledger():
        if mine(row["symbol"], row["quote"], row["timeframe"]) and row["status"] in _MISSING:
            slots[row["symbol"]].append((row["source"], int(row["open_time_ns"]), row["status"]))
    for row in store.sync_log():  # in order: the last one of a symbol is its newest
        if mine(row["symbol"], row["quote"], row["timeframe"]):
            entries[row["symbol"]]["last_sync"] = _sync(row)
    for symbol, entry in entries.items():
        sources = entry["sources"]
        firsts = [s["first_open_ns"] for s in sources if s["first_open_ns"] is not None]
        lasts = [s["last_open_ns"] for s in sources if s["last_open_ns"] is not None]
        entry["bars"] = max((s["bars"] for s in sources), default=0)
        entry["first_open_ns"] = min(firsts, default=None)
        entry["first_open"] = _iso(entry["first_open_ns"])
        entry["last_open_ns"] = max(lasts, default=None)
        entry["last_open"] = _iso(entry["last_open_ns"])
        ranges = _ranges(slots[symbol], tf.ns)
        entry["gaps"] = ranges[-MAX_GAP_RANGES:]
        entry["gaps_total"] = len(ranges)
    return {
        "database": store.url,
        "latest_seq": store.latest_seq(),
        "quote": quote,
        "timeframe": tf.value,
        "instruments": list(entries.values()),
    }


def _empty(symbol: str, quote: str) -> dict[str, Any]:
    """An instrument's report before the store is read."""
    return {
        "symbol": symbol,
        "instrument": f"{symbol}/{quote}",
        "gap_slots": {str(status): 0 for status in GapStatus},
        "quarantined": 0,
        "corrections": 0,
        "sources": [],
        "last_sync": None,
    }


def _sync(row: dict[str, Any]) -> dict[str, Any]:
    """A sync log entry as the report gives it."""
    keys = ("seq", "source", "from_ns", "to_ns", "pages", "bars_new", "bars_corrected",
            "quarantined", "recorded_at_ns")  # fmt: skip
    entry = {key: row[key] for key in keys}
    entry["recorded_at"] = ns_to_iso(int(row["recorded_at_ns"]))
    return entry


def verify_audit(path: Path) -> dict[str, Any]:
    """Verify a hash-chained audit log as ``quant audit verify`` does.

    Args:
        path: the audit log (a missing file is an empty, valid log).

    Returns:
        ``{"ok", "path", "entries", "head"}`` and, when the chain is broken,
        ``"reason_code"``, ``"message"`` and ``"first_bad_line"`` (``entries`` counts the
        good records before it).

    Raises:
        StorageError: ``IO_FAILURE`` when the file exists but cannot be read.

    Examples:
        >>> import tempfile
        >>> verify_audit(Path(tempfile.mkdtemp()) / "audit.jsonl")["ok"]
        True
    """
    report = verify_audit_log(path)
    out: dict[str, Any] = {
        "ok": report.ok,
        "path": report.path,
        "entries": report.records,
        "head": report.head,
    }
    if not report.ok:
        out["reason_code"] = report.reason_code
        out["message"] = report.message
        out["first_bad_line"] = report.first_bad_line
    return out

"""Datasets: materialize the canonical bars of a window, with the findings summary, as of a seq."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, func, select

from quant_core import Timeframe, ns_to_iso
from quant_core.errors import QuantUsageError, RejectedError
from quant_data import reasons
from quant_data._dataset import Dataset
from quant_data._records import parse_timeframe
from quant_data.store._bars import QUOTES, select_bars, to_bar
from quant_data.store._db import CORR, GAP, QUAR, Database
from quant_data.store._values import GapStatus

#: Every status value, in ledger order (the summary's and the status report's keys).
_STATUSES = tuple(s.value for s in GapStatus)


def materialize(
    db: Database,
    symbols: Sequence[str],
    quote: str,
    timeframe: str,
    start_ns: int,
    end_ns: int,
    *,
    as_of: int | None,
    prefer: Sequence[str] | None,
) -> Dataset:
    """A window's dataset as of an ingest sequence (see :meth:`quant_data.Store.materialize`)."""
    tf = parse_timeframe(timeframe)
    if quote not in QUOTES or end_ns <= start_ns or not symbols:
        raise QuantUsageError(
            f"bad materialize request: symbols={list(symbols)} quote={quote!r} "
            f"window=[{start_ns}, {end_ns})",
            reason_code=reasons.STORE_REQUEST_INVALID,
        )
    wanted = sorted(set(symbols))
    with db.tx("materialize a dataset") as conn:
        newest = db.max_seq(conn)
        seq = newest if as_of is None else as_of
        if not 0 <= seq <= newest:
            raise QuantUsageError(
                f"as-of {seq} is not an ingest sequence (newest is {newest})",
                reason_code=reasons.STORE_REQUEST_INVALID,
            )
        chosen = select_bars(conn, wanted, quote, tf, start_ns, end_ns, as_of=seq, prefer=prefer)
        summary = _summary(conn, wanted, quote, tf, start_ns, end_ns, seq)
    if not chosen:
        raise RejectedError(
            f"no bars for {wanted} {quote} {tf.value} in [{ns_to_iso(start_ns)}, "
            f"{ns_to_iso(end_ns)}) as of {seq}",
            reason_code=reasons.STORE_NO_DATA,
        )
    bars = [to_bar(r, tf) for r in chosen.values()]
    per_symbol = Counter(symbol for symbol, _ in chosen)
    slots = len(
        range(tf.floor(start_ns) + (0 if tf.is_aligned(start_ns) else tf.ns), end_ns, tf.ns)
    )
    for symbol in wanted:
        summary["symbols"][symbol]["rows"] = per_symbol[symbol]
        summary["symbols"][symbol]["missing_slots"] = slots - per_symbol[symbol]
    summary["sources"] = sorted({r.source for r in chosen.values()})
    return Dataset.from_bars(
        bars, start_ns=start_ns, end_ns=end_ns, as_of=f"seq:{seq}", summary=summary
    )


def _summary(
    conn: Connection,
    symbols: list[str],
    quote: str,
    tf: Timeframe,
    start_ns: int,
    end_ns: int,
    seq: int,
) -> dict[str, Any]:
    """Per symbol: corrections, quarantined rows and gap-ledger statuses visible at ``seq``."""
    out: dict[str, Any] = {"as_of_seq": seq, "symbols": {}}
    for symbol in symbols:

        def in_window(table: Table) -> Any:
            return and_(
                table.c.symbol == symbol,  # noqa: B023 - used immediately
                table.c.quote == quote,
                table.c.timeframe == tf.value,
                table.c.open_time_ns >= start_ns,
                table.c.open_time_ns < end_ns,
            )

        corrections = conn.execute(
            select(func.count()).where(in_window(CORR), CORR.c.ingest_seq <= seq)
        ).scalar_one()
        quarantined = conn.execute(
            select(func.count()).where(in_window(QUAR), QUAR.c.ingest_seq <= seq)
        ).scalar_one()
        gaps = dict.fromkeys(_STATUSES, 0)
        for status, count in conn.execute(
            select(GAP.c.status, func.count())
            .where(in_window(GAP), GAP.c.detected_seq <= seq)
            .group_by(GAP.c.status)
        ):
            gaps[status] = int(count)
        out["symbols"][symbol] = {
            "corrections": int(corrections),
            "quarantined": int(quarantined),
            "gap_ledger": gaps,
        }
    return out

"""Audit: per-series status, the store's self-check, and its content hash."""

from __future__ import annotations

import hashlib
import itertools
from collections import defaultdict
from typing import Any

import attrs
from sqlalchemy import func, inspect, select

from quant_core import bytes_hash, canonical_json
from quant_data import reasons
from quant_data.store._db import BAR, CORR, GAP, QUAR, RAW, Database
from quant_data.store._tables import CONTENT_TABLES, all_tables, table_of
from quant_data.store._values import GapStatus, SeriesKey, SeriesStatus, VerifyReport

#: Every status value, in ledger order (the summary's and the status report's keys).
_STATUSES = tuple(s.value for s in GapStatus)


def status(db: Database) -> list[SeriesStatus]:
    """Coverage, gaps, quarantine and corrections of every series, sorted."""
    with db.tx("read the store status") as conn:
        keys = (BAR.c.source, BAR.c.symbol, BAR.c.quote, BAR.c.timeframe)
        coverage = {
            SeriesKey(r[0], r[1], r[2], r[3]): (int(r[4]), int(r[5]), int(r[6]))
            for r in conn.execute(
                select(
                    *keys,
                    func.count(func.distinct(BAR.c.open_time_ns)),
                    func.min(BAR.c.open_time_ns),
                    func.max(BAR.c.open_time_ns),
                ).group_by(*keys)
            )
        }
        gaps: dict[SeriesKey, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_STATUSES, 0))
        gk = (GAP.c.source, GAP.c.symbol, GAP.c.quote, GAP.c.timeframe, GAP.c.status)
        for r in conn.execute(select(*gk, func.count()).group_by(*gk)):
            gaps[SeriesKey(r[0], r[1], r[2], r[3])][r[4]] = int(r[5])
        qk = (QUAR.c.source, QUAR.c.symbol, QUAR.c.quote, QUAR.c.timeframe)
        quarantined = {
            SeriesKey(r[0], r[1], r[2], r[3]): int(r[4])
            for r in conn.execute(select(*qk, func.count()).group_by(*qk))
        }
        ck = (CORR.c.source, CORR.c.symbol, CORR.c.quote, CORR.c.timeframe)
        corrections = {
            SeriesKey(r[0], r[1], r[2], r[3]): int(r[4])
            for r in conn.execute(select(*ck, func.count()).group_by(*ck))
        }
    out = []
    for key in sorted(set(coverage) | set(gaps) | set(quarantined)):
        count, first, last = coverage.get(key, (0, None, None))
        out.append(
            SeriesStatus(
                **attrs.asdict(key),
                bars=count,
                first_open_ns=first,
                last_open_ns=last,
                gaps=dict(gaps.get(key, dict.fromkeys(_STATUSES, 0))),
                quarantined=quarantined.get(key, 0),
                corrections=corrections.get(key, 0),
            )
        )
    return out


def verify(db: Database) -> VerifyReport:
    """Check schema, raw ordering and payload hashes, bar versions, duplicates, gap ledger.

    Returns:
        A :class:`VerifyReport`; ``ok`` is False with the reason code of the first failed
        check (``STORE_SCHEMA_INVALID``, ``STORE_VERSIONS_BROKEN``,
        ``STORE_GAP_LEDGER_INVALID``).
    """
    passed: list[str] = []
    with db.tx("verify the store") as conn:
        found = inspect(conn)
        for table in all_tables():
            if not found.has_table(table.name):
                return _fail(passed, reasons.STORE_SCHEMA_INVALID, f"table {table.name} is missing")
            columns = {c["name"] for c in found.get_columns(table.name)}
            missing = sorted({c.name for c in table.columns} - columns)
            if missing:
                return _fail(passed, reasons.STORE_SCHEMA_INVALID, f"{table.name} lacks {missing}")
        passed.append("schema")
        expected = 1
        for seq, payload, payload_hash in conn.execute(
            select(RAW.c.seq, RAW.c.payload, RAW.c.payload_hash).order_by(RAW.c.seq)
        ):
            actual = bytes_hash(payload)
            if seq != expected or actual != payload_hash:
                return _fail(
                    passed,
                    reasons.STORE_VERSIONS_BROKEN,
                    f"raw ingest {seq}: expected sequence {expected} and payload hash "
                    f"{payload_hash}, found {actual}",
                )
            expected += 1
        passed.append("raw ordering")
        versions: dict[tuple[str, str, str, str, int], list[tuple[int, int]]] = defaultdict(list)
        values: dict[tuple[str, str, str, str, int], list[tuple[Any, ...]]] = defaultdict(list)
        for r in conn.execute(select(BAR).order_by(*BAR.primary_key.columns)):
            key = (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns))
            versions[key].append((int(r.version), int(r.ingest_seq)))
            values[key].append((r.open, r.high, r.low, r.close, r.volume, r.trades))
        corrected = {
            (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns), int(r.new_version))
            for r in conn.execute(select(CORR))
            if r.old_version == r.new_version - 1
        }
        for key, vs in versions.items():
            numbers = [v for v, _ in vs]
            seqs = [s for _, s in vs]
            linked = all((*key, v) in corrected for v in numbers[1:])
            if numbers != list(range(1, len(vs) + 1)) or seqs != sorted(set(seqs)) or not linked:
                return _fail(
                    passed,
                    reasons.STORE_VERSIONS_BROKEN,
                    f"bar {key} has versions {numbers} at ingests {seqs}",
                )
        passed.append("bar versions")
        for key, vals in values.items():
            if any(a == b for a, b in itertools.pairwise(vals)):
                return _fail(
                    passed,
                    reasons.STORE_VERSIONS_BROKEN,
                    f"bar {key} repeats identical values in consecutive versions",
                )
        passed.append("duplicates")
        for r in conn.execute(select(GAP).order_by(*GAP.primary_key.columns)):
            key = (r.source, r.symbol, r.quote, r.timeframe, int(r.open_time_ns))
            has_bar = key in versions
            bad = r.status not in _STATUSES or (has_bar != (r.status == GapStatus.FILLED))
            if bad:
                return _fail(
                    passed,
                    reasons.STORE_GAP_LEDGER_INVALID,
                    f"gap {key} is {r.status!r} but the slot {'has' if has_bar else 'has no'} bar",
                )
        passed.append("gap ledger")
    return VerifyReport(ok=True, checks=tuple(passed))


def content_hash(db: Database) -> str:
    """``sha256:<hex>`` over every content table, row by row in primary-key order.

    Raw payloads enter through their hash; job cursors are excluded (they are progress, not
    content). Two stores hash equal exactly when they hold the same data, whatever the
    backend.
    """
    digest = hashlib.sha256()
    with db.tx("hash the store") as conn:
        for model in CONTENT_TABLES:
            table = table_of(model)
            columns = [c for c in table.columns if c.name != "payload"]
            digest.update(canonical_json([table.name, [c.name for c in columns]]) + b"\n")
            rows = conn.execute(select(*columns).order_by(*table.primary_key.columns))
            for row in rows:
                digest.update(canonical_json(list(row)) + b"\n")
    return "sha256:" + digest.hexdigest()


def _fail(passed: list[str], code: str, message: str) -> VerifyReport:
    return VerifyReport(ok=False, checks=tuple(passed), reason_code=code, message=message)

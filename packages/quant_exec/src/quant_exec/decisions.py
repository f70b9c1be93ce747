"""The decision log: every decision, including "no action", as canonical JSON lines.

A log starts with one ``session`` line (model id, dataset hash, the full strategy and risk
profiles with their versions) followed by one ``decision`` line per evaluation, in the order
they were made. Each line is the canonical JSON (:mod:`quant_core.canonical`) of a plain
record, so the file's bytes are a pure function of the inputs of the run; the *log hash* is
the SHA-256 of those bytes. Replaying the same inputs, in any process and under any
``PYTHONHASHSEED``, gives the same hash.

Examples:
    >>> log = DecisionLog({"model_id": "m", "dataset_hash": None})
    >>> _ = log.append(DecisionRecord(ts_ns=5, trigger="bar", instrument="BTC/USD",
    ...                               action="none", reason_codes=("NO_EDGE",),
    ...                               profile="p1", inputs={"p_up": {"1h": 0.5}}))
    >>> len(log), log.records[0].seq
    (1, 1)
    >>> len(log.to_bytes().splitlines())
    2
    >>> log.log_hash() == log_hash(log.to_bytes())
    True
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any

import attrs

from quant_core import bytes_hash, canonical_json, canonical_text
from quant_core.errors import ValidationError
from quant_core.files import write_file_atomic
from quant_exec import reasons

__all__ = [
    "DecisionLog",
    "DecisionRecord",
    "log_hash",
    "read_decision_log",
]

SESSION_KIND = "session"
DECISION_KIND = "decision"


@attrs.frozen
class DecisionRecord:
    """One decision.

    Attributes:
        ts_ns: decision time (the event's time on the clock), UTC ns.
        trigger: ``"bar"``, ``"heartbeat"`` or ``"fill"``.
        instrument: ``"BTC/USD"``, or ``None`` for a decision about no instrument.
        action: ``"none"``, ``"buy"`` or ``"sell"`` (an order was created), or
            ``"rejected"`` (the risk gates refused the intent).
        reason_codes: the strategy's reason first, then any risk rejection code.
        profile: the profile version label (``"strategy v1 / risk v1 / <hash>"``).
        inputs: the prediction and market inputs that led to the decision.
        quantity: the order quantity, when an order was created or refused.
        order_id: the created order's id.
        model_id: the model / bundle hash behind the prediction used.
        seq: position in the log, from 1 (set by :meth:`DecisionLog.append`).
    """

    ts_ns: int
    trigger: str
    instrument: str | None
    action: str
    reason_codes: tuple[str, ...]
    profile: str
    inputs: Mapping[str, Any]
    quantity: Decimal | None = None
    order_id: str | None = None
    model_id: str | None = None
    seq: int = 0

    def to_record(self) -> dict[str, Any]:
        """The record as plain data (one line of the log)."""
        return {
            "kind": DECISION_KIND,
            "seq": self.seq,
            "ts_ns": self.ts_ns,
            "trigger": self.trigger,
            "instrument": self.instrument,
            "action": self.action,
            "reason_codes": list(self.reason_codes),
            "profile": self.profile,
            "inputs": dict(self.inputs),
            "quantity": self.quantity,
            "order_id": self.order_id,
            "model_id": self.model_id,
        }


_CACHE_LIMIT = 4096
_TEXT: dict[str, str] = {}
_CODES: dict[tuple[str, ...], str] = {}
_IDENTITY: dict[tuple[str | None, str | None], str] = {}
_OPTIONAL_STR = (str, type(None))


def _text(value: str) -> str:
    """The JSON string literal of ``value`` (as canonical JSON writes it), memoised.

    Decision records repeat a handful of strings (actions, triggers, reason codes, the profile
    label, model ids, instruments) on every line, so their encodings are cached; every cache
    here is bounded, so unusual inputs cannot grow it without limit.
    """
    text = _TEXT.get(value)
    if text is None:
        text = encode_basestring(value)
        if len(_TEXT) < _CACHE_LIMIT:
            _TEXT[value] = text
    return text


def _codes(codes: tuple[str, ...]) -> str:
    """``"reason_codes":[...],"seq":`` for ``codes``, memoised."""
    text = _CODES.get(codes)
    if text is None:
        text = '"reason_codes":[' + ",".join([_text(c) for c in codes]) + '],"seq":'
        if len(_CODES) < _CACHE_LIMIT:
            _CODES[codes] = text
    return text


def _identity(instrument: str | None, model_id: str | None) -> str:
    """``,"instrument":…,"kind":"decision","model_id":…,"order_id":``, memoised."""
    key = (instrument, model_id)
    text = _IDENTITY.get(key)
    if text is None:
        text = (
            ',"instrument":'
            + ("null" if instrument is None else _text(instrument))
            + ',"kind":"decision","model_id":'
            + ("null" if model_id is None else _text(model_id))
            + ',"order_id":'
        )
        if len(_IDENTITY) < _CACHE_LIMIT:
            _IDENTITY[key] = text
    return text


def _decision_line(record: DecisionRecord) -> bytes:
    """One log line: the canonical JSON of ``record.to_record()`` and a newline, built faster.

    The record's keys are fixed, so the line is assembled in their sorted order (``action``,
    ``inputs``, ``instrument``, ``kind``, ``model_id``, ``order_id``, ``profile``,
    ``quantity``, ``reason_codes``, ``seq``, ``trigger``, ``ts_ns``) from memoised literals,
    and only ``inputs`` goes through the canonical encoder. A field of any type other than
    the annotated ones takes the general path, so the bytes are those of
    :func:`~quant_core.canonical_json` in every case.
    """
    quantity, codes, order_id = record.quantity, record.reason_codes, record.order_id
    if not (
        type(record.ts_ns) is int
        and type(record.seq) is int
        and type(record.trigger) is str
        and type(record.action) is str
        and type(record.profile) is str
        and type(codes) is tuple
        and all(type(code) is str for code in codes)
        and type(record.instrument) in _OPTIONAL_STR
        and type(order_id) in _OPTIONAL_STR
        and type(record.model_id) in _OPTIONAL_STR
        and (quantity is None or (type(quantity) is Decimal and quantity.is_finite()))
    ):
        return canonical_json(record.to_record()) + b"\n"
    inputs = record.inputs
    line = "".join(
        (
            '{"action":',
            _text(record.action),
            ',"inputs":',
            canonical_text(inputs if type(inputs) is dict else dict(inputs)),
            _identity(record.instrument, record.model_id),
            "null" if order_id is None else encode_basestring(order_id),  # unique: not cached
            ',"profile":',
            _text(record.profile),
            ',"quantity":',
            "null" if quantity is None else f'"{quantity}"',
            ",",
            _codes(codes),
            str(record.seq),
            ',"trigger":',
            _text(record.trigger),
            ',"ts_ns":',
            str(record.ts_ns),
            "}\n",
        )
    )
    return line.encode("utf-8")


def log_hash(data: bytes) -> str:
    """The hash of a decision log's bytes: ``"sha256:<hex>"``."""
    return bytes_hash(data)


class DecisionLog:
    """An in-memory, append-only decision log.

    Args:
        session: the session header (model id, dataset hash, profiles, …); plain JSON data.
    """

    def __init__(self, session: Mapping[str, Any]) -> None:
        self._lines: list[bytes] = [canonical_json({"kind": SESSION_KIND, **session}) + b"\n"]
        self._records: list[DecisionRecord] = []

    def append(self, record: DecisionRecord) -> DecisionRecord:
        """Number ``record``, append it, and return the numbered record.

        A record that already carries the next number is appended as it is.
        """
        seq = len(self._records) + 1
        numbered = record if record.seq == seq else attrs.evolve(record, seq=seq)
        self._lines.append(_decision_line(numbered))
        self._records.append(numbered)
        return numbered

    @property
    def records(self) -> tuple[DecisionRecord, ...]:
        """The decisions so far, oldest first."""
        return tuple(self._records)

    def __len__(self) -> int:
        return len(self._records)

    def reason_counts(self) -> dict[str, int]:
        """How often each reason code appears, sorted by code."""
        counts = Counter(code for r in self._records for code in r.reason_codes)
        return dict(sorted(counts.items()))

    def to_bytes(self) -> bytes:
        """The log as canonical JSON lines."""
        return b"".join(self._lines)

    def log_hash(self) -> str:
        """The replay hash: SHA-256 of :meth:`to_bytes`."""
        return log_hash(self.to_bytes())

    def write(self, path: Path | str) -> str:
        """Write the log atomically (temp file, fsync, rename) and return its hash."""
        data = self.to_bytes()
        write_file_atomic(path, data)
        return log_hash(data)


def read_decision_log(path: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a decision log: its session header and its decision records.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when a line is not JSON, the first line is
            not a session header, or a later line is not a decision.
    """
    lines = Path(path).read_bytes().splitlines()
    try:
        rows = [json.loads(line) for line in lines]
    except ValueError as exc:
        raise ValidationError(
            f"{path}: not JSON lines: {exc}", reason_code=reasons.DECISION_LOG_INVALID
        ) from exc
    kinds = [row.get("kind") if isinstance(row, dict) else None for row in rows]
    if not kinds or kinds[0] != SESSION_KIND or any(k != DECISION_KIND for k in kinds[1:]):
        raise ValidationError(
            f"{path}: not a decision log (a session line, then decision lines)",
            reason_code=reasons.DECISION_LOG_INVALID,
        )
    return rows[0], rows[1:]

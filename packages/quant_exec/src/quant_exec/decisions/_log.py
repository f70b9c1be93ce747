"""The decision log: every decision ("no action" too), order event and risk change, as JSON lines.

A log starts with one ``session`` line (model id, dataset hash, the full strategy and risk
profiles with their versions). Then come, in the order they happened, one ``decision`` line
per evaluation and one ``order`` line per order lifecycle event the session applied
(submitted, accepted, rejected, filled, canceled, expired, …, with the order's status after
it, and duplicated fills marked as such), and one ``risk`` line per risk change the session
saw (a kill-switch engage or release, a new profile version). ``seq`` numbers the lines after
the header from 1.
Each line is the canonical JSON (:mod:`quant_core.canonical`) of a plain record, so the
file's bytes are a pure function of the inputs of the run; the *log hash* is the SHA-256 of
those bytes. Replaying the same inputs, in any process and under any ``PYTHONHASHSEED``,
gives the same hash.

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

import enum
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs

from quant_core import CanonicalMemo, bytes_hash, canonical_json
from quant_core import reasons as core_reasons
from quant_core.errors import ValidationError
from quant_core.files import write_file_atomic

if TYPE_CHECKING:
    from quant_exec.orders._model import OrderEvent, OrderStatus


class LineKind(enum.StrEnum):
    """What a log line is (its ``kind``)."""

    SESSION = "session"
    DECISION = "decision"
    ORDER = "order"
    RISK = "risk"


class Trigger(enum.StrEnum):
    """What made the session evaluate (a decision's ``trigger``)."""

    BAR = "bar"
    HEARTBEAT = "heartbeat"
    FILL = "fill"
    RISK = "risk"


class Action(enum.StrEnum):
    """What a decision did (its ``action``)."""

    NONE = "none"
    BUY = "buy"
    SELL = "sell"
    REJECTED = "rejected"


class RiskChange(enum.StrEnum):
    """What a risk line records (its ``change``)."""

    KILL_SWITCH = "kill_switch"
    PROFILE = "profile"
    INSTRUMENT_HALT = "instrument_halt"
    """A fill the session could not match flagged the instrument (``EXTERNAL_FILL``,
    ``OVERFILL``); new orders on it are refused from then on."""
    ORDER_EVENT_REFUSED = "order_event_refused"
    """A venue event the order table refused (or for an unknown order); it changed nothing."""
    RECONCILE = "reconcile"
    """A start-time reconciliation finding (adopted, resent, dropped, lost, a mismatch)."""
    KILL_SWITCH_VERIFY = "kill_switch_verify"
    """The venue's open orders checked after the kill switch pulled the session's orders."""


@attrs.frozen
class DecisionRecord:
    """One decision.

    Attributes:
        ts_ns: decision time (the event's time on the clock), UTC ns.
        trigger: a :class:`Trigger` (``"bar"``, ``"heartbeat"``, ``"fill"`` or ``"risk"``).
        instrument: ``"BTC/USD"``, or ``None`` for a decision about no instrument.
        action: an :class:`Action`: ``"none"``, ``"buy"`` or ``"sell"`` (an order was created), or
            ``"rejected"`` (the risk gates refused the intent).
        reason_codes: the strategy's reason first, then any risk rejection code.
        profile: the profile version label (``"strategy v1 / risk v1 / <hash>"``).
        inputs: the prediction and market inputs that led to the decision.
        quantity: the order quantity, when an order was created or refused.
        order_id: the created order's id.
        model_id: the model / bundle hash behind the prediction used.
        seq: position in the log (decision, order and risk lines together), from 1 (set by
            :meth:`DecisionLog.append`).
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
        # Hand-written: the log format keeps Decimals as Decimals so that a non-finite one is
        # refused by the canonical encoder (the converter would write it as a string).
        return {
            "kind": LineKind.DECISION,
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


def _record(
    ts_ns: int,
    trigger: str,
    instrument: str | None,
    action: str,
    codes: tuple[str, ...],
    profile: str,
    inputs: Mapping[str, Any],
    quantity: Decimal | None,
    order_id: str | None,
    model_id: str | None,
    seq: int,
) -> dict[str, Any]:
    """:meth:`DecisionRecord.to_record` from the fields (in its order), without the record.

    The per-bar path: no record object is made until :attr:`DecisionLog.records` is read.
    """
    return {
        "kind": LineKind.DECISION,
        "seq": seq,
        "ts_ns": ts_ns,
        "trigger": trigger,
        "instrument": instrument,
        "action": action,
        "reason_codes": codes,  # a tuple is written as the array a list is
        "profile": profile,
        "inputs": inputs if type(inputs) is dict else dict(inputs),
        "quantity": quantity,
        "order_id": order_id,
        "model_id": model_id,
    }


_STABLE = frozenset(
    {
        "action",
        "change",
        "instrument",
        "kind",
        "model_id",
        "profile",
        "reason_codes",
        "status",
        "trigger",
    }
)
"""Line keys whose values repeat (a few strings each): the encoder keeps the text around them."""


def log_hash(data: bytes) -> str:
    """The hash of a decision log's bytes: ``"sha256:<hex>"``."""
    return bytes_hash(data)


class DecisionLog:
    """An in-memory, append-only decision log.

    Args:
        session: the session header (model id, dataset hash, profiles, …); plain JSON data.
    """

    def __init__(self, session: Mapping[str, Any]) -> None:
        self._lines: list[bytes] = [canonical_json({"kind": LineKind.SESSION, **session}) + b"\n"]
        # Lines repeat a few shapes and strings: the encoder keeps them here, for this log.
        self._memo = CanonicalMemo(stable=_STABLE)
        # Records in order; a decision added by :meth:`add` is kept as its field tuple until
        # :attr:`records` is read (then it is made into its record, once).
        self._rows: list[DecisionRecord | tuple[Any, ...]] = []
        self._made = 0  # rows before this index are all records
        self._orders: list[dict[str, Any]] = []
        self._risk: list[dict[str, Any]] = []

    def append(self, record: DecisionRecord) -> DecisionRecord:
        """Number ``record``, append it, and return the numbered record.

        A record that already carries the next number is appended as it is.
        """
        seq = len(self._lines)  # the header is line 0
        numbered = record if record.seq == seq else attrs.evolve(record, seq=seq)
        line = canonical_json(numbered.to_record(), self._memo) + b"\n"
        self._lines.append(line)
        self._rows.append(numbered)
        return numbered

    def add(
        self,
        ts_ns: int,
        trigger: str,
        instrument: str | None,
        action: str,
        reason_codes: tuple[str, ...],
        profile: str,
        inputs: Mapping[str, Any],
        quantity: Decimal | None = None,
        order_id: str | None = None,
        model_id: str | None = None,
    ) -> int:
        """Append the decision with these fields (see :class:`DecisionRecord`); return its seq.

        The same line as ``append(DecisionRecord(...))`` writes; the record object itself is
        made only when :attr:`records` is read (the engine's per-bar path).

        Examples:
            >>> log = DecisionLog({})
            >>> log.add(5, "bar", "BTC/USD", "none", ("NO_EDGE",), "p1", {"price": 1.5})
            1
            >>> other = DecisionLog({})
            >>> _ = other.append(DecisionRecord(5, "bar", "BTC/USD", "none", ("NO_EDGE",), "p1",
            ...                                 {"price": 1.5}))
            >>> log.to_bytes() == other.to_bytes(), log.records == other.records
            (True, True)
        """
        rows = self._rows
        seq = len(self._lines)  # the header is line 0
        fields = (
            ts_ns, trigger, instrument, action, reason_codes, profile, inputs,
            quantity, order_id, model_id, seq,
        )  # fmt: skip
        self._lines.append(canonical_json(_record(*fields), self._memo) + b"\n")
        rows.append(fields)
        return seq

    def add_order(
        self, ts_ns: int, event: OrderEvent, status: OrderStatus, *, duplicate: bool = False
    ) -> int:
        """Append an order lifecycle event the session applied; return its seq.

        Args:
            ts_ns: when the session applied it (its clock; the event carries its own times).
            event: the event, written as :meth:`~quant_exec.orders.OrderSubmitted.to_record`
                gives it.
            status: the order's status after the event.
            duplicate: a fill whose trade id was already applied (it changed nothing).

        Examples:
            >>> from quant_exec.orders import OrderStatus, OrderSubmitted
            >>> log = DecisionLog({})
            >>> log.add_order(5, OrderSubmitted("O-1", ts_event=5, ts_init=5),
            ...               OrderStatus.SUBMITTED)
            1
            >>> log.orders[0]["status"], log.orders[0]["event"]["event"]
            ('submitted', 'OrderSubmitted')
        """
        record = {
            "kind": LineKind.ORDER,
            "seq": len(self._lines),
            "ts_ns": ts_ns,
            "order_id": event.client_order_id,
            "status": status.value,
            "duplicate": duplicate,
            "event": event.to_record(),
        }
        return self._keep(record, self._orders)

    @property
    def orders(self) -> tuple[dict[str, Any], ...]:
        """The order lines so far, oldest first, as plain records."""
        return tuple(self._orders)

    def add_risk(self, ts_ns: int, change: str, details: Mapping[str, Any]) -> int:
        """Append a risk change the session saw; return its seq.

        Args:
            ts_ns: when the session saw it (its clock).
            change: a :class:`RiskChange` (``"kill_switch"``, ``"profile"``,
                ``"instrument_halt"`` or ``"order_event_refused"``).
            details: what changed (plain JSON data; keys other than ``kind``, ``seq``,
                ``ts_ns`` and ``change``).

        Raises:
            ValidationError: ``INVALID_INPUT`` when ``details`` reuses a key of the line.

        Examples:
            >>> log = DecisionLog({})
            >>> log.add_risk(7, "kill_switch", {"action": "engage", "reason": "drill"})
            1
            >>> log.risk[0]["change"], log.risk[0]["action"]
            ('kill_switch', 'engage')
        """
        clash = sorted({"kind", "seq", "ts_ns", "change"} & set(details))
        if clash:
            raise ValidationError(
                f"risk line details cannot set {clash}", reason_code=core_reasons.INVALID_INPUT
            )
        seq = len(self._lines)
        record = {"kind": LineKind.RISK, "seq": seq, "ts_ns": ts_ns, "change": change, **details}
        return self._keep(record, self._risk)

    @property
    def risk(self) -> tuple[dict[str, Any], ...]:
        """The risk lines so far, oldest first, as plain records."""
        return tuple(self._risk)

    def _keep(self, record: dict[str, Any], kept: list[dict[str, Any]]) -> int:
        """Write a plain record (``seq`` already set) as the next line; keep it; its seq."""
        self._lines.append(canonical_json(record, self._memo) + b"\n")
        kept.append(record)
        return int(record["seq"])

    @property
    def records(self) -> tuple[DecisionRecord, ...]:
        """The decisions so far, oldest first."""
        rows = self._rows
        for i in range(self._made, len(rows)):
            row = rows[i]
            if isinstance(row, tuple):
                rows[i] = DecisionRecord(*row)
        self._made = len(rows)
        return cast("tuple[DecisionRecord, ...]", tuple(rows))  # every row is a record now

    def __len__(self) -> int:
        """The number of decisions (order and risk lines not counted)."""
        return len(self._rows)

    def reason_counts(self) -> dict[str, int]:
        """How often each reason code appears, sorted by code."""
        counts = Counter(code for r in self.records for code in r.reason_codes)
        return dict(sorted(counts.items()))

    def order_event_counts(self) -> dict[str, int]:
        """How often each order event type was applied, sorted by type."""
        counts = Counter(str(line["event"]["event"]) for line in self._orders)
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

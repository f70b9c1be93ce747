"""The decision log: every decision ("no action" too), order event and risk change, as JSON lines.

A log starts with one ``session`` line (model id, dataset hash, the full strategy and risk
profiles with their versions). Then come, in the order they happened, one ``decision`` line
per evaluation and one ``order`` line per order lifecycle event the session applied
(submitted, accepted, rejected, filled, canceled, expired, …, with the order's status after
it, and duplicated fills marked as such), and one ``risk`` line per risk change the session
saw (a kill-switch engage or release, a new profile version). ``seq`` numbers the lines after
the header from 1.
Each line is the canonical JSON (:func:`quant_core.canonical_json`) of a plain record, so the
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

import json
from collections import Counter
from collections.abc import Mapping
from decimal import Decimal
from json.encoder import encode_basestring
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import attrs

from quant_core import bytes_hash, canonical_json, canonical_text
from quant_core import reasons as core_reasons
from quant_core.errors import ValidationError
from quant_core.files import write_file_atomic
from quant_exec import reasons
from quant_exec.ledger import Ledger
from quant_exec.orders import OrderFilled, event_from_record

if TYPE_CHECKING:
    from quant_exec.orders import OrderEvent, OrderStatus

__all__ = [
    "DecisionLog",
    "DecisionRecord",
    "LogRun",
    "log_hash",
    "read_decision_log",
    "read_log",
    "replay_difference",
    "replay_ledger",
]

SESSION_KIND = "session"
DECISION_KIND = "decision"
ORDER_KIND = "order"
RISK_KIND = "risk"


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
_PIECES: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}
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


_Pieces = tuple[str, str, str, str, str]


def _pieces(
    action: str,
    instrument: str | None,
    model_id: str | None,
    profile: str,
    codes: tuple[str, ...],
    trigger: str,
) -> _Pieces:
    """The fixed text between a line's varying values, memoised per combination.

    A line is ``a + inputs + b + order_id + c + quantity + d + seq + e + ts_ns + "}"`` with
    ``a = {"action":…,"inputs":``, ``b = ,"instrument":…,"kind":"decision","model_id":…,
    "order_id":``, ``c = ,"profile":…,"quantity":``, ``d = ,"reason_codes":[…],"seq":`` and
    ``e = ,"trigger":…,"ts_ns":`` (keys in sorted order). A run repeats a few combinations of
    action, instrument, model, profile, reason codes and trigger, so one lookup gives all
    five. The caller reads the memo (``_PIECES``) itself and calls this on a miss, which
    makes the pieces and memoises them while the bounded memo has room.
    """
    pieces = (
        '{"action":' + _text(action) + ',"inputs":',
        ',"instrument":'
        + ("null" if instrument is None else _text(instrument))
        + ',"kind":"decision","model_id":'
        + ("null" if model_id is None else _text(model_id))
        + ',"order_id":',
        ',"profile":' + _text(profile) + ',"quantity":',
        ',"reason_codes":[' + ",".join([_text(c) for c in codes]) + '],"seq":',
        ',"trigger":' + _text(trigger) + ',"ts_ns":',
    )
    if len(_PIECES) < _CACHE_LIMIT:
        _PIECES[(action, instrument, model_id, profile, codes, trigger)] = pieces
    return pieces


_TEMPLATES: dict[tuple[Any, ...], tuple[tuple[str, str], ...] | None] = {}
_float_repr = float.__repr__
_int_repr = int.__repr__


def _template(keys: tuple[Any, ...]) -> tuple[tuple[str, str], ...] | None:
    """The keys of a dict in sorted order, each with its ``{"key":`` / ``,"key":`` prefix.

    Memoised by the keys in insertion order (the strategy builds its inputs in a few fixed
    shapes); ``None`` when a key is not a plain ``str`` (the general encoder decides then).
    The memo is looked up by equality, as dict keys are, so a key of a ``str`` subclass that
    equals a memoised ``str`` key is written as that string: what the encoder writes for it.
    """
    template = _TEMPLATES.get(keys)
    if template is None and keys not in _TEMPLATES:
        if all(type(key) is str for key in keys):
            template = tuple(
                (key, ("{" if i == 0 else ",") + _text(key) + ":")
                for i, key in enumerate(sorted(keys))
            )
        if len(_TEMPLATES) < _CACHE_LIMIT:
            _TEMPLATES[keys] = template
    return template


def _object_text(value: dict[Any, Any], *, nested: bool = False) -> str | None:
    """The canonical JSON text of a dict of plain values, or ``None`` to use the encoder.

    Takes ``str`` keys and values of exactly the types :class:`decimal.Decimal` (finite),
    ``float`` (finite; ``-0.0`` is written ``0.0``), ``int``, ``str``, ``None`` and, at the
    top level only, ``dict`` (such as the per-horizon ``p_up``); anything else (``bool``,
    subclasses, lists, non-finite numbers, other key types, deeper nesting, so also a dict
    that holds itself) returns ``None`` so that :func:`~quant_core.canonical_text` writes, or
    refuses, it. Each value is written exactly as the canonical encoder writes it: a Decimal
    as the JSON string of ``str(value)``, a float as ``float.__repr__``, an int as
    ``int.__repr__``.
    """
    if not value:
        return "{}"
    keys = tuple(value)
    template = _TEMPLATES.get(keys) or _template(keys)  # the memo read inline: once per dict
    if template is None:
        return None
    parts: list[str] = []
    append = parts.append
    for key, prefix in template:
        item = value[key]
        kind = type(item)
        if kind is Decimal:
            if not item.is_finite():
                return None
            append(prefix + '"' + str(item) + '"')
        elif kind is float:
            if item == 0.0:  # 0.0 and -0.0 alike
                append(prefix + "0.0")
            elif item - item == 0.0:  # finite (inf - inf and nan - nan are nan)
                append(prefix + _float_repr(item))
            else:
                return None
        elif kind is int:
            append(prefix + _int_repr(item))
        elif kind is str:
            append(prefix + encode_basestring(item))
        elif item is None:
            append(prefix + "null")
        elif kind is dict and not nested:
            inner = _object_text(item, nested=True)
            if inner is None:
                return None
            append(prefix + inner)
        else:
            return None
    append("}")
    return "".join(parts)


def _inputs_text(inputs: Mapping[str, Any]) -> str:
    """The canonical JSON text of a decision's inputs: the fast writer, else the encoder."""
    plain = inputs if type(inputs) is dict else dict(inputs)
    text = _object_text(plain)
    return canonical_text(plain) if text is None else text


def _decision_line(record: DecisionRecord) -> bytes:
    """One log line: the canonical JSON of ``record.to_record()`` and a newline."""
    return _line(
        record.ts_ns,
        record.trigger,
        record.instrument,
        record.action,
        record.reason_codes,
        record.profile,
        record.inputs,
        record.quantity,
        record.order_id,
        record.model_id,
        record.seq,
    )


def _line(
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
) -> bytes:
    """The line of the record with these fields (in :class:`DecisionRecord` order), built fast.

    The record's keys are fixed, so the line is assembled in their sorted order (``action``,
    ``inputs``, ``instrument``, ``kind``, ``model_id``, ``order_id``, ``profile``,
    ``quantity``, ``reason_codes``, ``seq``, ``trigger``, ``ts_ns``) from memoised literals,
    and ``inputs`` by :func:`_inputs_text`. A field of any type other than the annotated ones
    takes the general path, so the bytes are those of :func:`~quant_core.canonical_json` in
    every case.
    """
    if not (
        type(ts_ns) is int
        and type(seq) is int
        and type(trigger) is str
        and type(action) is str
        and type(profile) is str
        and type(codes) is tuple
        and ((len(codes) == 1 and type(codes[0]) is str) or all(type(c) is str for c in codes))
        and type(instrument) in _OPTIONAL_STR
        and type(order_id) in _OPTIONAL_STR
        and type(model_id) in _OPTIONAL_STR
        and (quantity is None or (type(quantity) is Decimal and quantity.is_finite()))
    ):
        record = DecisionRecord(
            ts_ns, trigger, instrument, action, codes, profile, inputs,
            quantity, order_id, model_id, seq,
        )  # fmt: skip
        return canonical_json(record.to_record()) + b"\n"
    key = (action, instrument, model_id, profile, codes, trigger)
    a, b, c, d, e = _PIECES.get(key) or _pieces(*key)  # the memo read inline
    plain = inputs if type(inputs) is dict else dict(inputs)  # as _inputs_text, inline
    values = _object_text(plain)
    if values is None:
        values = canonical_text(plain)
    oid = "null" if order_id is None else encode_basestring(order_id)  # unique: not cached
    amount = "null" if quantity is None else '"' + str(quantity) + '"'
    line = f"{a}{values}{b}{oid}{c}{amount}{d}{seq!s}{e}{ts_ns!s}}}\n"
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
        self._lines.append(_decision_line(numbered))
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
        self._lines.append(_line(*fields))
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
            "kind": ORDER_KIND,
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
            change: ``"kill_switch"`` or ``"profile"``.
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
        record = {"kind": RISK_KIND, "seq": seq, "ts_ns": ts_ns, "change": change, **details}
        return self._keep(record, self._risk)

    @property
    def risk(self) -> tuple[dict[str, Any], ...]:
        """The risk lines so far, oldest first, as plain records."""
        return tuple(self._risk)

    def _keep(self, record: dict[str, Any], kept: list[dict[str, Any]]) -> int:
        """Write a plain record (``seq`` already set) as the next line; keep it; its seq."""
        self._lines.append(canonical_json(record) + b"\n")
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


@attrs.frozen
class LogRun:
    """One session's part of a log file: its header, decisions, order events and risk changes.

    Attributes:
        session: the session header.
        decisions: the decision records, in order.
        orders: the order event records, in order.
        risk: the risk change records, in order.
    """

    session: dict[str, Any]
    decisions: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    risk: list[dict[str, Any]] = attrs.field(factory=list)


def _invalid(path: Path | str, why: str) -> ValidationError:
    return ValidationError(f"{path}: {why}", reason_code=reasons.DECISION_LOG_INVALID)


def read_log(path: Path | str) -> list[LogRun]:
    """Read a log file of one or more sessions (a paper log appends one per run).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when a line is not JSON, the file does not
            start with a session header, or a line is not a session header, a decision, an
            order event or a risk change.

    Examples:
        >>> import tempfile
        >>> log = DecisionLog({"model_id": None})
        >>> _ = log.add(5, "bar", "BTC/USD", "none", ("NO_EDGE",), "p1", {})
        >>> path = Path(tempfile.mkdtemp()) / "decisions.jsonl"
        >>> _ = log.write(path)
        >>> [(len(run.decisions), len(run.orders), len(run.risk)) for run in read_log(path)]
        [(1, 0, 0)]
    """
    runs: list[LogRun] = []
    for number, line in enumerate(Path(path).read_bytes().splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise _invalid(path, f"line {number} is not JSON: {exc}") from exc
        kind = row.get("kind") if isinstance(row, dict) else None
        if kind == SESSION_KIND:
            runs.append(LogRun(row, [], []))
        elif kind == DECISION_KIND and runs:
            runs[-1].decisions.append(row)
        elif kind == ORDER_KIND and runs:
            runs[-1].orders.append(row)
        elif kind == RISK_KIND and runs:
            runs[-1].risk.append(row)
        else:
            raise _invalid(path, f"line {number} is not a session, decision, order or risk line")
    if not runs:
        raise _invalid(path, "no session header")
    return runs


def read_decision_log(path: Path | str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Read a one-session decision log: its session header and its decision records.

    Order event lines are read by :func:`read_log`.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when :func:`read_log` refuses the file or it
            holds more than one session.
    """
    runs = read_log(path)
    if len(runs) != 1:
        raise _invalid(path, f"{len(runs)} sessions in one decision log")
    return runs[0].session, runs[0].decisions


def replay_ledger(run: LogRun) -> Ledger:
    """The session's books rebuilt from its log alone: the initial cash, then every fill.

    The fills are the ``order`` lines' ``OrderFilled`` events, in log order, duplicates
    skipped (as the session skipped them). Cash, positions, realized P&L and fees come out as
    the session's ledger had them; marks are not in the log (the decisions' ``price`` inputs
    are), so a portfolio value needs :meth:`~quant_exec.ledger.Ledger.mark`.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the header names no instrument or
            initial cash, or an order line's event cannot be read back.
        LedgerError: a fill cannot be booked (the checks of the original booking).

    Examples:
        >>> from quant_exec.engine import BacktestConfig, run_backtest
        >>> from quant_exec.example import example_inputs
        >>> result = run_backtest(*example_inputs(n_bars=48), BacktestConfig.defaults())
        >>> run = LogRun(result.session, [], list(result.log.orders))
        >>> books = replay_ledger(run)
        >>> str(books.fees_paid) == result.metrics["fees_paid"]
        True
        >>> str(books.realized_pnl) == result.metrics["realized_pnl"]
        True
    """
    session = run.session
    try:
        quote = str(session["instruments"][0]).split("/")[1]
        ledger = Ledger(quote, session["initial_cash"])
        fills = [
            event_from_record(line["event"])
            for line in run.orders
            if line["event"]["event"] == "OrderFilled" and not line["duplicate"]
        ]
    except (KeyError, IndexError, TypeError, ValidationError) as exc:
        raise ValidationError(
            f"the log cannot be replayed into a ledger: {exc}",
            reason_code=reasons.DECISION_LOG_INVALID,
        ) from exc
    for fill in fills:
        assert isinstance(fill, OrderFilled)  # selected by its event type above
        ledger.apply_fill(fill)
    return ledger


def replay_difference(expected: bytes, actual: bytes) -> str | None:
    r"""Where a replayed log parts from the recorded one, in words; ``None`` when identical.

    Examples:
        >>> a = b'{"kind":"session"}\n{"kind":"decision","seq":1}\n'
        >>> replay_difference(a, a) is None
        True
        >>> replay_difference(a, a.replace(b"seq", b"SEQ"))
        'line 2 (seq 1, a decision line) is the first that differs'
        >>> replay_difference(a, b'{"kind":"session","x":1}\n')
        'line 1 (the session header) differs: not the recorded model, data or configuration'
        >>> replay_difference(a, a + a[:19])
        'the first 2 lines agree; then the recorded log has 2 lines, the replay 3'
    """
    if expected == actual:
        return None
    old, new = expected.splitlines(), actual.splitlines()
    pairs = enumerate(zip(old, new, strict=False), start=1)
    number = next((n for n, (a, b) in pairs if a != b), None)
    if number is None:
        return (
            f"the first {min(len(old), len(new))} lines agree; then the recorded log has "
            f"{len(old)} lines, the replay {len(new)}"
        )
    if number == 1:
        return "line 1 (the session header) differs: not the recorded model, data or configuration"
    try:
        row = json.loads(old[number - 1])
        what = f"seq {row['seq']}, a {row['kind']} line"
    except (ValueError, KeyError, TypeError):
        what = "not a log line"
    return f"line {number} ({what}) is the first that differs"

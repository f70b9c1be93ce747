"""Reading decision logs back: their sessions, a ledger rebuilt from them, where replays part."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs

from quant_core import to_decimal
from quant_core.errors import ValidationError
from quant_exec import reasons
from quant_exec.decisions._log import LineKind
from quant_exec.ledger._books import Ledger, Position
from quant_exec.orders._model import OrderFilled, event_from_record


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
        ValidationError: ``DECISION_LOG_INVALID`` when the file cannot be read (missing, a
            directory, unreadable), a line is not JSON, the file does not
            start with a session header, or a line is not a session header, a decision, an
            order event or a risk change.

    Examples:
        >>> import tempfile
        >>> from quant_exec.decisions import DecisionLog
        >>> log = DecisionLog({"model_id": None})
        >>> _ = log.add(5, "bar", "BTC/USD", "none", ("NO_EDGE",), "p1", {})
        >>> path = Path(tempfile.mkdtemp()) / "decisions.jsonl"
        >>> _ = log.write(path)
        >>> [(len(run.decisions), len(run.orders), len(run.risk)) for run in read_log(path)]
        [(1, 0, 0)]
    """
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise _invalid(path, f"cannot read the decision log: {exc.strerror}") from None
    runs: list[LogRun] = []
    for number, line in enumerate(content.splitlines(), start=1):
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise _invalid(path, f"line {number} is not JSON: {exc}") from exc
        kind = row.get("kind") if isinstance(row, dict) else None
        if kind == LineKind.SESSION:
            runs.append(LogRun(row, [], []))
        elif kind == LineKind.DECISION and runs:
            runs[-1].decisions.append(row)
        elif kind == LineKind.ORDER and runs:
            runs[-1].orders.append(row)
        elif kind == LineKind.RISK and runs:
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
    """The session's books rebuilt from its log alone: the opening, then every fill.

    The opening is the initial cash, or the carried cash and positions of a restarted run
    (its header's ``carry``).

    The fills are the ``order`` lines' ``OrderFilled`` events and the fills of
    ``instrument_halt`` risk lines that were booked (an ``EXTERNAL_FILL`` has no order line),
    in log order, duplicates skipped (as the session skipped them); a fill such a line marks
    ``booked: false`` is left out, as the session left it out (decision 0097). Cash,
    positions, realized P&L and fees come out as the session's ledger had them; marks are not
    in the log (the decisions' ``price`` inputs are), so a portfolio value needs
    :meth:`~quant_exec.ledger.Ledger.mark`.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the header names no instrument or
            initial cash, or an order line's event cannot be read back.
        LedgerError: a fill cannot be booked (the checks of the original booking).

    Examples:
        >>> from quant_exec.session import BacktestConfig, run_backtest
        >>> from quant_exec.session import example_inputs
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
        ledger = _opening(quote, session)
        halts = [line for line in run.risk if line["change"] == "instrument_halt"]
        unbooked = {line["fill"]["trade_id"] for line in halts if not line["booked"]}
        lines = [(line["seq"], line["event"]) for line in run.orders if not line["duplicate"]]
        lines += [(line["seq"], line["fill"]) for line in halts if line["booked"]]
        fills = [
            event_from_record(record)
            for _, record in sorted(lines, key=lambda pair: pair[0])
            if record["event"] == "OrderFilled" and record["trade_id"] not in unbooked
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


def _opening(quote: str, session: dict[str, Any]) -> Ledger:
    """The ledger a run's header opens: its carry (a restart), else its initial cash."""
    carry = session.get("carry")
    if carry is None:
        return Ledger(quote, session["initial_cash"])
    held = [
        Position(base, to_decimal(p["quantity"]), to_decimal(p["cost_basis"]))
        for base, p in carry["positions"].items()
    ]
    return Ledger.carried(quote, carry["cash"], held)


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

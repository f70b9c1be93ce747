"""What a session produced: :class:`BacktestResult`, its fills and the printed summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from quant_core import ns_to_iso, unstructure
from quant_exec.decisions._log import DecisionLog, RiskChange
from quant_exec.ledger._books import PortfolioSnapshot
from quant_exec.report._render import ReportData

if TYPE_CHECKING:
    from quant_exec.session._loop import TradingSession

_ZERO = Decimal(0)


@attrs.frozen
class FillRecord:
    """One fill, as the report and the summary show it."""

    ts_ns: int
    instrument: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    reason_code: str


@attrs.frozen
class BacktestResult:
    """What a run produced.

    Attributes:
        log: the decision log (write it with :meth:`DecisionLog.write`).
        equity: ``(ts_ns, portfolio value)`` after every event time.
        closes: per instrument label, ``(ts_ns, close)``.
        fills: every fill, in order.
        metrics: summary metrics (strings for exact decimals).
        session: the decision log's session header.
    """

    log: DecisionLog
    equity: tuple[tuple[int, Decimal], ...]
    closes: Mapping[str, tuple[tuple[int, Decimal], ...]]
    fills: tuple[FillRecord, ...]
    metrics: Mapping[str, Any]
    session: Mapping[str, Any]

    @property
    def log_hash(self) -> str:
        """The replay hash of the decision log."""
        return self.log.log_hash()

    def report_data(self, title: str = "quant backtest") -> ReportData:
        """The values :func:`quant_exec.report.render_report` draws."""
        identity = {
            "model_id": self.session["model_id"],
            "dataset_hash": self.session["dataset_hash"],
            "profile": self.session["profile"],
            "decision_log_hash": self.log_hash,
        }
        tables: dict[str, dict[str, Any]] = {}
        if self.log.orders:
            tables["Order events"] = dict(self.log.order_event_counts())
        if self.log.risk:
            tables["Risk changes"] = {
                f"{ns_to_iso(r['ts_ns'])} (seq {r['seq']})": _risk_text(r) for r in self.log.risk
            }
        return ReportData(
            title=title,
            equity=self.equity,
            closes=self.closes,
            fills=tuple((f.ts_ns, f.instrument, f.side, f.price) for f in self.fills),
            reason_counts=self.log.reason_counts(),
            metrics=self.metrics,
            identity=identity,
            tables=tables,
        )


def _risk_text(line: Mapping[str, Any]) -> str:
    """One risk line in words, for the report."""
    if line["change"] == RiskChange.KILL_SWITCH:
        switch = line["kill_switch"]
        pulled = len(line.get("cancel_requested", ()))
        extra = f"; {pulled} working orders pulled" if pulled else ""
        return f"kill switch {switch['action']} by {switch['actor']}: {switch['reason']}{extra}"
    if line["change"] == RiskChange.INSTRUMENT_HALT:
        fill, booked = line["fill"], "booked" if line["booked"] else "held unreconciled"
        return (
            f"{line['instrument']} halted: {line['reason_code']} ({fill['side']} "
            f"{fill['quantity']} @ {fill['price']}, trade {fill['trade_id']}, {booked})"
        )
    if line["change"] == RiskChange.ORDER_EVENT_REFUSED:
        event = line["event"]
        return f"{event['event']} for {event['client_order_id']} refused: {line['reason_code']}"
    if line["change"] in (RiskChange.RECONCILE, RiskChange.KILL_SWITCH_VERIFY):
        return f"{line['change']}: {line['reason_code']} {line['subject']}"
    if line["change"] == RiskChange.PROFILE:
        return f"profile now {line['profile']}"
    return str(line["change"])


def summary(result: BacktestResult) -> dict[str, Any]:
    """The summary document ``quant backtest`` prints: metrics, hashes, reason counts."""
    return {
        "metrics": dict(result.metrics),
        "log_hash": result.log_hash,
        "model_id": result.session["model_id"],
        "dataset_hash": result.session["dataset_hash"],
        "profile": result.session["profile"],
        "reason_counts": result.log.reason_counts(),
        "order_events": result.log.order_event_counts(),
        "session": unstructure(dict(result.session)),
    }


def run_metrics(
    snapshot: PortfolioSnapshot,
    initial_cash: Decimal,
    equity: Sequence[tuple[int, Decimal]],
    **counts: int,
) -> dict[str, Any]:
    """A result's metrics: ``counts`` (bars, decisions, orders, …), value, return, drawdown."""
    start, end = initial_cash, snapshot.portfolio_value
    worst, peak = _ZERO, _ZERO
    for _, value in equity:
        if value < peak:  # so peak > 0
            worst = min(worst, (value - peak) / peak * 100)
        peak = max(peak, value)
    return {
        **counts,
        "initial_value": str(start),
        "final_value": str(end),
        "return_pct": str(round((end - start) / start * 100, 4)),
        "max_drawdown_pct": str(round(-worst, 4)),
        "fees_paid": str(snapshot.fees_paid),
        "realized_pnl": str(snapshot.realized_pnl),
        "open_positions": snapshot.open_positions,
    }


def session_result(session: TradingSession) -> BacktestResult:
    """``session``'s result so far (:meth:`~quant_exec.session.TradingSession.result`)."""
    return BacktestResult(
        log=session.log,
        equity=tuple(session.equity),
        closes={k: tuple(v) for k, v in sorted(session.closes.items())},
        fills=tuple(session.fills),
        metrics=run_metrics(
            session.ledger.snapshot(),
            session.config.initial_cash,
            session.equity,
            bars=session.bars_seen,
            decisions=len(session.log),
            orders=len(session.done) + len(session.orders),
            rejections=session.rejections,
            fills=len(session.fills),
        ),
        session=session.session,
    )

"""A self-contained HTML report of a backtest: inline SVG charts, no scripts, no network.

The report shows the equity curve, the drawdown, each instrument's price with its entries
(green) and exits (red), the count of every reason code in the decision log, the summary
metrics, and the hashes that identify the run (model / bundle, dataset, profiles, decision
log). Numbers are formatted with fixed precision and every collection is sorted, so the same
result always renders to the same bytes.

Examples:
    >>> from decimal import Decimal
    >>> from quant_exec.report import ReportData, render_report
    >>> data = ReportData(
    ...     title="demo", equity=((0, Decimal(100)), (1, Decimal(90)), (2, Decimal(120))),
    ...     closes={"BTC/USD": ((0, Decimal(10)), (1, Decimal(9)), (2, Decimal(12)))},
    ...     fills=((1, "BTC/USD", "buy", Decimal(9)),), reason_counts={"ENTRY": 1},
    ...     metrics={"return_pct": "20"}, identity={"model_id": "m", "log_hash": "sha256:x"})
    >>> html = render_report(data)
    >>> html.startswith("<!DOCTYPE html>") and "<script" not in html and "http" not in html
    True
    >>> render_report(data) == html
    True
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

__all__ = ["ReportData", "drawdown_series", "render_report"]

_W, _H, _PAD = 860, 220, 36
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:920px}"
    "h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:left;font-size:.9em}code{font-size:.85em}svg{background:#fafafa}"
)


@attrs.frozen
class ReportData:
    """Everything a report shows, as plain values.

    Attributes:
        title: the heading.
        equity: ``(ts_ns, portfolio value)`` after each event time, ascending.
        closes: per instrument label, ``(ts_ns, close)`` ascending.
        fills: ``(ts_ns, instrument label, side, price)`` of every fill.
        reason_counts: reason code to count.
        metrics: summary metrics (name to value).
        identity: model id, dataset hash, profile, log hash and other identifiers.
    """

    title: str
    equity: Sequence[tuple[int, Decimal]]
    closes: Mapping[str, Sequence[tuple[int, Decimal]]]
    fills: Sequence[tuple[int, str, str, Decimal]]
    reason_counts: Mapping[str, int]
    metrics: Mapping[str, Any]
    identity: Mapping[str, Any]


def drawdown_series(equity: Sequence[tuple[int, Decimal]]) -> list[tuple[int, Decimal]]:
    """Drawdown from the running peak, in percent (0 or negative), per equity point.

    Examples:
        >>> from decimal import Decimal as D
        >>> [float(v) for _, v in drawdown_series([(0, D(100)), (1, D(80)), (2, D(120))])]
        [0.0, -20.0, 0.0]
    """
    out: list[tuple[int, Decimal]] = []
    peak: Decimal | None = None
    for ts, value in equity:
        peak = value if peak is None or value > peak else peak
        out.append((ts, (value - peak) / peak * 100 if peak > 0 else Decimal(0)))
    return out


def _fmt(value: float) -> str:
    return f"{value:.1f}"


class _Scale:
    def __init__(self, xs: Sequence[int], ys: Sequence[float]) -> None:
        self.x0, self.x1 = min(xs), max(xs)
        self.y0, self.y1 = min(ys), max(ys)
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 1, self.y1 + 1

    def x(self, value: int) -> str:
        return _fmt(_PAD + (value - self.x0) / (self.x1 - self.x0) * (_W - 2 * _PAD))

    def y(self, value: float) -> str:
        return _fmt(_H - _PAD - (value - self.y0) / (self.y1 - self.y0) * (_H - 2 * _PAD))


def _line_chart(
    series: Sequence[tuple[int, Decimal]],
    colour: str,
    label: str,
    markers: Sequence[tuple[int, Decimal, str]] = (),
) -> str:
    if not series:
        return "<p>(no data)</p>"
    xs = [ts for ts, _ in series]
    ys = [float(v) for _, v in series]
    scale = _Scale(xs, ys)
    points = " ".join(f"{scale.x(x)},{scale.y(y)}" for x, y in zip(xs, ys, strict=True))
    parts = [
        (f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(label)}">'),
        (
            f'<text x="{_PAD}" y="16" font-size="12">{html.escape(label)}: '
            f"min {scale.y0:.2f}, max {scale.y1:.2f}</text>"
        ),
        f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>',
    ]
    for ts, price, side in markers:
        fill = "#1a7f37" if side == "buy" else "#c62828"
        parts.append(
            f'<circle cx="{scale.x(ts)}" cy="{scale.y(float(price))}" r="4" fill="{fill}">'
            f"<title>{html.escape(side)} {price}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(counts: Mapping[str, int]) -> str:
    if not counts:
        return "<p>(no decisions)</p>"
    items = sorted(counts.items())
    top = max(v for _, v in items)
    row, width = 20, _W - 260
    parts = [f'<svg width="{_W}" height="{row * len(items) + 10}" role="img">']
    for i, (code, count) in enumerate(items):
        y = 5 + i * row
        length = _fmt(max(1.0, count / top * width))
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="12">{html.escape(code)}</text>'
            f'<rect x="230" y="{y + 3}" width="{length}" height="14" fill="#4a6fa5"/>'
            f'<text x="{_fmt(235 + float(length))}" y="{y + 14}" font-size="12">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _table(rows: Mapping[str, Any]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td><code>{html.escape(str(v))}</code></td></tr>"
        for k, v in sorted(rows.items())
    )
    return f"<table>{body}</table>"


def render_report(data: ReportData) -> str:
    """Render ``data`` as one self-contained HTML document (deterministic text)."""
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(data.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(data.title)}</h1>",
        "<h2>Summary</h2>",
        _table(data.metrics),
        "<h2>Identity</h2>",
        _table(data.identity),
        "<h2>Equity</h2>",
        _line_chart(data.equity, "#4a6fa5", "portfolio value"),
        "<h2>Drawdown</h2>",
        _line_chart(drawdown_series(data.equity), "#c62828", "drawdown %"),
        "<h2>Prices, entries and exits</h2>",
    ]
    for label in sorted(data.closes):
        marks = [(ts, price, side) for ts, inst, side, price in data.fills if inst == label]
        sections.append(f"<h3>{html.escape(label)}</h3>")
        sections.append(_line_chart(data.closes[label], "#555", label, marks))
    sections += ["<h2>Reason codes</h2>", _bar_chart(data.reason_counts), "</body></html>"]
    return "\n".join(sections) + "\n"

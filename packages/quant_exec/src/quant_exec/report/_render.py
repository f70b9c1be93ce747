"""A self-contained HTML report of a backtest: inline SVG charts, no scripts, no network.

The report shows the equity curve against an equal-weight buy-and-hold of the same
instruments, both drawdowns, each instrument's price with its entries (green) and exits
(red), the count of every reason code in the decision log, the summary metrics, any extra
tables the caller adds (the demo adds its data and bundle facts), and the hashes that identify
the run (model / bundle, dataset, profiles, decision log). Numbers are formatted with fixed
precision and every collection is sorted, so the same result always renders to the same
bytes.

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
    >>> "buy and hold" in html and render_report(data) == html
    True
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from quant_core import ns_to_iso

Series = Sequence[tuple[int, Decimal]]

_W, _H, _PAD = 860, 220, 36
_STRATEGY, _HOLD, _PRICE = "#4a6fa5", "#9e9e9e", "#555"
_BUY, _SELL = "#1a7f37", "#c62828"
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
        benchmark: the buy-and-hold value line drawn against ``equity``; ``None`` (the
            default) derives it from ``closes`` with :func:`buy_and_hold_series`.
        tables: extra titled tables (title to rows), shown after the identity table.
    """

    title: str
    equity: Series
    closes: Mapping[str, Series]
    fills: Sequence[tuple[int, str, str, Decimal]]
    reason_counts: Mapping[str, int]
    metrics: Mapping[str, Any]
    identity: Mapping[str, Any]
    benchmark: Series | None = None
    tables: Mapping[str, Mapping[str, Any]] = attrs.field(factory=dict)


def drawdown_series(equity: Series) -> list[tuple[int, Decimal]]:
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


def buy_and_hold_series(
    closes: Mapping[str, Series], initial: Decimal, times: Sequence[int]
) -> list[tuple[int, Decimal]]:
    """An equal-weight buy-and-hold of every instrument, valued at each of ``times``.

    ``initial`` is split equally between the instruments; each share is spent at the
    instrument's first close (it stays cash until then) and held to the end, valued at the
    latest close at or before each time. No fees or slippage: it is the yardstick, not a
    strategy.

    Examples:
        >>> from decimal import Decimal as D
        >>> closes = {"A": ((0, D(10)), (2, D(20))), "B": ((1, D(4)), (2, D(2)))}
        >>> [str(v) for _, v in buy_and_hold_series(closes, D(100), [0, 1, 2])]
        ['100', '100', '125']
    """
    labels = sorted(k for k, v in closes.items() if v)
    if not labels:
        return [(ts, initial) for ts in times]
    share = initial / len(labels)
    first = {k: closes[k][0][1] for k in labels}
    cursor = dict.fromkeys(labels, -1)
    out: list[tuple[int, Decimal]] = []
    for ts in times:
        value = Decimal(0)
        for k in labels:
            series, i = closes[k], cursor[k]
            while i + 1 < len(series) and series[i + 1][0] <= ts:
                i += 1
            cursor[k] = i
            value += share if i < 0 or first[k] <= 0 else share * series[i][1] / first[k]
        out.append((ts, value))
    return out


def buy_and_hold_return_pct(data: ReportData) -> Decimal | None:
    """The buy-and-hold line's return over the report's span, in percent (4 places).

    ``None`` when the report has no equity points.

    Examples:
        >>> from decimal import Decimal as D
        >>> data = ReportData(title="t", equity=((0, D(100)), (1, D(100))),
        ...     closes={"A": ((0, D(10)), (1, D(11)))}, fills=(), reason_counts={},
        ...     metrics={}, identity={})
        >>> buy_and_hold_return_pct(data)
        Decimal('10.0000')
    """
    line = _benchmark(data)
    if not line or line[0][1] <= 0:
        return None
    return round((line[-1][1] - line[0][1]) / line[0][1] * 100, 4)


def _benchmark(data: ReportData) -> list[tuple[int, Decimal]]:
    if data.benchmark is not None:
        return list(data.benchmark)
    if not data.equity:
        return []
    return buy_and_hold_series(data.closes, data.equity[0][1], [ts for ts, _ in data.equity])


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def _day(ts_ns: int) -> str:
    return ns_to_iso(ts_ns)[:16].replace("T", " ")


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
    lines: Sequence[tuple[Series, str, str]],
    label: str,
    markers: Sequence[tuple[int, Decimal, str]] = (),
) -> str:
    """One SVG with a polyline per ``(series, colour, name)`` on a shared scale."""
    drawn = [(series, colour, name) for series, colour, name in lines if series]
    if not drawn:
        return "<p>(no data)</p>"
    xs = [ts for series, _, _ in drawn for ts, _ in series]
    ys = [float(v) for series, _, _ in drawn for _, v in series]
    scale = _Scale(xs, ys)
    parts = [
        f'<svg width="{_W}" height="{_H}" role="img" aria-label="{html.escape(label)}">',
        (
            f'<text x="{_PAD}" y="16" font-size="12">{html.escape(label)}: '
            f"min {scale.y0:.2f}, max {scale.y1:.2f}</text>"
        ),
        (
            f'<text x="{_PAD}" y="{_H - 8}" font-size="11">{_day(scale.x0)}</text>'
            f'<text x="{_W - _PAD}" y="{_H - 8}" font-size="11" text-anchor="end">'
            f"{_day(scale.x1)}</text>"
        ),
    ]
    if len(drawn) > 1:  # a legend: one swatch and name per line, top right
        for i, (_, colour, name) in enumerate(drawn):
            y = 12 + 14 * i
            parts.append(
                f'<rect x="{_W - 200}" y="{y - 8}" width="14" height="3" fill="{colour}"/>'
                f'<text x="{_W - 180}" y="{y}" font-size="11">{html.escape(name)}</text>'
            )
    for series, colour, name in drawn:
        points = " ".join(f"{scale.x(ts)},{scale.y(float(v))}" for ts, v in series)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}">'
            f"<title>{html.escape(name)}</title></polyline>"
        )
    for ts, price, side in markers:
        fill = _BUY if side == "buy" else _SELL
        parts.append(
            f'<circle cx="{scale.x(ts)}" cy="{scale.y(float(price))}" r="4" fill="{fill}">'
            f"<title>{html.escape(side)} {price} at {_day(ts)}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _bar_chart(counts: Mapping[str, int]) -> str:
    if not counts:
        return "<p>(no decisions)</p>"
    items = sorted(counts.items())
    top = max(v for _, v in items)
    row, width = 20, _W - 300
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
    hold = _benchmark(data)
    hold_return = buy_and_hold_return_pct(data)
    metrics = dict(data.metrics)
    if hold_return is not None:
        metrics.setdefault("buy_and_hold_return_pct", str(hold_return))
    sections = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(data.title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(data.title)}</h1>",
        "<h2>Summary</h2>",
        _table(metrics),
        "<h2>Identity</h2>",
        _table(data.identity),
    ]
    for title in sorted(data.tables):
        sections += [f"<h2>{html.escape(title)}</h2>", _table(data.tables[title])]
    sections += [
        "<h2>Equity</h2>",
        _line_chart(
            [(hold, _HOLD, "buy and hold"), (data.equity, _STRATEGY, "strategy")],
            "portfolio value",
        ),
        "<h2>Drawdown</h2>",
        _line_chart(
            [
                (drawdown_series(hold), _HOLD, "buy and hold"),
                (drawdown_series(data.equity), _SELL, "strategy"),
            ],
            "drawdown %",
        ),
        "<h2>Prices, entries and exits</h2>",
        (
            f'<p>Entries (buys) are <b style="color:{_BUY}">green</b>, exits (sells) '
            f'<b style="color:{_SELL}">red</b>.</p>'
        ),
    ]
    for label in sorted(data.closes):
        marks = [(ts, price, side) for ts, inst, side, price in data.fills if inst == label]
        sections.append(f"<h3>{html.escape(label)}</h3>")
        sections.append(_line_chart([(data.closes[label], _PRICE, label)], label, marks))
    sections += ["<h2>Reason codes</h2>", _bar_chart(data.reason_counts), "</body></html>"]
    return "\n".join(sections) + "\n"

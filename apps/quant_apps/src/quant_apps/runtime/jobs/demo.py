"""The run behind ``quant demo``: the whole product, offline, in seconds to a few minutes.

The demo walks data → model bundle → execution end to end, on this machine only:

1. **bundle** — first, so that a bad bundle stops the demo before any other work: verifies
   and activates the model bundle (the shipped ``bundles/default`` or ``--bundle DIR``,
   trusted through the shipped keys or ``--keys DIR``) through
   :func:`quant_apps.runtime.activate_bundle`; a missing or tampered bundle is a hard stop
   (exit 3 with its reason code) unless ``QUANT_REQUIRE_BUNDLE=0`` opts out (development
   only, decision 0083): then the demo goes on without a model and says so (every decision is
   then "no prediction");
2. **emulator** — starts the provider emulator on ``127.0.0.1`` (an ephemeral port) serving a
   seeded :class:`~quant_data.synthetic.SyntheticMarket`, or the real files under ``--data``;
3. **backfill** — backfills the chosen coins over real HTTP through the CoinAPI adapter into a
   fresh SQLite store under ``--out``, retries the gaps once and reports what is still missing
   from the gap ledger (gaps are reported, never filled);
4. **dataset** — materializes the window from the store into ``--out/dataset`` and prints its
   content hash;
5. **backtest** — runs the risk-gated, prediction-led backtest with the governed default
   profiles over the materialized bars;
6. **report** — writes ``report.html`` (equity and drawdown against buy-and-hold, per-coin
   prices with entries and exits, reason-code counts, bundle and dataset hashes),
   ``decisions.jsonl`` (the decision log) and ``summary.json`` into ``--out``, and prints the
   replay hash.

Nothing that enters a hash depends on the wall clock, the port or the output path: the
emulator, the store and the provider run on a fixed simulated clock inside the data window, so
two runs with the same options print the same dataset hash and the same replay hash.

``--out`` defaults to ``./quant-demo`` (see decision 0050). The demo only ever replaces what
it wrote itself: a non-empty directory without its ``.quant-demo`` marker is refused.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from quant_apps.runtime.jobs.runs import (
    DECISIONS_FILE,
    REPORT_FILE,
    SUMMARY_FILE,
    bundle_rows,
    write_outputs,
)
from quant_core import Bar, Instrument, SimClock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.errors import QuantUsageError, UniverseError
from quant_core.events import InMemoryFeed, MarketDataFeed, Predictor
from quant_core.reasons import USAGE_ERROR
from quant_core.settings import Secret
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

__all__ = [
    "DEFAULT_BARS",
    "DEFAULT_OUT",
    "DEFAULT_SYMBOLS",
    "MARKER",
    "SYNTHETIC_START",
    "TIMEFRAME",
    "DemoOptions",
    "Steps",
    "run_demo",
]

DEFAULT_OUT = Path("quant-demo")
"""Where the demo writes when ``--out`` is not given (relative to the working directory)."""
DEFAULT_SYMBOLS = ("BTC", "ETH", "SOL")
"""The coins the demo trades unless ``--symbols`` says otherwise."""
DEFAULT_BARS = 24 * 60
"""Hourly bars in the demo window: the last 60 days of the source."""
MARKER = ".quant-demo"
"""The file that marks a directory as the demo's own (so reruns may replace its contents)."""
SYNTHETIC_START = "2024-01-01T00:00:00Z"
"""The synthetic market's first bar (a fixed date: the demo never asks the wall clock)."""

TIMEFRAME = Timeframe.H1
DATASET_DIR = "dataset"
STORE_FILE = "store.sqlite"
BUNDLE_STATE_DIR = "bundle-state"
_OWNED = (DECISIONS_FILE, REPORT_FILE, SUMMARY_FILE, DATASET_DIR, STORE_FILE, BUNDLE_STATE_DIR)
_QUOTE_PREFERENCE = ("USD", "USDT", "USDC", "EUR")
_DEMO_KEY = "quant-demo-key"  # the emulator accepts any CoinAPI key; this one is not secret


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=USAGE_ERROR)


@attrs.frozen
class DemoOptions:
    """What one demo run does (the CLI options, parsed).

    Attributes:
        out: the output directory.
        data: real data files or a directory of them (``None``: the synthetic market).
        symbols: the coins wanted (Universe V1 codes); with ``data`` the ones present are used.
        bars: hourly bars in the window (the last ``bars`` of the source).
        seed: the synthetic market's and the broker's root seed.
        bundle: a release directory (``None``: the shipped default bundle).
        keys: a directory of trusted public keys (``None``: the shipped keys).
        require_bundle: stop when no verified bundle activates (the default; ``False`` is the
            development opt-out ``QUANT_REQUIRE_BUNDLE=0``).
    """

    out: Path = DEFAULT_OUT
    data: Path | None = None
    symbols: tuple[str, ...] = DEFAULT_SYMBOLS
    bars: int = DEFAULT_BARS
    seed: int = 0
    bundle: Path | None = None
    keys: Path | None = None
    require_bundle: bool = True


class Steps:
    """Progress reporting for the demo's six steps; this one reports nothing.

    A front end overrides the three methods (``quant demo`` draws progress bars on stderr).
    """

    def start(self, key: str, description: str, total: float | None = None) -> None:
        """Show a new step ``key`` (``total=None``: no known length)."""

    def update(self, key: str, completed: float, total: float | None = None) -> None:
        """Move step ``key`` to ``completed`` (of ``total`` when given)."""

    def done(self, key: str, description: str | None = None) -> None:
        """Mark step ``key`` done and optionally replace its text."""


# --- 2. the source ------------------------------------------------------------------------


@attrs.frozen
class _Source:
    """The bars the emulator serves and the window the demo trades."""

    book: Any  # a quant_data.emulator.BarBook
    kind: str
    quote: str
    symbols: tuple[str, ...]
    start_ns: int
    end_ns: int
    skipped: tuple[str, ...] = ()


def _synthetic_source(options: DemoOptions) -> _Source:
    from quant_data import SyntheticMarket
    from quant_data.emulator import BarBook

    start = iso_to_ns(SYNTHETIC_START)
    end = start + options.bars * TIMEFRAME.ns
    market = SyntheticMarket(
        seed=options.seed,
        symbols=options.symbols,
        start_ns=start,
        end_ns=end,
        timeframe=TIMEFRAME,
        quote="USD",
    )
    book = BarBook.from_synthetic(market)
    return _Source(book, "synthetic", "USD", options.symbols, start, end)


def _pick_quote(pairs: Sequence[tuple[str, str]], wanted: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for symbol, quote in pairs:
        if symbol in wanted:
            counts[quote] = counts.get(quote, 0) + 1
    if not counts:
        raise _usage(f"the data holds none of {', '.join(wanted)} (try --symbols)")

    def rank(quote: str) -> tuple[int, int, str]:
        preferred = _QUOTE_PREFERENCE.index(quote) if quote in _QUOTE_PREFERENCE else 99
        return (-counts[quote], preferred, quote)

    return min(counts, key=rank)


def _file_source(options: DemoOptions, path: Path) -> _Source:
    from quant_data.emulator import BarBook

    if not path.exists():
        raise _usage(f"--data {path}: no such file or directory")
    # The import clock only stamps raw-page receipt times; a fixed one keeps runs identical.
    book = BarBook.from_files([path], clock=SimClock(0), seed=options.seed)
    quote = _pick_quote(book.pairs(), options.symbols)
    series = {s: book.series(s, quote, TIMEFRAME) for s in options.symbols}
    present = tuple(s for s in options.symbols if series[s])
    if not present:
        raise _usage(f"--data {path} has no hourly bars for {', '.join(options.symbols)}")
    end = min(series[s][-1].open_time_ns for s in present) + TIMEFRAME.ns
    first = min(series[s][0].open_time_ns for s in present)
    start = max(first, end - options.bars * TIMEFRAME.ns)
    skipped = tuple(s for s in options.symbols if s not in present)
    return _Source(book, "files", quote, present, start, end, skipped)


# --- 3 and 4. backfill and dataset ---------------------------------------------------------


def _backfill_and_materialize(
    source: _Source, options: DemoOptions, steps: Steps
) -> tuple[dict[str, Any], Any]:
    from quant_data import Store, write_dataset
    from quant_data.backfill import Progress as BackfillProgress
    from quant_data.backfill import backfill, retry_gaps
    from quant_data.emulator import serve_emulator
    from quant_data.providers import CoinApiProvider

    # Half a bar after the window: every bar in it has closed, none after it is visible.
    now = source.end_ns + TIMEFRAME.ns // 2
    store_path = options.out / STORE_FILE
    store = Store.open(f"sqlite:///{store_path}", clock=SimClock(now))
    window = (source.end_ns - source.start_ns) // TIMEFRAME.ns  # in bars

    def on_progress(step: BackfillProgress) -> None:
        bars = step.total_ns // TIMEFRAME.ns or window
        steps.update(f"backfill:{step.symbol}", min(step.done_ns // TIMEFRAME.ns, bars), bars)

    try:
        steps.start("emulator", "2/6 start the provider emulator")
        with serve_emulator(source.book, seed=options.seed, clock=SimClock(now)) as emulator:
            steps.done("emulator", f"2/6 emulator on 127.0.0.1:{emulator.port}")
            provider = CoinApiProvider(
                emulator.base_url("coinapi"),
                Secret(_DEMO_KEY),
                clock=SimClock(now),
                seed=options.seed,
                page_limit=1000,
            )
            for symbol in source.symbols:
                steps.start(f"backfill:{symbol}", f"3/6 backfill {symbol}/{source.quote}", window)
            series: dict[str, Any] = {
                "symbols": list(source.symbols),
                "quote": source.quote,
                "timeframe": TIMEFRAME.value,
            }
            report = backfill(
                store,
                provider,
                **series,
                start_ns=source.start_ns,
                end_ns=source.end_ns,
                progress=on_progress,
            )
            retried = retry_gaps(store, provider, **series)
            for symbol in source.symbols:
                steps.done(f"backfill:{symbol}")
        steps.start("dataset", "4/6 materialize the dataset")
        dataset = store.materialize(
            list(source.symbols), source.quote, TIMEFRAME.value, source.start_ns, source.end_ns
        )
        write_dataset(options.out / DATASET_DIR, dataset)
        steps.done("dataset")
        status = {
            s.symbol: {"bars": s.bars, "gaps": dict(s.gaps), "quarantined": s.quarantined}
            for s in store.status()
        }
    finally:
        store.engine.dispose()
    by_symbol = {s.symbol: s for s in report.series}
    data_doc = {
        "provider": "coinapi (emulated)",
        "requests": report.requests + retried.requests,
        "series": {
            symbol: {
                "bars": status.get(symbol, {}).get("bars", 0),
                "pages": by_symbol[symbol].pages,
                "gaps_found": by_symbol[symbol].gaps_opened,
                "gaps": status.get(symbol, {}).get("gaps", {}),
                "quarantined": status.get(symbol, {}).get("quarantined", 0),
            }
            for symbol in source.symbols
        },
    }
    return data_doc, dataset


# --- 1. the bundle -------------------------------------------------------------------------


def _activate(options: DemoOptions, steps: Steps) -> tuple[Predictor, dict[str, Any]]:
    from quant_apps.runtime.models.activation import serve_bundle
    from quant_apps.runtime.models.bundles import shipped_bundle_dir

    steps.start("bundle", "1/6 verify and activate the bundle")
    from quant_bundle import BundleRejectedError

    source = options.bundle if options.bundle is not None else shipped_bundle_dir()
    try:
        predictor, doc = serve_bundle(
            options.out / BUNDLE_STATE_DIR,
            source,
            options.keys,
            require=options.require_bundle,
        )
    except BundleRejectedError as exc:
        raise BundleRejectedError(
            f"no verified model bundle in {source}: {exc.message} (give --bundle and --keys, "
            "or set QUANT_REQUIRE_BUNDLE=0 to run the demo without a model, development only)",
            reason_code=exc.reason_code,
        ) from None
    doc = {"active": doc["active"], "source": str(source), **doc}
    if doc["active"]:
        steps.done("bundle", f"1/6 bundle {doc['bundle_version']} active")
    else:
        steps.done("bundle", f"1/6 no model bundle ({doc['reason_code']})")
    return predictor, doc


# --- 5. the backtest -----------------------------------------------------------------------


class _CountingFeed:
    """A feed that reports every bar the engine takes from it."""

    def __init__(self, feed: MarketDataFeed, tick: Callable[[int], None]) -> None:
        self._feed, self._tick = feed, tick

    @property
    def instruments(self) -> tuple[Instrument, ...]:
        return self._feed.instruments

    @property
    def timeframe(self) -> Timeframe:
        return self._feed.timeframe

    def bars(self, start_ns: int, end_ns: int) -> Iterator[Bar]:
        for count, bar in enumerate(self._feed.bars(start_ns, end_ns), start=1):
            if count % 64 == 0:
                self._tick(count)
            yield bar


# --- the whole run -------------------------------------------------------------------------


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise _usage(f"--out {out} is a file")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).exists():
        raise _usage(f"--out {out} is not empty and was not written by quant demo")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by quant demo; reruns replace its files\n")
    for name in _OWNED:  # a fresh store and bundle state on every run
        target = out / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)


def run_demo(options: DemoOptions, steps: Steps | None = None) -> dict[str, Any]:
    """Run the six demo steps and return the summary document (also in ``summary.json``).

    Args:
        options: what to run.
        steps: where progress goes (default: nowhere).

    Examples:
        Two synthetic days, with a keys directory that trusts nobody and the development
        opt-out (so the demo runs, without a model):

        >>> import tempfile
        >>> from pathlib import Path
        >>> tmp = Path(tempfile.mkdtemp())
        >>> options = DemoOptions(
        ...     out=tmp / "demo", bars=48, bundle=tmp / "none", keys=tmp, require_bundle=False
        ... )
        >>> doc = run_demo(options)
        >>> doc["bundle"]["reason_code"], doc["backtest"]["reason_counts"].keys()
        ('BUNDLE_MISSING', dict_keys(['NO_PREDICTION']))
        >>> run_demo(attrs.evolve(options, out=tmp / "again"))["replay_hash"] == doc["replay_hash"]
        True

    Raises:
        QuantUsageError: bad options, an ``--out`` that is not the demo's, or data without
            the wanted coins.
        UniverseError: ``SYMBOL_UNKNOWN`` for a coin outside Universe V1 (before any work).
        BundleRejectedError: ``options.require_bundle`` (the default) and no verified bundle
            activates.
        DataError: ``CONTEXT_MISSING`` when the bundle's models need market context (the
            reference coin, market-panel coins) that the demo's coins lack.
    """
    from quant_exec import BacktestConfig, run_backtest
    from quant_exec.report import buy_and_hold_return_pct

    steps = steps or Steps()
    if options.bars < 2:
        raise _usage("--bars must be at least 2")
    if not options.symbols:
        raise _usage("--symbols names no coin")
    universe = UNIVERSE_V1_TOP30_NON_STABLE
    unknown = [s for s in options.symbols if s not in universe.symbols]
    if unknown:
        raise UniverseError(
            f"--symbols: {', '.join(unknown)} not in {universe.name} "
            f"(known: {', '.join(universe.symbols)})"
        )
    _prepare_out(options.out)
    source = _file_source(options, options.data) if options.data else _synthetic_source(options)
    # The bundle first: a missing or tampered one stops the demo before any work is done.
    predictor, bundle_doc = _activate(options, steps)
    data_doc, dataset = _backfill_and_materialize(source, options, steps)
    from quant_apps.runtime.models.context import require_context

    require_context(predictor, dataset.manifest.symbols)  # the market context (0116)

    bars = dataset.bars()
    steps.start("backtest", "5/6 risk-gated backtest", len(bars))
    feed = _CountingFeed(InMemoryFeed(bars), lambda n: steps.update("backtest", n))
    config = BacktestConfig.defaults(dataset_hash=dataset.manifest.dataset_hash, seed=options.seed)
    result = run_backtest(feed, predictor, config)
    steps.done("backtest")

    steps.start("report", "6/6 write the report and decision log")
    report = result.report_data("quant demo — risk-gated, prediction-led backtest")
    identity = {
        **report.identity,
        "bundle_hash": bundle_doc.get("bundle_hash", "none"),
        "bundle_version": bundle_doc.get("bundle_version", "none"),
        "training_dataset_hash": bundle_doc.get("training_dataset_hash", "none"),
    }
    tables = {
        "Data": {
            "source": source.kind if options.data is None else f"files ({options.data.name})",
            "window": f"{ns_to_iso(source.start_ns)} .. {ns_to_iso(source.end_ns)}",
            "coins": ", ".join(f"{s}/{source.quote}" for s in source.symbols),
            "bars": dataset.manifest.rows,
            "gaps (missing slots)": sum(
                s["gaps"].get("open", 0) + s["gaps"].get("retried", 0)
                for s in data_doc["series"].values()
            ),
            "provider requests": data_doc["requests"],
        },
        "Model bundle": bundle_rows({k: v for k, v in bundle_doc.items() if k != "source"}),
        **report.tables,
    }
    report = attrs.evolve(report, identity=identity, tables=tables)
    hold = buy_and_hold_return_pct(report)
    document: dict[str, Any] = {
        "ok": True,
        "out": str(options.out),
        "source": {
            "kind": source.kind,
            "path": None if options.data is None else str(options.data),
            "seed": options.seed,
            "quote": source.quote,
            "symbols": list(source.symbols),
            "skipped_symbols": list(source.skipped),
            "timeframe": TIMEFRAME.value,
            "start": ns_to_iso(source.start_ns),
            "end": ns_to_iso(source.end_ns),
        },
        "data": data_doc,
        "dataset": {
            "hash": dataset.manifest.dataset_hash,
            "rows": dataset.manifest.rows,
            "symbols": list(dataset.manifest.symbols),
        },
        "bundle": {k: v for k, v in bundle_doc.items() if k != "source"},
        "backtest": {
            "metrics": dict(result.metrics),
            "buy_and_hold_return_pct": None if hold is None else str(hold),
            "reason_counts": result.log.reason_counts(),
            "profile": result.session["profile"],
            "model_id": result.session["model_id"],
        },
        "replay_hash": result.log_hash,
        "files": {
            "report": str(options.out / REPORT_FILE),
            "decisions": str(options.out / DECISIONS_FILE),
            "summary": str(options.out / SUMMARY_FILE),
            "dataset": str(options.out / DATASET_DIR),
        },
    }
    write_outputs(options.out, result, report, document)
    steps.done("report")
    return document

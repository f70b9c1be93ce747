"""``quant data …``: import, backfill, sync, status, verify and materialize market data.

Every command opens the governed store at ``--database-url`` or, by default, the settings'
database URL (an SQLite file in the data directory); the store is created on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from quant_apps.cli.output import EXIT_REJECTED, EXIT_RUNTIME, emit_json, guarded, human, results
from quant_apps.runtime import config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.jobs.stores import import_files, make_provider, open_store
from quant_core import Clock, Timeframe, iso_to_ns, ns_to_iso
from quant_data import OhlcvProvider, Store, reasons, write_dataset
from quant_data import backfill as backfill_mod
from quant_data.sync import sync as sync_series

__all__ = ["app"]

app = typer.Typer(
    help="Market data: import files, backfill, sync, status, verify, materialize datasets.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]
DbOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Store URL (default: QUANT_DATABASE_URL or the data dir)."),
]
SymbolsOption = Annotated[str, typer.Option("--symbols", help="Comma-separated base assets.")]
QuoteOption = Annotated[str, typer.Option("--quote", help="Quote currency.")]
TimeframeOption = Annotated[str, typer.Option("--timeframe", help="Bar length (1h, 1d, ...).")]
ProviderOption = Annotated[
    str | None,
    typer.Option("--provider", help="coinapi or kraken (default: HIST_MARKET_DATA_PROVIDER)."),
]
SeedOption = Annotated[int, typer.Option("--seed", help="Seed of the retry jitter.")]


def _instant(text: str | None) -> int | None:
    return None if text is None else iso_to_ns(text if "T" in text else text + "T00:00:00Z")


def _settings_store(database_url: str | None) -> Store:
    return open_store(database_url, config.load_settings(), WallClock())


def _fetch_setup(
    provider: str | None, seed: int, database_url: str | None
) -> tuple[Clock, OhlcvProvider, Store]:
    settings = config.load_settings()
    clock = WallClock()
    name = (provider or settings.hist_market_data_provider.value).lower()
    source = make_provider(name, settings, clock, seed)
    return clock, source, open_store(database_url, settings, clock)


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[backfill_mod.Progress], None] | None]:
    if not enabled:
        yield None
        return
    bars = Progress(
        TextColumn("{task.description:<8}"),
        BarColumn(),
        TextColumn("{task.fields[pages]} pages"),
        TimeRemainingColumn(),
        console=human(),
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def update(step: backfill_mod.Progress) -> None:
        if step.symbol not in tasks:
            tasks[step.symbol] = bars.add_task(step.symbol, total=max(step.total_ns, 1), pages=0)
        bars.update(tasks[step.symbol], completed=step.done_ns, pages=step.pages)

    with bars:
        yield update


def _report_doc(report: backfill_mod.BackfillReport) -> dict[str, Any]:
    doc = attrs.asdict(report)
    doc["ok"] = True
    return doc


def _print_report(report: backfill_mod.BackfillReport) -> None:
    console = results()
    console.print(
        f"{report.source} {report.quote} {report.timeframe}: {report.requests} requests",
        markup=False,
    )
    for s in report.series:
        console.print(
            f"  {s.symbol:<6} pages {s.pages:>5}  new {s.bars_new:>7}  corrected "
            f"{s.bars_corrected:>5}  quarantined {s.quarantined:>5}  gaps open "
            f"{s.gaps_opened:>5}  confirmed {s.gaps_confirmed:>5}  filled {s.gaps_filled:>5}  "
            f"missing {s.missing:>5}",
            markup=False,
        )


@app.command("import")
@guarded()
def import_(
    paths: Annotated[
        list[Path], typer.Argument(help="Files to import.", exists=True, dir_okay=False)
    ],
    json_output: JsonOption = False,
    database_url: DbOption = None,
) -> None:
    """Import market-data files (Kraken, CryptoDataDownload, CoinAPI, freqtrade), all or nothing."""
    # Every file is parsed before the first write (runtime.stores.import_files): a bad file
    # exits 3 with its reason code and leaves the store unchanged.
    settings = config.load_settings()
    clock = WallClock()
    files = import_files(open_store(database_url, settings, clock), paths, clock)
    if json_output:
        emit_json({"ok": True, "files": files})
        return
    for f in files:
        results().print(
            f"{f['path']}: {f['format']} {f['series']}: {f['rows']} rows, {f['bars_new']} new, "
            f"{f['bars_corrected']} corrected, {f['quarantined']} quarantined, "
            f"{f['skipped']} skipped",
            markup=False,
        )


@app.command()
@guarded()
def backfill(
    symbols: SymbolsOption,
    provider: ProviderOption = None,
    quote: QuoteOption = "USD",
    timeframe: TimeframeOption = "1h",
    start: Annotated[str | None, typer.Option(help="ISO start (default: full history).")] = None,
    end: Annotated[str | None, typer.Option(help="ISO end, exclusive (default: now).")] = None,
    retry_gaps: Annotated[
        bool, typer.Option("--retry-gaps", help="Afterwards, fetch the open gaps again.")
    ] = False,
    seed: SeedOption = 0,
    json_output: JsonOption = False,
    database_url: DbOption = None,
) -> None:
    """Backfill history from a provider; resumable after a crash (rerun the same command).

    Exits 1 with BACKFILL_INCOMPLETE when slots of the window are still missing at the end
    (after --retry-gaps, when given): the bars received are kept, the missing slots are open
    gaps.
    """
    _, source, store = _fetch_setup(provider, seed, database_url)
    wanted = config.symbol_list(symbols, reason_code=reasons.STORE_REQUEST_INVALID)
    with _progress(not json_output) as progress:
        report = backfill_mod.backfill(
            store,
            source,
            symbols=wanted,
            quote=quote,
            timeframe=timeframe,
            start_ns=_instant(start),
            end_ns=_instant(end),
            progress=progress,
        )
        retried = (
            backfill_mod.retry_gaps(
                store, source, symbols=wanted, quote=quote, timeframe=timeframe, progress=progress
            )
            if retry_gaps
            else None
        )
    final = report if retried is None else retried
    incomplete = (
        None
        if final.complete
        else f"{final.missing} slots of the window are still missing (open gaps); "
        "rerun with --retry-gaps, or see `quant data status`"
    )
    if json_output:
        doc = _report_doc(report)
        doc["retry"] = None if retried is None else attrs.asdict(retried)
        if incomplete is not None:
            doc.update(ok=False, reason_code=reasons.BACKFILL_INCOMPLETE, message=incomplete)
        emit_json(doc)
    else:
        _print_report(report)
        if retried is not None:
            _print_report(retried)
        if incomplete is not None:
            human().print(f"[{reasons.BACKFILL_INCOMPLETE}] {incomplete}", markup=False)
    if incomplete is not None:
        raise typer.Exit(EXIT_RUNTIME)


@app.command()
@guarded()
def sync(
    symbols: SymbolsOption,
    provider: ProviderOption = None,
    quote: QuoteOption = "USD",
    timeframe: TimeframeOption = "1h",
    start: Annotated[
        str | None, typer.Option(help="ISO start for a series with no data yet.")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep syncing as bars close.")] = False,
    cycles: Annotated[
        int, typer.Option(hidden=True, help="With --follow, stop after this many syncs (0: never).")
    ] = 0,
    seed: SeedOption = 0,
    json_output: JsonOption = False,
    database_url: DbOption = None,
) -> None:
    """Append newly closed candles; with --follow, keep going on the clock."""
    clock, source, store = _fetch_setup(provider, seed, database_url)
    done = 0
    while True:
        report = sync_series(
            store,
            source,
            symbols=config.symbol_list(symbols, reason_code=reasons.STORE_REQUEST_INVALID),
            quote=quote,
            timeframe=timeframe,
            start_ns=_instant(start),
        )
        done += 1
        if json_output:
            emit_json(_report_doc(report))
        else:
            _print_report(report)
        if not follow or (cycles and done >= cycles):
            return
        tf = Timeframe(timeframe)  # valid: the sync above accepted it
        next_close = tf.floor(clock.now_ns()) + tf.ns
        time.sleep(max(0.0, (next_close - clock.now_ns()) / 1e9) + 1.0)


@app.command()
@guarded()
def status(json_output: JsonOption = False, database_url: DbOption = None) -> None:
    """Coverage, gaps, quarantine and corrections per series."""
    store = _settings_store(database_url)
    series = store.status()
    if json_output:
        emit_json(
            {
                "ok": True,
                "database": store.url,
                "latest_seq": store.latest_seq(),
                "series": [attrs.asdict(s) for s in series],
            }
        )
        return
    console = results()
    console.print(f"store {store.url}: ingest sequence {store.latest_seq()}", markup=False)
    for s in series:
        span = (
            f"{ns_to_iso(s.first_open_ns)} .. {ns_to_iso(s.last_open_ns)}"
            if s.first_open_ns is not None and s.last_open_ns is not None
            else "no bars"
        )
        gaps = " ".join(f"{k}={v}" for k, v in s.gaps.items())
        console.print(
            f"  {s.source:<12} {s.symbol}/{s.quote} {s.timeframe}: {s.bars} bars {span}; gaps "
            f"{gaps}; quarantined {s.quarantined}; corrections {s.corrections}",
            markup=False,
        )


@app.command()
@guarded()
def verify(json_output: JsonOption = False, database_url: DbOption = None) -> None:
    """Check ordering, duplicates, schema and the gap ledger; exit 3 on failure."""
    store = _settings_store(database_url)
    report = store.verify()
    if json_output:
        emit_json(attrs.asdict(report))
    elif report.ok:
        results().print(f"{store.url}: ok ({', '.join(report.checks)})", markup=False)
    else:
        results().print(f"{store.url}: [{report.reason_code}] {report.message}", markup=False)
    if not report.ok:
        raise typer.Exit(EXIT_REJECTED)


@app.command()
@guarded()
def materialize(
    symbols: SymbolsOption,
    start: Annotated[str, typer.Option(help="ISO start (inclusive).")],
    end: Annotated[str, typer.Option(help="ISO end (exclusive).")],
    out: Annotated[Path, typer.Option("--out", help="Dataset directory to write.")],
    quote: QuoteOption = "USD",
    timeframe: TimeframeOption = "1h",
    as_of: Annotated[
        int | None, typer.Option("--as-of", help="Ingest sequence to read at (default: newest).")
    ] = None,
    prefer: Annotated[
        str | None, typer.Option(help="Comma-separated source preference (default: kraken).")
    ] = None,
    json_output: JsonOption = False,
    database_url: DbOption = None,
) -> None:
    """Write a dataset (bars.csv + dataset.json) and print its hash and summary."""
    store = _settings_store(database_url)
    dataset = store.materialize(
        config.symbol_list(symbols, reason_code=reasons.STORE_REQUEST_INVALID),
        quote,
        timeframe,
        _instant(start) or 0,
        _instant(end) or 0,
        as_of=as_of,
        prefer=None if prefer is None else [p.strip() for p in prefer.split(",") if p.strip()],
    )
    digest = write_dataset(out, dataset)
    manifest = attrs.asdict(dataset.manifest)
    if json_output:
        emit_json({"ok": True, "out": str(out), **manifest})
        return
    console = results()
    console.print(f"{out}: {dataset.manifest.rows} bars, {digest}", markup=False)
    for symbol, info in dataset.manifest.summary.get("symbols", {}).items():
        gaps = ", ".join(f"{k} {v}" for k, v in sorted(info["gap_ledger"].items()) if v)
        console.print(
            f"  {symbol}: {info['rows']} bars, {info['missing_slots']} missing slots, "
            f"{info['corrections']} corrections, {info['quarantined']} quarantined, "
            f"gap ledger: {gaps or 'none'}",
            markup=False,
        )

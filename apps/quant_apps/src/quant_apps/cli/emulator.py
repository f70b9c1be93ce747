"""``quant emulator …``: the local provider emulator (Kraken, CoinAPI, CoinGecko dialects).

``quant emulator serve`` runs in the foreground on 127.0.0.1, prints the base URLs to give the
providers (as JSON with ``--json``), and stops on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from quant_apps.cli.output import emit_json, guarded, results
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.config import symbol_list
from quant_core import Clock, SimClock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE
from quant_data import EmulatorUsageError, SyntheticMarket, reasons
from quant_data.emulator import DIALECTS, BarBook, EmulatorOptions, FaultPlan, start_emulator

__all__ = ["app", "serve"]

app = typer.Typer(
    help="Serve the provider emulator on 127.0.0.1 from real files or a synthetic market.",
    no_args_is_help=True,
)

_DEFAULT_SYMBOLS = "BTC,ETH,SOL,XRP,ADA"


def _usage(message: str) -> EmulatorUsageError:
    return EmulatorUsageError(message, reason_code=reasons.EMULATOR_INVALID)


def _book(
    sources: list[str],
    *,
    seed: int,
    symbols: str,
    quote: str,
    timeframe: str,
    start: str,
    end: str,
) -> BarBook:
    if sources == ["synthetic"]:
        wanted = symbol_list(symbols)
        if wanted == ["ALL"]:
            wanted = list(UNIVERSE_V1_TOP30_NON_STABLE.symbols)
        try:
            tf = Timeframe(timeframe)
        except ValueError:
            raise _usage(f"unknown timeframe {timeframe!r}") from None
        market = SyntheticMarket(
            seed=seed,
            symbols=wanted,
            start_ns=iso_to_ns(start),
            end_ns=iso_to_ns(end),
            timeframe=tf,
            quote=quote,
        )
        return BarBook.from_synthetic(market)
    if "synthetic" in sources:
        raise _usage("--source synthetic cannot be combined with file sources")
    paths = [Path(s) for s in sources]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise _usage(f"no such file or directory: {', '.join(missing)}")
    return BarBook.from_files(paths, clock=WallClock(), seed=seed)


@app.command("serve")
@guarded()
def serve(
    source: Annotated[
        list[str],
        typer.Option("--source", help="'synthetic', or a data file or directory (repeatable)."),
    ],
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0: any free port).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic market and faults.")] = 0,
    symbols: Annotated[
        str, typer.Option(help="Synthetic symbols, comma-separated, or 'all' (Universe V1).")
    ] = _DEFAULT_SYMBOLS,
    quote: Annotated[str, typer.Option(help="Quote currency of the synthetic market.")] = "USD",
    timeframe: Annotated[str, typer.Option(help="Synthetic bar length.")] = "1h",
    start: Annotated[str, typer.Option(help="Synthetic window start (ISO-8601).")] = (
        "2024-01-01T00:00:00Z"
    ),
    end: Annotated[str, typer.Option(help="Synthetic window end, exclusive (ISO-8601).")] = (
        "2024-03-01T00:00:00Z"
    ),
    now: Annotated[
        str | None,
        typer.Option(help="The emulator's fixed 'now' (default: the close of the latest bar)."),
    ] = None,
    wall_clock: Annotated[
        bool, typer.Option("--wall-clock", help="Use the real time as 'now' (candles appear live).")
    ] = False,
    faults: Annotated[
        Path | None, typer.Option(help="JSON fault plan (rules, late, revisions, seed).")
    ] = None,
    coinapi_key: Annotated[
        str | None, typer.Option(help="The only CoinAPI key accepted (default: any).")
    ] = None,
    kraken_last_as_string: Annotated[
        bool, typer.Option(help="Send Kraken OHLC 'last' as a string.")
    ] = False,
    kraken_min_interval: Annotated[
        float | None,
        typer.Option(help="Seconds between Kraken calls per endpoint and pair before throttling."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Serve until interrupted; prints the base URL of each provider dialect."""
    if now is not None and wall_clock:
        raise _usage("--now and --wall-clock exclude each other")
    book = _book(
        source, seed=seed, symbols=symbols, quote=quote, timeframe=timeframe, start=start, end=end
    )
    plan = FaultPlan.from_file(faults) if faults is not None else None
    clock: Clock | None = None
    if wall_clock:
        clock = WallClock()
    elif now is not None:
        clock = SimClock(iso_to_ns(now))
    options = EmulatorOptions(
        coinapi_api_key=coinapi_key,
        kraken_last_as_string=kraken_last_as_string,
        kraken_min_interval_s=kraken_min_interval,
    )
    emulator = start_emulator(book, faults=plan, port=port, seed=seed, clock=clock, options=options)
    base_urls = {d: emulator.base_url(d) for d in DIALECTS}
    pairs = [f"{s}/{q}" for s, q in book.pairs()]
    started = ns_to_iso(emulator.now_ns())
    document = {
        "ok": True,
        "url": emulator.url,
        "base_urls": base_urls,
        "now": started,
        "pairs": pairs,
        "series": [list(k) for k in book.series_keys()],
        "faults": len(plan.rules) if plan is not None else 0,
    }
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        if json_output:
            emit_json(document)
        else:
            console = results()
            console.print(f"provider emulator on {emulator.url} (now {started})")
            for dialect, url in base_urls.items():
                console.print(f"  {dialect:<10} {url}")
            console.print(f"  serving {', '.join(pairs)}; Ctrl-C stops")
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        emulator.stop()

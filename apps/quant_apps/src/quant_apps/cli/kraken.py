"""``quant kraken …``: connect a Kraken API key, and a fake Kraken exchange for demos and tests.

``quant kraken connect`` explains the minimum permissions, reads the key and the secret from a
hidden prompt (or two lines on stdin when it is not a terminal; never from the command line),
checks them (:func:`quant_apps.runtime.trading.onboarding.check_key`: no withdrawal, every
needed permission, clock skew, balance, open orders, a dry-run order) and only then stores
them in the OS credential store. ``--url`` points it at another exchange (a fake). With no
usable credential store it fails closed (``CREDENTIALS_UNAVAILABLE``) before asking for
anything.

``quant kraken fake-exchange`` serves :class:`quant_exec.venues.kraken.fake.FakeKraken` on
127.0.0.1 on the wall clock, funded and listing the given symbols, until Ctrl-C or SIGTERM,
with its WebSocket (:class:`~quant_exec.venues.kraken.fake.FakeKrakenWs`, attached: every
order event, fill and balance change streams on ``executions``/``balances``, a heartbeat
each second) beside it; it prints its URL, its ``ws_url`` (and its test key, unless
``QUANT_FAKE_KRAKEN_API_KEY`` and ``QUANT_FAKE_KRAKEN_SECRET`` chose the key). With
``--provider kraken`` (or ``coinapi``) it trades on the market the paper and live sessions read
from that provider: at start it serves the last closed ``--timeframe`` bar of every listed pair
(:meth:`~quant_exec.venues.kraken.fake.FakeKraken.on_bar`: the pair's price becomes its close),
then each bar as it closes (polled every ``--poll-s``), matching resting orders against it;
market orders fill at the last served close. Without it the pairs stay at ``--prices``.
``quant kraken status`` shows the stored key's fingerprint and permissions; ``quant kraken
forget`` removes it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from types import FrameType
from typing import Annotated

import typer

from quant_apps.cli.output import emit_json, guarded, human, results
from quant_apps.runtime import config as app_config
from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.jobs.stores import make_provider
from quant_apps.runtime.trading import livereasons
from quant_apps.runtime.trading.credentials import CredentialStore, KrakenCredentials
from quant_apps.runtime.trading.live import STATE_DIR
from quant_apps.runtime.trading.onboarding import (
    MAX_SKEW_S,
    connect_key,
    explain_permissions,
    open_client,
)
from quant_core import Timeframe
from quant_core import reasons as core_reasons
from quant_core.errors import QuantError, QuantUsageError, RejectedError
from quant_data import OhlcvProvider
from quant_exec.venues.kraken.fake import (
    FakeKraken,
    FakeKrakenWs,
    serve_fake_kraken,
    serve_fake_kraken_ws,
)
from quant_net import kraken as wire

__all__ = ["KEY_ENV", "SECRET_ENV", "app", "feed_bars", "serve_closed_bars"]

KEY_ENV = "QUANT_FAKE_KRAKEN_API_KEY"
"""Chooses the fake exchange's public key (then it is not printed)."""
SECRET_ENV = "QUANT_FAKE_KRAKEN_SECRET"
"""Chooses the fake exchange's private key (then it is not printed)."""

app = typer.Typer(
    help="Connect a Kraken API key (checked, kept in the OS keychain); a fake exchange.",
    no_args_is_help=True,
)

_URL_HELP = "The exchange's root URL (a fake exchange's for demos)."


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=core_reasons.USAGE_ERROR)


def _read_key() -> KrakenCredentials:
    """The key and secret: hidden prompts on a terminal, else two lines on stdin."""
    if sys.stdin.isatty():
        key = typer.prompt("API key", hide_input=True, err=True)
        secret = typer.prompt("Private key (secret)", hide_input=True, err=True)
    else:
        lines = sys.stdin.read().splitlines()
        if len(lines) < 2:
            raise RejectedError(
                "give the API key and the secret on two lines of stdin",
                reason_code=livereasons.CREDENTIALS_INVALID,
            )
        key, secret = lines[0], lines[1]
    return KrakenCredentials.parse(key, secret)


@app.command("connect")
@guarded()
def connect(
    url: Annotated[str, typer.Option("--url", help=_URL_HELP)] = wire.BASE_URL,
    pair: Annotated[str, typer.Option("--pair", help="The dry-run order's pair.")] = "XBTUSD",
    volume: Annotated[
        str, typer.Option("--volume", help="The dry-run order's size: the pair's minimum.")
    ] = "0.0001",
    max_skew_s: Annotated[
        float, typer.Option("--max-skew-s", min=0.0, help="Largest clock difference accepted.")
    ] = MAX_SKEW_S,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Check a Kraken API key (no withdrawal, the needed permissions, connectivity); keep it."""
    try:
        size = Decimal(volume)
    except InvalidOperation:
        raise _usage(f"--volume {volume!r} is not a number") from None
    store = CredentialStore()
    backend = store.backend_name()  # fail closed before asking for the key
    console = human()
    console.print(explain_permissions(), markup=False)
    credentials = _read_key()
    clock = WallClock()
    settings = app_config.load_settings()
    state = app_config.data_dir(settings) / STATE_DIR
    client = open_client(credentials, url, clock=clock, state_dir=state)
    try:
        report = connect_key(
            credentials,
            base_url=url,
            store=store,
            client=client,
            clock=clock,
            pair=pair,
            volume=size,
            max_skew_s=max_skew_s,
        )
    finally:
        client.close()
    if json_output:
        emit_json({**report.to_json(), "stored_in": backend})
        return
    out = results()
    for check in report.checks:
        out.print(f"  [ ok ] {check.name}: {check.detail}", markup=False)
    out.print(f"key {report.fingerprint} validated and stored in {backend}", markup=False)


@app.command("status")
@guarded()
def status(
    url: Annotated[str, typer.Option("--url", help=_URL_HELP)] = wire.BASE_URL,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Show the stored key for the exchange: fingerprint, permissions, when validated."""
    stored = CredentialStore().load(url)
    if stored is None:
        raise RejectedError(
            f"no validated key is stored for {url}: run `quant kraken connect`",
            reason_code=livereasons.CREDENTIALS_MISSING,
        )
    if json_output:
        emit_json({"ok": True, **stored.about()})
        return
    results().print(
        f"{stored.fingerprint} for {url}: {', '.join(stored.permissions)}", markup=False
    )


@app.command("forget")
@guarded()
def forget(
    url: Annotated[str, typer.Option("--url", help=_URL_HELP)] = wire.BASE_URL,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Remove the stored key for the exchange."""
    removed = CredentialStore().delete(url)
    if json_output:
        emit_json({"ok": True, "removed": removed})
        return
    results().print("key removed" if removed else "no key was stored", markup=False)


def _prices(text: str) -> dict[str, Decimal]:
    prices: dict[str, Decimal] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        symbol, _, value = item.partition("=")
        try:
            prices[symbol.strip().upper()] = Decimal(value)
        except InvalidOperation:
            raise _usage(f"--prices item {item!r} is not SYMBOL=PRICE") from None
    return prices


def serve_closed_bars(
    fake: FakeKraken,
    provider: OhlcvProvider,
    pairs: dict[str, str],
    quote: str,
    timeframe: Timeframe,
    served: dict[str, int],
) -> int:
    """Serve each pair's bars closed since ``served[symbol]`` (default: the last closed one).

    Args:
        fake: the exchange whose open orders the bars are matched against.
        provider: where the bars come from (the sessions' provider).
        pairs: symbol → the fake's pair name.
        quote: the quote currency.
        timeframe: the bars' timeframe.
        served: symbol → the close time of the last bar served (updated).

    Returns:
        How many bars were served.
    """
    end = timeframe.floor(fake.clock.now_ns())
    count = 0
    for symbol, name in sorted(pairs.items()):
        start = served.get(symbol, end - timeframe.ns)
        if start >= end:  # nothing has closed since
            continue
        for page in provider.fetch_ohlcv(symbol, quote, timeframe, start, end):
            for bar in page.bars:
                close_ns = bar.open_time_ns + timeframe.ns
                fake.on_bar(
                    name, Decimal(bar.open), Decimal(bar.high), Decimal(bar.low),
                    Decimal(bar.close), Decimal(bar.volume), close_ns,
                )  # fmt: skip
                served[symbol] = close_ns
                count += 1
    return count


def feed_bars(serve: Callable[[], int], stop: threading.Event, poll_s: float) -> None:
    """Call ``serve`` every ``poll_s`` until ``stop``; a failure is reported, not fatal."""
    while not stop.wait(poll_s):
        try:
            serve()
        except QuantError as error:
            print(f"bars not served: {error}", file=sys.stderr, flush=True)


@app.command("fake-exchange")
@guarded()
def fake_exchange(
    prices: Annotated[
        str, typer.Option("--prices", help="SYMBOL=PRICE pairs listed (quote: --quote).")
    ] = "BTC=40000,ETH=2000",
    quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
    cash: Annotated[str, typer.Option("--cash", help="The account's quote balance.")] = "10000",
    provider: Annotated[
        str | None,
        typer.Option("--provider", help="kraken or coinapi: trade on its bars (see --timeframe)."),
    ] = None,
    timeframe: Annotated[
        str, typer.Option("--timeframe", help="The served bars' timeframe.")
    ] = "1h",
    poll_s: Annotated[
        float, typer.Option("--poll-s", min=0.1, help="Seconds between looks for a new bar.")
    ] = 5.0,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Serve a fake Kraken exchange on 127.0.0.1 until interrupted (for demos and tests)."""
    listed = _prices(prices)
    if not listed:
        raise _usage("--prices lists no pair")
    key, secret = os.environ.get(KEY_ENV), os.environ.get(SECRET_ENV)
    if key is not None and secret is not None:
        chosen, fake = True, FakeKraken(WallClock(), api_key=key, secret=secret)
    else:
        chosen, fake = False, FakeKraken(WallClock())
    names = []
    for symbol, price in sorted(listed.items()):
        spelled = wire.pair_names(symbol, quote.upper())
        fake.book.add_pair(spelled.altname, spelled.base_id, spelled.quote_id, price)
        names.append(spelled.altname)
    quote_id = wire.pair_names(next(iter(listed)), quote.upper()).quote_id
    try:
        fake.book.balances[quote_id] = Decimal(cash)
    except InvalidOperation:
        raise _usage(f"--cash {cash!r} is not a number") from None
    stop = threading.Event()
    if provider is not None:
        try:
            tf = Timeframe(timeframe)
        except ValueError:
            raise _usage(f"unknown timeframe {timeframe!r}") from None
        source = make_provider(provider.strip().lower(), app_config.load_settings(), fake.clock, 0)
        pairs = {s: wire.pair_names(s, quote.upper()).altname for s in listed}
        served: dict[str, int] = {}

        def serve() -> int:
            return serve_closed_bars(fake, source, pairs, quote.upper(), tf, served)

        serve()  # the pairs' prices are the market's before the first order
        threading.Thread(target=feed_bars, args=(serve, stop, poll_s), daemon=True).start()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    socket = FakeKrakenWs(fake.clock, exchange=fake)
    with (
        serve_fake_kraken(fake, hang_s=5.0) as server,
        serve_fake_kraken_ws(socket, heartbeat_s=1.0) as ws,
    ):
        document = {
            "ok": True, "url": server.base_url, "ws_url": ws.url, "pairs": names, "cash": cash,
        }  # fmt: skip
        if not chosen:  # the fake's own test values, printed so a demo can paste them
            document |= {"api_key": server.api_key, "secret": server.secret}
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            if json_output:
                emit_json(document)
            else:
                out = results()
                out.print(f"fake Kraken exchange on {server.base_url}", markup=False)
                out.print(f"  websocket {ws.url}", markup=False)
                out.print(f"  pairs {', '.join(names)}; {cash} {quote.upper()}", markup=False)
                if not chosen:
                    out.print(f"  test key {server.api_key}", markup=False)
                    out.print(f"  test secret {server.secret}", markup=False)
                out.print("  Ctrl-C stops", markup=False)
                sys.stdout.flush()
            while not stop.wait(0.2):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)

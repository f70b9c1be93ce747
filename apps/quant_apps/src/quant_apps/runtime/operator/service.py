"""The composition behind ``quant serve``: a paper session, its runner thread, its control plane.

:func:`open_service` builds a :class:`Service` from :class:`ServeOptions`:

* with the ``emulator`` provider (the default) it starts the provider emulator on
  ``127.0.0.1`` (an ephemeral port) serving a seeded
  :class:`~quant_data.SyntheticMarket`, or the real files given as ``source``, on a
  :class:`~quant_apps.runtime.clock.ReplayClock`: replayed time starts at ``start`` (default:
  :data:`WARMUP_BARS` bars after the data's first common bar) and runs ``speed`` times as fast
  as the wall clock (default :data:`DEFAULT_SPEED`: a 1h bar every 6 s). The emulator, the
  store, the Kraken provider (pointed at the emulator) and the session share that clock, so
  the session sees bars close exactly as it would live;
* with ``kraken`` or ``coinapi`` it trades the live provider on the wall clock;
* the paper session is opened by :func:`~quant_apps.runtime.trading.paper.assemble_paper_session`;
  its ``out`` directory holds ``decisions.jsonl``, ``audit.jsonl``, the decision index
  (``decisions.idx.sqlite``) and, unless ``database_url`` names another, the store
  (``store.sqlite``);
* the :class:`~quant_apps.runtime.operator.control.ControlPlane` reads and governs it, with a
  :class:`~quant_apps.runtime.models.bundledesk.BundleDesk` over the bundles' install root.

:meth:`Service.start` loads the history and starts the runner thread
(``TradingRuntime.run(cycles=0)``); :meth:`Service.stop` posts a stop, joins the thread and
returns the final summary: every line is flushed, open paper orders stay in the log and the
ledger (the summary counts the open positions), and the emulator and files are closed.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_apps.runtime import config as app_config
from quant_apps.runtime.clock import ReplayClock, WallClock
from quant_apps.runtime.models.bundledesk import BundleDesk, open_trust
from quant_apps.runtime.models.bundles import runtime_versions
from quant_apps.runtime.operator.control import ControlPlane
from quant_apps.runtime.operator.decisionindex import DecisionIndex
from quant_apps.runtime.trading.paper import PaperOptions, assemble_paper_session
from quant_apps.runtime.trading.paperlog import AUDIT_FILE, LOG_FILE
from quant_apps.runtime.trading.session import TradingRuntime
from quant_apps.runtime.trading.views import CHART_BARS
from quant_core import Clock, SimClock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.errors import QuantUsageError
from quant_core.reasons import USAGE_ERROR
from quant_data import Store

__all__ = [
    "DEFAULT_SPEED",
    "INDEX_FILE",
    "PROVIDERS",
    "STORE_FILE",
    "SYNTHETIC_BARS",
    "SYNTHETIC_START",
    "WARMUP_BARS",
    "ServeOptions",
    "Service",
    "open_service",
]

DEFAULT_SPEED = 600.0
"""Replayed time per unit of wall time on the emulator: one 1h bar every 6 seconds."""
WARMUP_BARS = 720
"""Bars of history before the replay starts (Kraken serves at most 720 recent candles)."""
SYNTHETIC_START = "2024-01-01T00:00:00Z"
"""The synthetic market's first bar (fixed: the market never depends on the wall clock)."""
SYNTHETIC_BARS = 24 * 180
"""Bars per coin in the synthetic market: the warm-up, then months to replay."""
INDEX_FILE = "decisions.idx.sqlite"
"""The decision log's index inside ``out``."""
STORE_FILE = "store.sqlite"
"""The store inside ``out`` (unless ``database_url`` names another)."""
PROVIDERS = ("emulator", "kraken", "coinapi")
"""Where ``quant serve`` takes its candles from."""
ACTOR = "quant-serve"
"""Who stops the session when the service stops."""


def _usage(message: str) -> QuantUsageError:
    return QuantUsageError(message, reason_code=USAGE_ERROR)


@attrs.frozen
class ServeOptions:
    """``quant serve``'s options, parsed.

    Attributes:
        out: the session's directory (log, audit, index, store).
        provider: ``emulator`` (a local replay), ``kraken`` or ``coinapi`` (live).
        source: emulator data files or directories (empty: a seeded synthetic market).
        symbols: the coins traded.
        quote: their quote currency.
        timeframe: the bar length.
        speed: the emulator's replay speed (``None``: :data:`DEFAULT_SPEED`); live: 1.
        start: the replay's start (ISO-8601; default: the data's start plus the warm-up).
        bundle: a signed release (``None``: the shipped one).
        keys: trusted public keys (``None``: the shipped ones).
        update_source: where bundle updates come from (``None``: updates are refused).
        profile: a JSON/TOML profile file, watched for edits.
        seed: the synthetic market's, the broker's and the emulator's seed.
        database_url: the store (``None``: ``out/store.sqlite``).
    """

    out: Path = Path("quant-serve")
    provider: str = "emulator"
    source: tuple[Path, ...] = ()
    symbols: tuple[str, ...] = ("BTC", "ETH", "SOL")
    quote: str = "USD"
    timeframe: Timeframe = Timeframe.H1
    speed: float | None = None
    start: str | None = None
    bundle: Path | None = None
    keys: Path | None = None
    update_source: str | None = None
    profile: Path | None = None
    seed: int = 0
    database_url: str | None = None


class Service:
    """A running paper session with its control plane (see the module docs).

    Attributes:
        control: the control plane over the session.
        runtime: the session.
        url_hints: what to tell the operator: the emulator's base URLs, the replay, the files.
    """

    def __init__(
        self,
        control: ControlPlane,
        *,
        store: Store,
        emulator: Any | None,
        url_hints: Mapping[str, Any],
    ) -> None:
        """Wrap a built session; nothing runs until :meth:`start`."""
        self.control, self.runtime = control, control.runtime
        self.url_hints: dict[str, Any] = dict(url_hints)
        self._emulator = emulator
        self._store = store
        self._thread: threading.Thread | None = None
        self._summary: dict[str, Any] | None = None
        self._failure: Exception | None = None
        self._stopped = False

    @property
    def running(self) -> bool:
        """Whether the runner thread is running."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Load the history (the charts' :data:`CHART_BARS`), then start the runner thread."""
        if self._thread is not None:
            raise _usage("the service was started already")
        # The charts show CHART_BARS bars: load that much history (only the predictor's
        # warm-up matters to the decisions; the older bars are not evaluated).
        self.runtime.need = max(self.runtime.need, CHART_BARS)
        self.runtime.start()
        self._thread = threading.Thread(target=self._run, name="quant-runner", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._summary = self.runtime.run(cycles=0, on_cycle=lambda _: None)
        except Exception as exc:  # noqa: BLE001 - re-raised by stop(), in the caller's thread
            self._failure = exc

    def stop(self, *, actor: str = ACTOR) -> dict[str, Any]:
        """Stop the session, wait for it, close everything; the final summary.

        Raises:
            Exception: what the runner failed with, if it failed (after closing).
        """
        if not self._stopped:
            self._stopped = True
            try:
                if self._thread is not None:
                    self.runtime.stop(actor=actor)
                    self._thread.join()
                if self._summary is None and self._failure is None:
                    self._summary = self.runtime.summary(interrupted=False)
            finally:
                self._close()
        if self._failure is not None:
            raise self._failure
        assert self._summary is not None
        return self._summary

    def _close(self) -> None:
        self.control.hub.close()
        self.control.index.close()
        if self._emulator is not None:
            self._emulator.stop()
        self._store.engine.dispose()


@attrs.frozen
class _Replay:
    """The emulator's book and the replay's window."""

    book: Any  # quant_data.emulator.BarBook
    symbols: tuple[str, ...]
    start_ns: int
    end_ns: int


def _replay_book(options: ServeOptions) -> _Replay:
    from quant_data import SyntheticMarket
    from quant_data.emulator import BarBook

    tf = options.timeframe
    if not options.source:
        first = iso_to_ns(SYNTHETIC_START)
        market = SyntheticMarket(
            seed=options.seed,
            symbols=options.symbols,
            start_ns=first,
            end_ns=first + SYNTHETIC_BARS * tf.ns,
            timeframe=tf,
            quote=options.quote,
        )
        book = BarBook.from_synthetic(market)
    else:
        missing = [str(p) for p in options.source if not p.exists()]
        if missing:
            raise _usage(f"no such file or directory: {', '.join(missing)}")
        # The import clock only stamps raw-page receipt times; a fixed one keeps them stable.
        book = BarBook.from_files(list(options.source), clock=SimClock(0), seed=options.seed)
    series = {s: book.series(s, options.quote, tf) for s in options.symbols}
    present = tuple(s for s in options.symbols if series[s])
    if not present:
        raise _usage(
            f"the data has no {tf.value} bars of {', '.join(options.symbols)} in {options.quote}"
        )
    first_common = max(series[s][0].open_time_ns for s in present)
    end = max(series[s][-1].open_time_ns for s in present) + tf.ns
    return _Replay(book, present, first_common, end)


def _replay_start(options: ServeOptions, replay: _Replay) -> int:
    tf = options.timeframe
    if options.start is None:
        return min(replay.start_ns + WARMUP_BARS * tf.ns, replay.end_ns)
    start = iso_to_ns(options.start)
    if not replay.start_ns < start <= replay.end_ns:
        raise _usage(
            f"--start {options.start} is outside the data "
            f"({ns_to_iso(replay.start_ns)} .. {ns_to_iso(replay.end_ns)})"
        )
    return start


def open_service(
    options: ServeOptions,
    *,
    env: Mapping[str, str] | None = None,
    wall: Clock | None = None,
) -> Service:
    """Build the service ``options`` describe (see the module docs); call :meth:`~Service.start`.

    Args:
        options: what to serve.
        env: the settings' environment (default: the process environment over ``.env``).
        wall: the wall clock (default: the system's; tests pass a simulated one).

    Raises:
        QuantUsageError: ``USAGE_ERROR`` for an unknown provider, missing data files, data
            without the coins, or a ``start`` outside the data.
        ProfileError: the profile file is refused.
        BundleRejectedError: ``QUANT_REQUIRE_BUNDLE=1`` and no verified bundle activates.
    """
    if options.provider not in PROVIDERS:
        raise _usage(f"unknown provider {options.provider!r} ({', '.join(PROVIDERS)})")
    wall = wall if wall is not None else WallClock()
    environ = dict(app_config.environ() if env is None else env)
    hints: dict[str, Any] = {"out": str(options.out), "provider": options.provider}
    emulator = None
    clock: Clock = wall
    provider, symbols = options.provider, options.symbols
    if options.provider == "emulator":
        from quant_data.emulator import DIALECTS, start_emulator

        replay = _replay_book(options)
        start_ns = _replay_start(options, replay)
        speed = DEFAULT_SPEED if options.speed is None else options.speed
        clock = ReplayClock(start_ns, speed, wall)
        emulator = start_emulator(replay.book, seed=options.seed, clock=clock)
        environ["KRAKEN_PUBLIC_BASE_URL"] = emulator.base_url("kraken")
        provider, symbols = "kraken", replay.symbols
        hints["emulator"] = {d: emulator.base_url(d) for d in DIALECTS}
        hints["replay"] = {
            "start": ns_to_iso(start_ns),
            "end": ns_to_iso(replay.end_ns),
            "speed": speed,
            "symbols": list(symbols),
        }
    try:
        return _compose(options, environ, clock, wall, provider, symbols, emulator, hints)
    except BaseException:
        if emulator is not None:
            emulator.stop()
        raise


def _compose(
    options: ServeOptions,
    environ: Mapping[str, str],
    clock: Clock,
    wall: Clock,
    provider: str,
    symbols: tuple[str, ...],
    emulator: Any | None,
    hints: dict[str, Any],
) -> Service:
    out = options.out
    database_url = options.database_url or f"sqlite:///{out / STORE_FILE}"
    paper = PaperOptions(
        provider=provider,
        symbols=symbols,
        quote=options.quote,
        timeframe=options.timeframe,
        out=out,
        bundle=options.bundle,
        keys=options.keys,
        profile=options.profile,
        seed=options.seed,
        database_url=database_url,
    )
    session = assemble_paper_session(paper, clock=clock, env=environ)
    runtime: TradingRuntime = session.runtime
    trust = open_trust(session.bundle_root, options.keys, wall)
    desk = BundleDesk(
        session.bundle_root,
        trust,
        wall,
        source=options.update_source,
        runtime=runtime_versions(),
    )
    control = ControlPlane(
        runtime,
        clock=clock,
        index=DecisionIndex(out / LOG_FILE, out / INDEX_FILE),
        bundles=desk,
        store=session.store,
        audit_path=out / AUDIT_FILE,
        symbols=symbols,
        quote=options.quote,
        wall=wall,
    )
    hints.update(
        {
            "decisions": str(out / LOG_FILE),
            "audit": str(out / AUDIT_FILE),
            "halt_file": str(runtime.halt_file),
            "bundle_root": str(session.bundle_root),
        }
    )
    return Service(control, store=session.store, emulator=emulator, url_hints=hints)

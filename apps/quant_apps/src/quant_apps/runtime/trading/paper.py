"""Opens a paper-trading session: the bundle, the store, the provider, the log, the runtime.

:func:`open_paper_session` is what ``quant paper`` calls to build a
:class:`~quant_apps.runtime.trading.session.TradingRuntime` from a :class:`PaperOptions`: it
reads the profiles, activates the model bundle
(:func:`~quant_apps.runtime.models.activation.serve_bundle`: the release is verified and
installed unless it already is), opens the store and the provider from the settings, opens the
decision log (a new run segment) and the audit log, and wires the session's feed
(:class:`~quant_data.StoreFeed`) and sync. A bundle reload serves the install root's *active*
bundle (:func:`~quant_apps.runtime.models.activation.serve_active_bundle`: an update or a
rollback made it active; nothing is installed again). :func:`assemble_paper_session` does the
same and also hands back the store and the install root (``quant serve`` shows and manages
them). Nothing is started: :meth:`TradingRuntime.start` loads the history and
:meth:`TradingRuntime.run` runs.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_apps.runtime import config as app_config
from quant_apps.runtime.jobs.stores import make_provider, open_store
from quant_apps.runtime.models.activation import serve_active_bundle, serve_bundle
from quant_apps.runtime.models.bundles import require_bundle, shipped_bundle_dir
from quant_apps.runtime.models.context import context_checked, require_context
from quant_apps.runtime.trading.commands import Waiter
from quant_apps.runtime.trading.feed import ProviderSync
from quant_apps.runtime.trading.paperlog import AUDIT_FILE, HALT_FILE, LOG_FILE, PaperLogWriter
from quant_apps.runtime.trading.profiles import load_profiles
from quant_apps.runtime.trading.session import TradingRuntime
from quant_core import Clock, Timeframe
from quant_core.audit import AuditLog
from quant_core.events import Predictor
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_core.settings import Settings
from quant_data import Store, StoreFeed
from quant_exec import BacktestConfig, read_log
from quant_exec.session import CarryOver, carry_from_log

__all__ = [
    "BUNDLES_DIR",
    "PaperOptions",
    "PaperSession",
    "ServedInputs",
    "assemble_paper_session",
    "carry_over",
    "open_paper_session",
    "open_run_log",
    "serve_inputs",
]

BUNDLES_DIR = "bundles"
"""The install root of the model bundles, inside the settings' data directory."""


@attrs.frozen
class PaperOptions:
    """What a paper session trades and where it writes (``quant paper``'s options, parsed).

    Attributes:
        provider: ``kraken`` or ``coinapi``: where new candles come from.
        symbols: base assets.
        quote: the quote currency.
        timeframe: the bar length.
        out: the directory of the decision log, the audit log and the default halt file.
        bundle: a signed release (``None``: the shipped one).
        keys: trusted public keys (``None``: the shipped ones).
        profile: a JSON/TOML profile file, watched for edits (``None``: the defaults).
        halt_file: the halt file (``None``: ``out/HALT``).
        seed: the broker's and the retry jitter's seed.
        database_url: the store (``None``: the settings' store).
    """

    provider: str
    symbols: tuple[str, ...]
    quote: str = "USD"
    timeframe: Timeframe = Timeframe.H1
    out: Path = Path("paper")
    bundle: Path | None = None
    keys: Path | None = None
    profile: Path | None = None
    halt_file: Path | None = None
    seed: int = 0
    database_url: str | None = None


@attrs.frozen
class PaperSession:
    """A paper session with the parts a service shows besides the runtime.

    Attributes:
        runtime: the session.
        store: its market-data store.
        bundle_root: the model bundles' install root.
        environ: the settings' environment it was opened with.
    """

    runtime: TradingRuntime
    store: Store
    bundle_root: Path
    environ: Mapping[str, str]


def carry_over(writer: PaperLogWriter, quote: str) -> CarryOver | None:
    """What the next run carries over from the log's last run (``None``: a first run).

    The last run's books and unfinished orders, replayed from its journal
    (:func:`quant_exec.session.carry_from_log`), when it traded in ``quote``; a run in
    another quote currency starts afresh.

    Args:
        writer: the paper log, opened (a torn last line already set aside).
        quote: the quote currency of the new run.

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the last run cannot be replayed.
    """
    if writer.next_run == 1:
        return None
    last = read_log(writer.path)[-1]
    traded = {str(i).split("/")[1] for i in last.session.get("instruments", [])}
    return carry_from_log(last) if traded == {quote} else None


def open_run_log(
    options: PaperOptions, audit: AuditLog, model: Mapping[str, Any], *, clock: Clock
) -> tuple[PaperLogWriter, CarryOver | None, dict[str, Any]]:
    """Open the session's decision log for a new run (paper and live alike).

    A torn last record is cut and audited (RT-20); the last run is carried over when there
    is one (:func:`carry_over`, audited as ``session.carry``).

    Args:
        options: the session's options (its ``out`` directory, quote and provider).
        audit: the session's audit log.
        model: the served bundle, as :func:`serve_bundle` describes it.
        clock: when the run starts.

    Returns:
        The log writer, the carry-over (``None``: a fresh start) and the run's header block
        (the session header's ``paper`` key).
    """
    writer = PaperLogWriter(options.out / LOG_FILE)
    writer.audit_torn_tail(audit)
    carry = carry_over(writer, options.quote)
    if carry is not None:
        audit.append("session.carry", {
            "cash": str(carry.cash),
            "positions": {p.base: str(p.quantity) for p in carry.positions},
            "orders": [s.client_order_id for s in carry.orders],
            "last_trade_id": carry.last_trade_id,
        })  # fmt: skip
    run = {
        "run": writer.next_run,
        "started_ns": clock.now_ns(),
        "provider": options.provider,
        "bundle": model,
        **({} if writer.torn_tail is None else {"torn_tail": writer.torn_tail}),
    }
    return writer, carry, run


def open_paper_session(
    options: PaperOptions,
    *,
    clock: Clock,
    waiter: Waiter | None = None,
    env: Mapping[str, str] | None = None,
) -> TradingRuntime:
    """Build the paper session ``options`` describe, on ``clock`` (see the module docs).

    Args:
        options: what to trade and where to write.
        clock: the wall clock (the store's, the provider's and the session's).
        waiter: how the runner waits between cycles (default: a real one).
        env: the settings' environment (default: the process environment over ``.env``).

    Raises:
        ProfileError: the profile file is refused.
        BundleRejectedError: ``QUANT_REQUIRE_BUNDLE=1`` and no verified bundle activates.
        ValidationError: ``DECISION_LOG_INVALID`` when the log file is not a paper log.
    """
    return assemble_paper_session(options, clock=clock, waiter=waiter, env=env).runtime


def assemble_paper_session(
    options: PaperOptions,
    *,
    clock: Clock,
    waiter: Waiter | None = None,
    env: Mapping[str, str] | None = None,
) -> PaperSession:
    """:func:`open_paper_session`, with the store and the bundles' install root.

    Raises:
        ProfileError: the profile file is refused.
        BundleRejectedError: ``QUANT_REQUIRE_BUNDLE=1`` and no verified bundle activates.
        ValidationError: ``DECISION_LOG_INVALID`` when the log file is not a paper log.
    """
    served = serve_inputs(options, clock=clock, env=env)
    load_bundle = context_checked(
        functools.partial(
            serve_active_bundle,
            served.bundle_root,
            options.keys,
            require=served.require,
            clock=clock,
        ),
        options.symbols,
    )
    store = open_store(options.database_url, served.settings, clock)
    source = make_provider(options.provider, served.settings, clock, options.seed)
    audit = AuditLog(options.out / AUDIT_FILE, clock)
    writer, carry, run = open_run_log(options, audit, served.model, clock=clock)
    symbols, quote, timeframe = list(options.symbols), options.quote, options.timeframe
    runtime = TradingRuntime(
        feed=StoreFeed(store, symbols, quote, timeframe, prefer=[source.name]),
        sync=ProviderSync(store, source, symbols, quote, timeframe),
        clock=clock,
        predictor=served.predictor,
        config=BacktestConfig.from_profiles(served.strategy, served.risk, seed=options.seed),
        writer=writer,
        header={"paper": run},
        bundle=served.model,
        load_bundle=load_bundle,
        profile_file=options.profile,
        halt_file=options.halt_file or options.out / HALT_FILE,
        audit=audit,
        waiter=waiter,
        carry=carry,
    )
    return PaperSession(runtime, store, served.bundle_root, served.environ)


@attrs.frozen
class ServedInputs:
    """A session's inputs: its profiles, its settings and the model bundle it serves.

    Attributes:
        strategy: the strategy profile (the file's, or the governed defaults).
        risk: the risk profile (likewise).
        environ: the settings' environment.
        settings: the settings parsed from it.
        bundle_root: the bundles' install root in the settings' data directory.
        require: whether a verified bundle is required (``QUANT_REQUIRE_BUNDLE``).
        predictor: the served bundle's predictor (or the no-model stand-in).
        model: the served bundle, as :func:`serve_bundle` describes it.
    """

    strategy: StrategyProfile
    risk: RiskProfile
    environ: Mapping[str, str]
    settings: Settings
    bundle_root: Path
    require: bool
    predictor: Predictor
    model: dict[str, Any]


def serve_inputs(
    options: PaperOptions, *, clock: Clock, env: Mapping[str, str] | None = None
) -> ServedInputs:
    """Read ``options``' profiles and settings and activate its bundle (paper and live alike).

    Args:
        options: the session's options (profile file, bundle release, keys).
        clock: the clock the bundle's checks use.
        env: the settings' environment (default: the process environment over ``.env``).

    Raises:
        ProfileError: the profile file is refused.
        BundleRejectedError: ``QUANT_REQUIRE_BUNDLE=1`` and no verified bundle activates.
        DataError: ``CONTEXT_MISSING`` when the served bundle's models need market context
            (a reference coin, market-panel coins) that ``options.symbols`` lacks: the
            session's coins must include them (decision 0116).
    """
    profiles = load_profiles(options.profile) if options.profile else None
    strategy, risk = profiles or (StrategyProfile(), RiskProfile())
    environ = app_config.environ() if env is None else env
    settings = app_config.load_settings(environ)
    bundle_root = app_config.data_dir(settings) / BUNDLES_DIR
    require = require_bundle(environ)
    release = options.bundle if options.bundle is not None else shipped_bundle_dir(environ)
    predictor, model = serve_bundle(
        bundle_root, release, options.keys, require=require, clock=clock
    )
    require_context(predictor, options.symbols)
    return ServedInputs(strategy, risk, environ, settings, bundle_root, require, predictor, model)

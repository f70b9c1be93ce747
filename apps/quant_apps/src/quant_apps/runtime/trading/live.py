"""A live session on Kraken: paper first, then live only by explicit, audited confirmation.

:func:`open_live_session` (what ``quant trade --live`` calls) refuses unless all hold, in
this order (decision 0108):

1. a model bundle is active and verified (``LIVE_BUNDLE_REQUIRED``);
2. a key for the exchange is in the OS credential store: ``quant kraken connect`` stores one
   only after it passed every check (``CREDENTIALS_MISSING``; ``CREDENTIALS_UNAVAILABLE``
   without a usable store);
3. the paper log holds runs of the **same bundle** (its hash) **and profile** (the hash of the
   strategy and risk versions) with at least ``min_paper_cycles`` cycles between them
   (:func:`paper_evidence`; ``LIVE_PAPER_MINIMUM``): :data:`MIN_PAPER_CYCLES` by default, an
   operator may ask for a different number (at least 1), which the audit line records;
4. the operator types the confirmation phrase :func:`confirmation_phrase` — ``LIVE`` and the
   key's fingerprint — exactly (``LIVE_NOT_CONFIRMED``); no flag confirms on its own.

The confirmation goes to the session's hash-chained audit log (``live.confirmed``: the key's
fingerprint, never the key; the bundle's hashes; the profile hash; the paper evidence; a
refusal at step 4 is audited as ``live.refused``). Then the session is the paper session's
runtime (:class:`~quant_apps.runtime.trading.session.TradingRuntime`: same feed, strategy,
risk gates, kill switch, halt file, logs) whose venue is a Kraken venue on the private client
(:func:`~quant_apps.runtime.trading.onboarding.open_client`), its ledger opened with the
account's quote balance on a first run; a restart in the same directory carries the last
run's books and unfinished orders over (:func:`~quant_apps.runtime.trading.paper.carry_over`)
and reconciles them with the exchange when it starts. Engaging the kill switch cancels the
session's working orders on the exchange and verifies them gone against its open orders.
:meth:`LiveSession.close` disarms the dead-man's switch and closes the client.

Examples:
    >>> confirmation_phrase("kraken:0123456789abcdef")
    'LIVE kraken:0123456789abcdef'
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from quant_apps.runtime import config as app_config
from quant_apps.runtime.jobs.stores import make_provider, open_store
from quant_apps.runtime.models.activation import serve_active_bundle
from quant_apps.runtime.models.context import context_checked
from quant_apps.runtime.trading import livereasons
from quant_apps.runtime.trading.commands import EventWaiter, Waiter
from quant_apps.runtime.trading.credentials import CredentialStore, StoredKey
from quant_apps.runtime.trading.feed import ProviderSync
from quant_apps.runtime.trading.onboarding import open_client
from quant_apps.runtime.trading.paper import (
    PaperOptions,
    ServedInputs,
    open_run_log,
    serve_inputs,
)
from quant_apps.runtime.trading.paperlog import AUDIT_FILE, HALT_FILE, LOG_FILE
from quant_apps.runtime.trading.readmodel import Mode
from quant_apps.runtime.trading.session import TradingRuntime
from quant_core import NS_PER_SECOND, Clock, Instrument, SimClock
from quant_core.audit import AuditLog
from quant_core.errors import QuantError, RejectedError
from quant_data import StoreFeed
from quant_exec import BacktestConfig, read_log
from quant_exec.venues.kraken import (
    KrakenPrivateClient,
    KrakenStream,
    KrakenVenue,
    StreamLostError,
)
from quant_net import kraken as wire

__all__ = [
    "LIVE_ACTOR",
    "MIN_PAPER_CYCLES",
    "STATE_DIR",
    "WS_AUTH_URL",
    "KeepAliveWaiter",
    "LiveGate",
    "LiveOptions",
    "LiveRefusedError",
    "LiveSession",
    "PaperEvidence",
    "confirmation_phrase",
    "open_live_session",
    "paper_evidence",
    "profile_hash",
]

_log = logging.getLogger(__name__)

MIN_PAPER_CYCLES: Final = 24
"""The governed default: paper cycles of the same bundle and profile before live (a day of 1h)."""
WS_AUTH_URL: Final = "wss://ws-auth.kraken.com/v2"
"""Kraken's authenticated WebSocket v2 (``executions``, ``balances``)."""
STATE_DIR: Final = "kraken"
"""The folder, inside the data directory, of the Kraken keys' nonce files."""
LIVE_ACTOR: Final = "operator"
"""Who the audit names as confirming (the person at the terminal)."""


class KeepAliveWaiter:
    """The runner's one waiter: re-arms the dead-man's switch and pumps the live stream.

    The venue refreshes ``CancelAllOrdersAfter`` when the session polls it, once a cycle: on
    1h bars the switch would lapse between cycles and the exchange would cancel every open
    order. The runner waits in steps of at most a second (:data:`~.session.POLL_S`), so
    re-arming here, every ``refresh_s`` on ``clock``, keeps it armed for as long as the process
    lives; a failure is logged (never raised: the switch then fires, which is its purpose).

    With a ``stream`` it waits on the stream instead (:meth:`KrakenStream.pump` for up to the
    timeout: any frame ends the wait, a command waits at most :data:`~.session.POLL_S`): an
    execution that arrived is a trigger, ``on_executions`` (the runtime's
    :meth:`~.session.TradingRuntime.poll_venue`) books it at once. A stream that cannot
    reconnect is recorded in :attr:`lost` (``KRAKEN_WS_LOST``, the read model's ``stream``)
    and the wait falls back to ``inner``: the heartbeat cycles and REST polling carry on, and
    the next drain tries the stream again.

    The stream's public channels (``ticker``, ``book``, ``ohlc`` of the traded pairs) are
    decision triggers too: after each wait ``on_market`` (the runtime's
    :meth:`~.session.TradingRuntime.on_market`) hears how many market updates arrived and,
    for each pair in ``markets``, whether its data is stale: a pair whose book was valid once
    and is not now (a checksum mismatch dropped it, :meth:`KrakenStream.stale`, until a
    snapshot matches again). A pair whose book never arrived is not marked: no book, no
    change from the bar-driven session.

    Args:
        inner: the waiter that waits.
        client: the private client (calls are serialised by it).
        clock: the wall clock.
        dead_man_s: the switch's timeout.
        refresh_s: how often to re-arm it.
        stream: the private stream the venue drains (``None``: REST only).
        markets: the stream's v2 symbols (``"BTC/USD"``) -> the session's instruments.

    Examples:
        >>> from quant_apps.runtime import EventWaiter
        >>> KeepAliveWaiter(EventWaiter(), None, None, dead_man_s=60, refresh_s=20)
        KeepAliveWaiter(dead_man_s=60, refresh_s=20)
    """

    def __init__(
        self, inner: Waiter, client: KrakenPrivateClient, clock: Clock, *, dead_man_s: int,
        refresh_s: int, stream: KrakenStream | None = None,
        markets: Mapping[str, Instrument] | None = None,
    ) -> None:  # fmt: skip
        self._inner, self._client, self._clock = inner, client, clock
        self.dead_man_s, self.refresh_s = dead_man_s, refresh_s
        self._due_ns: int | None = None
        self.rearmed = 0
        self.stream = stream
        self.on_executions: Callable[[], None] = _nothing
        """Books the executions the stream holds (bound to the runtime once it is built)."""
        self.lost: StreamLostError | None = None
        """The stream's loss while it cannot reconnect (``None``: healthy)."""
        self.markets: dict[str, Instrument] = dict(markets or {})
        self.on_market: Callable[[int, Mapping[Instrument, bool]], object] = _no_market
        """Takes the market updates' count and the pairs' staleness (bound to the runtime)."""
        self._books_seen: set[str] = set()

    def stream_state(self) -> str | None:
        """The lost stream's reason code, ``None`` while it is healthy (or absent)."""
        lost = self.lost or (self.stream.lost if self.stream is not None else None)
        return None if lost is None else lost.reason_code

    def __repr__(self) -> str:
        return f"KeepAliveWaiter(dead_man_s={self.dead_man_s}, refresh_s={self.refresh_s})"

    def wait(self, timeout_s: float) -> None:
        """Re-arm the switch when due, then wait as ``inner`` does.

        Args:
            timeout_s: the longest wait.
        """
        now = self._clock.now_ns()
        if self.dead_man_s and (self._due_ns is None or now >= self._due_ns):
            self._due_ns = now + self.refresh_s * NS_PER_SECOND
            try:
                self._client.cancel_all_orders_after(self.dead_man_s)
                self.rearmed += 1
            except QuantError as exc:
                _log.warning("[%s] dead-man's switch not re-armed: %s", exc.reason_code, exc)
        if self.stream is None:
            self._inner.wait(timeout_s)
            return
        try:
            self.stream.pump(wait_s=timeout_s)
        except StreamLostError as lost:
            self.lost = lost
            _log.warning("[%s] %s: REST polling carries on", lost.reason_code, lost)
            self._inner.wait(timeout_s)
            return
        self.lost = None
        if self.stream.pending_executions:
            self.on_executions()
        self._market(self.stream)

    def _market(self, stream: KrakenStream) -> None:
        """Hand the market updates' count and the pairs' staleness to ``on_market``."""
        updates = stream.drain_market()
        self._books_seen.update(u.symbol for u in updates if u.channel == "book")
        stale = {
            instrument: symbol in self._books_seen and stream.stale(symbol)
            for symbol, instrument in self.markets.items()
        }
        self.on_market(len(updates), stale)

    def wake(self) -> None:
        """Cut the wait short."""
        self._inner.wake()


def _nothing() -> None:
    """No runtime bound yet."""


def _no_market(updates: int, stale: Mapping[Instrument, bool]) -> None:
    """No runtime bound yet."""


class LiveRefusedError(RejectedError, reason=livereasons.LIVE_NOT_CONFIRMED):
    """The live session was refused (the reason code says which condition failed)."""


@attrs.frozen
class LiveOptions:
    """What a live session trades, where, and on what evidence.

    Attributes:
        session: the session's options as ``quant paper`` takes them (``out`` is the live
            session's own directory).
        exchange_url: the exchange's root (Kraken's, or a fake's).
        paper_log: the paper session's decision log the evidence is read from.
        min_paper_cycles: paper cycles required (at least 1).
        dead_man_s: the dead-man's switch's timeout, seconds.
        refresh_s: how often the switch is re-armed, seconds.
        ws_url: the authenticated WebSocket (``executions``, ``balances``; and ``ticker``,
            ``book``, ``ohlc`` of the traded pairs) the venue drains and the runner waits
            on; ``None``: REST polling only.
        book_depth: the depth of the ``book`` subscription (its checksum marks a pair stale).
    """

    session: PaperOptions
    exchange_url: str = wire.BASE_URL
    paper_log: Path = Path("paper") / LOG_FILE
    min_paper_cycles: int = MIN_PAPER_CYCLES
    dead_man_s: int = 60
    refresh_s: int = 20
    ws_url: str | None = WS_AUTH_URL
    book_depth: int = 10


@attrs.frozen
class PaperEvidence:
    """The paper runs of one bundle and profile in a paper log.

    Attributes:
        runs: how many runs match.
        cycles: their cycles (distinct decision times), together.
        first_ns: when the first matching run started (``None``: no run).
    """

    runs: int
    cycles: int
    first_ns: int | None

    def to_json(self) -> dict[str, Any]:
        """The evidence as a JSON object."""
        return attrs.asdict(self)


def profile_hash(label: str) -> str:
    """The hash of the strategy and risk versions in a profile label (its last part).

    Args:
        label: a session's profile label (``"strategy v1 / risk v1 / sha256:…"``).

    Examples:
        >>> profile_hash("strategy v1 / risk v2 / sha256:ab")
        'sha256:ab'
    """
    return label.rsplit(" / ", 1)[-1]


def paper_evidence(log: Path, *, bundle_hash: str, profile: str) -> PaperEvidence:
    """The paper runs in ``log`` that served ``bundle_hash`` under the profile hash ``profile``.

    A missing log is no evidence. A run counts one cycle per distinct decision time.

    Args:
        log: the paper session's decision log.
        bundle_hash: the live bundle's hash.
        profile: the live profile's hash (:func:`profile_hash`).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the file is not a decision log.
    """
    if not log.exists():
        return PaperEvidence(0, 0, None)
    runs = cycles = 0
    first: int | None = None
    for run in read_log(log):
        header = run.session
        bundle = header.get("paper", {}).get("bundle", {})
        if header.get("live") is not None or bundle.get("bundle_hash") != bundle_hash:
            continue
        if profile_hash(str(header.get("profile", ""))) != profile:
            continue
        runs += 1
        cycles += len({d["ts_ns"] for d in run.decisions})
        started = header["paper"].get("started_ns")
        first = started if first is None else min(first, started)
    return PaperEvidence(runs, cycles, first)


def confirmation_phrase(fingerprint: str) -> str:
    """What the operator types to go live with the key ``fingerprint``.

    Args:
        fingerprint: the stored key's fingerprint.
    """
    return f"LIVE {fingerprint}"


@attrs.frozen
class LiveGate:
    """What passed the checks before the confirmation (what the operator confirms).

    Attributes:
        key: the stored, validated key.
        bundle: the active bundle, as :func:`serve_bundle` describes it.
        profile: the profile label.
        evidence: the paper evidence found.
        min_paper_cycles: the minimum it met.
    """

    key: StoredKey
    bundle: Mapping[str, Any]
    profile: str
    evidence: PaperEvidence
    min_paper_cycles: int

    @property
    def phrase(self) -> str:
        """The confirmation phrase for this key."""
        return confirmation_phrase(self.key.fingerprint)

    def audit_record(self) -> dict[str, Any]:
        """The audit line's data: fingerprint, exchange, bundle and profile hashes, evidence."""
        bundle = self.bundle
        return {
            "fingerprint": self.key.fingerprint,
            "exchange": self.key.base_url,
            "bundle_hash": bundle.get("bundle_hash"),
            "bundle_version": bundle.get("bundle_version"),
            "model_id": bundle.get("model_id"),
            "config_hash": bundle.get("config_hash"),
            "training_dataset_hash": bundle.get("training_dataset_hash"),
            "profile": self.profile,
            "profile_hash": profile_hash(self.profile),
            "paper": self.evidence.to_json(),
            "min_paper_cycles": self.min_paper_cycles,
        }


@attrs.frozen
class LiveSession:
    """A live session: the runtime, its venue and client, and what was confirmed.

    Attributes:
        runtime: the session (run it as a paper session is run).
        venue: the Kraken venue its orders go to.
        client: the private client under the venue.
        gate: what the operator confirmed.
    """

    runtime: TradingRuntime
    venue: KrakenVenue
    client: KrakenPrivateClient
    gate: LiveGate

    def close(self) -> None:
        """Close the stream, disarm the dead-man's switch, close the client (the venue's)."""
        waiter = self.runtime.waiter
        if isinstance(waiter, KeepAliveWaiter) and waiter.stream is not None:
            waiter.stream.close()
        self.venue.close()


def _refuse(code: str, message: str) -> LiveRefusedError:
    return LiveRefusedError(message, reason_code=code)


def _markets(
    instruments: tuple[Instrument, ...], quote: str
) -> tuple[dict[Instrument, str], dict[str, str], str]:
    """Kraken's pair names for the instruments, asset ids → our codes, the quote's asset id."""
    pairs: dict[Instrument, str] = {}
    assets: dict[str, str] = {}
    quote_id = quote
    for instrument in instruments:
        names = wire.pair_names(instrument.base, quote)
        pairs[instrument] = names.altname
        assets[names.base_id] = instrument.base
        assets[names.quote_id] = quote
        quote_id = names.quote_id
    return pairs, assets, quote_id


def open_live_session(
    options: LiveOptions,
    *,
    clock: Clock,
    confirm: Callable[[LiveGate], str],
    store: CredentialStore | None = None,
    waiter: Waiter | None = None,
    env: Mapping[str, str] | None = None,
) -> LiveSession:
    """Check, ask for the confirmation, audit it, and build the live session (module docs).

    Args:
        options: what to trade, where, on what evidence.
        clock: the wall clock.
        confirm: shows the gate to the operator and returns what they typed.
        store: the credential store (default: the OS's).
        waiter: how the runner waits between cycles.
        env: the settings' environment (default: the process environment over ``.env``).

    Raises:
        LiveRefusedError: a condition failed (``LIVE_BUNDLE_REQUIRED``,
            ``CREDENTIALS_MISSING``, ``LIVE_PAPER_MINIMUM``, ``LIVE_NOT_CONFIRMED``).
        CredentialsUnavailableError: no usable credential store.
        ProfileError, BundleRejectedError: as for a paper session.
    """
    session = options.session
    if options.min_paper_cycles < 1:
        raise _refuse(livereasons.LIVE_PAPER_MINIMUM, "the paper minimum is at least 1 cycle")
    served = serve_inputs(session, clock=clock, env=env)
    model = served.model
    if not model.get("active"):
        raise _refuse(
            livereasons.LIVE_BUNDLE_REQUIRED,
            f"no verified model bundle is active [{model.get('reason_code')}]: live trading "
            "needs one (`quant bundle status`)",
        )
    store = store if store is not None else CredentialStore()
    key = store.load(options.exchange_url)
    if key is None:
        raise _refuse(
            livereasons.CREDENTIALS_MISSING,
            f"no validated key for {options.exchange_url}: run `quant kraken connect`",
        )
    config = BacktestConfig.from_profiles(served.strategy, served.risk, seed=session.seed)
    label = config.profile_label()
    evidence = paper_evidence(
        options.paper_log, bundle_hash=str(model["bundle_hash"]), profile=profile_hash(label)
    )
    if evidence.cycles < options.min_paper_cycles:
        raise _refuse(
            livereasons.LIVE_PAPER_MINIMUM,
            f"{options.paper_log} holds {evidence.cycles} paper cycles of this bundle and "
            f"profile ({evidence.runs} runs); live needs {options.min_paper_cycles}: run "
            "`quant paper` with the same bundle and profile first",
        )
    gate = LiveGate(key, dict(model), label, evidence, options.min_paper_cycles)
    audit = AuditLog(session.out / AUDIT_FILE, clock)
    typed = confirm(gate).strip()
    if typed != gate.phrase:
        audit.append("live.refused", {**gate.audit_record(), "actor": LIVE_ACTOR,
                                      "reason_code": livereasons.LIVE_NOT_CONFIRMED})  # fmt: skip
        raise _refuse(
            livereasons.LIVE_NOT_CONFIRMED,
            f"the confirmation was not typed exactly ({gate.phrase!r}): nothing was traded",
        )
    audit.append("live.confirmed", {**gate.audit_record(), "actor": LIVE_ACTOR})
    settings_dir = app_config.data_dir(served.settings) / STATE_DIR
    client = open_client(
        key.credentials, options.exchange_url, clock=clock, state_dir=settings_dir,
        seed=session.seed,
    )  # fmt: skip
    try:
        runtime, venue = _runtime(options, gate, client, clock, config, audit, waiter, served)
    except BaseException:
        client.close()
        raise
    return LiveSession(runtime, venue, client, gate)


def _runtime(
    options: LiveOptions,
    gate: LiveGate,
    client: KrakenPrivateClient,
    clock: Clock,
    config: BacktestConfig,
    audit: AuditLog,
    waiter: Waiter | None,
    served: ServedInputs,
) -> tuple[TradingRuntime, KrakenVenue]:
    """The paper session's runtime, its ledger at the account's cash, on the Kraken venue."""
    session = options.session
    store = open_store(session.database_url, served.settings, clock)
    source = make_provider(session.provider, served.settings, clock, session.seed)
    symbols, quote, timeframe = list(session.symbols), session.quote, session.timeframe
    feed = StoreFeed(store, symbols, quote, timeframe, prefer=[source.name])
    pairs, assets, quote_id = _markets(feed.instruments, quote)
    cash = client.balance().get(quote_id, Decimal(0))
    config = attrs.evolve(config, initial_cash=cash)
    writer, carry, run = open_run_log(session, audit, gate.bundle, clock=clock)
    header = {
        "paper": run,  # a restart: reconciled with the venue on start
        "live": {"exchange": options.exchange_url, "fingerprint": gate.key.fingerprint},
    }
    load_bundle = context_checked(
        functools.partial(
            serve_active_bundle, served.bundle_root, session.keys, require=served.require,
            clock=clock,
        ),
        session.symbols,
    )  # fmt: skip
    venues: list[KrakenVenue] = []
    stream = None
    markets = {f"{i.base}/{quote}": i for i in feed.instruments}  # Kraken's v2 symbols
    if options.ws_url is not None:
        stream = KrakenStream(
            options.ws_url, clock=clock, seed=session.seed,
            token=lambda: client.get_websockets_token().token,
            on_reconnect=lambda: venues[0].request_reconcile(),  # a flag: safe inside a poll
            symbols=list(markets), ticker=True, book_depth=options.book_depth,
            ohlc_interval=feed.timeframe.ns // (60 * NS_PER_SECOND),
        )  # fmt: skip
    keep_alive = KeepAliveWaiter(
        waiter if waiter is not None else EventWaiter(), client, clock,
        dead_man_s=options.dead_man_s, refresh_s=options.refresh_s, stream=stream,
        markets=markets,
    )  # fmt: skip

    def kraken(engine_clock: SimClock) -> KrakenVenue:
        venues.append(KrakenVenue(
            client, clock=engine_clock, pairs=pairs, assets=assets,
            dead_man_s=options.dead_man_s, refresh_s=options.refresh_s,
            executions=None if stream is None else stream.drain_executions,
        ))  # fmt: skip
        return venues[0]

    runtime = TradingRuntime(
        feed=feed,
        sync=ProviderSync(store, source, symbols, quote, timeframe),
        clock=clock,
        predictor=served.predictor,
        config=config,
        writer=writer,
        header=header,
        bundle=gate.bundle,
        load_bundle=load_bundle,
        profile_file=session.profile,
        halt_file=session.halt_file or session.out / HALT_FILE,
        audit=audit,
        waiter=keep_alive,
        venue=kraken,
        mode=Mode.LIVE,
        carry=carry,
        stream_state=keep_alive.stream_state,
    )  # fmt: skip
    keep_alive.on_executions = runtime.poll_venue
    keep_alive.on_market = runtime.on_market
    return runtime, venues[0]

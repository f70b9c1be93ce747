"""``quant paper``: a paper-trading session on live bars, through the backtest's code path.

``quant paper --provider kraken --symbols BTC,ETH --out DIR`` activates the model bundle (only
through :func:`quant_apps.runtime.serve_bundle`), opens the store as ``quant data`` does,
loads the bars the predictor's features look back on from the store (backfilling them when
the store lacks them) into a
:class:`quant_exec.session.TradingSession` as history, and then runs cycles:

1. apply risk changes at once, through
   :meth:`~quant_exec.session.TradingSession.on_risk_change`: with ``--profile``, an edit of
   the profile file becomes new governed profile versions (:class:`ProfileWatcher`,
   attributed to ``profile-file``; a file that fails validation is refused and the last good
   profiles stay active); and while the halt file (``--halt-file``, default ``DIR/HALT``)
   exists, the session's kill switch is engaged (no new risk, working buys pulled; the
   file's first line is the reason), and it is released when the file is removed;
2. sync the newly closed candles of every symbol into the store
   (:func:`quant_data.sync.sync`);
3. hand the bars not seen yet to :meth:`~quant_exec.session.TradingSession.on_bars`, one close
   time at a time, with ``now_ns`` the wall-clock time they were observed, or, when no bar
   closed, call :meth:`~quant_exec.session.TradingSession.heartbeat`;
4. append the new decision, order event and risk lines to ``DIR/decisions.jsonl`` (written,
   flushed and fsynced before the cycle's summary line is printed);
5. sleep until the next bar close plus a small grace (``--cycles N`` stops after N cycles).

The strategy, the risk gates, the :class:`~quant_exec.venues.PaperBroker` (fees, slippage,
partial fills, latency on the session clock) and the ledger are exactly those of
``quant backtest``: only the clock differs (it is moved to when each bar was seen).

The decision log file is append-only and holds one *segment* per run: a session header line
naming the run (``paper.run``, counted from 1 in the file) followed by that run's decision
and order event lines. A restart never rewrites or repeats earlier lines: it starts a fresh
session (fresh ledger, fresh strategy memory) under a new header. A line torn by a crash
mid-write is cut off when the next run starts. :func:`quant_exec.decisions.read_log` reads
the segments back; each one is a valid decision log on its own
(:func:`quant_exec.decisions.read_decision_log`), and its log hash is the hash of its bytes.
Ctrl-C ends the session after the current step: the log stays intact and the final summary
is printed.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from quant_exec import DecisionLog, read_log
    >>> path = Path(tempfile.mkdtemp()) / "decisions.jsonl"
    >>> writer = PaperLogWriter(path)
    >>> writer.next_run
    1
    >>> writer.flush(DecisionLog({"paper": {"run": 1}}))
    1
    >>> [run.session["paper"]["run"] for run in read_log(path)]
    [1]
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, BinaryIO, TypeVar

import attrs
import typer

from quant_apps import config, runtime
from quant_apps.clock import WallClock
from quant_apps.output import emit_json, guarded, human
from quant_core import (
    AuditLog,
    Bar,
    Clock,
    Instrument,
    Predictor,
    ProfileHistory,
    ProfileVersion,
    QuantError,
    QuantUsageError,
    RejectedError,
    RiskProfile,
    SimClock,
    StrategyProfile,
    Timeframe,
    bytes_hash,
    ns_to_iso,
    unstructure,
)
from quant_core import reasons as core_reasons
from quant_data.backfill import backfill
from quant_data.records import OhlcvProvider
from quant_data.store import Store
from quant_data.sync import sync
from quant_exec import BacktestConfig, DecisionLog, TradingSession, read_log
from quant_exec.risk import KillSwitch

__all__ = [
    "AUDIT_FILE",
    "GRACE_S",
    "HALT_ACTOR",
    "HALT_FILE",
    "LOG_FILE",
    "CycleReport",
    "PaperLogWriter",
    "PaperSession",
    "ProfileUpdate",
    "ProfileWatcher",
    "register",
    "run",
    "warm_bars_needed",
]

LOG_FILE = "decisions.jsonl"
"""The decision log inside ``--out``."""
AUDIT_FILE = "audit.jsonl"
"""The hash-chained audit log inside ``--out`` (kill-switch engages and releases)."""
HALT_FILE = "HALT"
"""The default halt file inside ``--out``: while it exists, the kill switch is engaged."""
HALT_ACTOR = "halt-file"
"""Who engages and releases the kill switch on the halt file's behalf."""
GRACE_S = 2.0
"""Seconds after a bar's close before the next cycle asks for it (providers publish late)."""
P = TypeVar("P", StrategyProfile, RiskProfile)


class PaperLogWriter:
    """Appends a session's decision lines to the paper log, segment by segment.

    Opening it cuts a torn last line (a crash mid-write) and checks the rest with
    :func:`quant_exec.decisions.read_log`; :meth:`flush` appends the lines a session's log
    gained since its last flush (then flushes and fsyncs the file): the first flush of a log
    begins its segment.

    Args:
        path: the log file (created with its directory if missing).

    Raises:
        ValidationError: ``DECISION_LOG_INVALID`` when the existing file is not a paper log.
    """

    def __init__(self, path: Path) -> None:
        """Open ``path`` for appending (see the class docs)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.torn_bytes = 0
        data = path.read_bytes() if path.exists() else b""
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            self.torn_bytes = len(data) - keep
            with path.open("r+b") as fh:
                fh.truncate(keep)
        self.next_run = len(read_log(path)) + 1 if keep else 1
        self._log: DecisionLog | None = None
        self._written = 0

    def flush(self, log: DecisionLog) -> int:
        """Append what ``log`` gained since its last flush; return its segment's line count."""
        if log is not self._log:
            self._log, self._written = log, 0
        data = log.to_bytes()
        if len(data) > self._written:
            with self.path.open("ab") as fh:
                _append(fh, data[self._written :])
            self._written = len(data)
        return data.count(b"\n")


def _append(fh: BinaryIO, data: bytes) -> None:
    fh.write(data)
    fh.flush()
    os.fsync(fh.fileno())


def warm_bars_needed(predictor: Predictor) -> int:
    """Bars of history per instrument the predictor needs before it predicts (at least 1).

    A :class:`quant_models.predictor.ModelSetPredictor` (or a wrapper exposing one as
    ``active.predictor``) predicts a coin once it has more than its feature warm-up bars.

    Examples:
        >>> from quant_apps.runtime import NoModel
        >>> warm_bars_needed(NoModel("BUNDLE_MISSING"))
        1
    """
    from quant_models.predictor import ModelSetPredictor

    inner = getattr(getattr(predictor, "active", None), "predictor", predictor)
    if isinstance(inner, ModelSetPredictor):
        warmup = inner.model_set.feature_config.warmup
        return max(inner.lookback_bars, warmup) + 1
    return 1


@attrs.frozen
class CycleReport:
    """What one cycle did.

    Attributes:
        cycle: the cycle number, from 1.
        now_ns: the wall-clock time the cycle observed its bars (UTC ns).
        bars: bars handed to the session.
        decisions: decisions logged.
        fills: fills booked.
        portfolio_value: the portfolio value after the cycle (quote currency).
        heartbeat: whether the cycle was a liveness heartbeat (no new bar).
        synced: bars the sync added to the store.
        profile: the new profile label when the cycle applied an edited profile file, or why
            the edit was refused (``"refused [REASON_CODE]: …"``); empty otherwise.
        kill_switch: ``"engaged: <reason>"`` or ``"released"`` when the cycle changed the
            kill switch (the halt file appeared or went); empty otherwise.
    """

    cycle: int
    now_ns: int
    bars: int
    decisions: int
    fills: int
    portfolio_value: Decimal
    heartbeat: bool
    synced: int
    profile: str = ""
    kill_switch: str = ""

    def line(self) -> str:
        """The one-line human summary."""
        kind = "heartbeat" if self.heartbeat else f"{self.bars} bars"
        change = f", profile {self.profile}" if self.profile else ""
        change += f", kill switch {self.kill_switch}" if self.kill_switch else ""
        return (
            f"cycle {self.cycle} {ns_to_iso(self.now_ns)}: {kind}, {self.decisions} decisions, "
            f"{self.fills} fills, PV {self.portfolio_value}{change}"
        )

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON data (the PV as its decimal string)."""
        doc = attrs.asdict(self)
        doc["portfolio_value"] = str(self.portfolio_value)
        return doc


@attrs.frozen
class ProfileUpdate:
    """What :meth:`ProfileWatcher.poll` found.

    Attributes:
        strategy: the new strategy profile version, when its values changed.
        risk: the new risk profile version, when its values changed.
        refused: why an edited file was refused (``"[REASON_CODE] message"``), else empty.
    """

    strategy: ProfileVersion[StrategyProfile] | None = None
    risk: ProfileVersion[RiskProfile] | None = None
    refused: str = ""


class ProfileWatcher:
    r"""Turns edits of a profile file into new governed profile versions, between cycles.

    The session starts on the file's profiles (version 1 of each). Each :meth:`poll` reads
    the file: unchanged bytes give nothing; changed bytes are validated as ``quant backtest
    --profile`` validates them, and the parameters that differ become the next version of
    their profile. The new version is attributed to ``profile-file``, gives the file's new
    hash as its reason, is stamped by ``clock`` and carries its diff. Both profiles are
    checked before either changes. A file that fails validation is refused as a whole, the
    last good versions stay active, and the same bytes are not reported again.

    Args:
        path: the profile file.
        config: the session's configuration (its active versions are the starting point).
        clock: stamps the new versions.

    Examples:
        >>> import tempfile
        >>> from quant_core import SimClock
        >>> path = Path(tempfile.mkdtemp()) / "profile.toml"
        >>> _ = path.write_text("[risk]\nmax_concurrent_positions = 3\n", encoding="utf-8")
        >>> config = BacktestConfig.from_profiles(StrategyProfile(), RiskProfile())
        >>> watcher = ProfileWatcher(path, config, SimClock(5))
        >>> watcher.poll() == ProfileUpdate()
        True
        >>> _ = path.write_text("[risk]\nmax_concurrent_positions = 2\n", encoding="utf-8")
        >>> update = watcher.poll()
        >>> update.strategy, update.risk.version, update.risk.author
        (None, 2, 'profile-file')
        >>> _ = path.write_text("[risk]\nmax_concurrent_positions = -1\n", encoding="utf-8")
        >>> watcher.poll().refused.split("]")[0]
        '[PROFILE_OUT_OF_BOUNDS'
    """

    AUTHOR = "profile-file"

    def __init__(self, path: Path, config: BacktestConfig, clock: Clock) -> None:
        """Start from ``config``'s active versions and the file's current bytes."""
        self.path, self.clock = path, clock
        self.strategy: ProfileHistory[StrategyProfile] = ProfileHistory((config.strategy,))
        self.risk: ProfileHistory[RiskProfile] = ProfileHistory((config.risk,))
        self._seen = self._digest()

    def _digest(self) -> str:
        try:
            return bytes_hash(self.path.read_bytes())
        except OSError as exc:
            return f"unreadable: {exc}"

    def poll(self) -> ProfileUpdate:
        """New versions for what the file changed since the last poll (see the class docs)."""
        from quant_apps.backtest import load_profiles

        digest = self._digest()
        if digest == self._seen:
            return ProfileUpdate()
        self._seen = digest
        try:
            strategy, risk = load_profiles(self.path)
            reason = f"{self.path.name} changed ({digest})"
            new_strategy = _next(self.strategy, strategy, reason, self.clock)
            new_risk = _next(self.risk, risk, reason, self.clock)
        except QuantError as exc:
            return ProfileUpdate(refused=f"[{exc.reason_code}] {exc.message}")
        update = ProfileUpdate(
            strategy=new_strategy.active if new_strategy is not self.strategy else None,
            risk=new_risk.active if new_risk is not self.risk else None,
        )
        self.strategy, self.risk = new_strategy, new_risk
        return update


def _next(history: ProfileHistory[P], profile: P, reason: str, clock: Clock) -> ProfileHistory[P]:
    """``history`` with ``profile``'s differing values as its next version (itself if none)."""
    old, new = unstructure(history.active.profile), unstructure(profile)
    changes = {name: new[name] for name in new if new[name] != old[name]}
    if not changes:
        return history
    return history.change(changes, author=ProfileWatcher.AUTHOR, reason=reason, clock=clock)


class PaperSession:
    """The paper-trading loop around one :class:`~quant_exec.session.TradingSession`.

    Args:
        store: the market-data store.
        provider: where new candles come from.
        clock: the wall clock (the store's and provider's clock too).
        symbols: base assets.
        quote: the quote currency.
        timeframe: the bar length.
        predictor: the model's predictor.
        config: profiles, cash, fees, latency, venue rules.
        writer: the decision log file.
        header: extra session-header keys (the run's identity).
        profile_file: the ``--profile`` file to watch for edits (``None``: profiles fixed).
        halt_file: while this file exists the kill switch is engaged (``None``: never).
        audit: the hash-chained audit log that records every engage and release.
    """

    def __init__(
        self,
        *,
        store: Store,
        provider: OhlcvProvider,
        clock: Clock,
        symbols: Sequence[str],
        quote: str,
        timeframe: Timeframe,
        predictor: Predictor,
        config: BacktestConfig,
        writer: PaperLogWriter,
        header: Mapping[str, Any],
        profile_file: Path | None = None,
        halt_file: Path | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        """Build the engine session on a clock that starts at ``clock``'s now."""
        self.store, self.provider, self.clock = store, provider, clock
        self.symbols, self.quote, self.timeframe = list(symbols), quote, timeframe
        self.instruments = [Instrument(s, quote) for s in self.symbols]
        self._now = clock.now_ns()
        self.kill_switch = KillSwitch(clock, audit)
        self.engine = TradingSession(
            self.instruments,
            timeframe,
            predictor,
            config,
            clock=SimClock(self._now),
            kill_switch=self.kill_switch,
            header=header,
        )
        self.writer, self.header = writer, header
        self.watcher = ProfileWatcher(profile_file, config, clock) if profile_file else None
        self.halt_file = halt_file
        writer.flush(self.engine.log)
        self.need = warm_bars_needed(predictor)
        self.seen: dict[Instrument, int] = {}
        self.cycles: list[CycleReport] = []
        self.backfilled = 0

    def _now_ns(self) -> int:
        """The wall clock, never behind what the session already saw."""
        self._now = max(self._now, self.clock.now_ns())
        return self._now

    def _bars(self, start_ns: int, end_ns: int) -> list[Bar]:
        if end_ns <= start_ns:
            return []
        try:
            dataset = self.store.materialize(
                self.symbols,
                self.quote,
                self.timeframe.value,
                start_ns,
                end_ns,
                prefer=[self.provider.name],
            )
        except RejectedError:  # STORE_NO_DATA: nothing in the window
            return []
        return sorted(dataset.bars(), key=lambda b: (b.open_time_ns, b.instrument.base))

    def warm_up(self) -> int:
        """Load the history the predictor needs (backfilling it if missing); return its bars."""
        step = self.timeframe.ns
        end = self.timeframe.floor(self._now_ns())
        start = end - self.need * step
        bars = self._bars(start, end)
        if any(sum(b.instrument == i for b in bars) < self.need for i in self.instruments):
            report = backfill(
                self.store,
                self.provider,
                symbols=self.symbols,
                quote=self.quote,
                timeframe=self.timeframe.value,
                start_ns=start,
                end_ns=end,
            )
            self.backfilled = sum(s.bars_new for s in report.series)
            bars = self._bars(start, end)
        self.engine.warm(bars)
        for bar in bars:
            self.seen[bar.instrument] = bar.open_time_ns
        return len(bars)

    def cycle(self) -> CycleReport:
        """Sync, hand the new bars to the engine (or heartbeat), append the decisions."""
        engine = self.engine
        step = self.timeframe.ns
        before_decisions, before_fills = len(engine.log), len(engine.fills)
        profile, halt = self._risk_changes()
        report = sync(
            self.store,
            self.provider,
            symbols=self.symbols,
            quote=self.quote,
            timeframe=self.timeframe.value,
            start_ns=self.timeframe.floor(self._now),
        )
        now = self._now_ns()
        first = min(self.seen.values(), default=self.timeframe.floor(now) - step) + step
        fresh = [
            b
            for b in self._bars(first, self.timeframe.floor(now))
            if b.open_time_ns > self.seen.get(b.instrument, -1)
        ]
        groups: dict[int, list[Bar]] = {}
        for bar in fresh:
            groups.setdefault(bar.open_time_ns, []).append(bar)
        for open_ns in sorted(groups):
            group = groups[open_ns]
            engine.on_bars(group, now_ns=max(now, open_ns + step))
            for bar in group:
                self.seen[bar.instrument] = open_ns
        if not groups:
            engine.heartbeat(now)
        self.writer.flush(engine.log)
        result = CycleReport(
            cycle=len(self.cycles) + 1,
            now_ns=now,
            bars=len(fresh),
            decisions=len(engine.log) - before_decisions,
            fills=len(engine.fills) - before_fills,
            portfolio_value=engine.ledger.valuation()[2],
            heartbeat=not groups,
            synced=sum(s.bars_new for s in report.series),
            profile=profile,
            kill_switch=halt,
        )
        self.cycles.append(result)
        return result

    def _risk_changes(self) -> tuple[str, str]:
        """Apply a profile file edit and a halt file change at once; what the report says."""
        update = self.watcher.poll() if self.watcher is not None else ProfileUpdate()
        halt = self._halt()
        changed = update.strategy is not None or update.risk is not None
        if changed or halt:
            self.engine.on_risk_change(self._now_ns(), strategy=update.strategy, risk=update.risk)
        profile = self.engine.label if changed else ""
        return (f"refused {update.refused}" if update.refused else profile), halt

    def _halt(self) -> str:
        """Engage or release the kill switch to match the halt file; what changed, if any."""
        if self.halt_file is None:
            return ""
        switch = self.kill_switch
        try:
            text = self.halt_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            if switch.release("halt file removed", actor=HALT_ACTOR) is None:
                return ""
            return "released"
        except OSError as exc:  # there but unreadable: halting is the safe reading
            text = f"unreadable halt file: {exc.strerror}"
        reason = (text.strip().splitlines() or ["halt file present"])[0][:200]
        if switch.engage(reason, actor=HALT_ACTOR) is None:
            return ""
        return f"engaged: {reason}"

    def sleep_s(self) -> float:
        """Seconds until the next bar close plus :data:`GRACE_S`."""
        now = self.clock.now_ns()
        next_close = self.timeframe.floor(now) + self.timeframe.ns
        return max(0.0, (next_close - now) / 1e9) + GRACE_S

    def summary(self, *, interrupted: bool) -> dict[str, Any]:
        """The final summary: totals, the run's log hash and its metrics."""
        engine = self.engine
        self.writer.flush(engine.log)
        snapshot = engine.ledger.snapshot()
        return {
            "ok": True,
            "interrupted": interrupted,
            "run": self.header.get("paper", {}).get("run"),
            "kill_switch": [r.to_audit() for r in self.kill_switch.records],
            "log": str(self.writer.path),
            "log_hash": engine.log.log_hash(),
            "model_id": engine.session["model_id"],
            "cycles": [c.to_dict() for c in self.cycles],
            "bars": engine.bars_seen,
            "decisions": len(engine.log),
            "fills": len(engine.fills),
            "portfolio_value": str(snapshot.portfolio_value),
            "cash": str(snapshot.cash),
            "open_positions": snapshot.open_positions,
            "reason_counts": engine.log.reason_counts(),
            "backfilled": self.backfilled,
        }


def run(
    session: PaperSession,
    *,
    cycles: int,
    on_cycle: Callable[[CycleReport], None],
) -> dict[str, Any]:
    """Run ``cycles`` cycles (0: until interrupted), sleeping between them; return the summary.

    A :class:`KeyboardInterrupt` (Ctrl-C) during a cycle or a sleep ends the loop cleanly: the
    lines logged so far are flushed and the summary says ``interrupted``.
    """
    interrupted = False
    try:
        while True:
            on_cycle(session.cycle())
            if cycles and len(session.cycles) >= cycles:
                break
            time.sleep(session.sleep_s())
    except KeyboardInterrupt:
        interrupted = True
    return session.summary(interrupted=interrupted)


def register(app: typer.Typer) -> None:
    """Add the ``paper`` command to ``app``."""

    @app.command("paper")
    @guarded()
    def paper(
        provider: Annotated[
            str, typer.Option("--provider", help="kraken or coinapi: where live bars come from.")
        ],
        symbols: Annotated[str, typer.Option("--symbols", help="Comma-separated base assets.")],
        quote: Annotated[str, typer.Option("--quote", help="Quote currency.")] = "USD",
        timeframe: Annotated[str, typer.Option("--timeframe", help="Bar length.")] = "1h",
        bundle: Annotated[
            Path | None,
            typer.Option("--bundle", help="A signed bundle release (default: the shipped one)."),
        ] = None,
        keys: Annotated[
            Path | None,
            typer.Option("--keys", help="Trusted public keys (default: the shipped ones)."),
        ] = None,
        profile: Annotated[
            Path | None,
            typer.Option("--profile", help="JSON/TOML file with 'strategy' and 'risk' tables."),
        ] = None,
        cycles: Annotated[
            int, typer.Option("--cycles", min=0, help="Stop after this many cycles (0: never).")
        ] = 0,
        out: Annotated[Path, typer.Option("--out", help="Directory of the decision log.")] = Path(
            "paper"
        ),
        halt_file: Annotated[
            Path | None,
            typer.Option(
                "--halt-file",
                help="While this file exists the kill switch is engaged: no new risk, working "
                "buys pulled (default: DIR/HALT).",
            ),
        ] = None,
        seed: Annotated[int, typer.Option("--seed", help="Broker and retry seed.")] = 0,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Store URL (default: settings).")
        ] = None,
        json_output: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    ) -> None:
        """Paper-trade live bars through the backtest's strategy, risk and broker code."""
        from quant_apps.backtest import load_profiles
        from quant_apps.bundle import require_bundle
        from quant_apps.data import make_provider, open_store

        name = provider.strip().lower()
        if name not in ("kraken", "coinapi"):
            raise QuantUsageError(
                f"unknown provider {provider!r} (kraken or coinapi)",
                reason_code=core_reasons.USAGE_ERROR,
            )
        try:
            tf = Timeframe(timeframe)
        except ValueError:
            raise QuantUsageError(
                f"unknown timeframe {timeframe!r}", reason_code=core_reasons.USAGE_ERROR
            ) from None
        wanted = sorted(config.symbol_list(symbols))
        strategy, risk = load_profiles(profile) if profile else (StrategyProfile(), RiskProfile())
        settings = config.load_settings()
        clock = WallClock()
        predictor, model = runtime.serve_bundle(
            config.data_dir(settings) / "bundles",
            bundle,
            keys,
            require=require_bundle(),
            clock=clock,
        )
        store = open_store(database_url, settings, clock)
        source = make_provider(name, settings, clock, seed)
        writer = PaperLogWriter(out / LOG_FILE)
        header = {
            "paper": {
                "run": writer.next_run,
                "started_ns": clock.now_ns(),
                "provider": name,
                "bundle": model,
            }
        }
        session = PaperSession(
            store=store,
            provider=source,
            clock=clock,
            symbols=wanted,
            quote=quote.upper(),
            timeframe=tf,
            predictor=predictor,
            config=BacktestConfig.from_profiles(strategy, risk, seed=seed),
            writer=writer,
            header=header,
            profile_file=profile,
            halt_file=halt_file or out / HALT_FILE,
            audit=AuditLog(out / AUDIT_FILE, clock),
        )
        console = human()
        if not model["active"]:
            console.print(f"no model bundle active [{model['reason_code']}]", markup=False)
        warm = session.warm_up()
        console.print(
            f"paper run {writer.next_run}: {', '.join(wanted)} {quote.upper()} {tf.value}, "
            f"{warm} history bars, log {writer.path}",
            markup=False,
        )

        def print_cycle(report: CycleReport) -> None:
            console.print(report.line(), markup=False)

        document = run(session, cycles=cycles, on_cycle=print_cycle)
        document["bundle"] = model
        document["torn_bytes_cut"] = writer.torn_bytes
        if json_output:
            emit_json(document)
            return
        if document["interrupted"]:
            console.print("interrupted: the log is intact", markup=False)
        console.print(
            f"{document['bars']} bars, {document['decisions']} decisions, {document['fills']} "
            f"fills, PV {document['portfolio_value']}",
            markup=False,
        )
        console.print(f"log hash (run {document['run']}): {document['log_hash']}", markup=False)

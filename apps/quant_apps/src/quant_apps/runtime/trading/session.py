"""The trading runtime: one session's engine, kill switch, profiles, log and read model.

A :class:`TradingRuntime` owns a trading session: its clock, its :class:`BarFeed`, the
predictor, the :class:`quant_exec.TradingSession` (strategy, risk gates, paper venue and
ledger are exactly the backtest's; only the clock differs: it is moved to when each bar was
seen), the kill switch, the profile versions, the decision log file and the read model. It
never imports the CLI: ``quant paper`` drives it, and so can a service.

**Commands** (:meth:`~TradingRuntime.halt`, :meth:`~TradingRuntime.resume`,
:meth:`~TradingRuntime.apply_profile`, :meth:`~TradingRuntime.reload_bundle`,
:meth:`~TradingRuntime.stop`) may come from any thread: each is queued and wakes the runner,
which applies it at once, whatever the bar length. While it waits for the next bar close the
runner also looks at the halt file and the profile file at least every :data:`POLL_S`
seconds. A kill-switch or profile change goes to the engine at once
(:meth:`quant_exec.TradingSession.on_risk_change`: a risk line, working orders pulled on an
engage and verified against the venue's open orders, every instrument re-evaluated) and the
log is flushed.

**The loop** (:meth:`~TradingRuntime.run`) runs cycles:

1. apply the queued commands and the watched files' changes (see above);
2. sync the newly closed candles into the store (:class:`ProviderSync`);
3. hand the bars the feed has not handed out yet to the engine, one close time at a time,
   with ``now_ns`` the time they were observed, or, when no bar closed, a heartbeat;
4. append the new lines to the decision log (flushed and fsynced) and publish the read model;
5. wait until the next bar close plus :data:`GRACE_S`, waking for commands.

**The read model** (:meth:`~TradingRuntime.read_model`) is the last published
:class:`~quant_apps.runtime.trading.readmodel.ReadModel`, a frozen value readers take without
touching the engine; listeners (:meth:`~TradingRuntime.listen`) hear each
:class:`~quant_apps.runtime.trading.readmodel.Publication` (the model and the lines it added).
:meth:`~TradingRuntime.submit` returns a command's ticket, resolved with its
:class:`~quant_apps.runtime.trading.commands.CommandOutcome` once applied and on disk. Profile
versions (applied or refused) and bundle reloads are audited with the kill switch.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from quant_apps.runtime.operator import controlreasons
from quant_apps.runtime.trading.commands import (
    Command,
    CommandKind,
    CommandOutcome,
    CycleReport,
    EventWaiter,
    Waiter,
    answer_profile,
)
from quant_apps.runtime.trading.feed import BarFeed, ProviderSync, warm_bars_needed
from quant_apps.runtime.trading.paperlog import PaperLogWriter, read_halt_file
from quant_apps.runtime.trading.profiles import FILE_AUTHOR, ProfileBook, ProfileUpdate
from quant_apps.runtime.trading.readmodel import Health, Mode, Publication, ReadModel
from quant_apps.runtime.trading.views import ChartBook, read_model, run_summary
from quant_core import Bar, Clock, Instrument, SimClock, unstructure
from quant_core.audit import AuditLog
from quant_core.errors import QuantError, QuantUsageError
from quant_core.events import Predictor
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_exec import BacktestConfig, KillSwitch, TradingSession, reasons
from quant_exec.session import CarryOver, Reconciliation
from quant_exec.venues import ExecutionVenue

__all__ = [
    "GRACE_S",
    "HALT_ACTOR",
    "MARKET_MIN_S",
    "POLL_S",
    "BundleLoader",
    "Listener",
    "TradingRuntime",
]

GRACE_S = 2.0
"""Seconds after a bar's close before the next cycle asks for it (providers publish late)."""
POLL_S = 1.0
"""The longest the runner waits before it looks at its commands and watched files again."""
MARKET_MIN_S = 60.0
"""The shortest time between two cycles a market update brings forward (a rate bound)."""
HALT_ACTOR = "halt-file"
"""Who engages and releases the kill switch on the halt file's behalf."""
RECENT = 50
"""How many recent decisions the read model carries."""

BundleLoader = Callable[[], tuple[Predictor, Mapping[str, Any]]]
"""Activates the bundle to serve: ``(predictor, about)`` as :func:`serve_bundle` returns."""
_Answers = list[Callable[[], None]]  # a service's answers, given once all is on disk
_IGNORE: Callable[[str], None] = lambda _: None  # noqa: E731  # hears nothing
Listener = Callable[[Publication], None]
"""Told, in the runner's thread, what each publish added (see :meth:`TradingRuntime.listen`)."""


class TradingRuntime:
    """One trading session with its commands and read model (see the module docs).

    Args:
        feed: closed bars (history and new ones).
        clock: the wall clock (the store's and provider's clock too).
        predictor: the model's predictor.
        config: profiles, cash, fees, latency, venue rules.
        writer: the decision log file.
        header: extra session-header keys (the run's identity).
        sync: moves new candles into the store before the feed is polled (``None``: the
            feed's store is filled by someone else).
        bundle: what to report about the active bundle (as :func:`serve_bundle` describes it).
        load_bundle: activates the bundle again for :meth:`reload_bundle` (``None``: fixed).
        profile_file: the profile file to watch for edits (``None``: no file).
        halt_file: while this file exists the kill switch is engaged (``None``: never).
        audit: the hash-chained audit log that records every engage and release, every
            profile version applied or refused and every bundle reload.
        waiter: how the runner waits between cycles (default: an :class:`EventWaiter`).
        venue: builds where the session's orders go, given the engine's clock (its event
            times); ``None``: the paper broker built from ``config``.
        mode: how the session trades (``Mode.LIVE`` with a real exchange's venue).
        stream_state: the reason code of what ails the exchange's live stream (``None``:
            healthy); no callable: there is no stream.
        carry: the previous run's books and unfinished orders (a restart), reconciled with
            the venue by :meth:`start`.
    """

    def __init__(
        self,
        *,
        feed: BarFeed,
        clock: Clock,
        predictor: Predictor,
        config: BacktestConfig,
        writer: PaperLogWriter,
        header: Mapping[str, Any],
        sync: ProviderSync | None = None,
        bundle: Mapping[str, Any] | None = None,
        load_bundle: BundleLoader | None = None,
        profile_file: Path | None = None,
        halt_file: Path | None = None,
        audit: AuditLog | None = None,
        waiter: Waiter | None = None,
        venue: Callable[[SimClock], ExecutionVenue] | None = None,
        mode: Mode = Mode.PAPER,
        carry: CarryOver | None = None,
        stream_state: Callable[[], str | None] | None = None,
    ) -> None:
        """Build the engine session on a clock that starts at ``clock``'s now."""
        self.feed, self.sync, self.clock, self.mode = feed, sync, clock, mode
        self.stream_state: Callable[[], str | None] = stream_state or (lambda: None)
        self.timeframe = feed.timeframe
        self._now = clock.now_ns()
        self.kill_switch, self.audit = KillSwitch(clock, audit), audit
        engine_clock = SimClock(self._now)
        self.engine = TradingSession(
            feed.instruments,
            self.timeframe,
            predictor,
            config,
            venue=None if venue is None else venue(engine_clock),
            clock=engine_clock,
            kill_switch=self.kill_switch,
            header=header,
            carry=carry,
            journal=self._journal,  # an intent is on disk before its order is sent
        )
        self.writer, self.header = writer, header
        self.reconciliation = Reconciliation()
        self.bundle: Mapping[str, Any] = dict(bundle or {"active": False})
        self._load_bundle = load_bundle
        self.profiles = ProfileBook(config, clock, path=profile_file)
        self.halt_file = halt_file
        self._halt_seen = False
        self.waiter: Waiter = waiter if waiter is not None else EventWaiter()
        self._commands: queue.SimpleQueue[Command] = queue.SimpleQueue()
        self._notes: dict[str, list[str]] = {"profile": [], "kill_switch": []}
        self._on_change: Callable[[str], None] = _IGNORE
        self._told: list[str] = []
        self.stopping = False
        self._market_due = False  # a market update brought the next cycle forward
        self._market_next_ns = 0  # not before this (the rate bound, MARKET_MIN_S)
        self.health = Health.STARTING
        writer.flush(self.engine.log)
        self.need = warm_bars_needed(predictor)
        self.cycles: list[CycleReport] = []
        self.backfilled = 0
        self._listeners: list[Listener] = []
        self._posting = threading.Lock()
        self._charts = ChartBook(self.timeframe)
        self._sent = (0, 0, 0)  # decisions, fills and risk lines already published
        self._published = self._make_read_model()

    # --- commands (any thread) ------------------------------------------------------------

    def submit(self, command: Command) -> Future[CommandOutcome]:
        """Queue ``command`` and wake the runner; its ticket (see the module docs)."""
        with self._posting:  # never queued after the final drain: refused there or here
            if self.health is Health.STOPPED:
                command.refuse(controlreasons.SESSION_STOPPED, "the session has stopped")
                return command.ticket
            self._commands.put(command)
        self.waiter.wake()
        return command.ticket

    def halt(self, reason: str, *, actor: str) -> None:
        """Engage the kill switch: no new risk, working orders pulled and verified gone."""
        self.submit(Command(CommandKind.HALT, actor, reason))

    def resume(self, reason: str, *, actor: str) -> None:
        """Release the kill switch (a halt file that still exists engages it again)."""
        self.submit(Command(CommandKind.RESUME, actor, reason))

    def apply_profile(
        self,
        *,
        strategy: StrategyProfile | Mapping[str, Any] | None = None,
        risk: RiskProfile | Mapping[str, Any] | None = None,
        actor: str,
        reason: str,
    ) -> None:
        """Make the values that differ the next governed version of their profile.

        A profile object is taken whole; a mapping (a request's raw parameters) is laid over
        the active version's values and structured by the runner, refused as the profile
        file would be (see :meth:`ProfileBook.propose_values`).
        """
        self.submit(Command(CommandKind.APPLY_PROFILE, actor, reason, strategy, risk))

    def reload_bundle(self, *, actor: str) -> None:
        """Activate the bundle again and serve its predictor if it is another bundle."""
        self.submit(Command(CommandKind.RELOAD_BUNDLE, actor))

    def stop(self, *, actor: str) -> None:
        """End the loop after the current step."""
        self.submit(Command(CommandKind.STOP, actor))

    def listen(self, listener: Listener) -> None:
        """Tell ``listener`` what each later publish adds (called in the runner's thread)."""
        self._listeners.append(listener)

    def read_model(self) -> ReadModel:
        """The read model published last (after the latest cycle or applied command)."""
        return self._published

    # --- the runner (one thread) ----------------------------------------------------------

    def _now_ns(self) -> int:
        """The wall clock, never behind what the session already saw."""
        self._now = max(self._now, self.clock.now_ns())
        return self._now

    def _journal(self) -> None:
        self.writer.flush(self.engine.log)

    def start(self) -> int:
        """Reconcile with the venue (findings logged and audited), load the history; its bars."""
        self.reconciliation = self.engine.reconcile()
        if self.reconciliation.findings:
            self.writer.flush(self.engine.log)
            self._audit("session.reconcile", {"findings": self.reconciliation.findings})
        step = self.timeframe.ns
        end = self.timeframe.floor(self._now_ns())
        start = end - self.need * step
        bars = list(self.feed.bars(start, end))
        short = any(sum(b.instrument == i for b in bars) < self.need for i in self.feed.instruments)
        if short and self.sync is not None:
            self.backfilled = self.sync.backfill(start, end)
            bars = list(self.feed.bars(start, end))
        self.engine.warm(bars)
        self._publish()
        return len(bars)

    def service(self) -> bool:
        """Apply the queued commands and the watched files' changes now.

        Returns:
            whether the kill switch or a profile changed (a reloaded bundle is published
            as it is applied).
        """
        now = self._now_ns()
        updates: list[ProfileUpdate] = []
        answers: _Answers = []
        batch: list[Command] = []
        try:
            kill = self._apply(now, updates, answers, batch)
        except BaseException as exc:  # the runner fails: so do the commands it took
            for command in batch:
                command.fail(exc)
            raise
        for answer in answers:  # applied and on disk: now answer
            answer()
        told, self._told = self._told, []
        for message in told:
            self._on_change(message)
        return kill

    def _apply(self, now: int, updates: list[ProfileUpdate], answers: _Answers,
               batch: list[Command]) -> bool:  # fmt: skip
        """:meth:`service`'s changes; whether the kill switch or a profile changed."""
        kill = False
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
            batch.append(command)
            kill = self._command(command, now, updates, answers) or kill
        kill = self._halt_file() or kill  # after the commands: an existing halt file wins
        self._profile(self.profiles.poll(), updates, FILE_AUTHOR)
        for update in updates:
            self.engine.on_risk_change(now, strategy=update.strategy, risk=update.risk)
            self._note("profile", self.engine.label)
        if kill and not updates:
            self.engine.on_risk_change(now)
        if kill or updates:
            self.writer.flush(self.engine.log)
            self._publish()
        return bool(kill or updates)

    def _command(self, command: Command, now: int, updates: list[ProfileUpdate],
                 answers: _Answers) -> bool:  # fmt: skip
        """Apply one command (its answer goes to ``answers``); whether it changed the switch."""
        kind, switch, actor = command.kind, self.kill_switch, command.actor
        if kind is CommandKind.HALT or kind is CommandKind.RESUME:
            halt = kind is CommandKind.HALT
            try:
                if halt:
                    changed = switch.engage(command.reason, actor=actor) is not None
                else:
                    changed = switch.release(command.reason, actor=actor) is not None
            except QuantUsageError as exc:  # a blank reason or actor; others stop the runner
                command.refuse(exc.reason_code, exc.message)
                return False
            answers.append(lambda: self._answer_switch(command, changed))
            return self._kill(changed, f"engaged: {command.reason}" if halt else "released")
        if kind is CommandKind.APPLY_PROFILE:
            update = self.profiles.propose_values(
                command.strategy, command.risk, author=actor, reason=command.reason
            )
            self._profile(update, updates, actor, command.reason)
            answers.append(
                lambda: answer_profile(command, update, self.engine.label, self.profiles)
            )
        elif kind is CommandKind.RELOAD_BUNDLE:
            self._reload(now, command)
        else:
            self.stopping = True
            command.resolve(changed=True, message="stopping")
        return False

    def _answer_switch(self, command: Command, changed: bool) -> None:
        switch = self.kill_switch
        state = {"engaged": switch.engaged, "reason": switch.state.reason}
        if command.kind is CommandKind.HALT:
            message = "kill switch engaged" if changed else "the kill switch was already engaged"
        elif switch.engaged and self._halt_seen:
            message = f"the halt file {self.halt_file} exists: the kill switch is engaged again"
            command.refuse(controlreasons.HALT_FILE_PRESENT, message, state)
            return
        else:
            message = "kill switch released" if changed else "the kill switch was not engaged"
        command.resolve(changed=changed, message=message, details=state)

    def _note(self, field: str, note: str) -> None:
        """Keep ``note`` for the next cycle's report and for the listener (once applied)."""
        self._notes[field].append(note)
        self._told.append(f"{field.replace('_', ' ')} {note}")

    def _kill(self, changed: bool, note: str) -> bool:
        if changed:
            self._note("kill_switch", note)
        return changed

    def _audit(self, kind: str, data: Mapping[str, Any]) -> None:
        if self.audit is not None:
            self.audit.append(kind, data)

    def _profile(
        self, update: ProfileUpdate, updates: list[ProfileUpdate], author: str, reason: str = ""
    ) -> None:
        """Keep a new version for the engine, note a refusal; audit either."""
        if update.refused:
            self._note("profile", f"refused {update.refused}")
            refusal = {"author": author, "reason": reason, "reason_code": update.reason_code}
            self._audit("profile.refused", {**refusal, "message": update.refused})
        elif update.changed:
            updates.append(update)
            for version in (update.strategy, update.risk):
                if version is not None:
                    self._audit("profile.version", version.to_record())

    def _halt_file(self) -> bool:
        """Keep the kill switch engaged while the halt file exists; release it when it goes.

        Only the file's removal releases (so an operator's halt made while there is no file
        stays engaged); a file that exists engages the switch again at the next poll, even
        after a resume.
        """
        if self.halt_file is None:
            return False
        present, text = read_halt_file(self.halt_file)
        was, self._halt_seen = self._halt_seen, present
        switch = self.kill_switch
        if not present:
            released = was and switch.release("halt file removed", actor=HALT_ACTOR) is not None
            return self._kill(bool(released), "released")
        reason = (text.strip().splitlines() or ["halt file present"])[0][:200]
        return self._kill(switch.engage(reason, actor=HALT_ACTOR) is not None, f"engaged: {reason}")

    def _reload(self, now: int, command: Command) -> None:
        """Serve the bundle activated now, when it is another one than the active."""
        actor = command.actor
        if self._load_bundle is None:
            message = "bundle reload refused: this session serves a fixed predictor"
            command.refuse(controlreasons.BUNDLE_FIXED, message)
            self._on_change(message)
            return
        try:
            predictor, about = self._load_bundle()
        except QuantError as exc:
            code = exc.reason_code
            refused = {"actor": actor, "reason": command.reason, "reason_code": code}
            self._audit("bundle.reload", {**refused, "ok": False})
            command.refuse(code, f"bundle reload refused [{code}]: {exc.message}")
            self._on_change(f"bundle reload refused [{code}]: {exc.message}")
            return
        served = unstructure(dict(about))
        audit = {"actor": actor, "reason": command.reason, "bundle": served, "ok": True}
        if dict(about) == dict(self.bundle):
            self._audit("bundle.reload", {**audit, "changed": False})
            message = "bundle reload: the active bundle is unchanged"
            command.resolve(changed=False, message=message, details={"bundle": self.bundle})
            self._on_change(message)
            return
        self.engine.predictor, self.bundle = predictor, dict(about)
        self.engine.log.add_risk(now, "bundle", {"bundle": served, "actor": actor})
        self._audit("bundle.reload", {**audit, "changed": True})
        self.writer.flush(self.engine.log)
        self._publish()
        message = f"bundle reloaded: {self.bundle.get('bundle_hash', 'no model')}"
        command.resolve(changed=True, message=message, details={"bundle": served})
        self._on_change(message)

    def cycle(self) -> CycleReport:
        """Apply changes, sync, hand the new bars to the engine (or heartbeat), log them."""
        engine = self.engine
        step = self.timeframe.ns
        before_decisions, before_fills = len(engine.log), len(engine.fills)
        self.service()
        synced = self.sync.sync(self.timeframe.floor(self._now)) if self.sync is not None else 0
        now = self._now_ns()
        fresh = self.feed.poll(now)
        groups: dict[int, list[Bar]] = {}
        for bar in fresh:
            groups.setdefault(bar.open_time_ns, []).append(bar)
        for open_ns in sorted(groups):
            engine.on_bars(groups[open_ns], now_ns=max(now, open_ns + step))
        if not groups:
            engine.heartbeat(now)
        self.writer.flush(engine.log)
        notes = {k: "; ".join(v) for k, v in self._notes.items()}
        self._notes = {k: [] for k in self._notes}
        result = CycleReport(
            cycle=len(self.cycles) + 1,
            now_ns=now,
            bars=len(fresh),
            decisions=len(engine.log) - before_decisions,
            fills=len(engine.fills) - before_fills,
            portfolio_value=engine.ledger.valuation()[2],
            heartbeat=not groups,
            synced=synced,
            **notes,
        )
        self.cycles.append(result)
        self._publish()
        return result

    def next_cycle_ns(self) -> int:
        """When the next cycle is due: the next bar close plus :data:`GRACE_S`."""
        now = self.clock.now_ns()
        return self.timeframe.floor(now) + self.timeframe.ns + int(GRACE_S * 1e9)

    def poll_venue(self) -> None:
        """Book the venue's news now, between cycles (the waiter saw an execution arrive)."""
        self.engine.catch_up(self._now_ns())
        self.writer.flush(self.engine.log)
        self._publish()

    def on_market(self, updates: int, stale: Mapping[Instrument, bool]) -> bool:
        """Take what the market stream delivered between cycles (the waiter calls it).

        ``stale`` marks each instrument's market data stale or valid in the engine
        (:meth:`quant_exec.TradingSession.market_stale`: no new risk on a stale pair, one
        reason-coded risk line per change, logged and published at once). Market updates
        are decision triggers: ``updates`` > 0 ends the wait so that a cycle runs now (a
        heartbeat re-evaluation when no bar closed), at most once per :data:`MARKET_MIN_S`
        on the clock; quieter, the bar-close schedule and its heartbeat carry on.

        Args:
            updates: how many market updates arrived.
            stale: instrument -> whether its market data is stale now.

        Returns:
            Whether the updates brought the next cycle forward (``False``: none arrived, or
            the rate bound held them back).
        """
        now = self._now_ns()
        changed = False
        for instrument, is_stale in stale.items():
            code = reasons.MARKET_DATA_STALE if is_stale else reasons.MARKET_DATA_VALID
            changed = self.engine.market_stale(instrument, is_stale, code, now_ns=now) or changed
        if changed:
            self.writer.flush(self.engine.log)
            self._publish()
        if not updates or now < self._market_next_ns:
            return False
        self._market_due = True
        self._market_next_ns = now + int(MARKET_MIN_S * 1e9)
        return True

    def wait_for_next_cycle(self) -> None:
        """Wait until the next cycle is due, applying commands within :data:`POLL_S`.

        A market update (:meth:`on_market`) makes the next cycle due at once.
        """
        due = self.next_cycle_ns()
        while True:
            self.service()
            left = due - self.clock.now_ns()
            if self.stopping or left <= 0 or self._market_due:
                self._market_due = False
                return
            self.waiter.wait(min(POLL_S, left / 1e9))

    def run(
        self,
        *,
        cycles: int,
        on_cycle: Callable[[CycleReport], None],
        on_change: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Run ``cycles`` cycles (0: until stopped or interrupted); return the summary.

        ``on_change`` hears, as they are applied, the changes made between cycles. A
        :class:`KeyboardInterrupt` (Ctrl-C) during a cycle or a wait ends the loop cleanly:
        the lines logged so far are flushed and the summary says ``interrupted``.
        """
        self._on_change = on_change or _IGNORE
        interrupted = False
        try:
            while not self.stopping:
                on_cycle(self.cycle())
                if cycles and len(self.cycles) >= cycles:
                    break
                self.wait_for_next_cycle()
        except KeyboardInterrupt:
            interrupted = True
        finally:  # also when the runner fails: no command waits for it any more
            self._on_change = _IGNORE
            with self._posting:
                self.health = Health.STOPPED
                self._drain()
        return self.summary(interrupted=interrupted)

    def _drain(self) -> None:
        """Refuse the commands still queued: the session stopped before applying them."""
        while True:
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                return
            command.refuse(controlreasons.SESSION_STOPPED, "the session has stopped")

    def summary(self, *, interrupted: bool) -> dict[str, Any]:
        """The final summary: totals, the run's log hash and its metrics (the log flushed)."""
        self.writer.flush(self.engine.log)
        self._publish()
        return run_summary(self, interrupted=interrupted)

    # --- the read model -------------------------------------------------------------------

    def _publish(self) -> None:
        if self.health is not Health.STOPPED:
            self.health = Health.HALTED if self.kill_switch.engaged else Health.RUNNING
        log, fills = self.engine.log, self.engine.fills
        records, risk = log.records, log.risk
        seen_records, seen_fills, seen_risk = self._sent
        new_records, new_fills = records[seen_records:], tuple(fills[seen_fills:])
        self._charts.add(new_records, new_fills)
        self._sent = (len(records), len(fills), len(risk))
        self._published = model = self._make_read_model()
        if self._listeners:
            publication = Publication(model, new_records, new_fills, risk[seen_risk:])
            for listener in self._listeners:
                listener(publication)

    def _make_read_model(self) -> ReadModel:
        return read_model(
            self, self._now, recent=RECENT, grace_ns=int(GRACE_S * 1e9), charts=self._charts
        )

"""The control plane: what an operator API or UI reads from, and changes in, a running session.

A :class:`ControlPlane` wraps one :class:`~quant_apps.runtime.trading.session.TradingRuntime`.

**Reads** are thread-safe and never touch the engine: they come from the last published
:class:`~quant_apps.runtime.trading.readmodel.ReadModel`, the decision log's index
(:class:`~quant_apps.runtime.operator.decisionindex.DecisionIndex`), the bundle desk, the store and
the audit file. Every value returned is plain JSON data (decimals as strings, times as int
ns), so a server returns it as it is.

**Governed changes** (kill switch, profiles, bundles) take the runtime's one path, the one
``quant paper``, the halt file and the profile file take: the command is queued, the runner
applies it (a risk line in the decision log, a record in the hash-chained audit log, both
naming the ``actor``), and the call blocks until the runner answers with what happened, as a
:class:`CommandResult`. A refusal carries the reason code the CLI or the profile file would
get; a runner that does not answer in time gives ``COMMAND_TIMEOUT``.

**Push**: the runtime tells the control plane after every publish what it added; the control
plane turns that into events on an :class:`~quant_apps.runtime.operator.events.EventHub`
(``decision``, ``fill``, ``status``, ``change``) that :meth:`ControlPlane.events_after`
waits on.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from quant_apps.runtime.operator import controlreasons
from quant_apps.runtime.operator.coverage import data_coverage, verify_audit
from quant_apps.runtime.operator.events import EventHub
from quant_apps.runtime.trading.commands import Command, CommandKind, CommandOutcome
from quant_apps.runtime.trading.profiles import value_changes
from quant_apps.runtime.trading.readmodel import Chart, Health, Publication, ReadModel
from quant_apps.runtime.trading.views import CHART_BARS, fill_view
from quant_core import Clock, Timeframe, canonical_json, unstructure
from quant_core import reasons as core_reasons
from quant_core.errors import ProfileError, QuantError, ValidationError
from quant_core.profiles import RiskProfile, StrategyProfile, version_from_record

if TYPE_CHECKING:
    from quant_apps.runtime.models.bundledesk import BundleDesk
    from quant_apps.runtime.operator.decisionindex import DecisionIndex
    from quant_apps.runtime.trading.session import TradingRuntime
    from quant_data import Store

__all__ = ["COMMAND_TIMEOUT_S", "CommandResult", "ControlPlane", "profile_bounds"]

COMMAND_TIMEOUT_S = 15.0
"""How long a governed change waits for the runner before it answers ``COMMAND_TIMEOUT``."""


@attrs.frozen
class CommandResult:
    """What every governed change answers.

    Attributes:
        ok: whether it was applied (or there was nothing to change); ``False``: refused.
        kind: what was asked (``halt``, ``resume``, ``apply_profile``, ``check_update``,
            ``apply_update``, ``rollback``).
        actor: who asked.
        message: one line for the operator.
        reason_code: why it was refused (the codes the CLI gives); ``None`` when ``ok``.
        details: what changed (new profile versions, the bundle result…), plain JSON data.

    Examples:
        >>> CommandResult(False, "halt", "ops", "late", "COMMAND_TIMEOUT").to_dict()["ok"]
        False
    """

    ok: bool
    kind: str
    actor: str
    message: str
    reason_code: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @classmethod
    def of(cls, outcome: CommandOutcome, kind: str | None = None) -> CommandResult:
        """The result of a runner's outcome (``kind``: another name for the operation).

        ``details`` adds ``changed``: whether the session changed (``False``: it already was
        so, or the change was refused).
        """
        details = {**outcome.details, "changed": outcome.changed}
        return cls(
            outcome.ok,
            kind or outcome.kind.value,
            outcome.actor,
            outcome.message,
            outcome.reason_code,
            details,
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "ok": self.ok,
            "kind": self.kind,
            "actor": self.actor,
            "message": self.message,
            "reason_code": self.reason_code,
            "details": unstructure(dict(self.details)),
        }


def profile_bounds() -> dict[str, dict[str, Any]]:
    """Every bounded profile parameter: ``{name: {profile, min, max, default, unit, doc}}``.

    Examples:
        >>> profile_bounds()["max_concurrent_positions"]["max"]
        50
    """
    bounds: dict[str, dict[str, Any]] = {}
    for cls in (StrategyProfile, RiskProfile):
        for name, spec in cls.SPECS.items():
            bounds[name] = {
                "profile": cls.KIND,
                "min": unstructure(spec.minimum),
                "max": unstructure(spec.maximum),
                "default": unstructure(spec.default),
                "unit": spec.unit,
                "doc": spec.doc,
            }
    return bounds


def _line(record: Mapping[str, Any]) -> Any:
    """A log record as its logged JSON reads back (what the decision index returns)."""
    return json.loads(canonical_json(record))


def _version(record: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "version": record["version"],
        "values": record["values"],
        "author": record["author"],
        "reason": record["reason"],
        "ts_ns": record["created_ns"],
        "diff": record["diff"],
        "kind": record["kind"],
    }


class ControlPlane:
    """Reads, governed changes and push events over one running session (see module docs).

    Args:
        runtime: the session.
        clock: the session's clock (``now_ns`` and uptime).
        index: the decision log's index.
        bundles: the bundle desk (``None``: the session's bundle is not managed here).
        store: the market-data store (``None``: no data coverage to show).
        audit_path: the session's hash-chained audit log.
        symbols: the coins traded.
        quote: their quote currency.
        hub: where events go (default: a new :class:`EventHub`).
        command_timeout_s: how long a governed change waits for the runner.
        wall: the clock uptime is measured on (default ``clock``; a replayed session passes
            the real one, so uptime is not replayed time).
    """

    def __init__(
        self,
        runtime: TradingRuntime,
        *,
        clock: Clock,
        index: DecisionIndex,
        bundles: BundleDesk | None,
        store: Store | None,
        audit_path: Path,
        symbols: Sequence[str],
        quote: str,
        hub: EventHub | None = None,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        wall: Clock | None = None,
    ) -> None:
        """Wrap ``runtime`` and listen to its publishes."""
        self.runtime, self.clock, self.index = runtime, clock, index
        self.bundles, self.store, self.audit_path = bundles, store, Path(audit_path)
        self.symbols, self.quote = tuple(symbols), quote
        self.timeframe: Timeframe = runtime.timeframe
        self.hub = hub if hub is not None else EventHub()
        self.command_timeout_s = command_timeout_s
        self.wall = wall if wall is not None else clock
        self.started_ns = self.wall.now_ns()
        self._status_key: tuple[Any, ...] | None = None
        self._desk_lock = threading.Lock()
        runtime.listen(self._on_publish)

    # --- push -----------------------------------------------------------------------------

    def _on_publish(self, publication: Publication) -> None:
        """Turn one publish into events (runs in the runner's thread)."""
        hub, model = self.hub, publication.model
        run = model.status.run
        for record in publication.decisions:
            hub.publish("decision", {**_line(record.to_record()), "run": run})
        for fill in publication.fills:
            hub.publish("fill", unstructure(fill_view(fill)))
        for line in publication.risk:
            hub.publish("change", _line(line))
        status = model.status
        key = (
            status.health,
            status.kill_switch,
            status.profile,
            status.cycles,
            status.bars,
            tuple(sorted(unstructure(dict(status.bundle)).items(), key=str)),
        )
        if key != self._status_key:
            self._status_key = key
            hub.publish("status", self._status(model))

    def events_after(self, cursor: int, timeout_s: float) -> tuple[int, list[dict[str, Any]]]:
        """Events newer than ``cursor``, waiting up to ``timeout_s`` for one.

        Each is ``{"id", "type": "decision"|"fill"|"status"|"change", "data": {...}}``.
        """
        return self.hub.events_after(cursor, timeout_s)

    # --- reads ----------------------------------------------------------------------------

    def _model(self) -> ReadModel:
        return self.runtime.read_model()

    def health(self) -> dict[str, Any]:
        """``{"ok", "health", "now_ns"}``: ``ok`` while the session has not stopped."""
        health = self._model().status.health
        return {"ok": health is not Health.STOPPED, "health": health.value,
                "now_ns": self.clock.now_ns()}  # fmt: skip

    def _status(self, model: ReadModel) -> dict[str, Any]:
        doc: dict[str, Any] = unstructure(model.status)
        doc["uptime_s"] = max(0, self.wall.now_ns() - self.started_ns) / 1e9
        doc["cash"] = unstructure(model.cash)
        doc["portfolio_value"] = unstructure(model.portfolio_value)
        doc["equity"] = [[ts, str(pv)] for ts, pv in model.equity]
        return doc

    def status(self) -> dict[str, Any]:
        """The status with uptime, cash, portfolio value and the equity series."""
        return self._status(self._model())

    def risk(self) -> list[dict[str, Any]]:
        """Each risk gate's use against its limit (``utilisation_pct``)."""
        return [unstructure(gate) for gate in self._model().risk]

    def decisions(self, **filters: Any) -> dict[str, Any]:
        """One page of decisions, newest first (see ``DecisionIndex.page``)."""
        self.index.refresh()
        return self.index.page(**filters)

    def reason_codes(self) -> list[str]:
        """The reason codes the decision log holds."""
        self.index.refresh()
        return self.index.reason_codes()

    def predictions(self) -> list[dict[str, Any]]:
        """The latest prediction per coin."""
        return [unstructure(p) for p in self._model().predictions]

    def holdings(self) -> list[dict[str, Any]]:
        """The positions held."""
        return [unstructure(h) for h in self._model().holdings]

    def orders(self) -> list[dict[str, Any]]:
        """The working orders."""
        return [unstructure(o) for o in self._model().open_orders]

    def ledger(self) -> dict[str, Any]:
        """Cash, portfolio value and the recent fills (oldest first)."""
        model = self._model()
        return {
            "cash": unstructure(model.cash),
            "portfolio_value": unstructure(model.portfolio_value),
            "fills": [unstructure(f) for f in model.fills],
        }

    def _chart(self, instrument: str) -> Chart:
        wanted = instrument.strip().upper()
        if "/" not in wanted:
            wanted = f"{wanted}/{self.quote}"
        for chart in self._model().charts:
            if chart.instrument == wanted:
                return chart
        raise ValidationError(
            f"no chart for {instrument!r}: this session trades "
            f"{', '.join(f'{s}/{self.quote}' for s in self.symbols)}",
            reason_code=core_reasons.INVALID_INPUT,
        )

    def candles(self, instrument: str, limit: int = CHART_BARS) -> dict[str, Any]:
        """A coin's recent bars with its entries/partial exits/exits and prediction overlay.

        Raises:
            ValidationError: ``INVALID_INPUT`` for an instrument not traded or a ``limit``
                outside 1..:data:`~quant_apps.runtime.trading.views.CHART_BARS`.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= CHART_BARS:
            raise ValidationError(
                f"limit must be a whole number from 1 to {CHART_BARS}, not {limit!r}",
                reason_code=core_reasons.INVALID_INPUT,
            )
        chart = self._chart(instrument)
        bars = chart.bars[-limit:]
        first = bars[0].time_s if bars else 0
        return {
            "instrument": chart.instrument,
            "bars": [unstructure(b) for b in bars],
            "markers": [unstructure(m) for m in chart.markers if m.time_s >= first],
            "predictions": [unstructure(p) for p in chart.predictions if p.time_s >= first],
        }

    def profiles(self) -> dict[str, Any]:
        """The active versions, the bounds and every version (oldest first)."""
        records = self._model().profiles
        history = sorted(
            (_version(r) for kind in ("strategy", "risk") for r in records[kind]),
            key=lambda v: (v["ts_ns"], v["kind"], v["version"]),
        )
        return {
            "strategy": _version(records["strategy"][-1]),
            "risk": _version(records["risk"][-1]),
            "bounds": profile_bounds(),
            "history": history,
        }

    def profile_diff(
        self, strategy: Mapping[str, Any] | None, risk: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """What applying ``strategy``/``risk`` would change (nothing is changed).

        Returns:
            ``{"ok", "changes": [{profile, name, old, new}]}``, or with ``ok`` false the
            ``reason_code`` and ``message`` an apply would be refused with.
        """
        records = self._model().profiles
        try:
            active_strategy = version_from_record(records["strategy"][-1], StrategyProfile)
            active_risk = version_from_record(records["risk"][-1], RiskProfile)
            changes = value_changes("strategy", active_strategy.profile, strategy)
            changes += value_changes("risk", active_risk.profile, risk)
        except ProfileError as exc:
            return {"ok": False, "changes": [], "reason_code": exc.reason_code,
                    "message": exc.message}  # fmt: skip
        return {"ok": True, "changes": unstructure(changes)}

    def bundle_status(self) -> dict[str, Any]:
        """The bundle store's status (or, unmanaged, the bundle the session serves)."""
        if self.bundles is None:
            bundle = unstructure(dict(self._model().status.bundle))
            return {"managed": False, "active": bundle, "update_source": None}
        with self._desk_lock:
            return {"managed": True, **self.bundles.status()}

    def data(self) -> dict[str, Any]:
        """Per coin: first and last bar, bars, gaps and the last sync (no store: none)."""
        if self.store is None:
            return {"instruments": [], "store": None}
        return data_coverage(self.store, self.symbols, self.quote, self.timeframe)

    def verify_audit(self) -> dict[str, Any]:
        """Verify the session's audit log's hash chain."""
        return verify_audit(self.audit_path)

    # --- governed changes -----------------------------------------------------------------

    def _stopped(self, kind: str, actor: str) -> CommandResult | None:
        if self._model().status.health is Health.STOPPED:
            code = controlreasons.SESSION_STOPPED
            return CommandResult(False, kind, actor, "the session has stopped", code)
        return None

    def _wait(self, ticket: Future[CommandOutcome], kind: str, actor: str) -> CommandResult:
        try:
            outcome = ticket.result(timeout=self.command_timeout_s)
        except FutureTimeout:
            message = f"the session did not apply the change within {self.command_timeout_s} s"
            return CommandResult(False, kind, actor, message, controlreasons.COMMAND_TIMEOUT)
        except QuantError as exc:  # the runner failed applying it (and has stopped)
            message = f"the session failed: {exc.message}"
            return CommandResult(False, kind, actor, message, exc.reason_code)
        return CommandResult.of(outcome, kind)

    def _command(self, command: Command) -> CommandResult:
        kind, actor = command.kind.value, command.actor
        submitted = self._stopped(kind, actor) or self._wait(
            self.runtime.submit(command), kind, actor
        )
        return self._told(submitted)

    def halt(self, reason: str, *, actor: str) -> CommandResult:
        """Engage the kill switch (``ok`` also when it already was)."""
        return self._command(Command(CommandKind.HALT, actor, reason))

    def resume(self, reason: str, *, actor: str) -> CommandResult:
        """Release the kill switch (refused ``HALT_FILE_PRESENT`` while the halt file exists)."""
        return self._command(Command(CommandKind.RESUME, actor, reason))

    def apply_profile(
        self,
        *,
        strategy: Mapping[str, Any] | None,
        risk: Mapping[str, Any] | None,
        actor: str,
        reason: str,
    ) -> CommandResult:
        """Make a request's parameters the next governed profile versions.

        Each table is laid over the active version's values and structured as a profile
        file is: refused ``PROFILE_OUT_OF_BOUNDS``, ``PROFILE_UNKNOWN_PARAMETER``,
        ``INVALID_INPUT`` or ``PROFILE_CHANGE_UNATTRIBUTED`` (no reason) with nothing changed.
        """
        return self._command(Command(CommandKind.APPLY_PROFILE, actor, reason, strategy, risk))

    def _told(self, result: CommandResult) -> CommandResult:
        self.hub.publish("change", {"change": "command", **result.to_dict()})
        return result

    def _desk_call(self, kind: str, actor: str) -> CommandResult:
        """Run the desk's ``kind``; its answer as the details, or its refusal."""
        desk = self.bundles
        if desk is None:
            message = "this session has no bundle store"
            return CommandResult(False, kind, actor, message, controlreasons.BUNDLES_UNMANAGED)
        refused = self._stopped(kind, actor)
        if refused is not None:
            return refused
        call = {"check_update": desk.check_update, "apply_update": desk.apply_update,
                "rollback": desk.rollback}[kind]  # fmt: skip
        try:
            with self._desk_lock:
                done = call()
        except QuantError as exc:
            return CommandResult(False, kind, actor, exc.message, exc.reason_code)
        return CommandResult(True, kind, actor, f"{kind.replace('_', ' ')} done", None, done)

    def check_update(self, *, actor: str) -> CommandResult:
        """Ask the update source whether a newer verified bundle is offered (no change)."""
        return self._told(self._desk_call("check_update", actor))

    def apply_update(self, *, actor: str) -> CommandResult:
        """Install the offered update, then serve the store's active bundle."""
        return self._change_bundle("apply_update", actor)

    def rollback(self, *, actor: str) -> CommandResult:
        """Make the previous bundle active again, then serve it."""
        return self._change_bundle("rollback", actor)

    def _change_bundle(self, kind: str, actor: str) -> CommandResult:
        done = self._desk_call(kind, actor)
        if not done.ok:
            return self._told(done)
        ticket = self.runtime.submit(Command(CommandKind.RELOAD_BUNDLE, actor, kind))
        reload = self._wait(ticket, "reload_bundle", actor)
        details = {kind: done.details, "reload": reload.to_dict(), "bundles": self.bundle_status()}
        message = f"{done.message}; {reload.message}"
        result = CommandResult(reload.ok, kind, actor, message, reload.reason_code, details)
        return self._told(result)

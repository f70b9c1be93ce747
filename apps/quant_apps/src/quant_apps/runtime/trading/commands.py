"""The commands an operator posts to a running session, and what each one answers.

A :class:`Command` is queued by any thread and applied by the session's runner (see
:mod:`quant_apps.runtime.trading.session`). Each carries a :class:`concurrent.futures.Future` (its
``ticket``) that the runner resolves, once the change is applied and on disk, with a
:class:`CommandOutcome`: whether it changed anything, a one-line message and, for a refusal,
its stable reason code. Whoever posted the command may wait on the ticket (the control plane
does, with a timeout) or ignore it (``quant paper`` does).

Examples:
    >>> command = Command(CommandKind.HALT, "ops", "drill")
    >>> command.ticket.done()
    False
    >>> command.resolve(changed=True, message="kill switch engaged: drill")
    >>> outcome = command.ticket.result(timeout=0)
    >>> outcome.ok, outcome.changed, outcome.to_dict()["kind"]
    (True, True, 'halt')
    >>> command.refuse("KILL_SWITCH_STATE", "too late")  # a ticket is resolved once
    >>> command.ticket.result(timeout=0).reason_code is None
    True
"""

from __future__ import annotations

import contextlib
import enum
import threading
from collections.abc import Mapping
from concurrent.futures import Future, InvalidStateError
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from quant_core import ns_to_iso, unstructure
from quant_core.profiles import RiskProfile, StrategyProfile

if TYPE_CHECKING:
    from quant_apps.runtime.trading.profiles import ProfileBook, ProfileUpdate

__all__ = ["Command", "CommandKind", "CommandOutcome", "CycleReport", "EventWaiter", "Waiter"]


class CommandKind(enum.StrEnum):
    """What an operator can ask of a running session."""

    HALT = "halt"
    RESUME = "resume"
    APPLY_PROFILE = "apply_profile"
    RELOAD_BUNDLE = "reload_bundle"
    STOP = "stop"


@attrs.frozen
class CommandOutcome:
    """What the runner did with one command.

    Attributes:
        kind: the command.
        actor: who asked.
        changed: whether it changed the session (``False``: already so, or refused).
        message: one line for an operator.
        reason_code: why it was refused (``None``: not refused).
        details: what changed (new profile versions, the bundle served…), plain JSON data.
    """

    kind: CommandKind
    actor: str
    changed: bool
    message: str
    reason_code: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the command was not refused."""
        return self.reason_code is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {
            "ok": self.ok,
            "kind": self.kind.value,
            "actor": self.actor,
            "changed": self.changed,
            "message": self.message,
            "reason_code": self.reason_code,
            "details": unstructure(dict(self.details)),
        }


def _ticket() -> Future[CommandOutcome]:
    return Future()


@attrs.frozen
class Command:
    """One queued command.

    Attributes:
        kind: what to do.
        actor: who asks (audited with kill-switch changes, profile versions, bundle reloads).
        reason: why.
        strategy: with ``APPLY_PROFILE``, the strategy profile to make the next version of,
            or raw parameters (a request's) laid over the active version's values and
            structured by the runner (see
            :meth:`~quant_apps.runtime.trading.profiles.ProfileBook.propose_values`).
        risk: the same for the risk profile.
        ticket: resolved by the runner with the :class:`CommandOutcome`.
    """

    kind: CommandKind
    actor: str
    reason: str = ""
    strategy: StrategyProfile | Mapping[str, Any] | None = None
    risk: RiskProfile | Mapping[str, Any] | None = None
    ticket: Future[CommandOutcome] = attrs.field(factory=_ticket, eq=False, repr=False)

    def resolve(
        self, *, changed: bool, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Answer the command as applied (``changed``: it changed the session)."""
        self._answer(CommandOutcome(self.kind, self.actor, changed, message, None, details or {}))

    def refuse(
        self, reason_code: str, message: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Answer the command as refused with ``reason_code``."""
        outcome = CommandOutcome(self.kind, self.actor, False, message, reason_code, details or {})
        self._answer(outcome)

    def fail(self, exc: BaseException) -> None:
        """Answer the command with the exception the runner failed with."""
        with contextlib.suppress(InvalidStateError):  # answered already: that answer stands
            self.ticket.set_exception(exc)

    def _answer(self, outcome: CommandOutcome) -> None:
        with contextlib.suppress(InvalidStateError):  # answered already: that answer stands
            self.ticket.set_result(outcome)


class Waiter(Protocol):
    """How the runner waits between cycles: a bounded wait that a command cuts short."""

    def wait(self, timeout_s: float) -> None:
        """Return after ``timeout_s`` seconds, or sooner once :meth:`wake` was called."""
        ...

    def wake(self) -> None:
        """End the current (or the next) :meth:`wait` now."""
        ...


class EventWaiter:
    """A :class:`Waiter` on a :class:`threading.Event` (commands may come from any thread).

    Examples:
        >>> waiter = EventWaiter()
        >>> waiter.wake()
        >>> waiter.wait(3600)  # returns at once: a command is waiting
    """

    def __init__(self) -> None:
        """A waiter nobody has woken yet."""
        self._event = threading.Event()

    def wait(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` seconds for :meth:`wake`; then forget the wake."""
        self._event.wait(timeout_s)
        self._event.clear()

    def wake(self) -> None:
        """Cut the wait short."""
        self._event.set()


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
        profile: the new profile label when a profile change was applied since the last
            cycle, or why it was refused (``"refused [REASON_CODE]: …"``); empty otherwise.
        kill_switch: ``"engaged: <reason>"`` or ``"released"`` when the kill switch changed
            since the last cycle; empty otherwise.
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


def answer_profile(
    command: Command, update: ProfileUpdate, label: str, profiles: ProfileBook
) -> None:
    """Answer an apply-profile ``command`` with what ``update`` did (``label``: the new one).

    Args:
        command: the command to answer.
        update: the profile book's answer to it.
        label: the session's profile label now.
        profiles: the governed profiles (the versions that did not change).
    """
    if update.reason_code is not None:
        command.refuse(update.reason_code, update.refused)
        return
    if not update.changed:
        command.resolve(changed=False, message="no value differs from the active profiles")
        return
    details = {
        "profile": label,
        "strategy_version": (update.strategy or profiles.strategy.active).version,
        "risk_version": (update.risk or profiles.risk.active).version,
        "versions": [v.to_record() for v in (update.strategy, update.risk) if v is not None],
    }
    command.resolve(changed=True, message=f"profile {label}", details=details)

"""The kill switch: halt new risk at once, log who did it, when and why, and drill it.

While the switch is engaged, :func:`quant_exec.risk.check_order` rejects every order that
adds risk with ``KILL_SWITCH_ENGAGED``; orders that reduce risk (sells of held assets) are
still admitted, so positions can be exited. Engaging and releasing are timestamped from the
injected :class:`~quant_core.Clock`, need a reason and an actor, and each produce a
:class:`KillSwitchRecord`; when an :class:`~quant_core.AuditLog` is given, each record is also
appended to it (kinds ``kill_switch.engage`` / ``kill_switch.release``).

Examples:
    >>> from quant_core import SimClock
    >>> from quant_exec.risk import KillSwitch
    >>> switch = KillSwitch(SimClock(100))
    >>> record = switch.engage("drill: exchange outage", actor="ops")
    >>> switch.engaged, switch.state.since_ns, record.action
    (True, 100, 'engage')
    >>> switch.engage("again", actor="ops") is None     # already engaged: nothing new
    True
    >>> _ = switch.release("drill over", actor="ops")
    >>> switch.engaged, [r.action for r in switch.records]
    (False, ['engage', 'release'])
"""

from __future__ import annotations

from typing import Any, cast

import attrs

from quant_core import CONVERTER, Clock
from quant_core.audit import AuditLog
from quant_core.errors import QuantUsageError
from quant_exec import reasons


@attrs.frozen
class KillSwitchState:
    """The switch's state as a value (what the risk gate reads).

    Attributes:
        engaged: whether new risk is halted.
        since_ns: when it was engaged (``None`` when released).
        reason: why it was engaged.
    """

    engaged: bool = False
    since_ns: int | None = None
    reason: str = ""


@attrs.frozen
class KillSwitchRecord:
    """One engage or release, audit-log friendly.

    Attributes:
        action: ``"engage"`` or ``"release"``.
        reason: why.
        actor: who (an operator name, or a component such as ``"drawdown-monitor"``).
        ts_ns: when, from the clock.
    """

    action: str
    reason: str
    actor: str
    ts_ns: int

    @property
    def audit_kind(self) -> str:
        """The audit record kind (``kill_switch.engage`` / ``kill_switch.release``)."""
        return f"kill_switch.{self.action}"

    def to_audit(self) -> dict[str, Any]:
        """The record as audit data."""
        return cast("dict[str, Any]", CONVERTER.unstructure(self))


class KillSwitch:
    """An engage/release switch with a log of every change.

    Args:
        clock: where timestamps come from.
        audit: optional audit log that receives every record.
    """

    def __init__(self, clock: Clock, audit: AuditLog | None = None) -> None:
        self._clock = clock
        self._audit = audit
        self._state = KillSwitchState()
        self._records: list[KillSwitchRecord] = []

    def __repr__(self) -> str:
        return f"KillSwitch(engaged={self._state.engaged})"

    @property
    def state(self) -> KillSwitchState:
        """The current state."""
        return self._state

    @property
    def engaged(self) -> bool:
        """Whether new risk is halted."""
        return self._state.engaged

    @property
    def records(self) -> tuple[KillSwitchRecord, ...]:
        """Every engage and release, oldest first."""
        return tuple(self._records)

    def _record(self, action: str, reason: str, actor: str) -> KillSwitchRecord:
        if not reason.strip() or not actor.strip():
            raise QuantUsageError(
                "a kill-switch action needs a reason and an actor",
                reason_code=reasons.KILL_SWITCH_STATE,
            )
        record = KillSwitchRecord(action, reason, actor, self._clock.now_ns())
        if self._audit is not None:
            self._audit.append(record.audit_kind, record.to_audit())  # durable first
        self._records.append(record)
        return record

    def engage(self, reason: str, *, actor: str) -> KillSwitchRecord | None:
        """Halt new risk now; ``None`` (and no record) when already engaged.

        Raises:
            QuantUsageError: ``KILL_SWITCH_STATE`` when reason or actor is blank.
        """
        if self._state.engaged:
            return None
        record = self._record("engage", reason, actor)
        self._state = KillSwitchState(True, record.ts_ns, reason)
        return record

    def release(self, reason: str, *, actor: str) -> KillSwitchRecord | None:
        """Admit new risk again; ``None`` (and no record) when not engaged.

        Raises:
            QuantUsageError: ``KILL_SWITCH_STATE`` when reason or actor is blank.
        """
        if not self._state.engaged:
            return None
        record = self._record("release", reason, actor)
        self._state = KillSwitchState()
        return record

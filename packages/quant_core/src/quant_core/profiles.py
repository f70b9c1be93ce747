"""Governed risk and strategy profiles: defaults, bounds, and versioned change.

A *profile* holds the numbers a user may tune (governance §2, §6): the
:class:`RiskProfile` (position count, total and cluster exposure in percent-of-PV or
absolute mode, the drawdown that stops new risk) and the :class:`StrategyProfile` (the
sensitivity, persistence and threshold knobs of the prediction-led strategy). Every parameter
has a governed default and bounds (:class:`ParameterSpec`), enforced here, in the library —
a user interface may only add advisory checks on top.

Profiles never change in place. :class:`ProfileHistory` turns a change request into a new
:class:`ProfileVersion` carrying author, time, reason and the diff, and keeps every earlier
version readable. :class:`ProfileStore` persists a history in a hash-chained audit log, so the
record of who changed what, when and why is itself tamper-evident.

Examples:
    >>> from quant_core import SimClock
    >>> from quant_core.profiles import ProfileHistory, RiskProfile
    >>> history = ProfileHistory.create(RiskProfile(), author="ops", reason="initial",
    ...                                 clock=SimClock(0))
    >>> history = history.change({"max_concurrent_positions": 8}, author="ana",
    ...                          reason="wider universe", clock=SimClock(5))
    >>> history.active.version, history.active.profile.max_concurrent_positions
    (2, 8)
    >>> [(c.parameter, c.old, c.new) for c in history.active.diff]
    [('max_concurrent_positions', 5, 8)]
    >>> history.get(1).profile.max_concurrent_positions
    5
    >>> history.change({"max_concurrent_positions": 1000}, author="ana", reason="yolo",
    ...                clock=SimClock(9))
    Traceback (most recent call last):
    ...
    quant_core.errors.ProfileError: [PROFILE_OUT_OF_BOUNDS] RiskProfile: max_concurrent_pos...
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

import attrs

from quant_core import reasons
from quant_core._values.canonical import content_hash
from quant_core._values.clock import Clock
from quant_core._values.convert import CONVERTER, structure
from quant_core._values.types import to_decimal
from quant_core.audit import AuditLog
from quant_core.errors import ProfileError, ValidationError

__all__ = [
    "ExposureLimit",
    "ExposureMode",
    "ParameterChange",
    "ParameterSpec",
    "ProfileHistory",
    "ProfileStore",
    "ProfileVersion",
    "RiskProfile",
    "StrategyProfile",
    "version_from_record",
]

Number = Decimal | int


@attrs.frozen
class ParameterSpec:
    """The governed default and inclusive bounds of one profile parameter."""

    default: Number
    minimum: Number
    maximum: Number
    doc: str
    unit: str = ""

    def check(self, owner: str, name: str, value: Number) -> None:
        """Raise :class:`ProfileError` unless ``minimum <= value <= maximum``.

        A parameter with an ``int`` default is a count: its value must be an ``int`` too
        (not a bool, float or string), else the code is ``INVALID_INPUT``.
        """
        if isinstance(self.default, int) and (
            isinstance(value, bool) or not isinstance(value, int)
        ):
            raise ProfileError(
                f"{owner}: {name} = {value!r} is not a whole number",
                reason_code=reasons.INVALID_INPUT,
            )
        if not self.minimum <= value <= self.maximum:
            raise ProfileError(
                f"{owner}: {name} = {value} is outside [{self.minimum}, {self.maximum}]",
                reason_code=reasons.PROFILE_OUT_OF_BOUNDS,
            )


class ExposureMode(enum.Enum):
    """How an exposure limit is expressed."""

    PERCENT_OF_PV = "percent_of_pv"
    """``value`` is a percentage of portfolio value, in (0, 100]."""
    ABSOLUTE = "absolute"
    """``value`` is an amount in the portfolio's quote currency."""


_EXPOSURE_BOUNDS = {
    ExposureMode.PERCENT_OF_PV: (Decimal("0.01"), Decimal(100)),
    ExposureMode.ABSOLUTE: (Decimal("0.01"), Decimal(10) ** 12),
}


@attrs.frozen
class ExposureLimit:
    """An exposure cap in either percent-of-PV or absolute-amount mode.

    Raises:
        ProfileError: the value is outside the bounds of its mode
            (percent: 0.01..100; absolute: 0.01..10^12).
    """

    mode: ExposureMode = attrs.field(converter=ExposureMode)
    value: Decimal = attrs.field(converter=to_decimal)

    def __attrs_post_init__(self) -> None:
        low, high = _EXPOSURE_BOUNDS[self.mode]
        if not low <= self.value <= high:
            raise ProfileError(
                f"{self.mode.value} exposure {self.value} is outside [{low}, {high}]",
                reason_code=reasons.PROFILE_OUT_OF_BOUNDS,
            )

    @classmethod
    def percent(cls, value: Decimal | int | str) -> ExposureLimit:
        """A percent-of-portfolio-value limit."""
        return cls(ExposureMode.PERCENT_OF_PV, to_decimal(value))

    @classmethod
    def absolute(cls, value: Decimal | int | str) -> ExposureLimit:
        """An absolute limit in the quote currency."""
        return cls(ExposureMode.ABSOLUTE, to_decimal(value))

    def cap(self, portfolio_value: Decimal) -> Decimal:
        """The limit as an amount, given the current portfolio value."""
        if self.mode is ExposureMode.PERCENT_OF_PV:
            return portfolio_value * self.value / 100
        return self.value


def _check_specs(profile: Any) -> None:
    for name, spec in type(profile).SPECS.items():
        spec.check(type(profile).__name__, name, getattr(profile, name))


def _spec_field(spec: ParameterSpec) -> Any:
    if isinstance(spec.default, int):
        return attrs.field(default=spec.default)
    return attrs.field(default=spec.default, converter=to_decimal)


def _d(text: str) -> Decimal:
    return Decimal(text)


_RISK_SPECS: dict[str, ParameterSpec] = {
    "max_concurrent_positions": ParameterSpec(5, 1, 50, "Open positions allowed at once."),
    "drawdown_limit_pct": ParameterSpec(
        _d("15"),
        _d("1"),
        _d("60"),
        "Portfolio drawdown from its peak at which no new risk is admitted.",
        "% of peak PV",
    ),
}


@attrs.frozen
class RiskProfile:
    """Risk limits checked before every order (governance §6).

    Exposure limits are checked by bounds of their mode; the numeric parameters by
    :attr:`SPECS`.
    """

    SPECS: ClassVar[Mapping[str, ParameterSpec]] = _RISK_SPECS
    KIND: ClassVar[str] = "risk"

    max_concurrent_positions: int = _spec_field(_RISK_SPECS["max_concurrent_positions"])
    max_total_exposure: ExposureLimit = attrs.field(factory=lambda: ExposureLimit.percent(80))
    max_cluster_exposure: ExposureLimit = attrs.field(factory=lambda: ExposureLimit.percent(40))
    drawdown_limit_pct: Decimal = _spec_field(_RISK_SPECS["drawdown_limit_pct"])

    def __attrs_post_init__(self) -> None:
        _check_specs(self)
        if (
            self.max_total_exposure.mode is self.max_cluster_exposure.mode
            and self.max_cluster_exposure.value > self.max_total_exposure.value
        ):
            raise ProfileError(
                "RiskProfile: max_cluster_exposure exceeds max_total_exposure",
                reason_code=reasons.PROFILE_OUT_OF_BOUNDS,
            )


def _p(default: str, low: str, high: str, doc: str, unit: str = "") -> ParameterSpec:
    return ParameterSpec(_d(default), _d(low), _d(high), doc, unit)


_STRATEGY_SPECS: dict[str, ParameterSpec] = {
    "sensitivity": _p(
        "0.5", "0", "1", "How readily predictions move the strategy to act (0 cautious, 1 eager)."
    ),
    "persistence": ParameterSpec(
        3, 1, 96, "Consecutive evaluations an outlook must hold before it drives an exit.", "evals"
    ),
    "entry_min_up_probability": _p(
        "0.55", "0.5", "0.95", "Probability of a rise required before entering."
    ),
    "entry_max_downside_probability": _p(
        "0.46", "0.05", "0.6", "Near-term downside probability above which entry is gated."
    ),
    "dip_min_drop_pct": _p("3", "0.5", "40", "Drop that qualifies as a dip for entry.", "%"),
    "dip_min_recovery_probability": _p(
        "0.54", "0.5", "0.95", "Predicted recovery probability required to buy a dip."
    ),
    "take_profit_trigger_pct": _p(
        "6", "0.5", "200", "Unrealised gain at which partial profit-taking is considered.", "%"
    ),
    "take_profit_fraction": _p(
        "0.33", "0.05", "0.9", "Fraction of the position realised by one partial exit."
    ),
    "reentry_min_edge": _p(
        "0.05", "0", "0.5", "Probability edge over 0.5 required for a tactical re-entry."
    ),
    "exit_min_negative_probability": _p(
        "0.56", "0.5", "0.95", "Persistent downside probability that argues for a final exit."
    ),
    "exit_max_rebound_probability": _p(
        "0.45", "0.05", "0.5", "Rebound probability below which the outlook counts as weak."
    ),
    "severe_loss_pct": _p(
        "20", "5", "90", "Adverse move at which severe-loss recovery analysis starts.", "%"
    ),
    "severe_loss_derisk_fraction": _p(
        "0.5", "0.1", "0.9", "Fraction sold when severe-loss analysis chooses partial de-risk."
    ),
    "severe_loss_min_rebound_probability": _p(
        "0.6", "0.2", "0.8", "Rebound probability at which a deeply adverse position is held."
    ),
    "severe_loss_max_weak_predictions": ParameterSpec(
        12,
        1,
        8760,
        "New predictions a deeply adverse position may see without a qualifying rebound "
        "forecast before it is exited in full (bounds the severe-loss wait; not a timer).",
        "predictions",
    ),
    "dip_lookback_bars": ParameterSpec(
        24, 2, 1000, "Closes looked back over to measure a dip's drop from the recent high.", "bars"
    ),
    "position_size_pct": _p(
        "10", "0.5", "100", "Target size of one position, before risk gates.", "% of PV"
    ),
}


@attrs.frozen
class StrategyProfile:
    """The prediction-led strategy's tunable knobs (master spec §6-§8).

    There is deliberately no holding-time limit and no loss-only exit threshold: the
    severe-loss parameters start an *analysis* of rebound against continuation, re-evaluated
    on every new prediction. The one bound, ``severe_loss_max_weak_predictions``, counts only
    the predictions a deeply adverse position sees *without* a qualifying rebound forecast, so
    no position is held in severe loss indefinitely on forecasts that do not support it.
    Profiles saved before a parameter existed load with its governed default.
    """

    SPECS: ClassVar[Mapping[str, ParameterSpec]] = _STRATEGY_SPECS
    KIND: ClassVar[str] = "strategy"

    sensitivity: Decimal = _spec_field(_STRATEGY_SPECS["sensitivity"])
    persistence: int = _spec_field(_STRATEGY_SPECS["persistence"])
    entry_min_up_probability: Decimal = _spec_field(_STRATEGY_SPECS["entry_min_up_probability"])
    entry_max_downside_probability: Decimal = _spec_field(
        _STRATEGY_SPECS["entry_max_downside_probability"]
    )
    dip_min_drop_pct: Decimal = _spec_field(_STRATEGY_SPECS["dip_min_drop_pct"])
    dip_min_recovery_probability: Decimal = _spec_field(
        _STRATEGY_SPECS["dip_min_recovery_probability"]
    )
    take_profit_trigger_pct: Decimal = _spec_field(_STRATEGY_SPECS["take_profit_trigger_pct"])
    take_profit_fraction: Decimal = _spec_field(_STRATEGY_SPECS["take_profit_fraction"])
    reentry_min_edge: Decimal = _spec_field(_STRATEGY_SPECS["reentry_min_edge"])
    exit_min_negative_probability: Decimal = _spec_field(
        _STRATEGY_SPECS["exit_min_negative_probability"]
    )
    exit_max_rebound_probability: Decimal = _spec_field(
        _STRATEGY_SPECS["exit_max_rebound_probability"]
    )
    severe_loss_pct: Decimal = _spec_field(_STRATEGY_SPECS["severe_loss_pct"])
    severe_loss_derisk_fraction: Decimal = _spec_field(
        _STRATEGY_SPECS["severe_loss_derisk_fraction"]
    )
    severe_loss_min_rebound_probability: Decimal = _spec_field(
        _STRATEGY_SPECS["severe_loss_min_rebound_probability"]
    )
    dip_lookback_bars: int = _spec_field(_STRATEGY_SPECS["dip_lookback_bars"])
    position_size_pct: Decimal = _spec_field(_STRATEGY_SPECS["position_size_pct"])
    severe_loss_max_weak_predictions: int = _spec_field(
        _STRATEGY_SPECS["severe_loss_max_weak_predictions"]
    )

    def __attrs_post_init__(self) -> None:
        _check_specs(self)


P = TypeVar("P", bound=RiskProfile | StrategyProfile)


@attrs.frozen
class ParameterChange:
    """One parameter's old and new value, as plain JSON data."""

    parameter: str
    old: Any
    new: Any


@attrs.frozen
class ProfileVersion(Generic[P]):
    """One immutable version of a profile, with who, when, why and what changed."""

    name: str
    version: int
    profile: P
    author: str
    reason: str
    created_ns: int
    diff: tuple[ParameterChange, ...]

    def content_hash(self) -> str:
        """Hash of the version's canonical JSON."""
        return content_hash(self.to_record())

    def to_record(self) -> dict[str, Any]:
        """The version as plain data (what the profile store writes)."""
        # Hand-written: the stored and hashed record adds the profile kind and names the
        # profile's converted fields ``values``.
        return {
            "kind": self.profile.KIND,
            "name": self.name,
            "version": self.version,
            "values": CONVERTER.unstructure(self.profile),
            "author": self.author,
            "reason": self.reason,
            "created_ns": self.created_ns,
            "diff": [CONVERTER.unstructure(c) for c in self.diff],
        }


def _plain(value: Any) -> Any:
    """Floats from JSON or a UI are taken as the decimal digits they print as.

    Values given as objects (an :class:`ExposureLimit`) are taken as their plain data.
    """
    if isinstance(value, float):
        return repr(value)
    if attrs.has(type(value)):
        return CONVERTER.unstructure(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _build(cls: type[P], values: Mapping[str, Any]) -> P:
    try:
        return structure(_plain(values), cls)
    except ProfileError:
        raise
    except ValidationError as exc:
        unknown = exc.reason_code == reasons.UNKNOWN_KEY
        code = reasons.PROFILE_UNKNOWN_PARAMETER if unknown else reasons.INVALID_INPUT
        raise ProfileError(exc.message, reason_code=code) from None


def version_from_record(record: Mapping[str, Any], cls: type[P]) -> ProfileVersion[P]:
    """The :class:`ProfileVersion` a :meth:`ProfileVersion.to_record` document describes.

    This is how the profile store reads its versions back, and how a decision log's session
    header gives back the profiles a session ran under.

    Raises:
        ProfileError: ``INVALID_INPUT`` for a record of another profile kind or a missing or
            malformed field, ``PROFILE_UNKNOWN_PARAMETER`` for a value the profile lacks.

    Examples:
        >>> from quant_core import SimClock
        >>> history = ProfileHistory.create(RiskProfile(), author="ops", reason="start",
        ...                                 clock=SimClock(0))
        >>> record = history.active.to_record()
        >>> version_from_record(record, RiskProfile) == history.active
        True
    """
    if not isinstance(record, Mapping) or record.get("kind") != cls.KIND:
        raise ProfileError(
            f"not a {cls.KIND} profile version record", reason_code=reasons.INVALID_INPUT
        )
    try:
        return ProfileVersion(
            name=str(record["name"]),
            version=int(record["version"]),
            profile=_build(cls, record["values"]),
            author=str(record["author"]),
            reason=str(record["reason"]),
            created_ns=int(record["created_ns"]),
            diff=tuple(structure(c, ParameterChange) for c in record["diff"]),
        )
    except ProfileError:
        raise
    except (KeyError, TypeError, ValueError, ValidationError) as exc:
        raise ProfileError(
            f"a malformed {cls.KIND} profile version record: {exc}",
            reason_code=reasons.INVALID_INPUT,
        ) from None


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ParameterChange, ...]:
    return tuple(
        ParameterChange(name, old.get(name), new[name])
        for name in sorted(new)
        if old.get(name) != new[name]
    )


def _attribution(author: str, reason: str) -> None:
    if not author.strip() or not reason.strip():
        raise ProfileError(
            "every profile change needs an author and a reason",
            reason_code=reasons.PROFILE_CHANGE_UNATTRIBUTED,
        )


@attrs.frozen
class ProfileHistory(Generic[P]):
    """Every version of one named profile, oldest first; the last is active."""

    versions: tuple[ProfileVersion[P], ...]

    @classmethod
    def create(
        cls, profile: P, *, author: str, reason: str, clock: Clock, name: str = "default"
    ) -> ProfileHistory[P]:
        """Start a history at version 1 (its diff lists every parameter)."""
        _attribution(author, reason)
        values = CONVERTER.unstructure(profile)
        first = ProfileVersion(name, 1, profile, author, reason, clock.now_ns(), _diff({}, values))
        return cls((first,))

    @property
    def active(self) -> ProfileVersion[P]:
        """The newest version."""
        return self.versions[-1]

    def get(self, version: int) -> ProfileVersion[P]:
        """A version by number.

        Raises:
            ProfileError: ``PROFILE_VERSION_UNKNOWN``.
        """
        if 1 <= version <= len(self.versions):
            return self.versions[version - 1]
        raise ProfileError(
            f"profile {self.active.name!r} has no version {version}",
            reason_code=reasons.PROFILE_VERSION_UNKNOWN,
        )

    def change(
        self, changes: Mapping[str, Any], *, author: str, reason: str, clock: Clock
    ) -> ProfileHistory[P]:
        """Validate ``changes`` and return the history with a new active version.

        Nothing changes on any error: the current history stays as it was.

        Raises:
            ProfileError: ``PROFILE_UNKNOWN_PARAMETER``, ``PROFILE_OUT_OF_BOUNDS``,
                ``PROFILE_NO_CHANGE``, ``PROFILE_CHANGE_UNATTRIBUTED`` or ``INVALID_INPUT``.
        """
        _attribution(author, reason)
        current = self.active
        cls = type(current.profile)
        old = CONVERTER.unstructure(current.profile)
        unknown = sorted(set(changes) - set(old))
        if unknown:
            raise ProfileError(
                f"{cls.__name__} has no parameter {', '.join(unknown)}",
                reason_code=reasons.PROFILE_UNKNOWN_PARAMETER,
            )
        profile = _build(cls, {**old, **changes})
        # An equal value written differently ("0.50" for 0.5) is no change: keep the current.
        same = {
            name: getattr(current.profile, name)
            for name in old
            if getattr(profile, name) == getattr(current.profile, name)
        }
        profile = attrs.evolve(profile, **same)
        new = CONVERTER.unstructure(profile)
        diff = _diff(old, new)
        if not diff:
            raise ProfileError(
                "the change leaves every value as it is", reason_code=reasons.PROFILE_NO_CHANGE
            )
        version = ProfileVersion(
            current.name, current.version + 1, profile, author, reason, clock.now_ns(), diff
        )
        return ProfileHistory((*self.versions, version))


_RECORD_KIND = "profile.version"


class ProfileStore(Generic[P]):
    """A profile history persisted in a hash-chained audit log.

    Each version is one ``profile.version`` audit record. Opening the store verifies the
    chain and rebuilds every version, so old versions stay readable and any tampering with
    the file is detected. A torn tail left by an interrupted write is set aside as
    :class:`~quant_core.audit.AuditLog` does before the next append (the torn version was
    never acknowledged, so it was never active).

    Args:
        path: the store's audit-log file.
        cls: :class:`RiskProfile` or :class:`StrategyProfile`.
        clock: timestamps for new versions.
    """

    def __init__(self, path: Path | str, cls: type[P], clock: Clock) -> None:
        self._log = AuditLog(path, clock)
        self._cls: type[P] = cls
        self._clock = clock
        self._history: ProfileHistory[P] | None = self._load()

    def _load(self) -> ProfileHistory[P] | None:
        versions = []
        # The writer's scan verifies the chain and sets a torn tail aside.
        for record in self._log.records():
            data = record.data
            if record.kind != _RECORD_KIND or data["kind"] != self._cls.KIND:
                continue
            versions.append(version_from_record(data, self._cls))
        return ProfileHistory(tuple(versions)) if versions else None

    def _defaults(self) -> ProfileHistory[P]:
        return ProfileHistory.create(
            self._cls(), author="system", reason="governed defaults", clock=self._clock
        )

    @property
    def history(self) -> ProfileHistory[P]:
        """The full history; a store never written to holds the governed defaults.

        The defaults are written as version 1 the first time the history is needed.
        """
        if self._history is None:
            history = self._defaults()
            self._log.append(_RECORD_KIND, history.active.to_record())
            self._history = history  # only once it is durable
        return self._history

    @property
    def active(self) -> P:
        """The active profile."""
        return self.history.active.profile

    def change(self, changes: Mapping[str, Any], *, author: str, reason: str) -> ProfileVersion[P]:
        """Validate, record durably, then activate a change; on any error nothing changes.

        In a store never written to, a refused change writes nothing, not even the defaults.
        """
        base = self._defaults() if self._history is None else self._history
        updated = base.change(changes, author=author, reason=reason, clock=self._clock)
        if self._history is None:
            self._log.append(_RECORD_KIND, base.active.to_record())
            self._history = base
        self._log.append(_RECORD_KIND, updated.active.to_record())
        self._history = updated
        return updated.active

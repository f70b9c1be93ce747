"""Deterministic fault injection for the provider emulator.

A :class:`FaultPlan` holds request-level rules (:class:`FaultRule`: a status burst, a delay, a
dropped connection, a truncated body, a short page, duplicated or shuffled rows) and data-level
changes driven by the emulator's clock (:class:`LateCandle`, :class:`Revision`). Every decision
is a pure function of the plan's seed, the rule's position and how many matching requests the
rule has seen, so a test that replays the same requests sees the same faults.

Examples:
    >>> plan = FaultPlan(rules=(FaultRule(FaultKind.RATE_LIMIT, dialect="coinapi", count=2),))
    >>> [plan.rules[0].fires(plan.seed, 0, m) for m in range(4)]
    [True, True, False, False]
    >>> FaultPlan.from_mapping({"rules": [{"kind": "drop", "first": 1}]}).rules[0].kind
    <FaultKind.DROP: 'drop'>
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from quant_core import derive_seed, iso_to_ns
from quant_core.errors import ValidationError
from quant_data import reasons
from quant_data._records import SourceBar

__all__ = ["FaultKind", "FaultPlan", "FaultRule", "LateCandle", "Revision"]


class FaultKind(enum.Enum):
    """What a :class:`FaultRule` does to a matching request."""

    RATE_LIMIT = "rate_limit"
    """The dialect's throttle answer: Kraken HTTP 200 ``EGeneral:Too many requests``; CoinAPI
    and CoinGecko HTTP 429 with ``Retry-After``."""
    SERVER_ERROR = "server_error"
    """An HTTP 5xx (``status``, default 503)."""
    STATUS = "status"
    """An explicit HTTP status with the dialect's error body (401, 403, 550, 400, ...)."""
    KRAKEN_ERROR = "kraken_error"
    """HTTP 200 with ``{"error": [message]}`` (Kraken only; default ``EService:Unavailable``)."""
    DELAY = "delay"
    """Answer normally after ``delay_s`` seconds (longer than the client timeout = a timeout)."""
    DROP = "drop"
    """Close the connection without answering."""
    TRUNCATE = "truncate"
    """Send only the first ``fraction`` of the body's bytes."""
    PARTIAL = "partial"
    """A valid page holding only the first ``fraction`` of its rows."""
    DUPLICATE = "duplicate"
    """Repeat ``rows`` rows of the page (each right after itself)."""
    OUT_OF_ORDER = "out_of_order"
    """Shuffle the page's rows (deterministically from the seed)."""


def _kind(value: FaultKind | str) -> FaultKind:
    try:
        return FaultKind(value)
    except ValueError:
        raise ValidationError(
            f"unknown fault kind {value!r}; known: {[k.value for k in FaultKind]}",
            reason_code=reasons.EMULATOR_INVALID,
        ) from None


@attrs.frozen
class FaultRule:
    """One request-level fault.

    A rule *matches* a request when ``dialect`` (``"kraken"``, ``"coinapi"``, ``"coingecko"``)
    and ``endpoint`` (a substring of the provider path, such as ``"OHLC"``) agree; ``None``
    matches anything. Matching requests are numbered from 0 per rule; the rule fires on numbers
    ``first`` to ``first + count - 1`` (``count=None``: from ``first`` on), each with
    ``probability`` (drawn from the plan seed, the rule index and the number).

    Attributes:
        kind: what happens.
        dialect: restrict to one dialect.
        endpoint: restrict to paths containing this text.
        first: the first matching request affected.
        count: how many matching requests are affected (``None`` = all from ``first``).
        probability: chance that an eligible request is affected (deterministic per seed).
        status: HTTP status for ``status``/``server_error``/``rate_limit``.
        retry_after_s: ``Retry-After`` seconds on 429 answers.
        delay_s: delay for ``delay``.
        fraction: body share for ``truncate``, row share for ``partial``.
        rows: rows repeated by ``duplicate``.
        message: Kraken error text for ``kraken_error`` (or a custom error message).
    """

    kind: FaultKind = attrs.field(converter=_kind)
    dialect: str | None = None
    endpoint: str | None = None
    first: int = 0
    count: int | None = 1
    probability: float = 1.0
    status: int | None = None
    retry_after_s: int = 1
    delay_s: float = 1.0
    fraction: float = 0.5
    rows: int = 1
    message: str | None = None

    def matches(self, dialect: str, path: str) -> bool:
        """Whether a request to ``path`` in ``dialect`` counts for this rule."""
        if self.dialect is not None and self.dialect != dialect:
            return False
        return self.endpoint is None or self.endpoint in path

    def fires(self, seed: int, rule_index: int, match_number: int) -> bool:
        """Whether the ``match_number``-th matching request is affected."""
        if match_number < self.first:
            return False
        if self.count is not None and match_number >= self.first + self.count:
            return False
        if self.probability >= 1.0:
            return True
        draw = derive_seed(seed, "faults", str(rule_index), str(match_number), bits=53)
        return draw / float(1 << 53) < self.probability


@attrs.frozen
class LateCandle:
    """A candle the source only shows once the emulator's clock reaches ``available_at_ns``.

    ``quote``/``timeframe`` ``None`` match any series of ``symbol``.
    """

    symbol: str
    open_time_ns: int
    available_at_ns: int
    quote: str | None = None
    timeframe: str | None = None

    def hides(self, symbol: str, quote: str, timeframe: str, open_ns: int, now_ns: int) -> bool:
        """Whether the candle is still hidden at ``now_ns``."""
        return (
            symbol == self.symbol
            and open_ns == self.open_time_ns
            and self.quote in (None, quote)
            and self.timeframe in (None, timeframe)
            and now_ns < self.available_at_ns
        )


@attrs.frozen
class Revision:
    """New values for a candle, served once the clock reaches ``effective_at_ns``.

    Fields left ``None`` keep the original value. Before ``effective_at_ns`` the original is
    served, after it the revised one: the same request returns different candles over time.
    """

    symbol: str
    open_time_ns: int
    effective_at_ns: int
    open: str | None = None
    high: str | None = None
    low: str | None = None
    close: str | None = None
    volume: str | None = None
    quote: str | None = None
    timeframe: str | None = None

    def applies(self, symbol: str, quote: str, timeframe: str, open_ns: int, now_ns: int) -> bool:
        """Whether the revision is in force for this candle at ``now_ns``."""
        return (
            symbol == self.symbol
            and open_ns == self.open_time_ns
            and self.quote in (None, quote)
            and self.timeframe in (None, timeframe)
            and now_ns >= self.effective_at_ns
        )

    def apply(self, bar: SourceBar) -> SourceBar:
        """``bar`` with this revision's values."""
        return attrs.evolve(
            bar,
            open=self.open if self.open is not None else bar.open,
            high=self.high if self.high is not None else bar.high,
            low=self.low if self.low is not None else bar.low,
            close=self.close if self.close is not None else bar.close,
            volume=self.volume if self.volume is not None else bar.volume,
        )


def _rules(items: Iterable[FaultRule]) -> tuple[FaultRule, ...]:
    return tuple(items)


def _lates(items: Iterable[LateCandle]) -> tuple[LateCandle, ...]:
    return tuple(items)


def _revisions(items: Iterable[Revision]) -> tuple[Revision, ...]:
    return tuple(items)


def _instant(value: Any) -> int:
    return iso_to_ns(value) if isinstance(value, str) else int(value)


@attrs.frozen
class FaultPlan:
    """Everything that goes wrong, deterministically.

    Attributes:
        rules: request-level faults; the first rule that fires on a request applies.
        late: candles that appear late.
        revisions: candles whose values change over time.
        seed: seed for probabilistic rules and row shuffles.
    """

    rules: tuple[FaultRule, ...] = attrs.field(default=(), converter=_rules)
    late: tuple[LateCandle, ...] = attrs.field(default=(), converter=_lates)
    revisions: tuple[Revision, ...] = attrs.field(default=(), converter=_revisions)
    seed: int = 0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FaultPlan:
        """Build a plan from plain data (a parsed JSON faults file).

        Instants may be ISO-8601 text or integer nanoseconds.

        Raises:
            ValidationError: ``EMULATOR_INVALID`` for unknown keys or kinds.
        """
        # Hand-written, not the cattrs converter: the faults file takes instants as ISO text or ns.
        try:
            rules = tuple(FaultRule(**dict(r)) for r in data.get("rules", ()))
            late = tuple(
                LateCandle(
                    **{
                        **dict(x),
                        "open_time_ns": _instant(x["open_time_ns"]),
                        "available_at_ns": _instant(x["available_at_ns"]),
                    }
                )
                for x in data.get("late", ())
            )
            revisions = tuple(
                Revision(
                    **{
                        **dict(x),
                        "open_time_ns": _instant(x["open_time_ns"]),
                        "effective_at_ns": _instant(x["effective_at_ns"]),
                    }
                )
                for x in data.get("revisions", ())
            )
            unknown = set(data) - {"rules", "late", "revisions", "seed"}
            if unknown:
                raise TypeError(f"unknown keys {sorted(unknown)}")
            return cls(rules=rules, late=late, revisions=revisions, seed=int(data.get("seed", 0)))
        except (TypeError, KeyError, ValueError) as exc:
            raise ValidationError(
                f"invalid fault plan: {exc}", reason_code=reasons.EMULATOR_INVALID
            ) from None

    @classmethod
    def from_file(cls, path: Path) -> FaultPlan:
        """Read a JSON faults file (see :meth:`from_mapping`).

        Raises:
            ValidationError: ``EMULATOR_INVALID`` when the file is unreadable or not JSON.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ValidationError(
                f"cannot read faults file {path}: {exc}", reason_code=reasons.EMULATOR_INVALID
            ) from None
        if not isinstance(data, dict):
            raise ValidationError(
                f"faults file {path} must hold a JSON object", reason_code=reasons.EMULATOR_INVALID
            )
        return cls.from_mapping(data)

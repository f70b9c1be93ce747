r"""Governed profiles for a session: the profile file, and one book of active versions.

:func:`load_profiles` reads a JSON or TOML profile file (``quant backtest --profile`` and
``quant paper --profile``). A :class:`ProfileBook` holds a session's strategy and risk
profile histories: it is the one place new versions are made, whether an operator applies a
profile (:meth:`ProfileBook.propose`) or the watched profile file was edited
(:meth:`ProfileBook.poll`).

Examples:
    >>> import tempfile
    >>> from quant_core import SimClock
    >>> path = Path(tempfile.mkdtemp()) / "profile.toml"
    >>> _ = path.write_text("[risk]\nmax_concurrent_positions = 3\n", encoding="utf-8")
    >>> config = BacktestConfig.from_profiles(*load_profiles(path))
    >>> book = ProfileBook(config, SimClock(5), path=path)
    >>> book.poll() == ProfileUpdate()
    True
    >>> _ = path.write_text("[risk]\nmax_concurrent_positions = 2\n", encoding="utf-8")
    >>> update = book.poll()
    >>> update.strategy, update.risk.version, update.risk.author
    (None, 2, 'profile-file')
    >>> _ = path.write_text("[risk]\nmax_concurrent_positions = -1\n", encoding="utf-8")
    >>> book.poll().refused.split("]")[0]
    '[PROFILE_OUT_OF_BOUNDS'
    >>> book.propose(None, RiskProfile(max_concurrent_positions=1), author="ops",
    ...              reason="drill").risk.version
    3
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import attrs

from quant_core import Clock, bytes_hash, structure, unstructure
from quant_core import reasons as core_reasons
from quant_core.errors import ProfileError, QuantError, ValidationError
from quant_core.profiles import ProfileHistory, ProfileVersion, RiskProfile, StrategyProfile
from quant_exec import BacktestConfig

__all__ = [
    "FILE_AUTHOR",
    "ProfileBook",
    "ProfileUpdate",
    "load_profiles",
    "structure_profile",
    "value_changes",
]

FILE_AUTHOR = "profile-file"
"""Who a version made from an edit of the profile file is attributed to."""
P = TypeVar("P", StrategyProfile, RiskProfile)


def _plain(value: Any) -> Any:
    """JSON/TOML floats are taken as the decimal digits they print as."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def structure_profile(raw: Any, cls: type[P], *, where: str = "", base: P | None = None) -> P:
    """Structure raw parameters (a file's table, a request's body) into a governed profile.

    The one path from outside data to a profile: quant_core's converter refuses unknown keys
    and malformed values, the profile's bounds refuse values outside them. ``base``'s values
    fill what ``raw`` leaves out (``None``: the governed defaults do).

    Raises:
        ProfileError: ``PROFILE_UNKNOWN_PARAMETER`` for a key the profile lacks,
            ``PROFILE_OUT_OF_BOUNDS`` for a value outside its bounds, ``INVALID_INPUT`` for
            anything else (``raw`` not a table, a value of the wrong type).

    Examples:
        >>> structure_profile({"max_concurrent_positions": 2}, RiskProfile).drawdown_limit_pct
        Decimal('15')
        >>> structure_profile({"colour": 1}, RiskProfile, where="risk")
        Traceback (most recent call last):
        ...
        quant_core.errors.ProfileError: [PROFILE_UNKNOWN_PARAMETER] risk: ...
    """
    prefix = f"{where}: " if where else ""
    if not isinstance(raw, Mapping):
        raise ProfileError(
            f"{prefix}a {cls.KIND} profile is a table of parameters, not {type(raw).__name__}",
            reason_code=core_reasons.INVALID_INPUT,
        )
    values = raw if base is None else {**unstructure(base), **raw}
    try:
        return structure(_plain(values), cls)
    except ProfileError:
        raise
    except ValidationError as exc:
        unknown = exc.reason_code == core_reasons.UNKNOWN_KEY
        code = core_reasons.PROFILE_UNKNOWN_PARAMETER if unknown else core_reasons.INVALID_INPUT
        raise ProfileError(f"{prefix}{exc.message}", reason_code=code) from None


def value_changes(kind: str, active: P, raw: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """What laying ``raw`` over ``active`` would change: ``[{profile, name, old, new}]``.

    Raises:
        ProfileError: as :func:`structure_profile` refuses ``raw``.

    Examples:
        >>> value_changes("risk", RiskProfile(), {"max_concurrent_positions": 3})
        [{'profile': 'risk', 'name': 'max_concurrent_positions', 'old': 5, 'new': 3}]
    """
    if raw is None:
        return []
    new = structure_profile(raw, type(active), where=kind, base=active)
    old_values, new_values = unstructure(active), unstructure(new)
    return [
        {"profile": kind, "name": name, "old": old_values[name], "new": new_values[name]}
        for name in new_values
        if getattr(new, name) != getattr(active, name)
    ]


def load_profiles(path: Path) -> tuple[StrategyProfile, RiskProfile]:
    """Read a JSON or TOML profile file with optional ``strategy`` and ``risk`` tables.

    Missing tables or parameters take the governed defaults; unknown keys and out-of-bounds
    values are refused by quant_core's converter and profile bounds
    (:func:`structure_profile`).

    Raises:
        ProfileError: the file is unreadable, malformed, or a value is refused.
    """
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise ProfileError(
            f"{path}: not a JSON/TOML profile file: {exc}", reason_code=core_reasons.INVALID_INPUT
        ) from None
    if not isinstance(raw, dict) or set(raw) - {"strategy", "risk"}:
        raise ProfileError(
            f"{path}: a profile file has only 'strategy' and 'risk' tables",
            reason_code=core_reasons.PROFILE_UNKNOWN_PARAMETER,
        )
    strategy = structure_profile(raw.get("strategy", {}), StrategyProfile, where=str(path))
    risk = structure_profile(raw.get("risk", {}), RiskProfile, where=str(path))
    return strategy, risk


@attrs.frozen
class ProfileUpdate:
    """What a profile change produced.

    Attributes:
        strategy: the new strategy profile version, when its values changed.
        risk: the new risk profile version, when its values changed.
        refused: why a change was refused (``"[REASON_CODE] message"``), else empty.
        reason_code: the refusal's reason code (``None``: not refused).
    """

    strategy: ProfileVersion[StrategyProfile] | None = None
    risk: ProfileVersion[RiskProfile] | None = None
    refused: str = ""
    reason_code: str | None = None

    @classmethod
    def refusal(cls, exc: QuantError) -> ProfileUpdate:
        """The update that refuses a change for ``exc``."""
        return cls(refused=f"[{exc.reason_code}] {exc.message}", reason_code=exc.reason_code)

    @property
    def changed(self) -> bool:
        """Whether a new version was made."""
        return self.strategy is not None or self.risk is not None


class ProfileBook:
    """A session's strategy and risk profile histories: the one maker of new versions.

    The session starts on ``config``'s versions. :meth:`propose` turns profiles into the
    next versions of what differs (attributed to ``author``, stamped by ``clock``, carrying
    their diff); both are checked before either changes. :meth:`poll` reads the watched file
    (``path``): unchanged bytes give nothing; changed bytes are validated as ``quant backtest
    --profile`` validates them and proposed, attributed to :data:`FILE_AUTHOR` with the
    file's new hash as the reason. A file that fails validation is refused as a whole, the
    last good versions stay active, and the same bytes are not reported again.

    Args:
        config: the session's configuration (its active versions are the starting point).
        clock: stamps the new versions.
        path: the profile file to watch (``None``: no file).
    """

    def __init__(self, config: BacktestConfig, clock: Clock, *, path: Path | None = None) -> None:
        """Start from ``config``'s active versions and the file's current bytes."""
        self.path, self.clock = path, clock
        self.strategy: ProfileHistory[StrategyProfile] = ProfileHistory((config.strategy,))
        self.risk: ProfileHistory[RiskProfile] = ProfileHistory((config.risk,))
        self._seen = self._digest()

    def _digest(self) -> str:
        if self.path is None:
            return ""
        try:
            return bytes_hash(self.path.read_bytes())
        except OSError as exc:
            return f"unreadable: {exc}"

    def propose(
        self,
        strategy: StrategyProfile | None,
        risk: RiskProfile | None,
        *,
        author: str,
        reason: str,
    ) -> ProfileUpdate:
        """New versions for the values of ``strategy`` and ``risk`` that differ from now's.

        ``None`` leaves that profile as it is. A version the history refuses (an empty
        author or reason, say) refuses the whole proposal.
        """
        try:
            new_strategy = _next(self.strategy, strategy, author, reason, self.clock)
            new_risk = _next(self.risk, risk, author, reason, self.clock)
        except QuantError as exc:
            return ProfileUpdate.refusal(exc)
        update = ProfileUpdate(
            strategy=new_strategy.active if new_strategy is not self.strategy else None,
            risk=new_risk.active if new_risk is not self.risk else None,
        )
        self.strategy, self.risk = new_strategy, new_risk
        return update

    def propose_values(
        self,
        strategy: StrategyProfile | Mapping[str, Any] | None,
        risk: RiskProfile | Mapping[str, Any] | None,
        *,
        author: str,
        reason: str,
    ) -> ProfileUpdate:
        """:meth:`propose` profiles, or raw parameters laid over the active versions' values.

        A raw table (anything but a profile: a request's body) keeps the active values of
        the parameters it leaves out and is structured by :func:`structure_profile`, so a
        request is refused with the reason codes a profile file gets.
        """
        try:
            if strategy is not None and not isinstance(strategy, StrategyProfile):
                base_strategy = self.strategy.active.profile
                strategy = structure_profile(
                    strategy, StrategyProfile, where="strategy", base=base_strategy
                )
            if risk is not None and not isinstance(risk, RiskProfile):
                risk = structure_profile(
                    risk, RiskProfile, where="risk", base=self.risk.active.profile
                )
        except QuantError as exc:
            return ProfileUpdate.refusal(exc)
        return self.propose(strategy, risk, author=author, reason=reason)

    def poll(self) -> ProfileUpdate:
        """New versions for what the file changed since the last poll (see the class docs)."""
        digest = self._digest()
        if self.path is None or digest == self._seen:
            return ProfileUpdate()
        self._seen = digest
        try:
            strategy, risk = load_profiles(self.path)
        except QuantError as exc:
            return ProfileUpdate.refusal(exc)
        reason = f"{self.path.name} changed ({digest})"
        return self.propose(strategy, risk, author=FILE_AUTHOR, reason=reason)


def _next(
    history: ProfileHistory[P], profile: P | None, author: str, reason: str, clock: Clock
) -> ProfileHistory[P]:
    """``history`` with ``profile``'s differing values as its next version (itself if none)."""
    if profile is None:
        return history
    old, new = unstructure(history.active.profile), unstructure(profile)
    changes = {name: new[name] for name in new if new[name] != old[name]}
    if not changes:
        return history
    return history.change(changes, author=author, reason=reason, clock=clock)

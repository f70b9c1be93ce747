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

__all__ = ["FILE_AUTHOR", "ProfileBook", "ProfileUpdate", "load_profiles"]

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


def load_profiles(path: Path) -> tuple[StrategyProfile, RiskProfile]:
    """Read a JSON or TOML profile file with optional ``strategy`` and ``risk`` tables.

    Missing tables or parameters take the governed defaults; unknown keys and out-of-bounds
    values are refused by quant_core's converter and profile bounds.

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
    try:
        strategy = structure(_plain(raw.get("strategy", {})), StrategyProfile)
        risk = structure(_plain(raw.get("risk", {})), RiskProfile)
    except ProfileError:
        raise
    except ValidationError as exc:
        unknown = exc.reason_code == core_reasons.UNKNOWN_KEY
        code = core_reasons.PROFILE_UNKNOWN_PARAMETER if unknown else core_reasons.INVALID_INPUT
        raise ProfileError(f"{path}: {exc.message}", reason_code=code) from None
    return strategy, risk


@attrs.frozen
class ProfileUpdate:
    """What a profile change produced.

    Attributes:
        strategy: the new strategy profile version, when its values changed.
        risk: the new risk profile version, when its values changed.
        refused: why a change was refused (``"[REASON_CODE] message"``), else empty.
    """

    strategy: ProfileVersion[StrategyProfile] | None = None
    risk: ProfileVersion[RiskProfile] | None = None
    refused: str = ""

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
            return ProfileUpdate(refused=f"[{exc.reason_code}] {exc.message}")
        update = ProfileUpdate(
            strategy=new_strategy.active if new_strategy is not self.strategy else None,
            risk=new_risk.active if new_risk is not self.risk else None,
        )
        self.strategy, self.risk = new_strategy, new_risk
        return update

    def poll(self) -> ProfileUpdate:
        """New versions for what the file changed since the last poll (see the class docs)."""
        digest = self._digest()
        if self.path is None or digest == self._seen:
            return ProfileUpdate()
        self._seen = digest
        try:
            strategy, risk = load_profiles(self.path)
        except QuantError as exc:
            return ProfileUpdate(refused=f"[{exc.reason_code}] {exc.message}")
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

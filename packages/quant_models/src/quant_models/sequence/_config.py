"""The frozen configuration of a sequence model: resolutions, horizons, network and training.

Examples:
    >>> config = SequenceConfig(family="transformer")
    >>> [(r.name, r.steps, r.bars) for r in config.resolutions]
    [('short', 24, 1), ('medium', 14, 24), ('long', 8, 168)]
    >>> config.lookback, SequenceConfig.from_dict(config.to_dict()) == config
    (1351, True)
    >>> SequenceConfig(family="gru")
    Traceback (most recent call last):
    ...
    quant_models._errors.ConfigError: [SEQUENCE_FAMILY_UNKNOWN] unknown sequence family 'gru'...
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from quant_models import reasons
from quant_models._errors import ConfigError

__all__ = ["FAMILIES", "FEATURES", "Resolution", "SequenceConfig"]

FAMILIES = ("lstm", "transformer")
"""The sequence-model families."""

FEATURES = ("log_return", "log_range", "volume_z")
"""The inputs of every window step, in order (see :func:`quant_models.sequence.build_windows`)."""


def _positive(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _fraction(value: float, name: str, *, low: float, high: float) -> None:
    if not isinstance(value, int | float) or not low <= value < high:
        raise ConfigError(f"{name} must be in [{low}, {high}), got {value!r}")


@attrs.frozen
class Resolution:
    """One input sequence: ``steps`` consecutive blocks of ``bars`` grid bars each.

    The last block ends at the decision bar, so a resolution looks back ``steps * bars`` bars
    (plus one for the first block's return).

    Attributes:
        name: a label (``"short"``, ``"medium"``, ``"long"``).
        steps: sequence length.
        bars: grid bars per step (1 = hourly steps on an hourly grid, 24 = daily, 168 = weekly).
    """

    name: str
    steps: int
    bars: int

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"a resolution needs a name, got {self.name!r}")
        _positive(self.steps, f"resolution {self.name!r}: steps")
        _positive(self.bars, f"resolution {self.name!r}: bars")


DEFAULT_RESOLUTIONS = (
    Resolution("short", 24, 1),
    Resolution("medium", 14, 24),
    Resolution("long", 8, 168),
)


def _ints(value: Iterable[int]) -> tuple[int, ...]:
    return tuple(value)


def _resolutions(value: Any) -> tuple[Resolution, ...]:
    return tuple(r if isinstance(r, Resolution) else Resolution(**r) for r in value)


@attrs.frozen
class SequenceConfig:
    """What a sequence model is and how it trains; canonical-JSON-able through :meth:`to_dict`.

    Attributes:
        family: ``"lstm"`` or ``"transformer"``.
        resolutions: the input sequences (1 to 4, distinct names).
        horizons: forecast horizons in bars, ascending, distinct.
        risk_bars: the risk head predicts the realised volatility of the next ``risk_bars`` bars.
        hidden: encoder width (LSTM hidden size, Transformer model width).
        heads: attention heads of the Transformer (must divide ``hidden``).
        layers: Transformer layers per resolution.
        dropout: dropout rate while training.
        weight_decay: AdamW weight decay.
        learning_rate: AdamW learning rate.
        batch_size: rows per gradient step.
        max_epochs: the most passes over the training rows.
        patience: epochs without a better validation loss before stopping.
        validation_fraction: the newest share of the training range used for early stopping.
        move_weight: weight of the expected-move Huber loss.
        risk_weight: weight of the risk Huber loss.
        gap_fill_bars: the longest run of missing bars a window bridges (decision 0125): each
            such bar reads as a bar without trades (high, low and close at the last close,
            volume 0); a longer gap leaves every window that reaches it invalid. ``0`` never
            fills (what models saved before this setting existed read as).
    """

    family: str = "lstm"
    resolutions: tuple[Resolution, ...] = attrs.field(
        default=DEFAULT_RESOLUTIONS, converter=_resolutions
    )
    horizons: tuple[int, ...] = attrs.field(default=(1, 4, 24), converter=_ints)
    risk_bars: int = 24
    hidden: int = 16
    heads: int = 2
    layers: int = 1
    dropout: float = 0.1
    weight_decay: float = 1e-4
    learning_rate: float = 2e-3
    batch_size: int = 256
    max_epochs: int = 20
    patience: int = 3
    validation_fraction: float = 0.2
    move_weight: float = 0.5
    risk_weight: float = 0.25
    gap_fill_bars: int = 6

    def __attrs_post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ConfigError(
                f"unknown sequence family {self.family!r}; known: {', '.join(FAMILIES)}",
                reason_code=reasons.SEQUENCE_FAMILY_UNKNOWN,
            )
        names = [r.name for r in self.resolutions]
        if not 1 <= len(names) <= 4 or len(set(names)) != len(names):
            raise ConfigError(f"1 to 4 resolutions with distinct names expected, got {names}")
        if not self.horizons:
            raise ConfigError("at least one horizon is needed")
        for h in self.horizons:
            _positive(h, "a horizon")
        if list(self.horizons) != sorted(set(self.horizons)):
            raise ConfigError(f"horizons must be ascending and distinct, got {self.horizons}")
        for name in ("risk_bars", "hidden", "heads", "layers", "batch_size", "max_epochs"):
            _positive(getattr(self, name), name)
        _positive(self.patience, "patience")
        if isinstance(self.gap_fill_bars, bool) or not isinstance(self.gap_fill_bars, int):
            raise ConfigError(f"gap_fill_bars must be an integer, got {self.gap_fill_bars!r}")
        if self.gap_fill_bars < 0:
            raise ConfigError(f"gap_fill_bars must be 0 or more, got {self.gap_fill_bars}")
        if self.hidden % self.heads:
            raise ConfigError(f"heads ({self.heads}) must divide hidden ({self.hidden})")
        _fraction(self.dropout, "dropout", low=0.0, high=1.0)
        _fraction(self.validation_fraction, "validation_fraction", low=0.05, high=0.9)
        for name in ("weight_decay", "learning_rate", "move_weight", "risk_weight"):
            _fraction(getattr(self, name), name, low=0.0, high=float("inf"))
        if self.learning_rate == 0:
            raise ConfigError("learning_rate must be above 0")

    @property
    def lookback(self) -> int:
        """Grid bars a window needs: the longest span plus one, plus ``gap_fill_bars``.

        The bars before the span are what a missing first bar of the span is filled from.
        """
        return max(r.steps * r.bars for r in self.resolutions) + 1 + self.gap_fill_bars

    @property
    def label_bars(self) -> int:
        """Bars a label looks ahead: the longest horizon or the risk span."""
        return max(*self.horizons, self.risk_bars)

    def to_dict(self) -> dict[str, Any]:
        """The config as plain JSON values (for ``sequence.json``)."""
        out: dict[str, Any] = attrs.asdict(self, recurse=True)
        out["resolutions"] = [attrs.asdict(r) for r in self.resolutions]
        out["horizons"] = list(self.horizons)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SequenceConfig:
        """Rebuild from :meth:`to_dict` output.

        Args:
            data: the mapping.

        Raises:
            ConfigError: an unknown field or a value that breaks the rules above.
        """
        known = {f.name for f in attrs.fields(cls)}
        extra = sorted(set(data) - known)
        if extra:
            raise ConfigError(f"unknown sequence config fields {extra}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"malformed sequence config: {exc}") from exc

"""The market context a model set needs at run time, derived from what it was trained on.

A model set trained with cross-asset features (``cross_windows`` not empty) reads, for every
coin it predicts, the return of the *reference coin* (``ref_ret_w``), the equal-weight return
of the *market panel* (``mkt_ret_w``: the mean over the coins present in the panel it is
given) and the coin's return relative to that market (``rel_ret_w``). A run that gives it one
coin computes those features from that coin alone: no reference return (``NaN``) and a
"market" that is the coin itself (relative return identically zero), inputs the model never
saw in training. Its probabilities then sit near the base rate and the strategy never trades,
silently.

:func:`context_need` states what a set needs, from its public attributes only: the reference
coin when the set was trained with it (the feature config's ``reference_symbol`` among the
training coins), the market panel (the training coins) and how many of them must be present.
:meth:`ContextNeed.check` refuses a run whose coins fall short, with ``CONTEXT_MISSING`` and a
message naming what is missing (decision 0116).

The minimum panel count is :data:`MIN_MARKET_COINS` (or the whole panel when it is smaller):
two coins is the least for which the market return is not the predicted coin's own return. A
panel smaller than the training panel still makes a noisier market than the model was
trained on; a run reports how many panel coins it had.

Examples:
    >>> need = ContextNeed(reference="BTC", panel=("BTC", "ETH", "SOL"), min_panel=2)
    >>> need.context_coins(["ETH", "SOL", "DOGE"])
    ('ETH', 'SOL')
    >>> need.check(["BTC", "ETH"])
    >>> need.check(["ETH"])
    Traceback (most recent call last):
    ...
    quant_models._errors.DataError: [CONTEXT_MISSING] the model set needs market context ...
    >>> ContextNeed().needed
    False
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from quant_models import reasons
from quant_models._errors import DataError
from quant_models._persistence import ModelSet

__all__ = ["MIN_MARKET_COINS", "ContextNeed", "context_need"]

MIN_MARKET_COINS = 2
"""The fewest market-panel coins a run must have (fewer when the panel itself is smaller)."""


@attrs.frozen
class ContextNeed:
    """The cross-asset context a model set needs at run time.

    Attributes:
        reference: the reference coin whose returns are features of every coin, or ``None``.
        panel: the coins whose bars formed the market return in training, sorted.
        min_panel: how many of ``panel`` a run must have.
    """

    reference: str | None = None
    panel: tuple[str, ...] = ()
    min_panel: int = 0

    @property
    def needed(self) -> bool:
        """Whether the set needs any context at all."""
        return self.reference is not None or self.min_panel > 0

    def context_coins(self, available: Iterable[str]) -> tuple[str, ...]:
        """The coins of ``available`` that are context for the set (reference and panel)."""
        wanted = {*self.panel, *([] if self.reference is None else [self.reference])}
        return tuple(sorted(wanted.intersection(available)))

    def shortfall(self, available: Iterable[str]) -> str | None:
        """What ``available`` lacks, in words, or ``None`` when it supplies the context.

        Examples:
            >>> ContextNeed("BTC", ("BTC", "ETH"), 2).shortfall(["ETH"])
            'reference coin BTC; at least 2 market-panel coins of BTC, ETH (have 1: ETH)'
        """
        have = set(available)
        missing = []
        if self.reference is not None and self.reference not in have:
            missing.append(f"reference coin {self.reference}")
        present = [s for s in self.panel if s in have]
        if len(present) < self.min_panel:
            missing.append(
                f"at least {self.min_panel} market-panel coins of {', '.join(self.panel)} "
                f"(have {len(present)}{': ' if present else ''}{', '.join(present)})"
            )
        return "; ".join(missing) or None

    def check(self, available: Iterable[str]) -> None:
        """Refuse a run whose coins ``available`` do not supply the context.

        Args:
            available: every coin whose bars the run gives the predictor (traded or not).

        Raises:
            DataError: ``CONTEXT_MISSING``, naming the reference coin or the panel shortfall.
        """
        missing = self.shortfall(available)
        if missing is not None:
            raise DataError(
                f"the model set needs market context it was trained with and this run lacks "
                f"it: {missing}. Give the predictor those coins' bars (they are context only, "
                "not traded)",
                reason_code=reasons.CONTEXT_MISSING,
            )

    def to_dict(self) -> dict[str, Any]:
        """The need as plain data (what a run's summary records).

        Examples:
            >>> ContextNeed("BTC", ("BTC", "ETH"), 2).to_dict()
            {'reference': 'BTC', 'panel': ['BTC', 'ETH'], 'min_panel': 2}
        """
        return {"reference": self.reference, "panel": list(self.panel), "min_panel": self.min_panel}


def context_need(model_set: ModelSet) -> ContextNeed:
    """The context ``model_set`` needs, derived from its feature config and training coins.

    Without cross windows nothing is needed. With them, the market panel is the training
    coins and the reference coin is needed when it was among them (otherwise its features
    were missing in training too).

    Args:
        model_set: the trained set (only its public attributes are read).

    Returns:
        The need; ``ContextNeed()`` when the set uses no cross-asset features.

    Examples:
        >>> from quant_models.features import FeatureConfig, FeatureSchema
        >>> cfg = FeatureConfig(cross_windows=(1,))
        >>> ms = ModelSet(FeatureSchema.of(cfg, "1h"), cfg, "USD", ("ETH", "BTC", "SOL"),
        ...               "sha256:d", (), ())
        >>> context_need(ms)
        ContextNeed(reference='BTC', panel=('BTC', 'ETH', 'SOL'), min_panel=2)
    """
    config = model_set.feature_config
    if not config.cross_windows:
        return ContextNeed()
    panel = tuple(sorted(model_set.symbols))
    reference = config.reference_symbol if config.reference_symbol in panel else None
    return ContextNeed(reference, panel, min(len(panel), MIN_MARKET_COINS))

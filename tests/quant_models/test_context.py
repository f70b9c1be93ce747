"""The context a model set declares it needs (decision 0116), derived from its training."""

from __future__ import annotations

import pytest

from quant_core.errors import QuantError
from quant_models import ContextNeed, ModelSet, context_need, reasons
from quant_models.features import FeatureConfig, FeatureSchema


def _set(symbols: tuple[str, ...], **config: object) -> ModelSet:
    cfg = FeatureConfig(**config)  # type: ignore[arg-type]
    return ModelSet(FeatureSchema.of(cfg, "1h"), cfg, "USD", symbols, "sha256:d", (), ())


def test_a_set_with_cross_features_needs_its_reference_and_its_training_panel() -> None:
    symbols = ("SOL", "BTC", "ETH", "ADA")
    need = context_need(_set(symbols, cross_windows=(1, 24), reference_symbol="BTC"))
    assert need.reference == "BTC"
    assert need.panel == tuple(sorted(symbols))
    assert 2 <= need.min_panel <= len(symbols)
    assert need.needed


def test_a_set_without_cross_features_needs_nothing() -> None:
    need = context_need(_set(("BTC", "ETH"), cross_windows=()))
    assert need == ContextNeed()
    assert not need.needed
    need.check([])  # anything goes


def test_a_reference_coin_absent_from_training_is_not_required() -> None:
    need = context_need(_set(("ETH", "SOL"), cross_windows=(1,), reference_symbol="BTC"))
    assert need.reference is None
    need.check(["ETH", "SOL"])


def test_a_one_coin_panel_needs_only_itself() -> None:
    need = context_need(_set(("ETH",), cross_windows=(1,), reference_symbol="BTC"))
    assert need.min_panel == 1
    need.check(["ETH"])


@pytest.mark.parametrize(
    ("available", "named"),
    [
        (["ETH", "SOL"], "reference coin BTC"),
        (["BTC"], "have 1: BTC"),
        ([], "have 0)"),
    ],
)
def test_a_shortfall_is_refused_with_the_code_naming_what_is_missing(
    available: list[str], named: str
) -> None:
    need = context_need(_set(("BTC", "ETH", "SOL"), cross_windows=(1,)))
    with pytest.raises(QuantError) as err:
        need.check(available)
    assert err.value.reason_code == reasons.CONTEXT_MISSING
    assert named in err.value.message


def test_context_coins_are_the_reference_and_panel_coins_available() -> None:
    need = ContextNeed("BTC", ("ETH", "SOL"), 1)
    assert need.context_coins(["BTC", "DOGE", "SOL"]) == ("BTC", "SOL")
    assert ContextNeed(None, ("ETH",), 1).context_coins(["ETH", "BTC"]) == ("ETH",)
    assert need.to_dict()["panel"] == ["ETH", "SOL"]

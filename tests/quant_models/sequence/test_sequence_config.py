"""SequenceConfig: validation with clear messages, and its JSON form."""

from __future__ import annotations

import json
from typing import Any

import pytest

from quant_core import canonical_json
from quant_models import ConfigError, reasons
from quant_models.sequence import Resolution, SequenceConfig


def test_round_trips_through_canonical_json() -> None:
    config = SequenceConfig(family="transformer", horizons=(1, 4), hidden=8, heads=4)
    text = canonical_json(config.to_dict())
    assert SequenceConfig.from_dict(json.loads(text)) == config
    assert config.lookback == 8 * 168 + 1 + config.gap_fill_bars
    assert config.label_bars == 24


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"family": "gru"}, "unknown sequence family"),
        ({"resolutions": ()}, "1 to 4 resolutions"),
        ({"resolutions": (Resolution("a", 2, 1), Resolution("a", 3, 1))}, "distinct names"),
        ({"horizons": ()}, "at least one horizon"),
        ({"horizons": (0,)}, "a horizon must be a positive integer"),
        ({"horizons": (4, 1)}, "ascending and distinct"),
        ({"hidden": 0}, "hidden must be"),
        ({"patience": True}, "patience must be"),
        ({"hidden": 6, "heads": 4}, "must divide"),
        ({"dropout": 1.0}, "dropout must be in"),
        ({"validation_fraction": 0.01}, "validation_fraction"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"learning_rate": 0.0}, "learning_rate must be above 0"),
        ({"move_weight": "x"}, "move_weight"),
        ({"gap_fill_bars": True}, "gap_fill_bars must be an integer"),
        ({"gap_fill_bars": 1.5}, "gap_fill_bars must be an integer"),
        ({"gap_fill_bars": -1}, "gap_fill_bars must be 0 or more"),
    ],
)
def test_refuses_bad_values_with_a_config_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        SequenceConfig(**overrides)
    expected = reasons.SEQUENCE_FAMILY_UNKNOWN if "family" in overrides else reasons.CONFIG_INVALID
    assert err.value.reason_code == expected


@pytest.mark.parametrize(
    ("name", "steps", "bars", "message"),
    [("", 1, 1, "needs a name"), ("a", 0, 1, "steps"), ("a", 1, -1, "bars")],
)
def test_resolutions_are_checked(name: str, steps: int, bars: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Resolution(name, steps, bars)


def test_from_dict_refuses_unknown_and_malformed_fields() -> None:
    good = SequenceConfig().to_dict()
    with pytest.raises(ConfigError, match="unknown sequence config fields"):
        SequenceConfig.from_dict(good | {"colour": 1})
    with pytest.raises(ConfigError, match="malformed"):
        SequenceConfig.from_dict(good | {"resolutions": [{"name": "x"}]})

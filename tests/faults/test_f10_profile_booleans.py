"""Finding 10: booleans were accepted as integers in profile files.

``"persistence": true`` in a profile file became ``persistence = 1``, because the converter
turned every value of an ``int`` field with ``int()``. A boolean is now refused wherever the
converter builds a number, with ``INVALID_INPUT`` and a message naming the field.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime.trading.profiles import load_profiles
from quant_core import SimClock, reasons, structure
from quant_core.errors import ProfileError, ValidationError
from quant_core.profiles import ProfileHistory, StrategyProfile


@pytest.mark.parametrize(
    ("name", "text", "field"),
    [
        ("p.json", '{"strategy": {"persistence": true}}', "StrategyProfile.persistence"),
        ("p.json", '{"strategy": {"dip_lookback_bars": false}}', "dip_lookback_bars"),
        ("p.json", '{"strategy": {"sensitivity": true}}', "StrategyProfile.sensitivity"),
        ("p.json", '{"risk": {"max_concurrent_positions": true}}', "max_concurrent_positions"),
        (
            "p.json",
            '{"risk": {"max_total_exposure": {"mode": "absolute", "value": true}}}',
            "RiskProfile.max_total_exposure.value",
        ),
        ("p.toml", "[strategy]\npersistence = true\n", "StrategyProfile.persistence"),
    ],
)
def test_a_boolean_in_a_profile_file_is_refused_naming_the_field(
    tmp_path: Path, name: str, text: str, field: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    assert info.value.reason_code == reasons.INVALID_INPUT
    assert field in info.value.message


def test_a_boolean_profile_change_is_refused_naming_the_field() -> None:
    history = ProfileHistory.create(
        StrategyProfile(), author="ops", reason="start", clock=SimClock(0)
    )
    with pytest.raises(ProfileError) as info:
        history.change({"persistence": True}, author="a", reason="r", clock=SimClock(1))
    assert info.value.reason_code == reasons.INVALID_INPUT
    assert "StrategyProfile.persistence" in info.value.message
    # Whole numbers given as numbers still work.
    changed = history.change({"persistence": 4}, author="a", reason="r", clock=SimClock(1))
    assert changed.active.profile.persistence == 4


@pytest.mark.parametrize(
    ("data", "cls", "where"),
    [([1, True], list[int], "list[1]: "), ({"a": True}, dict[str, int], "dict[a]: ")],
)
def test_the_converter_refuses_booleans_everywhere(data: Any, cls: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        structure(data, cls)
    assert info.value.reason_code == reasons.INVALID_INPUT
    assert str(info.value) == f"[INVALID_INPUT] {where}a boolean (True) is not a whole number"


class _Level(enum.IntEnum):
    LOW = 1


def test_int_subclasses_keep_their_type_and_bool_fields_take_booleans() -> None:
    assert structure(1, _Level) is _Level.LOW
    assert structure(True, bool) is True
    with pytest.raises(ValidationError):
        structure(True, _Level)

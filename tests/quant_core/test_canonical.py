"""Canonical JSON and content hashing."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import (
    Instrument,
    QuoteCurrency,
    canonical_json,
    canonical_text,
    content_hash,
    reasons,
)
from quant_core.errors import CanonicalizationError

finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers() | finite_floats | st.text()
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def _fold_negative_zero(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _fold_negative_zero(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_fold_negative_zero(v) for v in value]
    if isinstance(value, float) and value == 0.0:
        return 0.0
    return value


def _reference(value: Any) -> bytes:
    """An independent statement of the rules, through the stdlib encoder."""
    text = json.dumps(
        _fold_negative_zero(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_matches_the_stated_rules(value: Any) -> None:
    assert canonical_json(value) == _reference(value)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_is_stable_under_a_parse_and_reserialize(value: Any) -> None:
    once = canonical_json(value)
    assert canonical_json(json.loads(once)) == once


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.integers(), min_size=2, max_size=12), st.randoms())
def test_key_insertion_order_does_not_matter(mapping: dict[str, int], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert canonical_json(dict(items)) == canonical_json(mapping)


def test_utf8_is_written_as_itself_and_floats_use_one_format() -> None:
    out = canonical_json({"name": "Zürich ₿", "x": 0.1, "y": 1.0, "z": -0.0, "big": 1e300})
    assert "Zürich ₿".encode() in out
    parsed = json.loads(out)
    assert parsed == {"name": "Zürich ₿", "x": 0.1, "y": 1.0, "z": 0.0, "big": 1e300}
    assert b"-0.0" not in out
    assert b" " not in out.replace("Zürich ₿".encode(), b"")


def test_negative_zero_inside_strings_is_untouched() -> None:
    assert json.loads(canonical_json({"s": "-0.0", "f": -0.0})) == {"s": "-0.0", "f": 0.0}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_refused(bad: float) -> None:
    with pytest.raises(CanonicalizationError) as info:
        canonical_json({"v": [1, bad]})
    assert info.value.reason_code == reasons.NOT_CANONICAL


@pytest.mark.parametrize(
    "bad",
    [{1, 2}, b"bytes", object(), Decimal("NaN"), Decimal("Infinity"), {"a": 1, 2: "b"}],
    ids=["set", "bytes", "object", "decimal-nan", "decimal-inf", "mixed-keys"],
)
def test_values_without_a_canonical_form_are_refused(bad: Any) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_text(bad)


class Colour(enum.Enum):
    RED = "red"


def test_foreign_types_have_one_form() -> None:
    value = {
        "dec": Decimal("1.10"),
        "enum": Colour.RED,
        "inst": Instrument("BTC", QuoteCurrency.USD),
        "tuple": (1, 2),
        "np_int": np.int64(7),
        "np_float": np.float64(0.25),
        "np_bool": np.bool_(True),
        "array": np.array([1, 2, 3]),
    }
    assert json.loads(canonical_json(value)) == {
        "dec": "1.10",
        "enum": "red",
        "inst": {"base": "BTC", "quote": "USD"},
        "tuple": [1, 2],
        "np_int": 7,
        "np_float": 0.25,
        "np_bool": True,
        "array": [1, 2, 3],
    }


def test_foreign_types_with_negative_zero_take_the_slow_path() -> None:
    value = {"inst": Instrument("ETH", "CAD"), "z": -0.0, "d": Decimal("2")}
    assert json.loads(canonical_json(value)) == {
        "inst": {"base": "ETH", "quote": "CAD"},
        "z": 0.0,
        "d": "2",
    }


@pytest.mark.parametrize("algorithm", ["sha256", "sha384", "sha512"])
def test_content_hash_is_the_digest_of_the_canonical_bytes(algorithm: str) -> None:
    value = {"b": [1, 2.5, "x"], "a": None}
    expected = hashlib.new(algorithm, _reference(value)).hexdigest()
    assert content_hash(value, algorithm) == f"{algorithm}:{expected}"


def test_content_hash_refuses_unknown_algorithms() -> None:
    with pytest.raises(ValueError, match="md5"):
        content_hash({}, "md5")


def test_bytes_hash_is_the_project_notation_over_raw_bytes() -> None:
    import hashlib

    from quant_core import bytes_hash

    data = b"quant \x00 bytes"
    assert bytes_hash(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert bytes_hash(data, "sha384") == "sha384:" + hashlib.sha384(data).hexdigest()
    with pytest.raises(ValueError, match="unsupported"):
        bytes_hash(data, "md5")

"""The canonical encoder writes the same bytes with a memo as without one.

A :class:`~quant_core.CanonicalMemo` lets the encoder write dicts of plain values from
memoised key orders and string literals; the reference is the encoder without a memo (the C
encoder's path), byte for byte, for every value, including the values the memoised path
hands back (and the values both refuse).
"""

from __future__ import annotations

import enum
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import CanonicalMemo, canonical_json, canonical_text
from quant_core.errors import CanonicalizationError

keys = st.text(max_size=8) | st.sampled_from(["price", "p_up", "1h", "é", '"q"', "\u2028"])
scalars = (
    st.integers(-(10**30), 10**30)
    | st.floats()  # NaN and infinities included: both writers must refuse them
    | st.decimals()  # NaN, sNaN and infinities included
    | st.just(-0.0)
    | st.text(max_size=8)
    | st.none()
    | st.booleans()
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
any_keys = keys | st.integers(-3, 3)


def general(value: Any) -> str | type[Exception]:
    """The canonical encoder's text, or the error type it refuses with."""
    try:
        return canonical_text(value)
    except (CanonicalizationError, ValueError, TypeError) as exc:
        return type(exc)


def fast(value: Any, memo: CanonicalMemo | None = None) -> str | type[Exception]:
    """The encoder's text with a memo (a fresh one unless given), or the error type."""
    try:
        return canonical_text(value, CanonicalMemo() if memo is None else memo)
    except (CanonicalizationError, ValueError, TypeError) as exc:
        return type(exc)


SHARED = CanonicalMemo()  # one memo across every example: entries made by others are reused


@given(st.dictionaries(any_keys, values, max_size=6))
def test_memo_text_is_the_canonical_text_or_the_same_refusal(inputs: dict[Any, Any]) -> None:
    assert fast(inputs) == general(inputs)
    assert fast(inputs, SHARED) == general(inputs)


@given(values)
def test_any_value_gives_the_same_text_with_a_shared_memo(value: Any) -> None:
    assert fast(value, SHARED) == general(value)


@given(st.dictionaries(keys, values, max_size=6))
def test_a_read_only_mapping_is_left_to_the_encoder(inputs: dict[str, Any]) -> None:
    assert fast(MappingProxyType(inputs)) == general(MappingProxyType(inputs))


def test_canonical_json_passes_the_memo_on() -> None:
    memo = CanonicalMemo()
    assert canonical_json({"a": "é"}, memo) == canonical_json({"a": "é"}) == '{"a":"é"}'.encode()
    assert memo.strings == {"é": '"é"'}


@pytest.mark.parametrize(
    "inputs",
    [
        {},
        {"b": Decimal("1E+2"), "a": Decimal("-0.05"), "c": Decimal("0E-8")},
        {"x": -0.0, "y": 1e300, "z": 5e-324, "w": 0.0},
        {"p_up": {"1h": 0.5, "4h": -0.0}, "n": 3, "s": "é\n", "none": None},
        {"p_up": {}},
        {"deep": {"er": {"est": {"and": {"deeper": 1}}}}},  # past the memo's depth
        {"flag": True, "off": False},
        {"list": [1, 2.5, "x", None, [True]], "tuple": ("a",)},
        {"decimal_subclass": type("D", (Decimal,), {})("1")},
        {"deep_list": [[[[1]]]]},
        {1: "int key"},
        {"nested_int_key": {1: 2}},
    ],
)
def test_hand_picked_values_give_the_canonical_text(inputs: dict[Any, Any]) -> None:
    text = fast(inputs)
    assert text == general(inputs)
    assert isinstance(text, str)


@pytest.mark.parametrize(
    "inputs",
    [
        {"price": Decimal("NaN")},
        {"price": Decimal("-Infinity")},
        {"p": float("inf")},
        {"p_up": {"1h": float("nan")}},
        {"p_up": [float("nan")]},
        {"set": {1}},
    ],
)
def test_values_without_canonical_form_are_refused_alike(inputs: dict[str, Any]) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_text(inputs)
    with pytest.raises(CanonicalizationError):
        canonical_text(inputs, CanonicalMemo())


def test_a_dict_that_holds_itself_is_refused_not_recursed() -> None:
    inner: dict[str, Any] = {}
    inner["self"] = inner
    inputs = {"p_up": inner}
    with pytest.raises(CanonicalizationError):
        canonical_text(inputs)
    with pytest.raises(CanonicalizationError):
        canonical_text(inputs, CanonicalMemo())


def test_a_full_memo_still_gives_the_canonical_text() -> None:
    memo = CanonicalMemo(limit=0)
    for inputs in ({"b": 1, "a": Decimal("2"), "s": "x"}, {1: 2}):
        assert fast(inputs, memo) == general(inputs)
    assert not memo.templates
    assert not memo.strings


class Key(enum.StrEnum):
    """A key of a ``str`` subclass: equal to, and hashed as, its plain string."""

    HOLD = "HOLD"


@pytest.mark.parametrize("first", [{"HOLD": 1}, {Key.HOLD: 1}])
def test_str_subclass_keys_give_the_encoders_bytes_whichever_came_first(
    first: dict[str, int],
) -> None:
    memo = CanonicalMemo()
    batch: tuple[dict[str, Any], ...] = (
        first,
        {"HOLD": 1},
        {Key.HOLD: 1},
        {"v": Key.HOLD},
        {"v": "HOLD"},
        {"w": [Key.HOLD]},
    )
    for inputs in batch:
        assert fast(inputs, memo) == general(inputs)


# --- stable keys: the text around the other values is kept per combination ----------------

STABLE = ("a", "b", "kind")
records = st.dictionaries(
    st.sampled_from(["a", "b", "kind", "x", "y", "é"]) | keys,
    st.sampled_from(["bar", "none", "BTC/USD", Key.HOLD, None, ("NO_EDGE",), ("A", Key.HOLD)])
    | values,
    max_size=7,
)
SHARED_STABLE = CanonicalMemo(stable=STABLE)


@given(st.lists(records, max_size=6))
def test_stable_keys_give_the_canonical_text(batch: list[dict[Any, Any]]) -> None:
    fresh = CanonicalMemo(stable=STABLE)
    for record in batch:
        assert fast(record, fresh) == general(record)
        assert fast(record, SHARED_STABLE) == general(record)


@pytest.mark.parametrize(
    "record",
    [
        {"a": "x"},  # one stable key, nothing else
        {"kind": "k", "v": 1},
        {"a": [1, 2], "v": 1},  # unhashable: not looked up, written all the same
        {"a": 1, "v": 1.0},  # 1, 1.0 and True key alike: never kept
        {"a": 1.0, "v": 1},
        {"a": True, "v": 1},
        {"a": ("x", 1), "v": 1},
        {"a": float("nan"), "v": 1},  # refused
        {"a": {"deep": {"er": {"est": 1}}}, "v": 1},  # left to the C encoder
        {"b": None, "a": "x", "z": {"n": Decimal("1.5")}, "y": -0.0},
    ],
)
def test_stable_keys_with_any_value_give_the_canonical_text(record: dict[str, Any]) -> None:
    memo = CanonicalMemo(stable=STABLE)
    for _ in range(2):  # made, then (where kept) reused
        assert fast(record, memo) == general(record)


def test_a_full_memo_keeps_no_pieces() -> None:
    memo = CanonicalMemo(limit=0, stable=STABLE)
    assert fast({"a": "x", "v": 1}, memo) == general({"a": "x", "v": 1})
    assert not memo.splits

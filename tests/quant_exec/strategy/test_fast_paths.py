"""The decision log's lines are the canonical JSON of its records, whatever the field types.

The log encodes with a memo it owns (:class:`~quant_core.CanonicalMemo`); the reference is
``canonical_json(record.to_record())`` without one, byte for byte, for every record,
including records whose fields have types the memoised path leaves to the C encoder.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import canonical_json
from quant_core.errors import CanonicalizationError
from quant_exec.decisions import DecisionLog, DecisionRecord


def reference(log: DecisionLog) -> bytes:
    """The log's bytes as the general path writes them: canonical JSON of each record."""
    header = log.to_bytes().splitlines(keepends=True)[0]
    return header + b"".join(canonical_json(r.to_record()) + b"\n" for r in log.records)


texts = st.text(max_size=12) | st.sampled_from(["-0.0", 'quote"s', "é\n", "BTC/USD", "\u2028"])
numbers = (
    st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False)
    | st.just(-0.0)
)
inputs = st.dictionaries(
    texts,
    numbers | texts | st.none() | st.booleans() | st.dictionaries(texts, numbers, max_size=3),
    max_size=6,
)
records = st.builds(
    DecisionRecord,
    ts_ns=st.integers(0, 2**63),
    trigger=texts,
    instrument=st.none() | texts,
    action=texts,
    reason_codes=st.lists(texts, max_size=3).map(tuple),
    profile=texts,
    inputs=inputs,
    quantity=st.none() | st.decimals(allow_nan=False, allow_infinity=False),
    order_id=st.none() | texts,
    model_id=st.none() | texts,
)


@given(st.lists(records, max_size=5))
def test_log_lines_are_the_canonical_json_of_each_record(batch: list[DecisionRecord]) -> None:
    log = DecisionLog({"model_id": "m"})
    for record in batch:
        log.append(record)
    assert log.to_bytes() == reference(log)


class Code(enum.StrEnum):
    """A reason code of a str subtype: not what the fast path takes."""

    HOLD = "HOLD"


BASE: dict[str, Any] = {
    "ts_ns": 5,
    "trigger": "bar",
    "instrument": "BTC/USD",
    "action": "none",
    "reason_codes": ("NO_EDGE",),
    "profile": "p",
    "inputs": {"price": Decimal("1.5"), "p_up": {"1h": -0.0}},
}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"ts_ns": np.int64(5)},
        {"trigger": Code.HOLD},
        {"action": Code.HOLD},
        {"profile": Code.HOLD},
        {"reason_codes": [Code.HOLD]},
        {"reason_codes": (Code.HOLD,)},
        {"instrument": Code.HOLD},
        {"order_id": Code.HOLD},
        {"model_id": Code.HOLD},
        {"quantity": 7},
        {"inputs": MappingProxyType({"b": Decimal("-0.05"), "a": [1, -0.0]})},
    ],
)
def test_unusual_field_types_give_the_general_bytes(change: dict[str, Any]) -> None:
    log = DecisionLog({})
    log.append(DecisionRecord(**{**BASE, **change}))
    log.append(DecisionRecord(**{**BASE, **change, "seq": 2}))  # already numbered
    assert log.to_bytes() == reference(log)


def test_a_bool_seq_takes_the_general_path() -> None:
    log = DecisionLog({})
    log.append(DecisionRecord(**BASE, seq=True))  # True == 1, so the record is kept as given
    assert log.to_bytes() == reference(log)


def test_a_record_without_canonical_form_is_refused_by_both_paths() -> None:
    record = DecisionRecord(**{**BASE, "quantity": Decimal("NaN")})
    with pytest.raises(CanonicalizationError):
        canonical_json(record.to_record())
    with pytest.raises(CanonicalizationError):
        DecisionLog({}).append(record)

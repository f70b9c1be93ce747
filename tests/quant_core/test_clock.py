"""Clocks and UTC nanosecond instants."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import (
    NS_PER_SECOND,
    Clock,
    SimClock,
    datetime_to_ns,
    iso_to_ns,
    ns_to_datetime,
    ns_to_iso,
    reasons,
)
from quant_core.errors import ClockError, ValidationError

instants = st.integers(min_value=0, max_value=4_102_444_800 * NS_PER_SECOND)


def test_sim_clock_is_a_clock() -> None:
    assert isinstance(SimClock(), Clock)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**12), st.lists(st.integers(0, 10**12), max_size=20))
def test_sim_clock_never_goes_backwards(start: int, targets: list[int]) -> None:
    clock = SimClock(start)
    for target in targets:
        before = clock.now_ns()
        if target < before:
            with pytest.raises(ClockError) as info:
                clock.advance_to(target)
            assert info.value.reason_code == reasons.CLOCK_BACKWARDS
            assert clock.now_ns() == before
        else:
            clock.advance_to(target)
            assert clock.now_ns() == target


def test_advance_by_and_refusals() -> None:
    clock = SimClock(10)
    clock.advance_by(0)
    clock.advance_by(5)
    assert clock.now_ns() == 15
    with pytest.raises(ClockError):
        clock.advance_by(-1)
    with pytest.raises(ClockError):
        SimClock(-1)
    assert "1970-01-01T00:00:00.000000015Z" in repr(clock)


@settings(max_examples=200, deadline=None)
@given(instants)
def test_iso_round_trip_is_exact_to_the_nanosecond(ts: int) -> None:
    assert iso_to_ns(ns_to_iso(ts)) == ts


@settings(max_examples=100, deadline=None)
@given(
    st.datetimes(
        min_value=dt.datetime(1970, 1, 1),
        max_value=dt.datetime(2200, 1, 1),
        timezones=st.just(dt.UTC),
    )
)
def test_datetime_round_trip(value: dt.datetime) -> None:
    ts = datetime_to_ns(value)
    assert ns_to_datetime(ts) == value
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert ts == (value - epoch) // dt.timedelta(microseconds=1) * 1_000


def test_offsets_are_normalised_to_utc() -> None:
    assert iso_to_ns("2024-01-01T01:00:00+01:00") == iso_to_ns("2024-01-01T00:00:00Z")
    assert iso_to_ns("2024-01-01T00:00:00.5Z") == iso_to_ns("2024-01-01T00:00:00Z") + 500_000_000


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00",
        "yesterday",
        "2024-01-01T00:00:00.1234567891Z",
        "2024-01-01T00:00:00.Z",
    ],
)
def test_bad_instants_are_refused(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        iso_to_ns(text)
    assert info.value.reason_code == reasons.TIMESTAMP_INVALID


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError):
        datetime_to_ns(dt.datetime(2024, 1, 1))  # naive on purpose

"""Governed risk and strategy profiles (quant_core.profiles).

Bounds are never hard-coded here: every value tried is derived from the class's own
``SPECS`` (except the exposure-limit bounds, which are the documented contract).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import SimClock, canonical_json, content_hash, reasons, unstructure
from quant_core.audit import AuditLog, read_audit_log, verify_audit_log
from quant_core.errors import AuditChainError, ProfileError, StorageError, ValidationError
from quant_core.profiles import (
    ExposureLimit,
    ExposureMode,
    ParameterChange,
    ParameterSpec,
    ProfileHistory,
    ProfileStore,
    RiskProfile,
    StrategyProfile,
    version_from_record,
)

PROFILE_CLASSES: tuple[type[RiskProfile] | type[StrategyProfile], ...] = (
    RiskProfile,
    StrategyProfile,
)
ALL_SPECS: list[tuple[type[RiskProfile] | type[StrategyProfile], str, ParameterSpec]] = [
    (cls, name, spec) for cls in PROFILE_CLASSES for name, spec in cls.SPECS.items()
]
SPEC_IDS = [f"{cls.__name__}.{name}" for cls, name, _ in ALL_SPECS]


def _step(spec: ParameterSpec) -> Decimal | int:
    """A step finer than any digit of the spec's bounds (1 for whole-number parameters)."""
    if isinstance(spec.default, int):
        return 1
    exponents = [
        int(Decimal(v).as_tuple().exponent) for v in (spec.minimum, spec.maximum, spec.default)
    ]
    return Decimal(1).scaleb(min(exponents) - 2)


def _history(profile: Any = None, clock_ns: int = 0) -> ProfileHistory[Any]:
    return ProfileHistory.create(
        profile if profile is not None else RiskProfile(),
        author="ops",
        reason="initial",
        clock=SimClock(clock_ns),
    )


# --- specs and defaults --------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "name", "spec"), ALL_SPECS, ids=SPEC_IDS)
def test_every_spec_has_default_within_its_bounds(
    cls: type[Any], name: str, spec: ParameterSpec
) -> None:
    assert spec.minimum <= spec.default <= spec.maximum
    assert spec.minimum < spec.maximum
    assert spec.doc.strip()
    assert type(spec.minimum) is type(spec.default) is type(spec.maximum)
    assert getattr(cls(), name) == spec.default


@pytest.mark.parametrize("cls", PROFILE_CLASSES)
def test_specs_cover_every_numeric_field(cls: type[Any]) -> None:
    fields = {f.name for f in attrs.fields(cls)}
    assert set(cls.SPECS) <= fields
    exposures = {f.name for f in attrs.fields(cls) if f.name.endswith("_exposure")}
    assert fields - set(cls.SPECS) == exposures


def test_defaults_construct_and_respect_the_cluster_rule() -> None:
    risk = RiskProfile()
    assert risk.max_cluster_exposure.mode is risk.max_total_exposure.mode
    assert risk.max_cluster_exposure.value <= risk.max_total_exposure.value
    assert StrategyProfile() == StrategyProfile()


def test_strategy_profile_has_no_holding_time_or_loss_only_stop() -> None:
    names = set(StrategyProfile.SPECS)
    assert not any("hold" in n or "stop_loss" in n for n in names)


# --- bounds --------------------------------------------------------------------------------


@pytest.mark.parametrize(("cls", "name", "spec"), ALL_SPECS, ids=SPEC_IDS)
def test_values_just_outside_bounds_are_refused(
    cls: type[Any], name: str, spec: ParameterSpec
) -> None:
    step = _step(spec)
    for value in (spec.minimum - step, spec.maximum + step):
        with pytest.raises(ProfileError) as info:
            cls(**{name: value})
        assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS
        assert name in str(info.value)


@pytest.mark.parametrize(("cls", "name", "spec"), ALL_SPECS, ids=SPEC_IDS)
def test_values_on_and_just_inside_bounds_are_accepted(
    cls: type[Any], name: str, spec: ParameterSpec
) -> None:
    step = _step(spec)
    for value in (spec.minimum, spec.minimum + step, spec.maximum - step, spec.maximum):
        assert getattr(cls(**{name: value}), name) == value


@pytest.mark.parametrize(("cls", "name", "spec"), ALL_SPECS, ids=SPEC_IDS)
def test_change_enforces_the_same_bounds(cls: type[Any], name: str, spec: ParameterSpec) -> None:
    history = _history(cls())
    step = _step(spec)
    for value in (spec.minimum - step, spec.maximum + step):
        with pytest.raises(ProfileError) as info:
            history.change({name: str(value)}, author="a", reason="r", clock=SimClock(1))
        assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS
    target = spec.minimum if spec.default != spec.minimum else spec.maximum
    changed = history.change({name: str(target)}, author="a", reason="r", clock=SimClock(1))
    assert getattr(changed.active.profile, name) == target


def _around_bounds(draw: st.DrawFn) -> tuple[type[Any], str, ParameterSpec, Decimal | int]:
    cls, name, spec = draw(st.sampled_from(ALL_SPECS))
    step = _step(spec)
    if isinstance(step, int):
        value: Decimal | int = draw(
            st.integers(int(spec.minimum) - 3, int(spec.maximum) + 3)
            | st.sampled_from([int(spec.minimum) - 1, int(spec.maximum) + 1])
        )
    else:
        places = -int(step.as_tuple().exponent)
        low, high = Decimal(spec.minimum), Decimal(spec.maximum)
        value = draw(
            st.decimals(low - 1, high + 1, places=places)
            | st.sampled_from([low - step, low, high, high + step])
            | st.decimals(low - 10 * step, low + 10 * step, places=places)
            | st.decimals(high - 10 * step, high + 10 * step, places=places)
        )
    return cls, name, spec, value


around_bounds = st.composite(_around_bounds)


@settings(max_examples=100, deadline=None)
@given(case=around_bounds())
def test_construction_succeeds_iff_within_bounds(
    case: tuple[type[Any], str, ParameterSpec, Decimal | int],
) -> None:
    cls, name, spec, value = case
    if spec.minimum <= value <= spec.maximum:
        assert getattr(cls(**{name: value}), name) == value
    else:
        with pytest.raises(ProfileError) as info:
            cls(**{name: value})
        assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS


@settings(max_examples=60, deadline=None)
@given(case=around_bounds())
def test_change_with_json_numbers_succeeds_iff_within_bounds(
    case: tuple[type[Any], str, ParameterSpec, Decimal | int],
) -> None:
    cls, name, spec, value = case
    # What a UI or a JSON file sends: an int, or a float for a decimal parameter.
    sent = value if isinstance(value, int) else float(value)
    taken = value if isinstance(value, int) else Decimal(repr(sent))
    assert taken == value  # a float's shortest digits are the digits that were meant
    history = _history(cls())
    current = getattr(history.active.profile, name)
    expected_refusal = None
    if not spec.minimum <= taken <= spec.maximum:
        expected_refusal = reasons.PROFILE_OUT_OF_BOUNDS
    elif taken == current:
        expected_refusal = reasons.PROFILE_NO_CHANGE
    if expected_refusal is None:
        changed = history.change({name: sent}, author="a", reason="r", clock=SimClock(2))
        assert getattr(changed.active.profile, name) == taken
        assert [c.parameter for c in changed.active.diff] == [name]
    else:
        with pytest.raises(ProfileError) as info:
            history.change({name: sent}, author="a", reason="r", clock=SimClock(2))
        assert info.value.reason_code == expected_refusal


@pytest.mark.parametrize(("cls", "name", "spec"), ALL_SPECS, ids=SPEC_IDS)
def test_whole_number_parameters_refuse_other_types(
    cls: type[Any], name: str, spec: ParameterSpec
) -> None:
    if not isinstance(spec.default, int):
        # Decimal parameters refuse binary floats on direct construction.
        with pytest.raises(ValidationError) as dec_info:
            cls(**{name: float(spec.default)})
        assert dec_info.value.reason_code == reasons.INVALID_INPUT
        return
    for bad in (float(spec.default) + 0.5, True, str(spec.default), Decimal(spec.default)):
        with pytest.raises(ProfileError) as info:
            cls(**{name: bad})
        assert info.value.reason_code == reasons.INVALID_INPUT


# --- exposure limits -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "low", "high"),
    [
        (ExposureMode.PERCENT_OF_PV, Decimal("0.01"), Decimal(100)),
        (ExposureMode.ABSOLUTE, Decimal("0.01"), Decimal(10) ** 12),
    ],
)
def test_exposure_limit_bounds_per_mode(mode: ExposureMode, low: Decimal, high: Decimal) -> None:
    eps = Decimal("0.0001")
    for ok in (low, low + eps, high - eps, high):
        assert ExposureLimit(mode, ok).value == ok
    for bad in (low - eps, high + eps, Decimal(0), Decimal(-5)):
        with pytest.raises(ProfileError) as info:
            ExposureLimit(mode, bad)
        assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS


def test_percent_and_absolute_bounds_differ() -> None:
    assert ExposureLimit.absolute(101).value == 101
    with pytest.raises(ProfileError):
        ExposureLimit.percent(101)
    assert ExposureLimit.absolute("5000000").mode is ExposureMode.ABSOLUTE
    assert ExposureLimit.percent("12.5").mode is ExposureMode.PERCENT_OF_PV


def test_exposure_limit_converts_mode_and_value() -> None:
    limit = ExposureLimit("absolute", "250.50")
    assert limit.mode is ExposureMode.ABSOLUTE
    assert limit.value == Decimal("250.50")
    with pytest.raises(ValueError, match="bogus"):
        ExposureLimit("bogus", "1")
    with pytest.raises(ValidationError):
        ExposureLimit(ExposureMode.ABSOLUTE, 1.5)  # type: ignore[arg-type]


def test_exposure_cap() -> None:
    pv = Decimal("20000")
    assert ExposureLimit.percent(25).cap(pv) == pv / 4
    assert ExposureLimit.percent("0.5").cap(pv) == Decimal("100")
    assert ExposureLimit.absolute(750).cap(pv) == Decimal(750)


def test_cluster_above_total_in_the_same_mode_is_refused() -> None:
    for make in (ExposureLimit.percent, ExposureLimit.absolute):
        with pytest.raises(ProfileError) as info:
            RiskProfile(max_total_exposure=make(30), max_cluster_exposure=make("30.01"))
        assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS
        assert "cluster" in str(info.value)
        equal = RiskProfile(max_total_exposure=make(30), max_cluster_exposure=make(30))
        assert equal.max_cluster_exposure == equal.max_total_exposure


def test_cluster_and_total_in_different_modes_are_not_compared() -> None:
    profile = RiskProfile(
        max_total_exposure=ExposureLimit.percent(10),
        max_cluster_exposure=ExposureLimit.absolute(50_000),
    )
    assert profile.max_cluster_exposure.value > profile.max_total_exposure.value


def test_change_refuses_cluster_above_total() -> None:
    history = _history()
    total = history.active.profile.max_total_exposure
    with pytest.raises(ProfileError) as info:
        history.change(
            {"max_cluster_exposure": {"mode": total.mode.value, "value": str(total.value + 1)}},
            author="a",
            reason="r",
            clock=SimClock(1),
        )
    assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS


# --- history -------------------------------------------------------------------------------


def test_create_starts_at_version_one_with_full_diff() -> None:
    profile = StrategyProfile()
    history = ProfileHistory.create(
        profile, author="ops", reason="initial", clock=SimClock(42), name="main"
    )
    first = history.active
    assert (first.version, first.author, first.reason, first.created_ns) == (
        1,
        "ops",
        "initial",
        42,
    )
    assert first.name == "main"
    assert first.profile == profile
    values = unstructure(profile)
    assert [c.parameter for c in first.diff] == sorted(values)
    assert all(c.old is None and c.new == values[c.parameter] for c in first.diff)


def test_change_creates_new_attributed_version_with_exact_diff() -> None:
    history = _history(StrategyProfile(), clock_ns=10)
    before = history.active.profile
    new_persistence = before.persistence + 1
    changed = history.change(
        {"persistence": new_persistence, "sensitivity": "0.7", "reentry_min_edge": "0.05"},
        author="ana",
        reason="calmer exits",
        clock=SimClock(99),
    )
    active = changed.active
    assert active.version == 2
    assert active.author == "ana"
    assert active.reason == "calmer exits"
    assert active.created_ns == 99
    # reentry_min_edge was set to its current value: it is not part of the diff.
    assert before.reentry_min_edge == Decimal("0.05")
    assert active.diff == (
        ParameterChange("persistence", before.persistence, new_persistence),
        ParameterChange("sensitivity", str(before.sensitivity), "0.7"),
    )
    assert active.profile.persistence == new_persistence
    assert active.profile.sensitivity == Decimal("0.7")
    # Everything else is carried over.
    untouched = set(StrategyProfile.SPECS) - {"persistence", "sensitivity"}
    for name in untouched:
        assert getattr(active.profile, name) == getattr(before, name)
    # Old versions stay readable, and the original history object is unchanged.
    assert changed.get(1) == history.active
    assert changed.get(1).profile == before
    assert len(history.versions) == 1
    assert changed.get(2) is active


def test_version_numbers_and_timestamps_follow_the_clock() -> None:
    clock = SimClock(1_000)
    history = ProfileHistory.create(RiskProfile(), author="ops", reason="init", clock=clock)
    spec = RiskProfile.SPECS["max_concurrent_positions"]
    for i in range(1, 5):
        clock.advance_by(500)
        value = spec.minimum + i
        history = history.change(
            {"max_concurrent_positions": value}, author=f"u{i}", reason=f"step {i}", clock=clock
        )
        assert history.active.version == i + 1
        assert history.active.created_ns == clock.now_ns()
    assert [v.version for v in history.versions] == [1, 2, 3, 4, 5]
    assert [v.created_ns for v in history.versions] == [1_000, 1_500, 2_000, 2_500, 3_000]
    assert [v.profile.max_concurrent_positions for v in history.versions[1:]] == [
        spec.minimum + i for i in range(1, 5)
    ]


def test_exposure_change_as_object_or_data_diffs_as_plain_data() -> None:
    history = _history()
    old = history.active.profile.max_total_exposure
    new = ExposureLimit.percent(old.value + 5)
    for given_as in (new, {"mode": "percent_of_pv", "value": str(new.value)}):
        changed = history.change(
            {"max_total_exposure": given_as}, author="a", reason="r", clock=SimClock(1)
        )
        assert changed.active.profile.max_total_exposure == new
        (change,) = changed.active.diff
        assert change == ParameterChange("max_total_exposure", unstructure(old), unstructure(new))
        json.dumps(unstructure(change))  # plain JSON data


def test_switching_exposure_mode() -> None:
    history = _history()
    changed = history.change(
        {"max_total_exposure": {"mode": "absolute", "value": "25000"}},
        author="a",
        reason="r",
        clock=SimClock(1),
    )
    assert changed.active.profile.max_total_exposure == ExposureLimit.absolute(25000)


@pytest.mark.parametrize(
    "changes",
    [{"colour": "red"}, {"max_concurrent_positions": 6, "leverage": 3}, {"sensitivity": "0.5"}],
)
def test_unknown_parameter_is_refused(changes: dict[str, Any]) -> None:
    history = _history()
    with pytest.raises(ProfileError) as info:
        history.change(changes, author="a", reason="r", clock=SimClock(1))
    assert info.value.reason_code == reasons.PROFILE_UNKNOWN_PARAMETER
    unknown = sorted(set(changes) - set(RiskProfile.SPECS))
    assert all(name in str(info.value) for name in unknown)


def test_unknown_key_inside_an_exposure_limit_is_an_unknown_parameter() -> None:
    history = _history()
    with pytest.raises(ProfileError) as info:
        history.change(
            {"max_total_exposure": {"mode": "absolute", "value": "5", "currency": "CAD"}},
            author="a",
            reason="r",
            clock=SimClock(1),
        )
    assert info.value.reason_code == reasons.PROFILE_UNKNOWN_PARAMETER


@pytest.mark.parametrize(
    "changes",
    [
        {"sensitivity": "not a number"},
        {"sensitivity": [1]},
        {"sensitivity": None},
        {"persistence": 4.0},  # a float is not a whole number, even when integral
        {"persistence": "four"},
    ],
)
def test_ill_typed_values_are_invalid_input(changes: dict[str, Any]) -> None:
    history = _history(StrategyProfile())
    with pytest.raises(ProfileError) as info:
        history.change(changes, author="a", reason="r", clock=SimClock(1))
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_bad_exposure_mode_is_invalid_input() -> None:
    with pytest.raises(ProfileError) as info:
        _history().change(
            {"max_total_exposure": {"mode": "bogus", "value": "5"}},
            author="a",
            reason="r",
            clock=SimClock(1),
        )
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_no_op_change_is_refused() -> None:
    history = _history(StrategyProfile())
    current = history.active.profile
    for changes in (
        {},
        {"persistence": current.persistence},
        {"sensitivity": str(current.sensitivity)},
        # the same number written differently is no change either
        {"sensitivity": str(current.sensitivity) + "000"},
        {"sensitivity": float(current.sensitivity)},
    ):
        with pytest.raises(ProfileError) as info:
            history.change(changes, author="a", reason="r", clock=SimClock(1))
        assert info.value.reason_code == reasons.PROFILE_NO_CHANGE


def test_equal_value_beside_a_real_change_keeps_its_form() -> None:
    history = _history(StrategyProfile())
    current = history.active.profile
    changed = history.change(
        {"sensitivity": str(current.sensitivity) + "0", "persistence": current.persistence + 1},
        author="a",
        reason="r",
        clock=SimClock(1),
    )
    assert [c.parameter for c in changed.active.diff] == ["persistence"]
    # The stored value is the current one, so the record shows no phantom change either.
    assert str(changed.active.profile.sensitivity) == str(current.sensitivity)


@pytest.mark.parametrize(("author", "reason"), [("", "r"), ("a", ""), ("  ", "r"), ("a", "\t\n")])
def test_unattributed_change_is_refused(author: str, reason: str) -> None:
    history = _history()
    with pytest.raises(ProfileError) as info:
        history.change(
            {"max_concurrent_positions": 7}, author=author, reason=reason, clock=SimClock(1)
        )
    assert info.value.reason_code == reasons.PROFILE_CHANGE_UNATTRIBUTED
    with pytest.raises(ProfileError) as info2:
        ProfileHistory.create(RiskProfile(), author=author, reason=reason, clock=SimClock(0))
    assert info2.value.reason_code == reasons.PROFILE_CHANGE_UNATTRIBUTED


def test_failed_change_leaves_history_unchanged() -> None:
    history = _history().change(
        {"max_concurrent_positions": 9}, author="a", reason="r", clock=SimClock(1)
    )
    snapshot = [v.to_record() for v in history.versions]
    spec = RiskProfile.SPECS["max_concurrent_positions"]
    bad_requests: list[dict[str, Any]] = [
        {"max_concurrent_positions": spec.maximum + 1},
        {"nope": 1},
        {"max_concurrent_positions": 9},
        {"drawdown_limit_pct": "x"},
    ]
    for bad in bad_requests:
        with pytest.raises(ProfileError):
            history.change(bad, author="a", reason="r", clock=SimClock(2))
    with pytest.raises(ProfileError):
        history.change({"max_concurrent_positions": 3}, author="", reason="r", clock=SimClock(2))
    assert [v.to_record() for v in history.versions] == snapshot
    assert history.active.version == 2


@pytest.mark.parametrize("version", [0, -1, 3, 99])
def test_unknown_version_is_refused(version: int) -> None:
    history = _history().change(
        {"max_concurrent_positions": 9}, author="a", reason="r", clock=SimClock(1)
    )
    assert history.get(1).version == 1
    assert history.get(2).version == 2
    with pytest.raises(ProfileError) as info:
        history.get(version)
    assert info.value.reason_code == reasons.PROFILE_VERSION_UNKNOWN


def test_floats_are_taken_as_their_decimal_digits() -> None:
    history = _history(StrategyProfile())
    changed = history.change(
        {"sensitivity": 0.55, "take_profit_fraction": 0.1},
        author="a",
        reason="r",
        clock=SimClock(1),
    )
    profile = changed.active.profile
    assert profile.sensitivity == Decimal("0.55")
    assert profile.take_profit_fraction == Decimal("0.1")
    assert profile.sensitivity != Decimal.from_float(0.55)  # not the binary expansion
    risk = _history().change(
        {"max_total_exposure": {"mode": "absolute", "value": 1234.56}},
        author="a",
        reason="r",
        clock=SimClock(1),
    )
    assert risk.active.profile.max_total_exposure.value == Decimal("1234.56")


def test_to_record_is_plain_canonical_data_and_hash_tracks_content() -> None:
    a = _history(clock_ns=5).active
    b = _history(clock_ns=5).active
    record = a.to_record()
    assert record["kind"] == RiskProfile.KIND
    assert record["version"] == 1
    assert record["values"] == unstructure(a.profile)
    assert json.loads(canonical_json(record)) == record  # plain JSON, no Decimal objects
    assert a.content_hash() == b.content_hash() == content_hash(record)
    c = _history(clock_ns=6).active
    assert c.content_hash() != a.content_hash()


# --- the store -----------------------------------------------------------------------------


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "profiles.jsonl"


def _records(store: ProfileStore[Any]) -> list[dict[str, Any]]:
    return [v.to_record() for v in store.history.versions]


def test_new_store_holds_governed_defaults_as_version_one(store_path: Path) -> None:
    store = ProfileStore(store_path, StrategyProfile, SimClock(77))
    assert not store_path.exists()  # opening an empty store writes nothing
    assert store.active == StrategyProfile()
    first = store.history.active
    assert (first.version, first.created_ns) == (1, 77)
    assert first.author.strip()
    assert first.reason.strip()
    (record,) = read_audit_log(store_path)
    assert record.kind == "profile.version"
    assert record.data == first.to_record()


def test_change_persists_and_reopening_yields_identical_history(store_path: Path) -> None:
    clock = SimClock(100)
    store = ProfileStore(store_path, RiskProfile, clock)
    clock.advance_by(10)
    v2 = store.change({"max_concurrent_positions": 8}, author="ana", reason="wider")
    clock.advance_by(10)
    v3 = store.change(
        {"max_total_exposure": ExposureLimit.absolute(90_000), "drawdown_limit_pct": 0.5 + 19.5},
        author="bo",
        reason="fixed budget",
    )
    assert (v2.version, v3.version) == (2, 3)
    assert v3.created_ns == 120
    assert store.active == v3.profile
    assert verify_audit_log(store_path).records == 3

    reopened = ProfileStore(store_path, RiskProfile, SimClock(0))
    assert _records(reopened) == _records(store)
    assert [v.content_hash() for v in reopened.history.versions] == [
        v.content_hash() for v in store.history.versions
    ]
    assert reopened.history.get(2).profile.max_concurrent_positions == 8
    assert reopened.active == store.active
    # The reopened store continues the history.
    v4 = reopened.change({"max_concurrent_positions": 9}, author="cy", reason="more")
    assert v4.version == 4
    assert ProfileStore(store_path, RiskProfile, SimClock(0)).history.get(4) == v4


def test_refused_change_writes_nothing(store_path: Path) -> None:
    store = ProfileStore(store_path, RiskProfile, SimClock(1))
    store.change({"max_concurrent_positions": 6}, author="a", reason="r")
    before = store_path.read_bytes()
    history = store.history
    spec = RiskProfile.SPECS["max_concurrent_positions"]
    bad_requests: list[tuple[dict[str, Any], str, str]] = [
        ({"max_concurrent_positions": spec.maximum + 1}, "a", "r"),
        ({"max_concurrent_positions": 6}, "a", "r"),
        ({"unknown": 1}, "a", "r"),
        ({"max_concurrent_positions": 7}, "", "r"),
    ]
    for changes, author, reason in bad_requests:
        with pytest.raises(ProfileError):
            store.change(changes, author=author, reason=reason)
    assert store_path.read_bytes() == before
    assert store.history is history


def test_refused_first_change_on_a_fresh_store_writes_nothing(store_path: Path) -> None:
    store = ProfileStore(store_path, RiskProfile, SimClock(1))
    with pytest.raises(ProfileError):
        store.change({"max_concurrent_positions": 0}, author="a", reason="r")
    assert not store_path.exists()
    version = store.change({"max_concurrent_positions": 2}, author="a", reason="r")
    assert version.version == 2
    assert [r.data["version"] for r in read_audit_log(store_path)] == [1, 2]


def test_defaults_are_active_only_once_durable(store_path: Path) -> None:
    store = ProfileStore(store_path, RiskProfile, SimClock(1))
    store_path.mkdir(parents=True)  # the log cannot be written while this sits in its place
    with pytest.raises(StorageError):
        _ = store.history
    with pytest.raises(StorageError):
        store.change({"max_concurrent_positions": 2}, author="a", reason="r")
    store_path.rmdir()
    store.change({"max_concurrent_positions": 2}, author="a", reason="r")
    reopened = ProfileStore(store_path, RiskProfile, SimClock(0))
    assert [v.version for v in reopened.history.versions] == [1, 2]
    assert reopened.history.get(1).profile == RiskProfile()


def test_tampered_store_refuses_to_open(store_path: Path) -> None:
    store = ProfileStore(store_path, RiskProfile, SimClock(1))
    store.change({"max_concurrent_positions": 8}, author="ana", reason="wider")
    data = store_path.read_bytes()
    assert b'"max_concurrent_positions":8' in data
    store_path.write_bytes(
        data.replace(b'"max_concurrent_positions":8', b'"max_concurrent_positions":9')
    )
    with pytest.raises(AuditChainError) as info:
        ProfileStore(store_path, RiskProfile, SimClock(2))
    assert info.value.line == 2
    assert info.value.reason_code == reasons.AUDIT_CHAIN_BROKEN


def test_torn_tail_from_an_interrupted_change_is_set_aside(store_path: Path) -> None:
    store = ProfileStore(store_path, RiskProfile, SimClock(1))
    store.change({"max_concurrent_positions": 8}, author="ana", reason="wider")
    expected = _records(store)
    intact = store_path.read_bytes()
    torn = b'{"data":{"author":"bo","created_ns":'
    store_path.write_bytes(intact + torn)

    reopened = ProfileStore(store_path, RiskProfile, SimClock(2))
    assert _records(reopened) == expected  # the unacknowledged change never became active
    assert store_path.read_bytes().startswith(intact)
    assert store_path.with_name(f"{store_path.name}.torn-{len(intact)}").read_bytes() == torn
    reopened.change({"max_concurrent_positions": 10}, author="bo", reason="again")
    assert verify_audit_log(store_path).ok
    assert ProfileStore(store_path, RiskProfile, SimClock(3)).active.max_concurrent_positions == 10


def test_risk_and_strategy_histories_share_one_file(store_path: Path) -> None:
    clock = SimClock(5)
    risk = ProfileStore(store_path, RiskProfile, clock)
    risk.change({"max_concurrent_positions": 12}, author="a", reason="r")
    # One writer at a time: each store is opened after the previous one's last write.
    strategy = ProfileStore(store_path, StrategyProfile, clock)
    strategy.change({"persistence": 10}, author="b", reason="s")
    AuditLog(store_path, clock).append("unrelated.note", {"kind": "risk"})
    risk = ProfileStore(store_path, RiskProfile, clock)
    risk.change({"drawdown_limit_pct": "20"}, author="c", reason="t")

    kinds = [(r.kind, r.data.get("kind")) for r in read_audit_log(store_path)]
    assert kinds == [
        ("profile.version", "risk"),
        ("profile.version", "risk"),
        ("profile.version", "strategy"),
        ("profile.version", "strategy"),
        ("unrelated.note", "risk"),
        ("profile.version", "risk"),
    ]
    risk_again = ProfileStore(store_path, RiskProfile, SimClock(0))
    strategy_again = ProfileStore(store_path, StrategyProfile, SimClock(0))
    assert [v.version for v in risk_again.history.versions] == [1, 2, 3]
    assert [v.version for v in strategy_again.history.versions] == [1, 2]
    assert risk_again.active.max_concurrent_positions == 12
    assert risk_again.active.drawdown_limit_pct == Decimal(20)
    assert strategy_again.active.persistence == 10
    assert all(isinstance(v.profile, RiskProfile) for v in risk_again.history.versions)
    assert all(isinstance(v.profile, StrategyProfile) for v in strategy_again.history.versions)


def test_strategy_sizing_and_dip_window_are_governed_parameters() -> None:
    # Added for the strategy (issue 5): a count and a percentage, both bounded.
    assert StrategyProfile().dip_lookback_bars == 24
    assert StrategyProfile().position_size_pct == Decimal(10)
    edge = StrategyProfile(dip_lookback_bars=2, position_size_pct=Decimal(100))
    assert (edge.dip_lookback_bars, edge.position_size_pct) == (2, Decimal(100))
    with pytest.raises(ProfileError) as info:
        StrategyProfile(dip_lookback_bars=1)
    assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS
    with pytest.raises(ProfileError) as info:
        StrategyProfile(position_size_pct=Decimal("0.4"))
    assert info.value.reason_code == reasons.PROFILE_OUT_OF_BOUNDS


def _good_record() -> dict[str, Any]:
    history = ProfileHistory.create(
        StrategyProfile(), author="ops", reason="start", clock=SimClock(0)
    ).change({"persistence": 4}, author="ops", reason="slower", clock=SimClock(5))
    record: dict[str, Any] = json.loads(json.dumps(history.active.to_record()))
    return record


def test_a_version_reads_back_from_its_record_diff_and_all() -> None:
    record = _good_record()
    version = version_from_record(record, StrategyProfile)
    assert version.to_record() == record
    assert version.content_hash() == content_hash(record)


@pytest.mark.parametrize(
    ("damage", "code"),
    [
        (lambda r: r.update(kind="risk"), reasons.INVALID_INPUT),
        (lambda r: r.pop("author"), reasons.INVALID_INPUT),
        (lambda r: r.update(version="two"), reasons.INVALID_INPUT),
        (lambda r: r.update(diff=[{"parameter": "persistence"}]), reasons.INVALID_INPUT),
        (lambda r: r["values"].update(colour="red"), reasons.PROFILE_UNKNOWN_PARAMETER),
        (lambda r: r["values"].update(persistence=10_000), reasons.PROFILE_OUT_OF_BOUNDS),
    ],
)
def test_a_malformed_version_record_is_refused(damage: Any, code: str) -> None:
    record = _good_record()
    damage(record)
    with pytest.raises(ProfileError) as caught:
        version_from_record(record, StrategyProfile)
    assert caught.value.reason_code == code


def test_a_record_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(ProfileError) as caught:
        version_from_record([1, 2], RiskProfile)  # type: ignore[arg-type]
    assert caught.value.reason_code == reasons.INVALID_INPUT

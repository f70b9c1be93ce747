"""Fault injection: every kind, deterministic and countable."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_core import NS_PER_SECOND, SimClock, Timeframe, iso_to_ns
from quant_core.errors import ValidationError
from quant_data.emulator import (
    Emulator,
    EmulatorOptions,
    FaultKind,
    FaultPlan,
    FaultRule,
    LateCandle,
    Revision,
)

NOW = iso_to_ns("2024-01-31T12:30:00Z")
OHLC = "/0/public/OHLC"
HISTORY = "/v1/ohlcv/KRAKEN_SPOT_BTC_USD/history"
COINAPI_PARAMS: dict[str, Any] = {
    "period_id": "1HRS",
    "time_start": "2024-01-30T00:00:00Z",
    "limit": 10,
}


def _kraken(emu: Emulator, timeout: float = 10, **params: Any) -> httpx.Response:
    query: dict[str, Any] = {"pair": "XBTUSD", "interval": 60, **params}
    return httpx.get(emu.base_url("kraken") + OHLC, params=query, timeout=timeout)


def _coinapi(emu: Emulator, timeout: float = 10) -> httpx.Response:
    return httpx.get(emu.base_url("coinapi") + HISTORY, params=COINAPI_PARAMS,
                     headers={"X-CoinAPI-Key": "k"}, timeout=timeout)  # fmt: skip


def _coingecko(emu: Emulator) -> httpx.Response:
    return httpx.get(emu.base_url("coingecko") + "/api/v3/coins/markets",
                     params={"vs_currency": "usd"}, timeout=10)  # fmt: skip


def test_rule_counting_and_first_count() -> None:
    rule = FaultRule(FaultKind.SERVER_ERROR, first=2, count=3)
    assert [rule.fires(0, 0, m) for m in range(7)] == [False, False, True, True, True, False,
                                                      False]  # fmt: skip
    forever = FaultRule("drop", count=None, first=1)
    assert [forever.fires(0, 0, m) for m in range(4)] == [False, True, True, True]
    assert FaultRule(FaultKind.DROP, dialect="kraken").matches("coinapi", "/x") is False
    assert FaultRule(FaultKind.DROP, endpoint="OHLC").matches("kraken", "/0/public/Time") is False


def test_probabilistic_rules_are_deterministic_per_seed() -> None:
    rule = FaultRule(FaultKind.SERVER_ERROR, count=None, probability=0.3)
    a = [rule.fires(5, 0, m) for m in range(400)]
    assert a == [rule.fires(5, 0, m) for m in range(400)]
    assert a != [rule.fires(6, 0, m) for m in range(400)]
    assert 0.2 < sum(a) / len(a) < 0.4


def test_rate_limit_burst_in_each_dialect(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory(faults=FaultPlan(rules=[FaultRule(FaultKind.RATE_LIMIT, count=2,
                                                             retry_after_s=7)]))  # fmt: skip
    samples = shared_data / "api-samples"
    k1, k2, k3 = _kraken(emu), _kraken(emu), _kraken(emu)
    assert k1.status_code == k2.status_code == 200
    assert k1.json() == json.loads(
        (samples / "kraken/observed__error_too_many_requests.json").read_text()
    )
    assert k3.json()["error"] == []
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.RATE_LIMIT, retry_after_s=7)]))
    c = _coinapi(emu)
    assert c.status_code == 429
    assert c.headers["Retry-After"] == "7"
    assert isinstance(c.json()["error"], str)
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.RATE_LIMIT)]))
    g = _coingecko(emu)
    assert g.status_code == 429
    assert g.json() == json.loads(
        (samples / "coingecko/observed__error_429_rate_limit.json").read_text()
    )
    faults = [r.fault for r in emu.requests]
    assert faults == ["rate_limit", "rate_limit", None, "rate_limit", "rate_limit"]


def test_server_error_burst_then_recovery_is_countable(
    emulator_factory: Callable[..., Emulator],
) -> None:
    plan = FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR, dialect="coinapi", count=3,
                                      status=502)])  # fmt: skip
    emu = emulator_factory(faults=plan)
    statuses = [_coinapi(emu).status_code for _ in range(4)]
    assert statuses == [502, 502, 502, 200]
    assert _kraken(emu).status_code == 200  # other dialects untouched
    served = [(r.dialect, r.status) for r in emu.requests]
    assert served == [("coinapi", 502)] * 3 + [("coinapi", 200), ("kraken", 200)]
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR)]))
    k = _kraken(emu)
    assert k.status_code == 503
    assert "json" not in k.headers["content-type"]
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.SERVER_ERROR)]))
    assert _coingecko(emu).status_code == 503


@pytest.mark.parametrize(("status", "sample"), [
    (401, "docs__error_401_invalid_api_key.json"),
    (403, "observed__error_403_quota_exceeded.json"),
    (550, "observed__error_550_no_data.json"),
])  # fmt: skip
def test_explicit_status_uses_the_sample_bodies(
    emulator_factory: Callable[..., Emulator], shared_data: Path, status: int, sample: str
) -> None:
    emu = emulator_factory(faults=FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=status)]))
    r = _coinapi(emu)
    assert r.status_code == status
    assert r.json() == json.loads((shared_data / "api-samples/coinapi" / sample).read_text())


def test_other_status_faults(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(faults=FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=400,
                                                             message="bad")]))  # fmt: skip
    assert _coinapi(emu).json() == {"error": "bad"}
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=429)]))
    assert _coinapi(emu).status_code == 429
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=500)]))
    assert _coinapi(emu).json() == {"error": "Internal Server Error"}
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=401)]))
    assert _coingecko(emu).json()["status"]["error_code"] == 401
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.STATUS, status=429)]))
    assert _coingecko(emu).status_code == 429
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.KRAKEN_ERROR, message="EService:Busy")]))
    assert _kraken(emu).json() == {"error": ["EService:Busy"]}
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.KRAKEN_ERROR)]))
    assert _kraken(emu).json() == {"error": ["EService:Unavailable"]}


def test_timeout_by_delay_and_dropped_connection(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory(faults=FaultPlan(rules=[FaultRule(FaultKind.DELAY, delay_s=0.6)]))
    with pytest.raises(httpx.ReadTimeout):
        _kraken(emu, timeout=0.2)
    assert _kraken(emu, timeout=5).status_code == 200
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.DROP, count=2)]))
    for _ in range(2):
        with pytest.raises(httpx.RemoteProtocolError):
            _coinapi(emu)
    assert _coinapi(emu).status_code == 200
    assert [r.status for r in emu.requests[-3:]] == [0, 0, 200]


def test_truncated_body_is_not_json(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(faults=FaultPlan(rules=[FaultRule(FaultKind.TRUNCATE, fraction=0.5)]))
    r = _coinapi(emu)
    full = _coinapi(emu)
    assert r.status_code == 200
    assert len(r.content) == len(full.content) // 2
    assert full.content.startswith(r.content)
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_partial_duplicate_and_out_of_order_rows(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    clean = _coinapi(emu).json()
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.PARTIAL, fraction=0.3)]))
    assert _coinapi(emu).json() == clean[:3]
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.DUPLICATE, rows=2)]))
    dup = _coinapi(emu).json()
    assert dup == [clean[0], clean[0], clean[1], clean[1], *clean[2:]]
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.OUT_OF_ORDER)], seed=3))
    shuffled = _coinapi(emu).json()
    assert shuffled != clean
    assert sorted(shuffled, key=lambda i: i["time_period_start"]) == clean
    emu.set_faults(FaultPlan(rules=[FaultRule(FaultKind.OUT_OF_ORDER)], seed=3))
    assert _coinapi(emu).json() == shuffled  # same seed, same disorder
    rows = _kraken(emu).json()["result"]["XXBTZUSD"]
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # the rule fired once only


def test_out_of_order_never_returns_the_same_order_for_two_rows() -> None:
    from quant_data.emulator._server import _fault_rows

    rule = FaultRule(FaultKind.OUT_OF_ORDER)
    for number in range(20):
        assert _fault_rows([1, 2], rule, 0, number) == [2, 1]


def test_late_candle_appears_after_its_time(emulator_factory: Callable[..., Emulator]) -> None:
    clock = SimClock(NOW)
    late_open = iso_to_ns("2024-01-31T10:00:00Z")
    plan = FaultPlan(late=[LateCandle("BTC", late_open, available_at_ns=NOW + 600 * NS_PER_SECOND)])
    emu = emulator_factory(clock=clock, faults=plan)

    def opens() -> list[int]:
        rows = _kraken(emu).json()["result"]["XXBTZUSD"]
        return [r[0] * NS_PER_SECOND for r in rows]

    assert late_open not in opens()
    clock.advance_by(600 * NS_PER_SECOND)
    assert late_open in opens()


def test_revised_candle_changes_between_calls(emulator_factory: Callable[..., Emulator]) -> None:
    clock = SimClock(NOW)
    target = iso_to_ns("2024-01-30T05:00:00Z")
    plan = FaultPlan(revisions=[Revision("BTC", target, effective_at_ns=NOW + 1, close="12345.6",
                                         volume="1.5")])  # fmt: skip
    emu = emulator_factory(clock=clock, faults=plan)

    def candle() -> dict[str, Any]:
        items = _coinapi(emu).json()
        return next(i for i in items if iso_to_ns(i["time_period_start"]) == target)

    before = candle()
    clock.advance_by(1)
    after = candle()
    assert before["price_close"] != 12345.6
    assert after["price_close"] == 12345.6
    assert after["volume_traded"] == 1.5
    assert after["price_open"] == before["price_open"]
    book_bar = next(b for b in emu.book.series("BTC", "USD", Timeframe.H1)
                    if b.open_time_ns == target)  # fmt: skip
    assert book_bar.close != "12345.6"  # the book itself is untouched


def test_plans_from_mappings_and_files(tmp_path: Path) -> None:
    data = {
        "seed": 4,
        "rules": [{"kind": "rate_limit", "dialect": "coinapi", "count": 2}],
        "late": [{"symbol": "BTC", "open_time_ns": "2024-01-01T00:00:00Z",
                  "available_at_ns": 5}],
        "revisions": [{"symbol": "BTC", "open_time_ns": 0,
                       "effective_at_ns": "2024-01-01T00:00:00Z", "close": "1"}],
    }  # fmt: skip
    path = tmp_path / "faults.json"
    path.write_text(json.dumps(data))
    plan = FaultPlan.from_file(path)
    assert plan.seed == 4
    assert plan.rules[0].kind is FaultKind.RATE_LIMIT
    assert plan.late[0].open_time_ns == iso_to_ns("2024-01-01T00:00:00Z")
    assert plan.revisions[0].effective_at_ns == iso_to_ns("2024-01-01T00:00:00Z")
    for bad in ({"rules": [{"kind": "meteor"}]}, {"rules": [{"kind": "drop", "x": 1}]},
                {"late": [{"symbol": "BTC"}]}, {"extra": 1}):  # fmt: skip
        with pytest.raises(ValidationError) as info:
            FaultPlan.from_mapping(bad)
        assert info.value.reason_code == "EMULATOR_INVALID"
    path.write_text("[1, 2]")
    with pytest.raises(ValidationError, match="JSON object"):
        FaultPlan.from_file(path)
    with pytest.raises(ValidationError, match="cannot read"):
        FaultPlan.from_file(tmp_path / "missing.json")


def test_kraken_throttle_on_the_clock(emulator_factory: Callable[..., Emulator]) -> None:
    clock = SimClock(NOW)
    emu = emulator_factory(clock=clock, options=EmulatorOptions(kraken_min_interval_s=1.0))
    assert _kraken(emu).json()["error"] == []
    assert _kraken(emu).json() == {"error": ["EGeneral:Too many requests"]}
    assert _kraken(emu, pair="ETHUSD").json()["error"] == []  # per pair
    clock.advance_by(NS_PER_SECOND)
    assert _kraken(emu).json()["error"] == []
    assert [r.fault for r in emu.requests] == [None, "throttle", None, None]


def test_same_seed_same_bytes_across_emulators(emulator_factory: Callable[..., Emulator]) -> None:
    bodies = []
    for _ in range(2):
        emu = emulator_factory()
        k = emu.base_url("kraken") + "/0/public/"
        bodies.append(
            (
                _kraken(emu).content,
                httpx.get(k + "Trades", params={"pair": "XBTUSD", "count": 200}).content,
                _coinapi(emu).content,
                _coingecko(emu).content,
            )
        )
    assert bodies[0] == bodies[1]

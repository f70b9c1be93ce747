"""The control plane's reads: plain JSON from the published read model, index and files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quant_apps.runtime.operator.control import profile_bounds
from quant_apps.runtime.trading.views import CHART_BARS
from quant_core.errors import ValidationError

from .conftest import Running, start


def test_every_read_is_plain_json_and_shows_the_trading_session(running: Running) -> None:
    control = running.control
    health = control.health()
    assert (health["ok"], health["health"]) == (True, "running")
    assert health["now_ns"] == running.clock.now_ns()
    status = control.status()
    assert status["mode"] == "paper"
    assert status["run"] == 1
    assert status["cycles"] >= 1
    assert status["uptime_s"] == 30 * 3600  # thirty bars of session time since the start
    assert status["equity"]
    assert all(isinstance(pv, str) for _, pv in status["equity"])
    ledger = control.ledger()
    assert ledger["cash"] == status["cash"]
    assert ledger["fills"], "the oracle trades"
    assert {f["kind"] for f in ledger["fills"]} >= {"entry"}
    risk = control.risk()
    assert [g["gate"] for g in risk] == ["max_positions", "total_exposure", "drawdown"]
    predictions = control.predictions()
    assert [p["instrument"] for p in predictions] == ["BTC/USD", "ETH/USD"]
    assert 0 <= predictions[0]["forecasts"][0]["p_up"] <= 1
    everything = {
        "status": status,
        "risk": risk,
        "predictions": predictions,
        "holdings": control.holdings(),
        "orders": control.orders(),
        "ledger": ledger,
        "profiles": control.profiles(),
        "bundle": control.bundle_status(),
        "candles": control.candles("btc"),
    }
    assert json.loads(json.dumps(everything)) == everything


def test_candles_carry_fills_as_markers_and_the_prediction_overlay(running: Running) -> None:
    chart = running.control.candles("BTC/USD")
    assert chart["instrument"] == "BTC/USD"
    times = [b["time_s"] for b in chart["bars"]]
    assert times == sorted(times)
    assert len(times) >= 20
    assert set(chart["bars"][0]) >= {"time_s", "open", "high", "low", "close"}
    fills = [f for f in running.control.ledger()["fills"] if f["instrument"] == "BTC/USD"]
    assert len(chart["markers"]) == len(fills)
    assert {m["kind"] for m in chart["markers"]} <= {"entry", "partial_exit", "exit"}
    assert all(m["time_s"] in times for m in chart["markers"])
    overlay = chart["predictions"]
    assert overlay
    assert all(0 <= p["value"] <= 1 for p in overlay)
    short = running.control.candles("BTC", limit=3)
    assert [b["time_s"] for b in short["bars"]] == times[-3:]
    assert all(m["time_s"] >= times[-3] for m in short["markers"])


@pytest.mark.parametrize(("instrument", "limit"), [("DOGE", 10), ("BTC", 0), ("BTC", True)])
def test_candles_refuse_what_is_not_traded_or_a_bad_limit(
    running: Running, instrument: str, limit: int
) -> None:
    with pytest.raises(ValidationError) as info:
        running.control.candles(instrument, limit=limit)
    assert info.value.reason_code == "INVALID_INPUT"
    with pytest.raises(ValidationError):
        running.control.candles("BTC", limit=CHART_BARS + 1)


def test_decisions_page_through_the_index_with_filters(running: Running) -> None:
    control = running.control
    page = control.decisions(limit=5)
    assert len(page["items"]) == 5
    assert page["next_before"] is not None
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)
    older = control.decisions(limit=5, before=page["next_before"])
    assert max(i["id"] for i in older["items"]) < min(ids)
    btc = control.decisions(instrument="BTC", limit=500)
    assert btc["items"]
    assert {i["instrument"] for i in btc["items"]} == {"BTC/USD"}
    codes = control.reason_codes()
    assert codes
    assert codes == sorted(codes)
    one = control.decisions(reason=codes[0], limit=500)
    assert all(codes[0] in i["reason_codes"] for i in one["items"])
    with pytest.raises(ValidationError):
        control.decisions(limit=0)


def test_profiles_show_active_versions_bounds_and_history(running: Running) -> None:
    profiles = running.control.profiles()
    assert profiles["strategy"]["version"] == profiles["risk"]["version"] == 1
    assert profiles["risk"]["values"]["max_concurrent_positions"] == 5
    assert profiles["bounds"] == profile_bounds()
    assert profiles["bounds"]["max_concurrent_positions"] == {
        "profile": "risk",
        "min": 1,
        "max": 50,
        "default": 5,
        "unit": "",
        "doc": "Open positions allowed at once.",
    }
    assert [v["kind"] for v in profiles["history"]] == ["risk", "strategy"]


def test_profile_diff_previews_without_changing_anything(running: Running) -> None:
    control = running.control
    diff = control.profile_diff(None, {"max_concurrent_positions": 2})
    assert diff == {
        "ok": True,
        "changes": [{"profile": "risk", "name": "max_concurrent_positions", "old": 5, "new": 2}],
    }
    assert control.profile_diff(None, None) == {"ok": True, "changes": []}
    assert control.profile_diff({}, {"max_concurrent_positions": 5})["changes"] == []
    refused = control.profile_diff(None, {"max_concurrent_positions": 99})
    assert (refused["ok"], refused["reason_code"]) == (False, "PROFILE_OUT_OF_BOUNDS")
    assert control.profile_diff({"nope": 1}, None)["reason_code"] == "PROFILE_UNKNOWN_PARAMETER"
    assert control.profiles()["risk"]["version"] == 1


def test_an_unmanaged_bundle_shows_what_the_session_serves(running: Running) -> None:
    assert running.control.bundle_status() == {
        "managed": False,
        "active": {"active": True, "bundle_hash": "sha384:one"},
        "update_source": None,
    }


def test_a_stopped_session_reports_unhealthy(tmp_path: Path) -> None:
    session = start(tmp_path / "out")
    summary = session.stop()
    assert summary["interrupted"] is False
    assert session.control.health()["ok"] is False
    assert session.control.status()["health"] == "stopped"
    session.control.index.close()


def test_data_coverage_and_audit_verification(running: Running, tmp_path: Path) -> None:
    data = running.control.data()
    assert [i["instrument"] for i in data["instruments"]] == ["BTC/USD", "ETH/USD"]
    assert all(i["bars"] >= 30 for i in data["instruments"])
    assert running.control.verify_audit()["ok"] is True  # no audit records yet: nothing broken
    running.control.halt("audited", actor="alice")
    report = running.control.verify_audit()
    assert (report["ok"], report["entries"]) == (True, 1)
    with (running.out / "audit.jsonl").open("ab") as fh:
        fh.write(b'{"torn')
    assert running.control.verify_audit()["reason_code"] == "AUDIT_TORN_TAIL"
    running.control.store = None
    assert running.control.data() == {"instruments": [], "store": None}

"""The control API over a real session: every route, refusals with the CLI's reason codes.

The session is a real runtime with its runner thread over the example market (the runtime's
own test support); the app is the real one, reached in process over httpx's ASGI transport.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio

MARKUP = "<script>alert('x')</script> & \"quotes\""


async def test_reads_answer_the_control_planes_data(api: httpx.AsyncClient, session: Any) -> None:
    control = session.control
    health = (await api.get("/api/v1/health")).json()
    assert health["ok"] is True
    assert health["health"] == "running"
    status = (await api.get("/api/v1/status")).json()
    assert status["mode"] == control.status()["mode"]
    assert {"uptime_s", "cash", "portfolio_value", "equity", "kill_switch"} <= status.keys()
    assert (await api.get("/api/v1/risk")).json() == control.risk()
    assert (await api.get("/api/v1/predictions")).json() == control.predictions()
    assert (await api.get("/api/v1/holdings")).json() == control.holdings()
    assert (await api.get("/api/v1/orders")).json() == control.orders()
    assert (await api.get("/api/v1/ledger")).json() == control.ledger()
    assert (await api.get("/api/v1/profiles")).json() == control.profiles()
    assert (await api.get("/api/v1/bundles")).json() == control.bundle_status()
    assert (await api.get("/api/v1/data")).json() == control.data()
    assert (await api.get("/api/v1/audit/verify")).json()["ok"] is True
    codes = (await api.get("/api/v1/reason-codes")).json()
    assert codes == control.reason_codes()
    assert codes


async def test_decisions_are_paged_and_filtered(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/v1/decisions", params={"limit": 5})).json()
    assert len(first["items"]) == 5
    ids = [item["id"] for item in first["items"]]
    assert ids == sorted(ids, reverse=True)
    cursor = first["next_before"]
    older = (await api.get("/api/v1/decisions", params={"limit": 5, "before": cursor})).json()
    assert max(item["id"] for item in older["items"]) < min(ids)
    btc = (await api.get("/api/v1/decisions", params={"coin": "BTC", "run": 1})).json()
    assert btc["items"]
    assert {item["instrument"] for item in btc["items"]} == {"BTC/USD"}
    too_many = await api.get("/api/v1/decisions", params={"limit": 501})
    assert (too_many.status_code, too_many.json()["reason_code"]) == (422, "INVALID_INPUT")


async def test_candles_and_an_unknown_coin(api: httpx.AsyncClient) -> None:
    chart = (await api.get("/api/v1/assets/BTC/candles", params={"limit": 10})).json()
    assert chart["instrument"] == "BTC/USD"
    assert 0 < len(chart["bars"]) <= 10
    assert {"markers", "predictions"} <= chart.keys()
    unknown = await api.get("/api/v1/assets/DOGE/candles")
    assert (unknown.status_code, unknown.json()["reason_code"]) == (422, "INVALID_INPUT")
    markup = await api.get("/api/v1/assets/%3Cb%3E/candles")
    assert markup.status_code == 422
    assert "<b>" in markup.json()["message"]  # JSON data, untouched; the UI escapes it
    assert markup.headers["content-type"] == "application/json"


async def test_kill_switch_is_attributed_and_markup_stays_data(
    api: httpx.AsyncClient, session: Any
) -> None:
    engaged = await api.post("/api/v1/killswitch/engage", json={"reason": MARKUP})
    body = engaged.json()
    assert engaged.status_code == 200
    assert (body["ok"], body["kind"], body["actor"]) == (True, "halt", "alice")
    status = (await api.get("/api/v1/status")).json()
    assert status["kill_switch"]["engaged"] is True
    assert status["kill_switch"]["reason"] == MARKUP
    released = await api.post("/api/v1/killswitch/release", json={"reason": "drill over"})
    assert (released.status_code, released.json()["kind"]) == (200, "resume")
    switches = [line["kill_switch"] for line in session.lines() if line.get("kind") == "risk"]
    assert [(s["action"], s["actor"], s["reason"]) for s in switches] == [
        ("engage", "alice", MARKUP),
        ("release", "alice", "drill over"),
    ]
    for bad in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "x", "extra": 1}):
        refused = await api.post("/api/v1/killswitch/engage", json=bad)
        assert (refused.status_code, refused.json()["reason_code"]) == (422, "INVALID_INPUT")


async def test_profiles_diff_apply_and_refusals(api: httpx.AsyncClient) -> None:
    bounds = (await api.get("/api/v1/profiles")).json()["bounds"]
    name = "max_concurrent_positions"
    spec = bounds[name]
    table = spec["profile"]
    diff = await api.post("/api/v1/profiles/diff", json={table: {name: 2}})
    assert diff.status_code == 200
    assert diff.json()["ok"] is True
    out_of_bounds = {table: {name: spec["max"] + 1}}
    refused_diff = await api.post("/api/v1/profiles/diff", json=out_of_bounds)
    assert refused_diff.status_code == 409
    assert refused_diff.json()["reason_code"] == "PROFILE_OUT_OF_BOUNDS"
    refused = await api.post("/api/v1/profiles/apply", json={**out_of_bounds, "reason": "x"})
    assert (refused.status_code, refused.json()["reason_code"]) == (409, "PROFILE_OUT_OF_BOUNDS")
    unknown = await api.post(
        "/api/v1/profiles/apply", json={"risk": {"no_such_knob": 1}, "reason": "x"}
    )
    assert unknown.json()["reason_code"] == "PROFILE_UNKNOWN_PARAMETER"
    applied = await api.post("/api/v1/profiles/apply", json={table: {name: 2}, "reason": "tighter"})
    assert applied.status_code == 200
    assert (applied.json()["ok"], applied.json()["actor"]) == (True, "alice")
    after = (await api.get("/api/v1/profiles")).json()
    assert after[table]["values"][name] == 2
    assert after[table]["author"] == "alice"
    assert after[table]["reason"] == "tighter"
    no_reason = await api.post("/api/v1/profiles/apply", json={table: {name: 3}})
    assert no_reason.status_code == 422


async def test_bundle_changes_without_a_store_are_refused(api: httpx.AsyncClient) -> None:
    for path in ("/api/v1/bundles/check", "/api/v1/bundles/apply", "/api/v1/bundles/rollback"):
        answer = await api.post(path)
        assert answer.status_code == 409, path
        assert answer.json()["reason_code"] == "BUNDLES_UNMANAGED"


async def test_every_route_needs_the_token(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/api/v1/openapi.json")).json()
    anonymous = httpx.AsyncClient(transport=api._transport, base_url=str(api.base_url))
    async with anonymous:
        for path, methods in schema["paths"].items():
            if path == "/api/v1/login":
                continue
            concrete = path.replace("{coin}", "BTC")
            for method in methods:
                answer = await anonymous.request(method.upper(), concrete, json={})
                assert answer.status_code == 401, (method, path)

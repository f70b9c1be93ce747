"""The UI's routes over an in-process ASGI transport, rendered from plain data.

Every page and fragment renders; every state change needs a session, the CSRF token and the
confirmation box, calls the control plane once with the operator as actor, and answers a
fragment; markup in symbols, reasons and messages comes out as text.
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from fastapi import FastAPI

from quant_apps.serve import ui
from quant_apps.serve.app import create_app
from quant_apps.serve.security import COOKIE, Auth
from quant_core import SimClock

from ._asgi import Client
from ._fake import EVIL, FakeControl

TOKEN = "t" * 43
ORIGIN = "http://testserver"


def _app(control: FakeControl) -> tuple[FastAPI, Auth]:
    auth = Auth(TOKEN, "ops", clock=SimClock(0))
    app = create_app(
        cast(Any, control), auth, origin=ORIGIN, routers=[ui.router], hosts=["testserver"]
    )
    return app, auth


@pytest.fixture
def control() -> FakeControl:
    return FakeControl()


@pytest.fixture
def client(control: FakeControl) -> Client:
    app, _ = _app(control)
    c = Client(app)
    c.cookies.set(COOKIE, TOKEN)
    return c


def _csrf(client: Client) -> str:
    auth: Auth = client.app.state.auth
    return auth.csrf_for(TOKEN)


def _post(client: Client, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data={"csrf_token": _csrf(client), **data}, headers={"Origin": ORIGIN})


PAGES = [
    "/",
    "/decisions",
    "/holdings",
    "/assets/BTC",
    "/risk",
    "/profiles",
    "/bundles",
    "/data",
    "/audit",
]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_escaped(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    html = response.text
    assert "<script>alert" not in html
    assert 'href="/static/app.css"' in html
    assert 'aria-current="page"' in html
    assert "Signed in as <strong>ops</strong>" in html
    assert f'<meta name="csrf-token" content="{_csrf(client)}">' in html
    # No inline script: every <script> either loads a file or holds JSON data.
    for chunk in html.split("<script")[1:]:
        assert chunk.lstrip().startswith(("src=", 'type="application/json"')), chunk[:80]
    assert " style=" not in html


def test_the_header_badge_says_live_or_paper(client: Client, control: FakeControl) -> None:
    assert '<span id="mode-badge" class="badge mode" data-mode="paper"' in client.get("/").text
    control.mode = "live"
    for path in PAGES:
        html = client.get(path).text
        assert 'data-mode="live" title="Real orders on the exchange">LIVE</span>' in html, path


def test_markup_in_data_is_text(client: Client, control: FakeControl) -> None:
    control.engaged = True
    for path in ["/", "/decisions", "/risk", "/data"]:
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(path).text, path


@pytest.mark.parametrize(
    "path",
    [*PAGES, "/ui/fragments/status", "/ui/fragments/decisions", "/ui/data/equity"],
)
def test_no_session(control: FakeControl, path: str) -> None:
    app, _ = _app(control)
    c = Client(app)
    response = c.get(path)  # the app sends every GET outside /api without a session to /login
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert c.post("/ui/kill-switch", data={"reason": "x", "confirm": "yes"}).status_code == 401


def test_login_with_token_and_code(control: FakeControl) -> None:
    app, auth = _app(control)
    c = Client(app)
    page = c.get("/login")
    assert page.status_code == 200
    assert 'name="token"' in page.text
    assert "Signed in" not in page.text
    bad = c.post("/login", data={"token": "nope"}, headers={"Origin": ORIGIN})
    assert bad.status_code == 401
    assert "not valid" in bad.text
    assert COOKIE not in bad.cookies
    good = c.post("/login", data={"token": TOKEN}, headers={"Origin": ORIGIN})
    assert good.status_code == 303
    assert good.headers["location"] == "/"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
    code = auth.new_login_code()
    c2 = Client(app)
    redeemed = c2.get(f"/login?code={code}")
    assert redeemed.status_code == 303
    assert c2.get("/").status_code == 200
    again = Client(app).get(f"/login?code={code}")
    assert again.status_code == 401
    out = _post(c2, "/ui/logout", {})
    assert out.status_code == 303
    assert out.headers["location"] == "/login"


def test_fragments_and_data(client: Client, control: FakeControl) -> None:
    status = client.get("/ui/fragments/status")
    assert status.status_code == 200
    assert "<html" not in status.text
    assert "1h 02m 05s" in status.text
    assert client.get("/ui/data/equity").json() == [[1704067200, "10000"], [1704070800, "10000.5"]]
    decisions = client.get("/ui/fragments/decisions", params={"coin": "BTC/USD", "action": "none"})
    assert "P(up, 1h) = 0.512" in decisions.text
    assert "MAX_POSITIONS" in decisions.text
    assert control.calls[-1] == (
        "decisions",
        {"before": None, "limit": 25, "instrument": "BTC/USD", "reason": None, "action": "none"},
    )
    for path in [
        "/ui/fragments/holdings",
        "/ui/fragments/risk",
        "/ui/fragments/profiles",
        "/ui/fragments/bundles",
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "<html" not in response.text
    chart = client.get("/ui/data/assets/BTC").json()
    assert len(chart["bars"]) == 3
    missing = client.get("/ui/data/assets/NOPE")
    assert missing.status_code == 404
    assert missing.json()["reason_code"] == "INVALID_INPUT"


def test_decisions_paging_and_refusal(client: Client, control: FakeControl) -> None:
    page = client.get("/decisions", params={"before": 7, "reason": "X"})
    assert page.status_code == 200
    assert 'id="older"' in page.text
    assert "Older decisions" in page.text
    assert 'hx-trigger="quant:decision' not in page.text  # an older page does not jump
    assert control.calls[-1][1]["before"] == 7
    bad = client.get("/decisions", params={"coin": "BAD"})
    assert bad.status_code == 400
    assert "INVALID_INPUT" in bad.text


def test_unknown_asset(client: Client) -> None:
    response = client.get("/assets/%3Cb%3E")
    assert response.status_code == 404
    assert "INVALID_INPUT" in response.text
    assert "&lt;b&gt;" in response.text


def test_kill_switch(client: Client, control: FakeControl) -> None:
    unconfirmed = _post(client, "/ui/kill-switch", {"reason": "drill"})
    assert "Refused" in unconfirmed.text
    assert "INVALID_INPUT" in unconfirmed.text
    assert not control.engaged
    done = _post(client, "/ui/kill-switch", {"reason": "drill", "confirm": "yes"})
    assert done.status_code == 200
    assert done.headers["hx-trigger"] == "quant:change"
    assert "Done" in done.text
    assert control.calls[-1] == ("halt", {"actor": "ops", "reason": "drill"})
    released = _post(
        client, "/ui/kill-switch", {"action": "release", "reason": "ok", "confirm": "yes"}
    )
    assert "resume" in released.text
    assert not control.engaged


def test_state_changes_need_csrf(client: Client, control: FakeControl) -> None:
    response = client.post(
        "/ui/kill-switch", data={"reason": "x", "confirm": "yes"}, headers={"Origin": ORIGIN}
    )
    assert response.status_code == 403
    foreign = client.post(
        "/ui/kill-switch",
        data={"reason": "x", "confirm": "yes", "csrf_token": _csrf(client)},
        headers={"Origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    assert not control.engaged


def test_profile_preview_and_apply(client: Client, control: FakeControl) -> None:
    page = client.get("/profiles")
    assert 'name="strategy.persistence"' in page.text
    assert 'name="risk.max_total_exposure.value"' in page.text
    assert "bounds 1 … 48" in page.text
    assert 'data-max="48"' in page.text
    fields = {
        "strategy.persistence": "3",
        "strategy.sensitivity": "0.5",
        "risk.max_total_exposure.mode": "percent_of_pv",
        "risk.max_total_exposure.value": "80",
    }
    same = _post(client, "/ui/profiles/preview", fields)
    assert "Nothing changed" in same.text
    edit = {**fields, "strategy.persistence": "4", "risk.max_total_exposure.value": "70"}
    preview = _post(client, "/ui/profiles/preview", edit)
    assert control.calls[-1] == (
        "profile_diff",
        ({"persistence": 4}, {"max_total_exposure": {"mode": "percent_of_pv", "value": "70"}}),
    )
    assert "Apply changes" in preview.text
    changes = json.loads(
        preview.text.split('name="changes" value="')[1].split('"')[0].replace("&#34;", '"')
    )
    assert changes["strategy"] == {"persistence": 4}
    unconfirmed = _post(
        client, "/ui/profiles/apply", {"changes": json.dumps(changes), "reason": "r"}
    )
    assert "INVALID_INPUT" in unconfirmed.text
    applied = _post(
        client,
        "/ui/profiles/apply",
        {"changes": json.dumps(changes), "reason": "r", "confirm": "yes"},
    )
    assert "Done" in applied.text
    last: Any = control.calls[-1]
    assert last[1]["actor"] == "ops"
    for junk in ["[1]", "{", ""]:
        refused = _post(
            client, "/ui/profiles/apply", {"changes": junk, "reason": "r", "confirm": "yes"}
        )
        assert "not a JSON object" in refused.text


def test_profile_out_of_bounds(client: Client, control: FakeControl) -> None:
    preview = _post(client, "/ui/profiles/preview", {"strategy.persistence": "1000"})
    assert "PROFILE_OUT_OF_BOUNDS" in preview.text
    assert "Apply changes" not in preview.text
    refused = _post(
        client,
        "/ui/profiles/apply",
        {"changes": '{"strategy": {"persistence": 1000}}', "reason": "r", "confirm": "yes"},
    )
    assert "PROFILE_OUT_OF_BOUNDS" in refused.text
    assert "hx-trigger" not in refused.headers


def test_bundle_commands(client: Client, control: FakeControl) -> None:
    page = client.get("/bundles")
    assert 'id="active-version">1.0.1<' in page.text
    check = _post(client, "/ui/bundles/check", {})
    assert "USAGE_ERROR" in check.text
    unconfirmed = _post(client, "/ui/bundles/rollback", {})
    assert "INVALID_INPUT" in unconfirmed.text
    rolled = _post(client, "/ui/bundles/rollback", {"confirm": "yes"})
    assert "Done" in rolled.text
    assert "active_version" in rolled.text
    applied = _post(client, "/ui/bundles/apply", {"confirm": "yes"})
    assert "apply_update" in applied.text
    assert _post(client, "/ui/bundles/explode", {"confirm": "yes"}).status_code == 404


def test_audit_refused(
    client: Client, control: FakeControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        control,
        "verify_audit",
        lambda: {"ok": False, "entries": 2, "reason_code": "AUDIT_CHAIN_BROKEN", "message": EVIL},
    )
    page = client.get("/audit")
    assert "Not verified" in page.text
    assert "AUDIT_CHAIN_BROKEN" in page.text
    assert "<script>alert" not in page.text


def test_an_unmanaged_bundle(
    client: Client, control: FakeControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        control,
        "bundle_status",
        lambda: {"managed": False, "active": {"bundle_version": "9.9.9"}, "update_source": None},
    )
    page = client.get("/bundles")
    assert 'id="active-version">9.9.9<' in page.text
    monkeypatch.setattr(control, "data", lambda: {"instruments": [], "store": None})
    assert "no market-data store" in client.get("/data").text
    assert "BUNDLES_UNMANAGED" in page.text

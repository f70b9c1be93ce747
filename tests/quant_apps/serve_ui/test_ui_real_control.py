"""The UI over a real control plane (a runtime with its runner thread) in process.

The same session the control plane's own tests use (the example market through the real
store, sync and decision log, an oracle predictor that trades): every page and fragment
renders its real values; the kill switch and a profile edit posted as the UI posts them are
applied by the runner and attributed to the operator; an out-of-bounds edit is refused with
the code the profile file gets.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.quant_apps.runtime_control.conftest import Running, start

from quant_apps.serve import ui
from quant_apps.serve.app import create_app
from quant_apps.serve.security import COOKIE, Auth
from quant_core import SimClock

from ._asgi import Client

TOKEN = "r" * 43
ORIGIN = "http://testserver"


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Running]:
    running = start(tmp_path / "out")
    running.advance(30)
    yield running
    if running.thread.is_alive():
        running.stop()
    running.control.index.close()


@pytest.fixture
def client(session: Running) -> Client:
    auth = Auth(TOKEN, "bob", clock=SimClock(0))
    app = create_app(
        session.control, auth, origin=ORIGIN, routers=[ui.router], hosts=["testserver"]
    )
    c = Client(app)
    c.cookies.set(COOKIE, TOKEN)
    return c


def _post(client: Client, url: str, data: dict[str, Any]) -> Any:
    auth: Auth = client.app.state.auth
    form = {"csrf_token": auth.csrf_for(TOKEN), **data}
    return client.post(url, data=form, headers={"Origin": ORIGIN})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "paper"),
        ("/decisions", "BTC/USD"),
        ("/holdings", "Positions held"),
        ("/assets/BTC", "BTC/USD"),
        ("/assets/ETH", "ETH/USD"),
        ("/risk", "max_positions"),
        ("/profiles", "entry_min_up_probability"),
        ("/bundles", "BUNDLES_UNMANAGED"),
        ("/data", "BTC/USD"),
        ("/audit", "Verified"),
        ("/ui/fragments/status", "Portfolio value"),
        ("/ui/fragments/decisions", "P(up"),
        ("/ui/fragments/holdings", "Recent fills"),
        ("/ui/fragments/risk", "total_exposure"),
        ("/ui/fragments/profiles", "Strategy profile"),
        ("/ui/fragments/bundles", "Serving"),
    ],
)
def test_pages_render_real_values(client: Client, path: str, expected: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, response.text
    assert expected in response.text


def test_chart_and_equity_data(client: Client) -> None:
    chart = client.get("/ui/data/assets/BTC").json()
    assert chart["bars"]
    assert {"time_s", "open", "high", "low", "close"} <= set(chart["bars"][0])
    assert {m["kind"] for m in chart["markers"]} <= {"entry", "partial_exit", "exit"}
    equity = client.get("/ui/data/equity").json()
    assert equity
    assert all(isinstance(t, int) and isinstance(v, str) for t, v in equity)


def test_kill_switch_and_profile_changes_are_applied_and_attributed(
    client: Client, session: Running
) -> None:
    done = _post(client, "/ui/kill-switch", {"reason": "<b>drill</b>", "confirm": "yes"})
    assert "Done" in done.text, done.text
    assert "&lt;b&gt;drill&lt;/b&gt;" in client.get("/ui/fragments/status").text
    assert session.control.status()["kill_switch"]["actor"] == "bob"
    risk = [line for line in session.lines() if line.get("kind") == "risk"]
    assert "bob" in json.dumps(risk[-1])

    page = client.get("/profiles").text
    assert 'name="strategy.persistence"' in page
    refused = _post(client, "/ui/profiles/preview", {"strategy.persistence": "100000"})
    assert "PROFILE_OUT_OF_BOUNDS" in refused.text
    preview = _post(client, "/ui/profiles/preview", {"strategy.persistence": "4"})
    assert "Apply changes" in preview.text, preview.text
    applied = _post(
        client,
        "/ui/profiles/apply",
        {"changes": '{"strategy": {"persistence": 4}}', "reason": "wider", "confirm": "yes"},
    )
    assert "Done" in applied.text, applied.text
    profiles = session.control.profiles()
    assert profiles["strategy"]["values"]["persistence"] == 4
    assert profiles["strategy"]["author"] == "bob"
    refused_apply = _post(
        client,
        "/ui/profiles/apply",
        {"changes": '{"strategy": {"persistence": 100000}}', "reason": "x", "confirm": "yes"},
    )
    assert "PROFILE_OUT_OF_BOUNDS" in refused_apply.text
    unmanaged = _post(client, "/ui/bundles/check", {})
    assert "BUNDLES_UNMANAGED" in unmanaged.text

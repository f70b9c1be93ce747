"""The operator console in Debian's Chromium, against a running paper session on real data.

One paper session per module: the provider emulator serves the shared real Kraken hourly
files (``QUANT_SHARED_DATA``), the session trades BTC and ETH on a replay clock with a tiny
signed bundle (1.0.0) and an update source offering 1.1.0, and the operator server (C's
``create_app`` with this package's UI) listens on a free 127.0.0.1 port in a thread. The
browser signs in with a one-time code, like an operator.

Checked: every page renders with real content and without a console error, a CSP violation
or a request to anywhere but the server; a decision reaches the open page without a reload;
the kill switch, driven by the keyboard alone, halts the session and the decision log
records it with the operator's name (its markup-laden reason shown as text); an
out-of-bounds profile edit is refused with its reason code, in the preview and on apply; a
bundle update then a rollback from the UI change the active bundle and show its status.
Screenshots of every page go to ``$QUANT_TEST_ARTIFACTS/serve_ui`` (default
``tests/artifacts/serve_ui``, git-ignored).

Needs Chromium (``QUANT_CHROMIUM``, default ``/usr/bin/chromium``) and the shared data; under
``CI=true`` their absence fails, elsewhere the module is skipped, saying why.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from tests.quant_apps._chromium import ARGS, CHROMIUM, need_chromium

from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.operator.service import ServeOptions, Service, open_service
from quant_apps.serve import ui
from quant_apps.serve.app import create_app
from quant_apps.serve.security import Auth
from quant_apps.serve.server import Server, bind, origin_for

from ._releases import two_releases

REAL = "real/coinapi_kraken_1h__alfotus-coinapi-historical-data"
SYMBOLS = ("BTC", "ETH")
OPERATOR = "alice"
MARKUP = 'drill <b>bold</b> <img src=x onerror="document.title=1">'
SPEED = 36_000.0  # ten hourly bars a second
CYCLES = 12  # cycles (about a second each, several bars each) before the screenshots
WAIT_MS = 60_000  # how long a liveness wait may take on a loaded CI machine (not a speed check)
REPO = Path(__file__).resolve().parents[3]

sync_api = pytest.importorskip("playwright.sync_api")


def _artifacts() -> Path:
    root = Path(os.environ.get("QUANT_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
    path = root / "serve_ui"
    path.mkdir(parents=True, exist_ok=True)
    return path


@attrs.define
class Console:
    """A running session with its server, and what the tests need to reach it."""

    service: Service
    auth: Auth
    base: str
    out: Path
    artifacts: Path


@pytest.fixture(scope="module")
def console(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    need_chromium()
    where = tmp_path_factory.mktemp("console")
    release, source, keys = two_releases(where / "releases")
    sources = tuple(
        shared_data / REAL / f"KRAKEN_SPOT_{symbol}_USD_1HRS.csv.gz" for symbol in SYMBOLS
    )
    options = ServeOptions(
        out=where / "serve",
        provider="emulator",
        source=sources,
        symbols=SYMBOLS,
        quote="USD",
        speed=SPEED,
        bundle=release,
        keys=keys,
        update_source=str(source),
    )
    env = {"QUANT_DATA_DIR": str(where / "data"), "QUANT_REQUIRE_BUNDLE": "1"}
    service = open_service(options, env=env)
    service.start()
    sock = bind("127.0.0.1", 0)
    base = origin_for("127.0.0.1", sock.getsockname()[1])
    auth = Auth("test-token-" + "x" * 32, OPERATOR, clock=WallClock())
    server = Server(create_app(service.control, auth, origin=base, routers=[ui.router]), sock)
    thread = threading.Thread(target=server.run, name="serve-ui-test")
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.02)
        yield Console(service, auth, base, options.out, _artifacts())
    finally:
        server.stop()
        thread.join()
        service.stop()


@pytest.fixture(scope="module")
def browser(console: Console) -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@attrs.define
class Watch:
    """What a page did that it should not: console errors, page errors, foreign requests."""

    problems: list[str] = attrs.field(factory=list)
    foreign: list[str] = attrs.field(factory=list)
    navigations: int = 0


@pytest.fixture
def page(console: Console, browser: Any) -> Iterator[tuple[Any, Watch]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    watch = Watch()
    tab.on(
        "console",
        lambda m: watch.problems.append(m.text) if m.type in ("error", "warning") else None,
    )
    tab.on("pageerror", lambda e: watch.problems.append(str(e)))
    tab.on(
        "request",
        lambda r: None if r.url.startswith(console.base + "/") else watch.foreign.append(r.url),
    )

    def navigated(frame: Any) -> None:
        if frame == tab.main_frame:
            watch.navigations += 1

    tab.on("framenavigated", navigated)
    tab.goto(f"{console.base}/login?code={console.auth.new_login_code()}")
    tab.wait_for_url(f"{console.base}/")
    try:
        yield tab, watch
    finally:
        context.close()
    assert watch.problems == []
    assert watch.foreign == []


def _shot(tab: Any, console: Console, name: str) -> None:
    path = console.artifacts / f"{name}.png"
    tab.screenshot(path=str(path), full_page=True)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _open(tab: Any, console: Console, path: str) -> None:
    tab.goto(console.base + path)
    tab.wait_for_load_state("load")


def test_every_page_renders_with_real_content(console: Console, page: tuple[Any, Watch]) -> None:
    tab, _ = page
    _open(tab, console, "/")
    tab.wait_for_function(
        "n => Number(document.querySelector('#cycles')?.dataset.cycles) >= n",
        arg=CYCLES,
        timeout=WAIT_MS,
    )  # the status block refreshes itself as the session runs
    tab.wait_for_selector("#live-status[data-state='open']", timeout=WAIT_MS)
    tab.wait_for_selector("#equity-chart[data-points]", timeout=WAIT_MS)
    assert tab.inner_text("#mode") == "paper"
    assert tab.inner_text("#health") in ("running", "starting")
    assert tab.locator("#equity-chart canvas").count() > 0
    assert tab.inner_text("#portfolio-value") not in ("", "—")
    _shot(tab, console, "overview")

    _open(tab, console, "/decisions")
    tab.wait_for_selector("table.decisions tbody tr", timeout=WAIT_MS)
    text = tab.inner_text("table.decisions")
    assert "BTC/USD" in text or "ETH/USD" in text
    assert tab.locator("table.decisions code.reason").count() > 0
    assert tab.locator("#f-reason option").count() > 1
    _shot(tab, console, "decisions")

    _open(tab, console, "/holdings")
    assert tab.locator("h2", has_text="Positions").count() == 1
    assert tab.locator("h2", has_text="Ledger fills").count() == 1
    _shot(tab, console, "holdings")

    _open(tab, console, "/assets/BTC")
    assert tab.inner_text("h1") == "BTC/USD"
    tab.wait_for_selector("#asset-chart[data-bars]", timeout=WAIT_MS)
    assert int(tab.get_attribute("#asset-chart", "data-bars")) > 0
    assert tab.locator("#asset-chart canvas").count() > 0
    _shot(tab, console, "asset")

    _open(tab, console, "/risk")
    assert tab.locator("meter").count() == 3
    gates = tab.inner_text(".gates")
    for gate in ("max_positions", "total_exposure", "drawdown"):
        assert gate in gates
    _shot(tab, console, "risk")

    _open(tab, console, "/profiles")
    assert tab.locator("input[name='strategy.persistence']").count() == 1
    assert tab.locator("#cur-strategy .version").count() == 1
    _shot(tab, console, "profiles-page")

    _open(tab, console, "/bundles")
    assert tab.inner_text("#active-version") == "1.0.0"
    _shot(tab, console, "bundles-page")

    _open(tab, console, "/data")
    assert "BTC/USD" in tab.inner_text("main")
    _shot(tab, console, "data")

    _open(tab, console, "/audit")
    assert tab.inner_text("#audit-verdict").startswith("Verified")
    _shot(tab, console, "audit")


def test_a_decision_reaches_the_open_page_without_a_reload(
    console: Console, page: tuple[Any, Watch]
) -> None:
    tab, watch = page
    _open(tab, console, "/decisions")
    tab.wait_for_selector("#live-status[data-state='open']", timeout=WAIT_MS)
    tab.wait_for_selector("table.decisions tbody tr", timeout=WAIT_MS)
    first = int(tab.get_attribute("table.decisions tbody tr", "data-id"))
    loads = watch.navigations
    tab.wait_for_function(
        "first => Number(document.querySelector('table.decisions tbody tr')"
        ".getAttribute('data-id')) > first",
        arg=first,
        timeout=WAIT_MS,
    )
    assert watch.navigations == loads  # swapped in by htmx, not by a reload


def test_the_kill_switch_by_keyboard_halts_and_is_logged_with_the_operator(
    console: Console, page: tuple[Any, Watch]
) -> None:
    tab, _ = page
    _open(tab, console, "/")
    for _ in range(40):
        tab.keyboard.press("Tab")
        if tab.evaluate("document.activeElement.id") == "kill-engage":
            break
    else:
        pytest.fail("the kill switch is not reachable with Tab")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "kill-reason"
    tab.keyboard.type(MARKUP)
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "kill-confirm"
    tab.keyboard.press("Space")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.id") == "kill-submit"
    # The focused control is visibly marked (a solid outline, not the browser's none).
    assert tab.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#kill-result .result.ok", timeout=WAIT_MS)
    tab.wait_for_selector("#kill-state[data-engaged='true']", timeout=WAIT_MS)
    state = tab.inner_text("#kill-state")
    assert OPERATOR in state
    assert MARKUP in state  # the reason is text: its tags are shown, not obeyed
    assert tab.locator("#kill-state img, #kill-state b, #kill-result img").count() == 0
    assert tab.title() != "1"
    assert console.service.control.status()["kill_switch"]["engaged"] is True
    _shot(tab, console, "kill-switch")
    lines = [
        json.loads(line)
        for line in (console.out / "decisions.jsonl").read_text("utf-8").splitlines()
    ]
    engaged = [
        line for line in lines if line.get("kind") == "risk" and line.get("change") == "kill_switch"
    ]
    assert engaged, "the decision log has no kill-switch line"
    switch = engaged[-1]["kill_switch"]
    assert (switch["action"], switch["actor"], switch["reason"]) == ("engage", OPERATOR, MARKUP)


def test_an_out_of_bounds_profile_edit_is_refused_with_its_reason(
    console: Console, page: tuple[Any, Watch]
) -> None:
    tab, _ = page
    _open(tab, console, "/profiles")
    before = tab.get_attribute("#cur-strategy .version", "data-version")
    field = tab.locator("input[name='strategy.persistence']")
    too_big = int(float(field.get_attribute("data-max"))) + 1
    field.fill(str(too_big))
    assert field.get_attribute("aria-invalid") == "true"  # advice, as the operator types
    tab.click("#profile-preview-button")
    tab.wait_for_selector("#profile-preview .refused", timeout=WAIT_MS)
    assert "PROFILE_OUT_OF_BOUNDS" in tab.inner_text("#profile-preview")
    assert tab.locator("#profile-apply-button").count() == 0
    _shot(tab, console, "profiles")
    # The server refuses it on apply too, whatever the page offers.
    answer = tab.evaluate(
        """async (value) => {
            const body = new URLSearchParams({
                changes: JSON.stringify({strategy: {persistence: value}}),
                reason: "too far", confirm: "yes",
                csrf_token: document.querySelector('meta[name="csrf-token"]').content,
            });
            const r = await fetch("/ui/profiles/apply", {method: "POST", body});
            return await r.text();
        }""",
        too_big,
    )
    assert "PROFILE_OUT_OF_BOUNDS" in answer
    assert console.service.control.profiles()["strategy"]["version"] == int(before)


def test_a_bundle_update_then_a_rollback_from_the_ui(
    console: Console, page: tuple[Any, Watch]
) -> None:
    tab, _ = page
    _open(tab, console, "/bundles")
    assert tab.inner_text("#active-version") == "1.0.0"
    tab.click("#bundle-check")
    tab.wait_for_selector("#bundle-result .result.ok[data-kind='check_update']", timeout=WAIT_MS)
    assert "1.1.0" in (tab.text_content("#bundle-result") or "")
    tab.check("#apply-confirm")
    tab.click("#bundle-apply")
    tab.wait_for_selector("#bundle-result .result.ok[data-kind='apply_update']", timeout=WAIT_MS)
    tab.wait_for_function(
        "v => document.querySelector('#active-version').textContent.trim() === v",
        arg="1.1.0",
        timeout=WAIT_MS,
    )
    assert tab.inner_text("#previous-version") == "1.0.0"
    tab.check("#rollback-confirm")
    tab.click("#bundle-rollback")
    tab.wait_for_selector("#bundle-result .result.ok[data-kind='rollback']", timeout=WAIT_MS)
    tab.wait_for_function(
        "v => document.querySelector('#active-version').textContent.trim() === v",
        arg="1.0.0",
        timeout=WAIT_MS,
    )
    assert "rollback" in tab.inner_text("#bundle-result")
    _shot(tab, console, "bundles")
    status = console.service.control.bundle_status()
    assert status["active_version"] == "1.0.0"
    # Every governed change so far (kill switch, two bundle reloads) is in the audit chain.
    _open(tab, console, "/audit")
    verdict = tab.inner_text("#audit-verdict")
    assert verdict.startswith("Verified")
    assert console.service.control.verify_audit()["entries"] >= 3
    _shot(tab, console, "audit")

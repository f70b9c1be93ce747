"""The demo's HTML report opened in headless Chromium: it renders, offline, without errors.

Needs the Debian ``chromium`` at ``/usr/bin/chromium`` or at ``QUANT_CHROMIUM`` (``.ci/run``
installs it and sets that). Under ``CI=true`` its absence fails the test; elsewhere the test
is skipped, saying why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app

from ._bundles import make_release
from ._chromium import ARGS, CHROMIUM, need_chromium


def test_the_demo_report_renders_in_chromium(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANT_REQUIRE_BUNDLE", raising=False)
    release, keys = make_release(tmp_path / "bundle")
    out = tmp_path / "demo"
    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--json",
            "--out",
            str(out),
            "--bars",
            "200",
            "--bundle",
            str(release),
            "--keys",
            str(keys),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    report = out / "report.html"

    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 800})
            page.on(
                "console",
                lambda m: problems.append(m.text) if m.type in ("error", "warning") else None,
            )
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(report.as_uri())
            page.wait_for_load_state("load")
            symbols = doc["source"]["symbols"]
            # Equity and drawdown (2), one price chart per coin, the reason-code bars.
            assert page.locator("svg").count() == 3 + len(symbols)
            # Strategy and buy-and-hold lines on both the equity and drawdown charts.
            assert page.locator("svg").nth(0).locator("polyline").count() == 2
            assert page.locator("svg").nth(1).locator("polyline").count() == 2
            assert page.locator("circle").count() == doc["backtest"]["metrics"]["fills"]
            assert page.locator("h3").all_inner_texts() == [
                f"{s}/{doc['source']['quote']}" for s in sorted(symbols)
            ]
            # The charts have real size on screen, and the hashes are visible text.
            box = page.locator("svg").first.bounding_box()
            assert box is not None
            assert box["width"] > 400
            assert box["height"] > 100
            text = page.inner_text("body")
            assert doc["replay_hash"] in text
            assert doc["dataset"]["hash"] in text
            assert doc["bundle"]["bundle_hash"] in text
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert problems == []
    assert requests == [report.as_uri()]  # nothing fetched beyond the file itself
    assert shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

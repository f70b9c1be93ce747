"""Markup in a symbol, a reason code, a gap reason or a message is shown as text in Chromium.

The pages are rendered from plain data whose symbol, reason codes, gap reason and kill-switch
reason are HTML with script (``<script>…``, ``<img onerror=…>``); the browser must show the
characters, run nothing and create no element from them. Served by C's app on a free
127.0.0.1 port, with its CSP.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
from tests.quant_apps._chromium import ARGS, CHROMIUM, need_chromium

from quant_apps.runtime.clock import WallClock
from quant_apps.serve import ui
from quant_apps.serve.app import create_app
from quant_apps.serve.security import Auth
from quant_apps.serve.server import Server, bind, origin_for

from ._fake import EVIL, FakeControl

sync_api = pytest.importorskip("playwright.sync_api")
SYMBOL = "<img src=x onerror=\"document.title='pwned'\">/USD"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, Auth]]:
    need_chromium()
    control = FakeControl(coin=SYMBOL)
    control.engaged = True  # the kill switch reason holds markup too
    sock = bind("127.0.0.1", 0)
    base = origin_for("127.0.0.1", sock.getsockname()[1])
    auth = Auth("escape-token-" + "y" * 32, "eve", clock=WallClock())
    app = create_app(cast(Any, control), auth, origin=base, routers=[ui.router])
    server = Server(app, sock)
    thread = threading.Thread(target=server.run, name="serve-ui-escaping")
    thread.start()
    try:
        while not server.started and thread.is_alive():
            threading.Event().wait(0.02)
        yield base, auth
    finally:
        server.stop()
        thread.join()


@pytest.mark.parametrize("path", ["/", "/decisions", "/holdings", "/risk", "/data"])
def test_markup_in_the_data_is_shown_as_text(served: tuple[str, Auth], path: str) -> None:
    base, auth = served
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            tab = browser.new_page()
            tab.on("pageerror", lambda e: problems.append(str(e)))
            tab.on("dialog", lambda d: problems.append(f"dialog: {d.message}"))
            tab.goto(f"{base}/login?code={auth.new_login_code()}")
            tab.wait_for_url(f"{base}/")
            tab.goto(base + path)
            tab.wait_for_load_state("load")
            text = tab.inner_text("main")
            assert EVIL in text or SYMBOL in text
            assert tab.locator("main img, main script").count() == 0
            assert tab.title() != "pwned"
        finally:
            browser.close()
    assert problems == []

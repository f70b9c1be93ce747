"""The operator UI's Kraken onboarding page and its API route: never a key, only a fingerprint."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail

from quant_apps.runtime.trading.credentials import CredentialStore, KrakenCredentials, StoredKey
from quant_apps.serve import ui
from quant_apps.serve.app import create_app
from quant_apps.serve.security import COOKIE, Auth
from quant_core import SimClock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_asgi = importlib.import_module("serve_ui._asgi")
_fake = importlib.import_module("serve_ui._fake")

TOKEN = "t" * 43
KEY, SECRET = "page-public-key-never-shown", "cGFnZS1zZWNyZXQtbmV2ZXItc2hvd24="
URL = "http://127.0.0.1:9/fake-exchange"


@pytest.fixture
def client() -> Any:
    auth = Auth(TOKEN, "ops", clock=SimClock(0))
    app = create_app(
        cast(Any, _fake.FakeControl()), auth, origin="http://testserver", routers=[ui.router],
        hosts=["testserver"],
    )  # fmt: skip
    app.state.kraken_url = URL
    c = _asgi.Client(app)
    c.cookies.set(COOKIE, TOKEN)
    return c


@pytest.fixture
def chosen(memory_keyring: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(memory_keyring)
    yield memory_keyring
    keyring.set_keyring(previous)


def test_the_page_explains_and_shows_the_stored_key(client: Any, chosen: KeyringBackend) -> None:
    empty = client.get("/kraken")
    assert empty.status_code == 200
    assert "Query closed orders &amp; trades" in empty.text
    assert "CREDENTIALS_MISSING" in empty.text
    assert f"quant kraken connect --url {URL}" in empty.text
    creds = KrakenCredentials.parse(KEY, SECRET)
    CredentialStore(chosen).save(StoredKey(URL, creds, ("query_funds",), 5))
    page = client.get("/kraken")
    assert creds.fingerprint in page.text
    assert 'aria-current="page"' in page.text
    answer = client.get("/api/v1/kraken").json()
    assert answer["key"] == {
        "base_url": URL, "fingerprint": creds.fingerprint, "permissions": ["query_funds"],
        "validated_ns": 5,
    }  # fmt: skip
    assert answer["store"]["usable"] is True
    for text in (page.text, str(answer)):
        assert KEY not in text
        assert SECRET not in text


def test_without_a_store_the_page_says_so(client: Any) -> None:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        page = client.get("/kraken")
        answer = client.get("/api/v1/kraken").json()
    finally:
        keyring.set_keyring(previous)
    assert "CREDENTIALS_UNAVAILABLE" in page.text
    assert answer["reason_code"] == "CREDENTIALS_UNAVAILABLE"
    assert answer["store"]["usable"] is False


def test_the_default_exchange_is_krakens(client: Any, chosen: KeyringBackend) -> None:
    del client.app.state.kraken_url
    answer = client.get("/api/v1/kraken").json()
    assert answer["exchange"] == "https://api.kraken.com"
    assert answer["connect"] == "quant kraken connect"
    assert "quant kraken connect</code>" in client.get("/kraken").text

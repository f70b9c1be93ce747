"""RT-19: with no usable keyring backend, onboarding and live trading fail closed.

``keyring.backends.fail.Keyring`` (selected through ``PYTHON_KEYRING_BACKEND``, as a user's
machine without a Secret Service would end up) makes ``quant kraken connect``, ``quant kraken
status`` and ``quant trade --live`` stop with ``CREDENTIALS_UNAVAILABLE`` and guidance; the key
given on stdin is never sent anywhere and no file holds it (no plaintext fallback).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from keyring.backends import fail

from quant_apps.runtime.trading.credentials import (
    CredentialStore,
    CredentialsUnavailableError,
    KrakenCredentials,
    StoredKey,
)
from quant_core import SimClock
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken

KEY = "rt19-public-key-never-stored"
SECRET = "cnQxOS1zZWNyZXQtbmV2ZXItc3RvcmVk"  # base64 of a test value


def _files_holding(root: Path, needles: list[str]) -> list[Path]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if any(n.encode() in data for n in needles):
            found.append(path)
    return found


def test_the_store_refuses_the_fail_backend_and_writes_nothing(tmp_path: Path) -> None:
    store = CredentialStore(fail.Keyring())  # type: ignore[no-untyped-call]
    stored = StoredKey("https://api.kraken.com", KrakenCredentials.parse(KEY, SECRET), (), 1)
    with pytest.raises(CredentialsUnavailableError) as caught:
        store.save(stored)
    assert caught.value.reason_code == "CREDENTIALS_UNAVAILABLE"
    assert "never written to a file" in caught.value.message
    assert KEY not in str(caught.value)
    assert SECRET not in str(caught.value)


def test_the_commands_fail_closed_without_a_keyring(tmp_path: Path) -> None:
    fake = FakeKraken(SimClock(1_700_000_000 * 10**9), api_key=KEY, secret=SECRET)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    env |= {
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "QUANT_DATA_DIR": str(tmp_path / "data"),
    }
    outputs: list[str] = []
    with serve_fake_kraken(fake, hang_s=2.0) as server:
        for args in (
            ["kraken", "connect", "--url", server.base_url, "--json"],
            ["kraken", "status", "--url", server.base_url, "--json"],
            ["kraken", "forget", "--url", server.base_url, "--json"],
            ["trade", "--live", "--provider", "kraken", "--symbols", "BTC,ETH", "--json",
             "--exchange-url", server.base_url, "--confirm", "LIVE x"],
        ):  # fmt: skip
            done = subprocess.run(
                [sys.executable, "-m", "quant_apps", *args],
                input=f"{KEY}\n{SECRET}\n", capture_output=True, text=True, env=env,
                cwd=tmp_path, timeout=120, check=False,
            )  # fmt: skip
            outputs += [done.stdout, done.stderr]
            answer = json.loads(done.stdout)
            assert done.returncode == 1, done.stdout
            assert answer["reason_code"] == "CREDENTIALS_UNAVAILABLE", answer
            assert "credential store" in answer["message"]
            assert "keyring.backends.fail.Keyring" in answer["message"]
    assert fake.calls == []  # the key was never sent to the exchange
    assert _files_holding(tmp_path, [KEY, SECRET]) == []  # no plaintext fallback anywhere
    assert not any(KEY in text or SECRET in text for text in outputs)

"""RT-18: a planted Kraken key and secret appear in no log, repr, exception or file.

Onboarding runs at DEBUG logging against the fake Kraken over HTTP: a passing check and store,
a refused key (may withdraw), a wrong secret (the exchange refuses the signature), a dry run
refused, a write of unknown outcome. Then every captured log record (``caplog``, all loggers at
DEBUG), every repr and message of the objects and errors involved and every file written under
the test's directory is searched for the key, the secret (base64 and decoded) and each
``API-Sign`` value the fake received: 0 hits. The end-to-end CLI flow does the same for its
processes' output and files (``tests/quant_apps/live/test_live_flow_e2e.py``).
"""

from __future__ import annotations

import base64
import logging
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from quant_apps.runtime.trading.credentials import CredentialStore, KrakenCredentials
from quant_apps.runtime.trading.onboarding import ConnectError, connect_key, open_client
from quant_core import SimClock
from quant_core.errors import QuantError
from quant_exec.venues.kraken import TRADING_PERMISSIONS
from quant_exec.venues.kraken.fake import FakeFault, FakeKraken, serve_fake_kraken

KEY = "rt18-planted-public-key-8c3e"
SECRET = base64.b64encode(b"rt18 planted private key 71f0, never in a log").decode()
START = 1_700_000_000 * 10**9


class _Memory(KeyringBackend):
    """An in-memory credential store (the OS store's interface; RT-19 covers its absence)."""

    priority = -1  # never chosen by keyring itself

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


def _fake(**kwargs: Any) -> FakeKraken:
    fake = FakeKraken(SimClock(START), api_key=KEY, secret=SECRET, **kwargs)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    fake.book.balances["ZUSD"] = Decimal("1000")
    return fake


def test_no_planted_secret_in_logs_reprs_errors_or_files(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    signatures: list[str] = []
    creds = KrakenCredentials.parse(KEY, SECRET)
    store = CredentialStore(_Memory())
    texts += [repr(creds), str(creds)]

    def run(fake: FakeKraken, credentials: KrakenCredentials, *, volume: str = "0.0001") -> None:
        with serve_fake_kraken(fake, hang_s=1.0) as server:
            client = open_client(credentials, server.base_url, clock=fake.clock,
                                 state_dir=tmp_path / "nonces")  # fmt: skip
            texts.append(repr(client))
            try:
                report = connect_key(
                    credentials, base_url=server.base_url, store=store, client=client,
                    clock=fake.clock, server_time=fake.clock.now_ns, volume=Decimal(volume),
                )  # fmt: skip
                texts.append(repr(report))
                stored = store.load(server.base_url)
                texts.extend([repr(stored), str(stored.about() if stored else None)])
            except QuantError as exc:
                texts.extend([str(exc), repr(exc), repr(exc.to_dict())])
                if isinstance(exc, ConnectError):
                    texts.append(repr(exc.report.to_json()))
            finally:
                client.close()
        signatures.extend(fake.signatures)

    run(_fake(), creds)  # passes and is stored
    withdraw = frozenset({*TRADING_PERMISSIONS, "websocket", "withdraw_funds"})
    run(_fake(permissions=withdraw), creds)  # refused: may withdraw
    run(_fake(), KrakenCredentials.parse(KEY, base64.b64encode(b"wrong").decode()))  # bad sign
    run(_fake(), creds, volume="0.00000001")  # the dry run is refused
    busy = _fake()
    busy.inject("AddOrder", FakeFault.ACCEPT_THEN_500)  # a write of unknown outcome
    run(busy, creds)

    assert signatures, "the fake saw no signed request"
    needles = [KEY, SECRET, base64.b64decode(SECRET).decode(), *set(signatures)]
    logged = caplog.text + "\n".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert caplog.records, "nothing was logged at DEBUG: the scan would prove nothing"
    haystacks = {"logs": logged, "reprs and errors": "\n".join(texts)}
    for path in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        haystacks[str(path)] = path.read_bytes().decode("utf-8", "replace")
    for where, text in haystacks.items():
        for needle in needles:
            assert needle not in text, f"a planted secret ({needle[:6]}…) is in {where}"

"""``quant kraken …`` and ``quant trade`` in process (CliRunner) and on a real terminal (pty).

The credential store is the keyring the process selects: an in-memory backend set through
``keyring.set_keyring`` in process, the Secret Service in the terminal test.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.cli.kraken import feed_bars, serve_closed_bars
from quant_apps.runtime.doctor import kraken_credentials_check
from quant_core import SimClock, Timeframe
from quant_core.errors import QuantError
from quant_data import FetchedPage, RawPage, SourceBar
from quant_exec.venues.kraken.fake import FakeKraken

runner = CliRunner()


@pytest.fixture
def chosen_keyring(memory_keyring: KeyringBackend) -> Iterator[KeyringBackend]:
    previous = keyring.get_keyring()
    keyring.set_keyring(memory_keyring)
    yield memory_keyring
    keyring.set_keyring(previous)


def test_connect_status_forget(
    chosen_keyring: KeyringBackend, fake_server: Any, isolated_env: None
) -> None:
    url = fake_server.base_url
    typed = f"{fake_server.api_key}\n{fake_server.secret}\n"
    done = runner.invoke(app, ["kraken", "connect", "--url", url], input=typed)
    assert done.exit_code == 0, done.output
    assert "dry_run: dry run buy 0.0001 XBTUSD @ market: valid" in done.stdout
    assert "MemoryKeyring" in done.stdout
    status = runner.invoke(app, ["kraken", "status", "--url", url])
    assert status.exit_code == 0
    assert "cancel_orders, create_orders" in status.stdout
    as_json = json.loads(runner.invoke(app, ["kraken", "status", "--url", url, "--json"]).stdout)
    assert as_json["base_url"] == url
    assert set(as_json) == {"ok", "base_url", "fingerprint", "permissions", "validated_ns"}
    doctor_check = kraken_credentials_check(url)
    assert doctor_check["status"] == "ok"
    assert doctor_check["detail"].startswith(f"{as_json['fingerprint']} for {url}")
    assert runner.invoke(app, ["kraken", "forget", "--url", url]).stdout == "key removed\n"
    assert kraken_credentials_check(url)["reason_code"] == "CREDENTIALS_MISSING"
    assert runner.invoke(app, ["kraken", "forget", "--url", url]).stdout == "no key was stored\n"
    missing = runner.invoke(app, ["kraken", "status", "--url", url, "--json"])
    assert missing.exit_code == 3
    assert json.loads(missing.stdout)["reason_code"] == "CREDENTIALS_MISSING"
    for secret in (fake_server.api_key, fake_server.secret):
        assert secret not in done.output


def test_connect_refusals(
    chosen_keyring: KeyringBackend, fake_server: Any, isolated_env: None
) -> None:
    url = fake_server.base_url
    one_line = runner.invoke(app, ["kraken", "connect", "--url", url, "--json"], input="k\n")
    assert json.loads(one_line.stdout)["reason_code"] == "CREDENTIALS_INVALID"
    bad = runner.invoke(app, ["kraken", "connect", "--url", url, "--volume", "lots"], input="")
    assert bad.exit_code == 2
    below = runner.invoke(
        app, ["kraken", "connect", "--url", url, "--volume", "0.00000001", "--json"],
        input=f"{fake_server.api_key}\n{fake_server.secret}\n",
    )  # fmt: skip
    assert below.exit_code == 3
    answer = json.loads(below.stdout)
    assert answer["reason_code"] == "VENUE_ORDER_MINIMUM"
    assert runner.invoke(app, ["kraken", "status", "--url", url]).exit_code == 3  # not stored


def test_trade_needs_live_and_the_exact_phrase(
    chosen_keyring: KeyringBackend, isolated_env: None
) -> None:
    paper = runner.invoke(app, ["trade", "--provider", "kraken", "--symbols", "BTC"])
    assert paper.exit_code == 2
    assert "paper trading is `quant paper`" in paper.output


def test_fake_exchange_usage_errors(isolated_env: None) -> None:
    for args in (
        ["--prices", "BTC"],
        ["--prices", ""],
        ["--cash", "much"],
        ["--provider", "kraken", "--timeframe", "7x"],
        ["--provider", "nowhere"],
    ):
        done = runner.invoke(app, ["kraken", "fake-exchange", *args, "--json"])
        assert done.exit_code == 2, done.output


def _read_until(fd: int, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        chunk = os.read(fd, 4096)
        assert chunk, f"the terminal closed before {marker!r}: {seen!r}"
        seen += chunk
    return seen


def test_connect_on_a_terminal_hides_what_is_typed(
    secret_service: KeyringBackend, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    env |= {"QUANT_DATA_DIR": str(tmp_path / "data")}
    with subprocess.Popen(
        [sys.executable, "-m", "quant_apps", "kraken", "fake-exchange"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    ) as exchange:  # fmt: skip
        try:
            shown: dict[str, str] = {}
            while "secret" not in shown:
                line = exchange.stdout.readline()  # type: ignore[union-attr]
                assert line, shown
                words = line.split()
                if line.startswith("fake Kraken exchange on "):
                    shown["url"] = words[-1]
                elif line.startswith(("  test key ", "  test secret ")):
                    shown[words[1]] = words[2]
            key, secret, url = shown["key"], shown["secret"], shown["url"]
            main, child = pty.openpty()
            with subprocess.Popen(
                [sys.executable, "-m", "quant_apps", "kraken", "connect", "--url", url],
                stdin=child, stdout=child, stderr=child, env=env, cwd=tmp_path,
                start_new_session=True, preexec_fn=_controlling_tty,
            ) as connect:  # fmt: skip
                os.close(child)
                screen = _read_until(main, b"API key: ")
                os.write(main, key.encode() + b"\n")
                screen += _read_until(main, b"(secret): ")
                os.write(main, secret.encode() + b"\n")
                screen += _read_until(main, b"validated and stored")
                assert connect.wait(timeout=120) == 0
            os.close(main)
        finally:
            exchange.send_signal(signal.SIGINT)  # Ctrl-C stops it cleanly
            assert exchange.wait(timeout=120) == 0
    assert b"Query open orders & trades" in screen
    assert key.encode() not in screen
    assert secret.encode() not in screen
    removed = subprocess.run(
        [sys.executable, "-m", "quant_apps", "kraken", "forget", "--url", url],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True, timeout=120,
    )  # fmt: skip
    assert removed.stdout == "key removed\n"


def _controlling_tty() -> None:
    """In the child, after ``setsid``: make its stdin (the pty) the controlling terminal."""
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_the_fake_exchange_never_prints_a_chosen_key(
    tmp_path: Path, planted: tuple[str, str]
) -> None:
    key, secret = planted
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    env |= {"QUANT_FAKE_KRAKEN_API_KEY": key, "QUANT_FAKE_KRAKEN_SECRET": secret}
    with subprocess.Popen(
        [sys.executable, "-m", "quant_apps", "kraken", "fake-exchange", "--prices", "ETH=2000"],
        stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    ) as exchange:  # fmt: skip
        lines: list[str] = []
        while not lines or lines[-1] != "  Ctrl-C stops\n":
            line = exchange.stdout.readline()  # type: ignore[union-attr]
            assert line, lines
            lines.append(line)
        exchange.send_signal(signal.SIGTERM)
        assert exchange.wait(timeout=120) == 0
    assert lines[1].startswith("  websocket ws://127.0.0.1:")
    assert lines[2] == "  pairs ETHUSD; 10000 USD\n"
    assert not any(key in line or secret in line or "test key" in line for line in lines)


def test_the_bar_feed_reports_a_failure_and_goes_on(capsys: pytest.CaptureFixture[str]) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def serve() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise QuantError("the provider is down")
        stop.set()
        return 1

    feed_bars(serve, stop, 0.0)
    assert len(calls) == 2
    assert capsys.readouterr().err == "bars not served: [INTERNAL_ERROR] the provider is down\n"


class _Bars:
    """A provider whose bars are given: one per hour, each ``(low, close)``."""

    name, page_limit, confirms_no_trade, requests = "stub", 720, True, 0

    def __init__(self, bars: dict[int, tuple[str, str]]) -> None:
        self.bars = bars
        self.asked: list[tuple[int, int]] = []

    def fetch_ohlcv(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> Iterator[FetchedPage]:
        self.asked.append((start_ns, end_ns))
        found = tuple(
            SourceBar("stub", symbol, quote, "1h", at, close, close, low, close, "10")
            for at, (low, close) in sorted(self.bars.items())
            if start_ns <= at < end_ns
        )
        raw = RawPage("stub", f"{symbol} {start_ns} {end_ns}", end_ns, 200, b"")
        yield FetchedPage(raw, found, start_ns, end_ns, None)


def test_served_bars_move_the_price_and_fill_resting_orders() -> None:
    hour = Timeframe.H1.ns
    clock = SimClock(10 * hour + 5)
    fake = FakeKraken(clock)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal(40000))
    fake.book.balances["ZUSD"] = Decimal(10000)
    provider = _Bars({9 * hour: ("39000", "39500"), 10 * hour: ("38000", "38200")})
    served: dict[str, int] = {}

    def serve() -> int:
        return serve_closed_bars(fake, provider, {"BTC": "XBTUSD"}, "USD", Timeframe.H1, served)

    assert serve() == 1  # at start: the last closed bar only
    assert fake.book.pairs["XBTUSD"].price == Decimal(39500)
    answer = fake.book.add_order(
        {"pair": "XBTUSD", "type": "buy", "ordertype": "limit", "volume": "0.01", "price": "38500"}
    )
    (txid,) = answer["txid"]
    assert fake.book.orders[txid]["status"] == "open"  # below the market: it rests
    assert serve() == 0  # no bar closed since: the provider is not asked
    assert provider.asked == [(9 * hour, 10 * hour)]

    clock.advance_by(hour)
    assert serve() == 1  # the next bar touches 38000: the limit fills there, as a maker
    assert provider.asked[-1] == (10 * hour, 11 * hour)
    assert fake.book.orders[txid]["status"] == "closed"
    (trade,) = fake.book.trades.values()
    assert (trade["price"], trade["maker"]) == ("38500", True)
    assert fake.book.pairs["XBTUSD"].price == Decimal(38200)
    assert served == {"BTC": 11 * hour}

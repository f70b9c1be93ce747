"""Finding 14: a secret echoed in an error.

With ``HIST_MARKET_DATA_BASE_URL=ftp://x:SECRET@host/`` ``quant data status`` refused the
setting (exit 3) and printed the URL, password included. Every message, log line and
exception that can carry a URL or a setting's value now goes through one redaction path
(:func:`quant_core.settings.redact_text` / :func:`~quant_core.settings.redact_url`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import typer
from typer.testing import CliRunner

from quant_core import SimClock
from quant_core.errors import SettingsError
from quant_core.settings import (
    ENV_VARS,
    Settings,
    install_log_redaction,
    redact_text,
    redact_url,
)
from quant_net import ProviderError, ReadClient, ReadPolicy

PASSWORD = "PLANTED-pw+/="  # a '/' makes the URL malformed, '+' and '=' change when encoded


def _assert_clean(*texts: object) -> None:
    for text in texts:
        for form in ("PLANTED", quote(PASSWORD, safe=""), quote(PASSWORD)):
            assert form not in str(text), f"a planted password leaked: {text!r}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if any(name == var.env for var in ENV_VARS):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    original = logging.getLogRecordFactory()
    yield
    logging.setLogRecordFactory(original)


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x:PLANTED@host/",
        f"ftp://x:{PASSWORD}@host/",
        f"ftp://x:{quote(PASSWORD, safe='')}@host/",
        "ftp://x:PLANTED and spaces@host/",
    ],
)
def test_data_status_refuses_the_setting_without_echoing_the_secret(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    from quant_apps.cli import app

    monkeypatch.setenv("HIST_MARKET_DATA_BASE_URL", url)
    for args in (["data", "status"], ["data", "status", "--json"]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 3
        assert "HIST_MARKET_DATA_BASE_URL" in result.output
        assert "***" in result.output
        _assert_clean(result.output)


def test_doctor_shows_a_base_url_without_its_credentials(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_apps.cli import app

    monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", "https://x:PLANTED@kraken.example")
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert "https://x:***@kraken.example" in result.output
    _assert_clean(result.output)


@pytest.mark.parametrize("as_json", [True, False])
def test_an_unexpected_error_message_is_redacted(
    clean_env: None, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    from quant_apps.cli.output import guarded

    @guarded()
    def boom(json: bool = False) -> None:
        raise RuntimeError(f"cannot open https%3A%2F%2Fu%3A{quote(PASSWORD, safe='')}%40h")

    with pytest.raises(typer.Exit):
        boom(json=as_json)
    shown = capsys.readouterr()
    assert "INTERNAL_ERROR" in shown.out + shown.err
    assert "https%3A%2F%2F%2A%2A%2A%40h" in shown.out + shown.err
    _assert_clean(shown.out, shown.err)


def test_provider_errors_and_repr_do_not_carry_base_url_credentials() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}")

    client = ReadClient(
        "t",
        "http://x:PLANTED@127.0.0.1:1/base/",
        clock=SimClock(0),
        seed=1,
        transport=httpx.MockTransport(refuse),
        policy=ReadPolicy(max_attempts=1),
    )
    with pytest.raises(ProviderError) as info:
        client.get("/x", {}, parse=lambda r: r)
    assert "x:***@127.0.0.1" in info.value.message
    _assert_clean(info.value, repr(client))


def test_log_lines_go_through_the_redaction(
    clean_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_redaction()
    install_log_redaction()  # idempotent
    with caplog.at_level(logging.INFO):
        logging.getLogger("quant.test").info("fetching %s", "https://x:PLANTED@host/a")
    assert caplog.records[0].getMessage() == "fetching https://x:***@host/a"
    _assert_clean(caplog.records[0].getMessage())
    # A malformed call is left for logging to report when a handler formats it.
    make = logging.getLogRecordFactory()
    record = make("quant.test", logging.INFO, __file__, 1, "bad %d", ("x",), None)
    assert (record.msg, record.args) == ("bad %d", ("x",))


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("ftp://x:PLANTED@host/", "ftp://x:***@host/"),
        (f"ftp://x:{PASSWORD}@host/", "ftp://***@host/"),
        ("see https://host/users/@me", "see https://host/users/@me"),
        ("https%3A%2F%2Fhost%2Fok", "https%3A%2F%2Fhost%2Fok"),
        (
            f"GET https%3A%2F%2Fu%3A{quote(PASSWORD, safe='')}%40h%2F",
            "GET https%3A%2F%2F%2A%2A%2A%40h%2F",  # the '/' in it: all before '@' masked
        ),
    ],
)
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_a_setting_error_for_a_non_url_value_is_redacted_too() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({"UNIVERSE_REFRESH_CRON": "see https://x:PLANTED@h/"})
    assert "https://***@h/" in info.value.message
    _assert_clean(info.value)
    assert redact_url("https://x:PLANTED@h/") == "https://x:***@h/"

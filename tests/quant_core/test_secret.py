"""Secrets never show: the Secret type, and a leak hunt through every output path.

A distinctive value is planted in every secret variable, then the settings are printed,
formatted, logged, serialized, broken and reported by ``quant doctor``; the planted marker
must appear in none of it.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import os
import pickle
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from typer.testing import CliRunner

from quant_core import canonical_json, structure, unstructure
from quant_core.errors import SettingsError
from quant_core.settings import ENV_VARS, MASK, Secret, Settings, redact_url

MARKER = "PLANTED"
SECRET_VARS = [var for var in ENV_VARS if var.secret]


def _planted_value(env: str) -> str:
    if env == "QUANT_DATABASE_URL":
        return f"postgresql://quant:sk-{MARKER}-db-7f3a9c@db.example:5432/quant"
    return f"sk-{MARKER}-{env.lower()}-7f3a9c"


SECRET_ENV: dict[str, str] = {var.env: _planted_value(var.env) for var in SECRET_VARS}


def _assert_clean(*texts: object) -> None:
    for text in texts:
        assert MARKER not in str(text), f"a planted secret leaked: {text!r}"


def _exception_texts(exc: BaseException) -> Iterator[str]:
    """Every way an exception can be shown, its whole chain included (even suppressed)."""
    yield str(exc)
    yield repr(exc)
    yield "".join(traceback.format_exception(exc))
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        yield repr(current)
        yield repr(current.args)
        current = current.__cause__ or current.__context__


@pytest.fixture
def settings() -> Settings:
    parsed = Settings.from_environ(SECRET_ENV)
    # The plant took: every secret field holds the planted value.
    for var in SECRET_VARS:
        value = getattr(parsed, var.field)
        assert isinstance(value, Secret)
        assert value.reveal() == SECRET_ENV[var.env]
    return parsed


def _secrets_of(settings: Settings) -> list[Secret]:
    values = [getattr(settings, var.field) for var in SECRET_VARS]
    assert all(isinstance(v, Secret) for v in values)
    return values


# --- the Secret type -----------------------------------------------------------------------


def test_reveal_returns_the_value() -> None:
    assert Secret("sk-abc").reveal() == "sk-abc"
    assert Secret("").reveal() == ""


def test_secret_wraps_only_strings() -> None:
    for bad in (b"bytes", 123, None, Secret("x")):
        with pytest.raises(TypeError):
            Secret(bad)  # type: ignore[arg-type]


def test_every_rendering_is_the_mask() -> None:
    value = f"sk-{MARKER}-one"
    s = Secret(value)
    renderings = [
        repr(s),
        str(s),
        format(s),
        format(s, ">30"),
        f"{s}",
        f"{s!r}",
        f"{s!s}",
        f"{s!a}",
        f"{s:^40}",
        "%s" % s,  # noqa: UP031 - the old operator is a rendering path too
        "%r" % (s,),  # noqa: UP031
        "%a" % (s,),  # noqa: UP031
        "{}".format(s),  # noqa: UP032
        str([s]),
        str({"k": s}),
        str((s,)),
        ascii(s),
    ]
    _assert_clean(*renderings)
    assert str(s) == MASK
    assert repr(s) == f"Secret({MASK!r})"
    assert format(s, ">30") == format(MASK, ">30")
    # The mask has a fixed length, so it leaks no length either.
    assert str(Secret("a")) == str(Secret("a" * 500))


def test_no_attribute_exposes_the_value() -> None:
    s = Secret(f"sk-{MARKER}-attr")
    assert not hasattr(s, "__dict__")
    _assert_clean(dir(s), vars(type(s)))


def test_equality_compares_values_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert Secret("same") == Secret("same")
    assert Secret("same") != Secret("other")
    assert Secret("é") == Secret("é")  # non-ASCII works (compared as UTF-8 bytes)
    assert Secret("é") != Secret("e")
    assert len(calls) == 4
    assert calls[0] == (b"same", b"same")


def test_secret_never_equals_a_plain_string() -> None:
    assert Secret("k") != "k"
    assert "k" != Secret("k")  # noqa: SIM300 - the reflected comparison
    assert Secret("k") != None  # noqa: E711


def test_secrets_hash_alike_so_hashes_leak_nothing() -> None:
    assert hash(Secret("a")) == hash(Secret("b"))
    assert len({Secret("a"), Secret("a"), Secret("b")}) == 2


def test_truthiness_follows_the_value() -> None:
    assert Secret("x")
    assert not Secret("")


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_is_refused(protocol: int) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(Secret(f"sk-{MARKER}"), protocol=protocol)


def test_pickling_settings_with_a_secret_is_refused(settings: Settings) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(settings)
    with pytest.raises(TypeError):
        copy.deepcopy(Secret("x"))  # deepcopy goes through the same refusal


def test_converter_masks_and_structures() -> None:
    assert unstructure(Secret(f"sk-{MARKER}")) == MASK
    rebuilt = structure("abc", Secret)
    assert isinstance(rebuilt, Secret)
    assert rebuilt.reveal() == "abc"


# --- the leak hunt -------------------------------------------------------------------------


def test_settings_repr_str_and_format(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [repr(settings), str(settings), f"{settings}", f"{settings!r}", "%s" % (settings,)]  # noqa: UP031
    for s in _secrets_of(settings):
        texts += [repr(s), str(s), f"{s}", f"{s!r}", f"{s:>50}"]
    print(settings)
    print(*_secrets_of(settings))
    print(repr(settings), file=sys.stderr)
    out, err = capsys.readouterr()
    assert MASK in out  # the output exists, masked
    _assert_clean(*texts, out, err)


def test_logging_never_shows_a_secret(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("quant.test.secret")
    caplog.set_level(logging.DEBUG, logger="quant.test.secret")
    secret = settings.kraken_api_secret
    logger.debug("settings: %s", settings)
    logger.debug("settings: %r", settings)
    logger.info("secret: %s", secret)
    logger.info("secret: %r", secret)
    logger.warning(f"secret in an f-string: {secret}")
    logger.warning("mapping %s", {"key": secret, "all": _secrets_of(settings)})
    logger.error("extra", extra={"secret_field": secret})
    try:
        Settings.from_environ({**SECRET_ENV, "QUANT_DATABASE_URL": f"sk-{MARKER}-not-a-url"})
    except SettingsError:
        logger.exception("settings failed")
    assert len(caplog.records) == 8
    rendered = [record.getMessage() for record in caplog.records]
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s %(secret_field)s")
    for record in caplog.records:
        if hasattr(record, "secret_field"):
            rendered.append(formatter.format(record))
    _assert_clean(caplog.text, *rendered)
    assert MASK in caplog.text


def test_serialization_masks_secrets(settings: Settings) -> None:
    plain = unstructure(settings)
    for var in SECRET_VARS:
        assert plain[var.field] == MASK
    _assert_clean(
        plain,
        canonical_json(plain).decode(),
        canonical_json(settings).decode(),  # attrs values go through the converter too
        json.dumps(plain),
    )


def test_attrs_asdict_keeps_secrets_wrapped(settings: Settings) -> None:
    as_dict = attrs.asdict(settings)
    as_tuple = attrs.astuple(settings)
    for var in SECRET_VARS:
        assert isinstance(as_dict[var.field], Secret)
    _assert_clean(as_dict, repr(as_dict), as_tuple, repr(as_tuple))
    evolved = attrs.evolve(settings, data_dir="/elsewhere")
    _assert_clean(repr(evolved))


@pytest.mark.parametrize(
    "bad_url",
    [
        f"sk-{MARKER}-db-without-scheme",
        f"//quant:sk-{MARKER}@db.example/quant",
        f"postgresql://quant:sk-{MARKER}@[db.example/quant",  # unbalanced bracket
        f"postgresql://quant:sk-{MARKER}\uff03@db.example/quant",  # NFKC-unsafe netloc
        f"postgresql://quant:sk-{MARKER}\u2100@db.example/quant",  # normalizes to "a/c"
    ],
)
def test_invalid_database_url_error_does_not_contain_it(bad_url: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({**SECRET_ENV, "QUANT_DATABASE_URL": bad_url})
    assert info.value.message.startswith("QUANT_DATABASE_URL:")
    _assert_clean(*_exception_texts(info.value), info.value.to_dict())


def test_errors_in_other_variables_do_not_carry_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ({**SECRET_ENV, "UNIVERSE_REFRESH_CRON": "bad"})
    _assert_clean(*_exception_texts(info.value), info.value.to_dict())


def test_redacted_database_url_hides_the_planted_password(settings: Settings) -> None:
    assert settings.database_url is not None
    shown = redact_url(settings.database_url.reveal())
    _assert_clean(shown)
    assert "db.example:5432" in shown


# --- quant doctor --------------------------------------------------------------------------


@pytest.fixture
def planted_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """The process environment holds only the planted secrets (no .env, no shell settings)."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if any(name == var.env for var in ENV_VARS):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    for env, value in SECRET_ENV.items():
        monkeypatch.setenv(env, value)
    return SECRET_ENV


def _doctor(args: list[str]) -> tuple[int, str, str]:
    from quant_apps.cli import app

    result = CliRunner().invoke(app, args)
    texts = [result.output, result.stdout, result.stderr]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        texts.extend(_exception_texts(result.exception))
    _assert_clean(*texts)
    return result.exit_code, result.stdout, result.stderr


def test_doctor_json_does_not_leak(planted_env: dict[str, str]) -> None:
    _, stdout, _ = _doctor(["doctor", "--json"])
    report = json.loads(stdout)
    # The secrets were read (reported as set), just never shown.
    assert set(report["settings"]["secrets"].values()) == {"set"}
    assert "***" in report["database_url"]
    settings_check = next(c for c in report["checks"] if c["name"] == "settings")
    assert settings_check["status"] == "ok"


def test_doctor_human_output_does_not_leak(planted_env: dict[str, str]) -> None:
    _, stdout, _ = _doctor(["doctor"])  # the report is a result: stdout (finding 19)
    assert "***" in stdout


def test_doctor_with_a_broken_secret_setting_does_not_leak(
    planted_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_DATABASE_URL", f"postgresql://q:sk-{MARKER}\uff03@db.example/q")
    exit_code, stdout, _ = _doctor(["doctor", "--json"])
    report = json.loads(stdout)
    assert exit_code != 0
    settings_check = next(c for c in report["checks"] if c["name"] == "settings")
    assert settings_check["status"] == "fail"
    assert settings_check["detail"].startswith("QUANT_DATABASE_URL:")
    _doctor(["doctor"])  # the human form too


def test_planted_values_are_distinct_and_marked() -> None:
    assert len(set(SECRET_ENV.values())) == len(SECRET_VARS)
    assert all(MARKER in value for value in SECRET_ENV.values())
    # The marker is not something the tooling prints on its own.
    _assert_clean(*(var.env for var in ENV_VARS), *(var.doc for var in ENV_VARS), MASK)


def test_leak_detector_would_catch_a_leak() -> None:
    with pytest.raises(AssertionError):
        _assert_clean(f"key=sk-{MARKER}-x")
    leaky: dict[str, Any] = {"v": Secret(f"sk-{MARKER}").reveal()}
    with pytest.raises(AssertionError):
        _assert_clean(leaky)


# --- credentials in every URL setting --------------------------------------------------------

URL_VARS = [var.env for var in ENV_VARS if var.env.endswith("_URL")]


def test_every_url_setting_is_covered() -> None:
    assert URL_VARS == ["HIST_MARKET_DATA_BASE_URL", "KRAKEN_PUBLIC_BASE_URL", "QUANT_DATABASE_URL"]


def _urls_with_credentials(env: str) -> list[str]:
    scheme = "postgresql" if env == "QUANT_DATABASE_URL" else "https"
    return [
        f"{scheme}://u:sk-{MARKER}-1@host.example/x",  # well formed
        f"ftp://u:sk-{MARKER}-2@host.example/",  # the wrong scheme (a refusal quotes it)
        f"{scheme}://u:sk-{MARKER}/3?#@host.example/",  # a password breaking the URL
        f"{scheme}://u:sk-{MARKER}%2F4@host.example/",  # percent-encoded
        f"{scheme}://u:sk-{MARKER} 5@host.example/",  # with a space
        f"{scheme}://sk-{MARKER}-6@host.example/",  # a token as the user name
    ]


@pytest.mark.parametrize(
    ("env", "url"), [(env, url) for env in URL_VARS for url in _urls_with_credentials(env)]
)
def test_credentials_in_a_url_setting_never_show(
    env: str, url: str, planted_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    outcome: Settings | SettingsError
    try:
        outcome = Settings.from_environ({**SECRET_ENV, env: url})
    except SettingsError as exc:
        outcome = exc
    if isinstance(outcome, SettingsError):
        assert outcome.message.startswith(f"{env}:")
        _assert_clean(*_exception_texts(outcome), outcome.to_dict())
    else:
        # Only the database URL, a Secret, may hold credentials.
        assert env == "QUANT_DATABASE_URL"
        _assert_clean(repr(outcome), str(outcome), unstructure(outcome))
    monkeypatch.setenv(env, url)
    _doctor(["doctor", "--json"])
    _doctor(["doctor"])

"""Settings parsed from an environment mapping (quant_core.settings)."""

from __future__ import annotations

import enum
import re
from pathlib import Path

import attrs
import pytest

from quant_core import reasons
from quant_core.errors import RejectedError, SettingsError, ValidationError
from quant_core.settings import (
    ENV_VARS,
    HistoricalProvider,
    Secret,
    Settings,
    UniverseProvider,
    redact_url,
)
from quant_core.universe import UNIVERSES

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = REPO_ROOT / ".env.example"

FIELD_TYPES = {f.name: f.type for f in attrs.fields(Settings)}
VARS_BY_ENV = {var.env: var for var in ENV_VARS}


def _vars_of_type(type_text: str) -> list[str]:
    return [var.env for var in ENV_VARS if str(FIELD_TYPES[var.field]) == type_text]


BOOL_VARS = _vars_of_type("bool")
SECRET_VARS = [var.env for var in ENV_VARS if var.secret]
ENUM_VARS = {
    "HIST_MARKET_DATA_PROVIDER": HistoricalProvider,
    "UNIVERSE_SOURCE_PROVIDER": UniverseProvider,
    "UNIVERSE_RANKING_SOURCE": UniverseProvider,
}
URL_VARS = ["HIST_MARKET_DATA_BASE_URL", "KRAKEN_PUBLIC_BASE_URL"]


def _invalid(environ: dict[str, str]) -> SettingsError:
    with pytest.raises(SettingsError) as info:
        Settings.from_environ(environ)
    return info.value


# --- the variable table --------------------------------------------------------------------


def test_env_vars_map_one_to_one_onto_settings_fields() -> None:
    envs = [var.env for var in ENV_VARS]
    fields = [var.field for var in ENV_VARS]
    assert len(set(envs)) == len(envs)
    assert len(set(fields)) == len(fields)
    assert set(fields) == set(FIELD_TYPES)
    for var in ENV_VARS:
        assert re.fullmatch(r"[A-Z][A-Z0-9_]*", var.env)
        assert var.doc.strip(), var.env


def test_every_secret_variable_is_typed_as_a_secret() -> None:
    for var in ENV_VARS:
        assert ("Secret" in str(FIELD_TYPES[var.field])) == var.secret, var.env
    assert {"KRAKEN_API_KEY", "KRAKEN_API_SECRET", "QUANT_DATABASE_URL"} <= set(SECRET_VARS)


def test_the_variable_groups_used_below_cover_every_variable() -> None:
    covered = (
        set(BOOL_VARS)
        | set(SECRET_VARS)
        | set(ENUM_VARS)
        | set(URL_VARS)
        | {"UNIVERSE_REFRESH_CRON", "TRAINING_UNIVERSE_VERSION", "QUANT_DATA_DIR"}
    )
    assert covered == set(VARS_BY_ENV)
    assert len(BOOL_VARS) == 4


# --- defaults ------------------------------------------------------------------------------


def test_empty_environment_gives_the_defaults() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert settings.hist_market_data_provider is HistoricalProvider.COINAPI
    assert settings.training_universe_version in UNIVERSES
    assert len(settings.universe_refresh_cron.split()) == 5
    assert settings.kraken_public_base_url.startswith("https://")
    assert settings.force_local_data_for_training is False
    assert settings.allow_provider_calls_during_training is False
    for var in ENV_VARS:
        if var.secret:
            assert getattr(settings, var.field) is None


@pytest.mark.parametrize("blank", ["", " ", "\t", "  \n"])
def test_empty_values_take_the_defaults(blank: str) -> None:
    assert Settings.from_environ(dict.fromkeys(VARS_BY_ENV, blank)) == Settings()


def test_unrelated_keys_are_ignored() -> None:
    environ = {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "hist_market_data_provider": "bogus",  # names are case-sensitive
        "HIST_MARKET_DATA_PROVIDER_X": "bogus",
        "X_KRAKEN_API_KEY": "k",
        "QUANT_UNKNOWN": "?",
    }
    assert Settings.from_environ(environ) == Settings()


# --- each kind of variable -----------------------------------------------------------------

TRUE_SPELLINGS = ["true", "TRUE", "True", "1", "yes", "YES", "Yes", "on", " true ", "ON"]
FALSE_SPELLINGS = ["false", "FALSE", "False", "0", "no", "NO", "off", " no\n"]


@pytest.mark.parametrize("env", BOOL_VARS)
def test_booleans_accept_the_usual_spellings(env: str) -> None:
    field = VARS_BY_ENV[env].field
    for spelling in TRUE_SPELLINGS:
        assert getattr(Settings.from_environ({env: spelling}), field) is True, spelling
    for spelling in FALSE_SPELLINGS:
        assert getattr(Settings.from_environ({env: spelling}), field) is False, spelling


@pytest.mark.parametrize("env", BOOL_VARS)
@pytest.mark.parametrize("bad", ["maybe", "2", "y", "tru", "enabled", "-1"])
def test_booleans_refuse_anything_else(env: str, bad: str) -> None:
    error = _invalid({env: bad})
    assert error.reason_code == reasons.SETTINGS_INVALID
    assert error.message.startswith(f"{env}:")
    assert repr(bad) in error.message  # not a secret: the offending value is shown


@pytest.mark.parametrize(("env", "kind"), ENUM_VARS.items())
def test_enums_are_case_insensitive(env: str, kind: type[enum.Enum]) -> None:
    field = VARS_BY_ENV[env].field
    for member in kind:
        for spelling in (member.value, member.value.lower(), f"  {member.value.title()} "):
            assert getattr(Settings.from_environ({env: spelling}), field) is member


@pytest.mark.parametrize(("env", "kind"), ENUM_VARS.items())
def test_enums_refuse_unknown_members(env: str, kind: type[enum.Enum]) -> None:
    error = _invalid({env: "binance"})
    assert error.message.startswith(f"{env}:")
    assert all(member.value in error.message for member in kind)  # the choices are listed


@pytest.mark.parametrize("env", URL_VARS)
def test_urls_are_validated_and_normalized(env: str) -> None:
    field = VARS_BY_ENV[env].field
    for url in ("http://localhost:8080", "https://api.example.com/v1", "https://h.example"):
        assert getattr(Settings.from_environ({env: url}), field) == url
        assert getattr(Settings.from_environ({env: f" {url}/ "}), field) == url
    for bad in ("ftp://files.example", "api.kraken.com", "http://", "https//x", "file:///etc"):
        assert _invalid({env: bad}).message.startswith(f"{env}:")


def test_cron_needs_five_fields() -> None:
    env = "UNIVERSE_REFRESH_CRON"
    for cron in ("*/15 * * * *", "0 6 * * 1", "0,30 1-5 1 1 0"):
        assert Settings.from_environ({env: cron}).universe_refresh_cron == cron
    assert Settings.from_environ({env: " 0  6 *\t* 1 "}).universe_refresh_cron == "0 6 * * 1"
    for bad in ("0 6 * *", "0 6 * * 1 2026", "0 6 * * MON", "@daily", "0 6 * * 1;rm"):
        error = _invalid({env: bad})
        assert error.message.startswith(f"{env}:")
        assert "five-field" in error.message


def test_training_universe_must_be_known() -> None:
    env = "TRAINING_UNIVERSE_VERSION"
    for name in UNIVERSES:
        assert Settings.from_environ({env: f" {name} "}).training_universe_version == name
    error = _invalid({env: "UNIVERSE_V9_EVERYTHING"})
    assert error.reason_code == reasons.SETTINGS_INVALID
    assert error.message.startswith(f"{env}:")
    assert "UNIVERSE_V9_EVERYTHING" in error.message


def test_data_dir_is_taken_as_given_without_surrounding_space() -> None:
    assert Settings.from_environ({"QUANT_DATA_DIR": " /srv/quant "}).data_dir == "/srv/quant"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/lib/quant/quant.db",
        "sqlite:///:memory:",
        "postgresql://quant:pw@db.example:5432/quant",
        "postgresql+psycopg://u@localhost/q",
    ],
)
def test_database_url_is_a_secret(url: str) -> None:
    value = Settings.from_environ({"QUANT_DATABASE_URL": f" {url} "}).database_url
    assert isinstance(value, Secret)
    assert value.reveal() == url


@pytest.mark.parametrize("bad", ["not a url", "//host/db", "mysql:", "http://[::1"])
def test_bad_database_url_is_refused_without_showing_it(bad: str) -> None:
    error = _invalid({"QUANT_DATABASE_URL": bad})
    assert error.message.startswith("QUANT_DATABASE_URL:")
    assert bad not in error.message


@pytest.mark.parametrize("env", [e for e in SECRET_VARS if e != "QUANT_DATABASE_URL"])
def test_api_secrets_are_wrapped(env: str) -> None:
    value = getattr(Settings.from_environ({env: "abc-123"}), VARS_BY_ENV[env].field)
    assert isinstance(value, Secret)
    assert value.reveal() == "abc-123"


def test_a_full_environment_parses() -> None:
    environ = {
        "HIST_MARKET_DATA_PROVIDER": "kraken_public",
        "HIST_MARKET_DATA_API_KEY": "key",
        "HIST_MARKET_DATA_API_SECRET": "secret",
        "HIST_MARKET_DATA_BASE_URL": "http://127.0.0.1:9000/",
        "KRAKEN_PUBLIC_BASE_URL": "https://api.kraken.com",
        "UNIVERSE_SOURCE_PROVIDER": "coingecko",
        "UNIVERSE_SOURCE_API_KEY": "cg",
        "UNIVERSE_REFRESH_CRON": "0 7 * * 2",
        "UNIVERSE_RANKING_SOURCE": "COINGECKO",
        "TRAINING_UNIVERSE_VERSION": next(iter(UNIVERSES)),
        "ENABLE_CONTINUOUS_INGESTION": "no",
        "ENABLE_AUTONOMOUS_RETRAINING": "0",
        "FORCE_LOCAL_DATA_FOR_TRAINING": "yes",
        "ALLOW_PROVIDER_CALLS_DURING_TRAINING": "1",
        "KRAKEN_API_KEY": "kk",
        "KRAKEN_API_SECRET": "ks",
        "QUANT_DATA_DIR": "/data",
        "QUANT_DATABASE_URL": "sqlite:////data/q.db",
    }
    assert set(environ) == set(VARS_BY_ENV)
    s = Settings.from_environ(environ)
    assert s.hist_market_data_provider is HistoricalProvider.KRAKEN_PUBLIC
    assert s.hist_market_data_base_url == "http://127.0.0.1:9000"
    assert s.universe_refresh_cron == "0 7 * * 2"
    assert (s.enable_continuous_ingestion, s.enable_autonomous_retraining) == (False, False)
    assert (s.force_local_data_for_training, s.allow_provider_calls_during_training) == (
        True,
        True,
    )
    revealed = {
        var.env: getattr(s, var.field).reveal() for var in ENV_VARS if var.secret
    }  # every secret arrived intact
    assert revealed == {env: environ[env] for env in SECRET_VARS}
    assert s.data_dir == "/data"
    assert s != Settings()


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        settings.data_dir = "/elsewhere"  # type: ignore[misc]


INVALID_VALUES: dict[str, str] = {
    "HIST_MARKET_DATA_PROVIDER": "BINANCE",
    "HIST_MARKET_DATA_BASE_URL": "ftp://x.example",
    "KRAKEN_PUBLIC_BASE_URL": "kraken",
    "UNIVERSE_SOURCE_PROVIDER": "cmc",
    "UNIVERSE_REFRESH_CRON": "daily",
    "UNIVERSE_RANKING_SOURCE": "cmc",
    "TRAINING_UNIVERSE_VERSION": "V0",
    "ENABLE_CONTINUOUS_INGESTION": "sometimes",
    "ENABLE_AUTONOMOUS_RETRAINING": "2",
    "FORCE_LOCAL_DATA_FOR_TRAINING": "x",
    "ALLOW_PROVIDER_CALLS_DURING_TRAINING": "nope",
    "QUANT_DATABASE_URL": "nonsense",
}


@pytest.mark.parametrize(("env", "bad"), INVALID_VALUES.items())
def test_each_invalid_value_names_its_variable(env: str, bad: str) -> None:
    error = _invalid({env: bad, "KRAKEN_API_KEY": "fine"})
    assert isinstance(error, ValidationError)
    assert isinstance(error, RejectedError)
    assert error.reason_code == reasons.SETTINGS_INVALID
    assert error.exit_code == 3
    assert error.message.startswith(f"{env}: ")
    assert str(error).startswith(f"[{reasons.SETTINGS_INVALID}] {env}: ")
    # Non-secret values are shown to help the user; secret ones never are.
    assert (repr(bad) in error.message) == (not VARS_BY_ENV[env].secret)
    assert error.to_dict()["reason_code"] == reasons.SETTINGS_INVALID


def test_every_parseable_variable_has_an_invalid_example() -> None:
    # The API-key variables accept any non-empty string; everything else can be refused.
    accept_anything = {"QUANT_DATA_DIR"} | {
        var.env for var in ENV_VARS if var.secret and var.env.endswith(("_KEY", "_SECRET"))
    }
    can_fail = {var.env for var in ENV_VARS} - accept_anything
    assert set(INVALID_VALUES) == can_fail


def test_first_invalid_variable_in_table_order_is_reported() -> None:
    error = _invalid({"UNIVERSE_REFRESH_CRON": "bad", "HIST_MARKET_DATA_PROVIDER": "bad"})
    assert error.message.startswith("HIST_MARKET_DATA_PROVIDER:")


# --- redact_url ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql://quant:hunter2@db.example:5432/quant", "hunter2"),
        ("postgresql://quant:hunter2@db.example/quant?sslmode=require", "hunter2"),
        ("mysql://u:p%40ss%3Aword@Host.Example/db", "p%40ss%3Aword"),
        ("postgresql://u:pw-in-ipv6@[::1]:5432/db", "pw-in-ipv6"),
        ("postgresql://u:secret-pw@host:notaport/db", "secret-pw"),
        ("redis://:only-a-password@cache:6379/0", "only-a-password"),
    ],
)
def test_redact_url_hides_the_password_and_keeps_the_rest(url: str, password: str) -> None:
    shown = redact_url(url)
    assert password not in shown
    assert "***" in shown
    # Everything but the password is as written.
    assert shown == url.replace(f":{password}@", ":***@")


def test_redact_url_empty_password_is_still_marked() -> None:
    assert redact_url("postgresql://u:@host/db") == "postgresql://u:***@host/db"


def test_redact_url_masks_a_user_name_alone() -> None:
    # It may be a token (https://TOKEN@host).
    assert redact_url("postgresql://user@host/db") == "postgresql://***@host/db"


@pytest.mark.parametrize(
    "url",
    [
        "sqlite:///var/lib/quant.db",
        "postgresql://host:5432/db",
        "https://api.kraken.com",
        "",
    ],
)
def test_redact_url_leaves_urls_without_password_alone(url: str) -> None:
    assert redact_url(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:sk-pw@[::1/db",  # unbalanced IPv6 bracket
        "postgresql://u:sk-pw\uff03x@host/db",  # NFKC-normalizes to a URL delimiter
    ],
)
def test_redact_url_hides_an_unparseable_url_whole(url: str) -> None:
    shown = redact_url(url)  # a display helper must not raise
    assert "sk-pw" not in shown
    assert shown == "***"


# --- .env.example --------------------------------------------------------------------------


def _example_assignments() -> list[tuple[str, str]]:
    pairs = []
    for raw in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f"not a NAME=value line: {raw!r}"
        pairs.append((name.strip(), value.strip()))
    return pairs


def test_env_example_lists_exactly_the_settings_variables() -> None:
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    names = [name for name, _ in _example_assignments()]
    assert len(names) == len(set(names)), "a variable is listed twice"
    assert set(names) == set(VARS_BY_ENV)


def test_env_example_has_no_secret_values_and_parses() -> None:
    assert ENV_EXAMPLE.is_file(), f"{ENV_EXAMPLE} is missing"
    assignments = dict(_example_assignments())
    for env in SECRET_VARS:
        assert assignments.get(env, "") == "", f"{env} must be blank in .env.example"
    # Whatever non-secret example values are given are valid settings.
    parsed = Settings.from_environ(assignments)
    assert isinstance(parsed, Settings)


def test_secret_values_are_stripped_like_every_other_value() -> None:
    settings = Settings.from_environ({"KRAKEN_API_KEY": "  key-with-spaces \n"})
    assert settings.kraken_api_key is not None
    assert settings.kraken_api_key.reveal() == "key-with-spaces"

"""Settings: the environment surface of the specs, parsed into one frozen value.

The variable names are the specs' own (historical data spec §2.2-§2.3.1, governance §7D),
plus ``QUANT_DATA_DIR`` and ``QUANT_DATABASE_URL`` for where quant keeps its state. This module
never reads the process environment itself: the application passes a mapping (the process
environment over an optional ``.env`` file, see ``quant_apps.runtime.config``), which keeps library
code deterministic and testable.

API keys, secrets and the database URL (which may carry a password) are
:class:`~quant_core.settings.Secret` values: they never show in a ``repr``, a log line, an
exception or serialized output. Errors name the variable, and show the offending value only
for variables that are not secret, and then through :func:`redact_text`.

A URL (a base URL, a database URL) may carry credentials (``https://user:pw@host``). The one
redaction path for them is :func:`redact_url` (a URL known to be one) and :func:`redact_text`
(any message, log line or exception text, raw or percent-encoded URLs in it):
every setting error, ``quant`` error message, provider error and, once
:func:`install_log_redaction` ran (the ``quant`` command does), every log line go through it.

Examples:
    >>> from quant_core.settings import Settings
    >>> s = Settings.from_environ({"HIST_MARKET_DATA_API_KEY": "k-123",
    ...                            "FORCE_LOCAL_DATA_FOR_TRAINING": "true"})
    >>> s.hist_market_data_api_key
    Secret('**********')
    >>> s.force_local_data_for_training, s.training_universe_version
    (True, 'UNIVERSE_V1_TOP30_NON_STABLE')
    >>> Settings.from_environ({"ENABLE_CONTINUOUS_INGESTION": "maybe"})
    Traceback (most recent call last):
    ...
    quant_core.errors.SettingsError: [SETTINGS_INVALID] ENABLE_CONTINUOUS_INGESTION: expected ...
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import attrs

from quant_core._secret import MASK, Secret
from quant_core.errors import QuantError, SettingsError
from quant_core.universe import get_universe

__all__ = [
    "ENV_VARS",
    "MASK",
    "HistoricalProvider",
    "Secret",
    "Settings",
    "UniverseProvider",
    "install_log_redaction",
    "redact_text",
    "redact_url",
]


class HistoricalProvider(enum.Enum):
    """Deep-history providers allowed in Phase 6A (governance §7D)."""

    COINAPI = "COINAPI"
    KRAKEN_PUBLIC = "KRAKEN_PUBLIC"


class UniverseProvider(enum.Enum):
    """Market-cap ranking sources for universe maintenance."""

    COINGECKO = "COINGECKO"


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_CRON_FIELD = re.compile(r"^[0-9*/,\-]+$")


def _bool(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("expected true or false")


def _url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("expected an http(s) URL")
    if redact_url(raw) != raw:
        # A base URL is not a secret, so it may not carry one: keys have their own settings.
        raise ValueError("expected an http(s) URL without credentials in it")
    return raw.rstrip("/")


def _database_url(raw: str) -> Secret:
    try:
        parts: SplitResult | None = urlsplit(raw)
    except ValueError:
        # urllib's messages can quote the netloc, password included: keep neither the
        # message nor the exception (not even as the __context__ of the one raised below).
        parts = None
    if parts is None or not parts.scheme or not (parts.netloc or parts.path):
        raise ValueError("expected a database URL such as sqlite:///path or postgresql://…")
    return Secret(raw)


def _cron(raw: str) -> str:
    fields = raw.split()
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise ValueError("expected a five-field cron expression")
    return " ".join(fields)


def _universe(raw: str) -> str:
    return get_universe(raw).name


def _enum(kind: type[enum.Enum]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return kind(raw.upper())
        except ValueError:
            choices = ", ".join(m.value for m in kind)
            raise ValueError(f"expected one of {choices}") from None

    return parse


@attrs.frozen
class _Var:
    env: str
    parse: Callable[[str], Any]
    secret: bool = False
    doc: str = ""

    @property
    def field(self) -> str:
        """The :class:`Settings` field: the name in lower case, less any ``QUANT_`` prefix."""
        return self.env.lower().removeprefix("quant_")


ENV_VARS: Final[tuple[_Var, ...]] = (
    _Var("HIST_MARKET_DATA_PROVIDER", _enum(HistoricalProvider),
         doc="Deep-history provider: COINAPI or KRAKEN_PUBLIC."),
    _Var("HIST_MARKET_DATA_API_KEY", Secret, secret=True,
         doc="API key of the deep-history provider."),
    _Var("HIST_MARKET_DATA_API_SECRET", Secret, secret=True,
         doc="API secret of the provider, where it needs one."),
    _Var("HIST_MARKET_DATA_BASE_URL", _url,
         doc="Override of the provider's base URL (an emulator, a proxy)."),
    _Var("KRAKEN_PUBLIC_BASE_URL", _url, doc="Base URL of Kraken's public REST API."),
    _Var("UNIVERSE_SOURCE_PROVIDER", _enum(UniverseProvider),
         doc="Where universe metadata comes from (COINGECKO)."),
    _Var("UNIVERSE_SOURCE_API_KEY", Secret, secret=True,
         doc="API key of the universe source, tier dependent."),
    _Var("UNIVERSE_REFRESH_CRON", _cron,
         doc="When the ranking is refreshed (five-field cron, UTC)."),
    _Var("UNIVERSE_RANKING_SOURCE", _enum(UniverseProvider),
         doc="Market-cap ranking source (COINGECKO)."),
    _Var("TRAINING_UNIVERSE_VERSION", _universe, doc="The governed universe training uses."),
    _Var("ENABLE_CONTINUOUS_INGESTION", _bool, doc="Run incremental sync continuously."),
    _Var("ENABLE_AUTONOMOUS_RETRAINING", _bool,
         doc="Retrain on schedule or drift without a person starting it."),
    _Var("FORCE_LOCAL_DATA_FOR_TRAINING", _bool,
         doc="Train only from the local store, never fetching."),
    _Var("ALLOW_PROVIDER_CALLS_DURING_TRAINING", _bool,
         doc="Whether a training run may call providers to fill gaps."),
    _Var("KRAKEN_API_KEY", Secret, secret=True,
         doc="Kraken private API key (paper/live exchange operation only)."),
    _Var("KRAKEN_API_SECRET", Secret, secret=True,
         doc="Kraken private API secret (paper/live exchange operation only)."),
    _Var("QUANT_DATA_DIR", str,
         doc="Where quant keeps its state (default: the user data directory)."),
    _Var("QUANT_DATABASE_URL", _database_url, secret=True,
         doc="Governed store URL (default: SQLite in the data directory)."),
)  # fmt: skip
"""Every environment variable :class:`Settings` reads, with its field and documentation."""


@attrs.frozen
class Settings:
    """Parsed settings. Build with :meth:`from_environ`; defaults follow the specs."""

    hist_market_data_provider: HistoricalProvider = HistoricalProvider.COINAPI
    hist_market_data_api_key: Secret | None = None
    hist_market_data_api_secret: Secret | None = None
    hist_market_data_base_url: str | None = None
    kraken_public_base_url: str = "https://api.kraken.com"
    universe_source_provider: UniverseProvider = UniverseProvider.COINGECKO
    universe_source_api_key: Secret | None = None
    universe_refresh_cron: str = "0 6 * * 1"
    universe_ranking_source: UniverseProvider = UniverseProvider.COINGECKO
    training_universe_version: str = "UNIVERSE_V1_TOP30_NON_STABLE"
    enable_continuous_ingestion: bool = True
    enable_autonomous_retraining: bool = True
    force_local_data_for_training: bool = False
    allow_provider_calls_during_training: bool = False
    kraken_api_key: Secret | None = None
    kraken_api_secret: Secret | None = None
    data_dir: str | None = None
    database_url: Secret | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """Parse the variables of :data:`ENV_VARS` found in ``environ``.

        Values are stripped of surrounding white space before parsing; unset and empty
        variables take their defaults; other keys are ignored.

        Raises:
            SettingsError: a variable has a value its parser refuses. A secret's value is
                never part of the message.
        """
        values: dict[str, Any] = {}
        for var in ENV_VARS:
            raw = environ.get(var.env, "").strip()
            if not raw:
                continue
            try:
                values[var.field] = var.parse(raw)
            except (ValueError, QuantError) as exc:
                why = redact_text(exc.message if isinstance(exc, QuantError) else str(exc))
                # A URL value is redacted whole (it may hold spaces a text scan would split at).
                value = redact_url(raw) if "://" in raw else redact_text(raw)
                shown = "" if var.secret else f", got {value!r}"
                raise SettingsError(f"{var.env}: {why}{shown}") from None
        return cls(**values)


def redact_url(url: str) -> str:
    """``url`` with any password (or a user name alone) replaced by ``***`` (for display).

    The host part is kept as written (IPv6 brackets, case, port). A URL that cannot be
    parsed at all is shown as ``***``: where its password ends cannot be known.

    A URL too malformed for its parts to be found (a password holding ``/``, ``?`` or
    ``#``) but with a ``user:…@`` in it has everything before its last ``@`` masked.

    Examples:
        >>> redact_url("ftp://x:hunter2@host/")
        'ftp://x:***@host/'
        >>> redact_url("https://x:pass/word@host/")
        'https://***@host/'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    userinfo, at, host = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    if at:
        # A user name alone may be a token (``https://TOKEN@host``): it is masked whole.
        shown = f"{user}:***" if colon else "***"
        return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))
    scheme, slashes, rest = url.partition("://")
    before, at, after = rest.rpartition("@")
    if not at or ":" not in before.split("@")[0]:
        return url
    return f"{scheme}{slashes}***@{after}"


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>`]+")
_ENCODED_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*%3A%2F%2F[^\s'\"<>`&]+", re.IGNORECASE)


def _redact_encoded(match: re.Match[str]) -> str:
    url = unquote(match[0])
    shown = redact_url(url)
    return match[0] if shown == url else quote(shown, safe="")


def redact_text(text: str) -> str:
    """``text`` with every URL in it shown through :func:`redact_url`.

    Percent-encoded URLs (``https%3A%2F%2Fu%3Apw%40host``) are decoded, redacted and encoded
    again, so a secret never shows URL-encoded either. This is the one path every message,
    log line and exception text that may carry a URL or a setting's value goes through.

    Examples:
        >>> redact_text("expected an http(s) URL, got 'ftp://x:hunter2@host/'")
        "expected an http(s) URL, got 'ftp://x:***@host/'"
        >>> redact_text("GET ftp%3A%2F%2Fx%3Ahunter2%40host%2F failed")
        'GET ftp%3A%2F%2Fx%3A%2A%2A%2A%40host%2F failed'
    """
    text = _ENCODED_URL_IN_TEXT.sub(_redact_encoded, text)
    return _URL_IN_TEXT.sub(lambda match: redact_url(match[0]), text)


_PLAIN_FACTORY = logging.getLogRecordFactory()


def _redacting_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record = _PLAIN_FACTORY(*args, **kwargs)
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        return record  # a malformed call: logging reports it when a handler formats it
    record.msg = redact_text(message)
    record.args = None
    return record


def install_log_redaction() -> None:
    """Make every log record's message pass through :func:`redact_text` (idempotent).

    Applications call it once at start-up; it wraps the log-record factory, so it holds for
    every logger and handler, those configured later included.
    """
    logging.setLogRecordFactory(_redacting_record)

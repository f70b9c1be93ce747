"""Where the application reads its configuration: the environment, ``.env`` and options.

Libraries never read the process environment; this module does it once and hands them a
:class:`quant_core.settings.Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import platformdirs
from dotenv import dotenv_values

from quant_core.errors import QuantUsageError
from quant_core.reasons import USAGE_ERROR
from quant_core.settings import Settings

__all__ = ["data_dir", "database_url", "environ", "load_settings", "symbol_list"]

APP_NAME = "quant"


def environ(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment laid over the ``env_file`` values (the environment wins)."""
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse settings from ``env`` (default: :func:`environ`)."""
    return Settings.from_environ(environ() if env is None else env)


def data_dir(settings: Settings) -> Path:
    """``QUANT_DATA_DIR``, or the platform's user data directory for quant."""
    if settings.data_dir:
        return Path(settings.data_dir).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def database_url(settings: Settings) -> str:
    """``QUANT_DATABASE_URL``, or an SQLite file in the data directory."""
    if settings.database_url is not None:
        return settings.database_url.reveal()
    return f"sqlite:///{data_dir(settings) / 'quant.db'}"


def symbol_list(text: str, *, reason_code: str = USAGE_ERROR) -> list[str]:
    """A ``--symbols`` option (``"btc, eth"``) as upper-case symbols, first mention first.

    Raises:
        QuantUsageError: the text names no symbol (with ``reason_code``).

    Examples:
        >>> symbol_list(" btc,eth , BTC,")
        ['BTC', 'ETH']
    """
    wanted = list(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not wanted:
        raise QuantUsageError("--symbols names no asset", reason_code=reason_code)
    return wanted

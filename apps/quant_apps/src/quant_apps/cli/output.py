"""The conventions every ``quant`` command follows.

* ``--json`` prints one JSON document on stdout; without it, a command's result is printed
  for humans on stdout (:func:`results`, so it can be piped) and progress, warnings and
  errors go to stderr (:func:`human`).
* Exit codes: 0 success, 1 runtime failure, 2 usage error, 3 rejected input or failed
  verification, 130 interrupted (Ctrl-C). A failure's JSON carries a stable ``reason_code``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from quant_core.errors import QuantError
from quant_core.reasons import INTERNAL_ERROR, INTERRUPTED
from quant_core.settings import redact_text

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_RUNTIME",
    "EXIT_USAGE",
    "emit_json",
    "guarded",
    "human",
    "results",
]

EXIT_OK = 0
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130  # the shell's 128 + SIGINT

P = ParamSpec("P")
R = TypeVar("R")


def human() -> Console:
    """A console on stderr for human output and progress."""
    return Console(stderr=True, highlight=False, soft_wrap=True)


def results() -> Console:
    """A console on stdout for a command's human-readable result."""
    return Console(highlight=False, soft_wrap=True)


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def guarded(json_param: str = "json_output") -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn :class:`QuantError` (and any unexpected error) into the exit-code convention.

    Ctrl-C is not an error: the command stops with ``INTERRUPTED`` and exit 130, one line (or
    its JSON document) instead of a traceback. A command that must finish a step cleanly on
    Ctrl-C (``quant paper``'s loop) catches it itself, and so never gets here.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            as_json = bool(kwargs.get(json_param, False))
            try:
                return func(*args, **kwargs)
            except typer.Exit:
                raise
            except KeyboardInterrupt:
                _fail(
                    {
                        "ok": False,
                        "error": "KeyboardInterrupt",
                        "reason_code": INTERRUPTED,
                        "message": "interrupted (Ctrl-C) before the command finished",
                        "exit_code": EXIT_INTERRUPTED,
                    },
                    as_json,
                )
                raise typer.Exit(EXIT_INTERRUPTED) from None
            except QuantError as exc:
                _fail(exc.to_dict(), as_json)
                raise typer.Exit(exc.exit_code) from None
            except Exception as exc:  # noqa: BLE001 - the last line of defence
                _fail(
                    {
                        "ok": False,
                        "error": type(exc).__name__,
                        "reason_code": INTERNAL_ERROR,
                        "message": str(exc),
                        "exit_code": EXIT_RUNTIME,
                    },
                    as_json,
                )
                raise typer.Exit(EXIT_RUNTIME) from None

        return wrapper

    return decorate


def _fail(document: dict[str, Any], as_json: bool) -> None:
    # Every error message leaves through the one redaction path (a URL's credentials).
    document = {**document, "message": redact_text(str(document["message"]))}
    if as_json:
        emit_json(document)
    else:
        human().print(f"error [{document['reason_code']}]: {document['message']}", markup=False)

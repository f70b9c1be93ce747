"""Stable reason codes: the vocabulary of every rejection, failure and decision.

A reason code is a short upper-case string constant (``AUDIT_CHAIN_BROKEN``) that never
changes meaning once released. Codes travel in exceptions (``QuantError.reason_code``), in the
JSON output of every ``quant`` command, in audit records and in decision logs, so that tools
can react to *why* something happened without parsing prose.

Every code is registered exactly once, with its documentation. Registering the same code twice
raises, so two packages can never give one code two meanings. Each package declares its own
branch in its own ``reasons`` module in one way: one module-level assignment per code, the name
being the code and the value its one-line documentation, then :func:`declare_codes` at the end
of the module, which registers every such name and binds it to its own code::

    SIG_INVALID = "A bundle signature does not verify over the exact signed bytes."
    declare_codes(globals())   # now SIG_INVALID == "SIG_INVALID", documented in REGISTRY

Examples:
    >>> from quant_core.reasons import REGISTRY, AUDIT_CHAIN_BROKEN
    >>> AUDIT_CHAIN_BROKEN
    'AUDIT_CHAIN_BROKEN'
    >>> REGISTRY.describe(AUDIT_CHAIN_BROKEN).startswith("An audit record")
    True
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, MutableMapping

__all__ = [
    "REGISTRY",
    "ReasonRegistry",
    "declare_codes",
]

_CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")


class ReasonRegistry(Mapping[str, str]):
    """A write-once mapping from reason code to its one-line documentation."""

    def __init__(self) -> None:
        self._codes: dict[str, str] = {}

    def register(self, code: str, doc: str) -> str:
        """Register ``code`` with its documentation and return the code.

        Raises:
            ValueError: the code is malformed, undocumented, or already registered.
        """
        if not _CODE_PATTERN.fullmatch(code):
            raise ValueError(f"reason code {code!r} must be UPPER_SNAKE_CASE")
        if not doc.strip():
            raise ValueError(f"reason code {code!r} needs documentation")
        if code in self._codes:
            raise ValueError(f"reason code {code!r} is already registered")
        self._codes[code] = doc.strip()
        return code

    def describe(self, code: str) -> str:
        """Return the documentation of a registered ``code`` (``KeyError`` if unknown)."""
        return self._codes[code]

    def __getitem__(self, code: str) -> str:
        return self._codes[code]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._codes))

    def __len__(self) -> int:
        return len(self._codes)


REGISTRY = ReasonRegistry()
"""The project-wide registry; every package registers its codes here."""


def declare_codes(
    namespace: MutableMapping[str, object], registry: ReasonRegistry | None = None
) -> None:
    """Register a ``reasons`` module's codes and bind each name to its own code.

    Every ``UPPER_SNAKE_CASE`` name in ``namespace`` bound to a string is a code, and that
    string is its documentation; other names (``REGISTRY``, ``__all__``, imports) are left
    alone. Call it once, as the last statement of the module, with ``globals()``.

    Args:
        namespace: the module's globals.
        registry: where to register (default: the project-wide :data:`REGISTRY`).

    Raises:
        ValueError: a code is undocumented or already registered.

    Examples:
        >>> registry = ReasonRegistry()
        >>> space = {"EXAMPLE_CODE": "An example.", "note": "not a code"}
        >>> declare_codes(space, registry)
        >>> space
        {'EXAMPLE_CODE': 'EXAMPLE_CODE', 'note': 'not a code'}
        >>> registry.describe("EXAMPLE_CODE")
        'An example.'
    """
    target = REGISTRY if registry is None else registry
    for name, doc in list(namespace.items()):
        if isinstance(doc, str) and _CODE_PATTERN.fullmatch(name):
            namespace[name] = target.register(name, doc)


# --- quant_core's own branch -------------------------------------------------------------

INTERNAL_ERROR = "An unexpected internal failure; a bug to report."
INTERRUPTED = "The user interrupted a command (Ctrl-C) before it finished its work."
USAGE_ERROR = "The caller asked for something the API does not allow."
INVALID_INPUT = "Input failed validation and was rejected unchanged."
UNKNOWN_KEY = "A structured document carried a key the schema does not define."
NOT_CANONICAL = (
    "A value cannot be canonically serialized (NaN, infinity, non-string key, unsupported type)."
)
CLOCK_BACKWARDS = "A simulated clock was asked to move to an earlier time."
TIMESTAMP_INVALID = "A timestamp is not a UTC nanosecond instant, or is off its grid."
BAR_INVALID = "A bar violates OHLCV invariants (non-positive price, high < low, volume < 0)."
SYMBOL_UNKNOWN = "A symbol or venue code is not in the universe."
SYMBOL_EXCLUDED = (
    "An asset is excluded from the training universe (stablecoin, tokenized fiat, wrapper)."
)
UNIVERSE_UNKNOWN = "No universe version with that name exists."
PROFILE_OUT_OF_BOUNDS = "A profile parameter lies outside its governed bounds."
PROFILE_UNKNOWN_PARAMETER = "A profile change names a parameter the profile does not have."
PROFILE_NO_CHANGE = "A profile change would not change any value; no version is created."
PROFILE_CHANGE_UNATTRIBUTED = "A profile change lacks an author or a reason."
PROFILE_VERSION_UNKNOWN = "The requested profile version does not exist."
SETTINGS_INVALID = "An environment setting has a value the settings schema refuses."
AUDIT_CHAIN_BROKEN = (
    "An audit record's hash or link does not match: a record was edited, removed or reordered."
)
AUDIT_TORN_TAIL = "The audit log ends in an incomplete (torn) line from an interrupted write."
AUDIT_RECORD_MALFORMED = "An audit line is not a well-formed audit record."
AUDIT_ANCHOR_MISSING = "An audit log holds records but its anchor file (seq and head) is gone."
AUDIT_ANCHOR_MISMATCH = (
    "An audit log does not end at its anchor: records were cut off or the chain was rewritten."
)
IO_FAILURE = "Reading or writing a file failed."
PREDICTION_INVALID = (
    "A prediction is malformed: probability outside [0, 1], buckets that do not sum to 1, "
    "unsorted or duplicated horizons, or a horizon that is not positive."
)
EVENT_INVALID = "An event's timestamps are negative or contradict the data it carries."

declare_codes(globals())

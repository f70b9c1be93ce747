"""A string that never shows itself.

:class:`Secret` wraps API keys and similar values. Its ``repr``, ``str``, format, logging,
pickling and serialization (through the project converter) all give ``'**********'``; the
value is read only by calling :meth:`Secret.reveal` at the point of use.

Examples:
    >>> from quant_core.settings import Secret
    >>> key = Secret("my-api-key")
    >>> key
    Secret('**********')
    >>> f"key={key}"
    'key=**********'
    >>> key.reveal()
    'my-api-key'
"""

from __future__ import annotations

import hmac
from typing import NoReturn

__all__ = ["MASK", "Secret"]

MASK = "**********"
"""What a secret shows instead of its value (fixed length, so it leaks no length either)."""


class Secret:
    """An opaque secret string."""

    __slots__ = ("__value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("a Secret wraps a str")
        self.__value = value

    def reveal(self) -> str:
        """The secret value. Call it only where the value is sent to its one consumer."""
        return self.__value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def __bool__(self) -> bool:
        return bool(self.__value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self.__value.encode(), other.reveal().encode())

    def __hash__(self) -> int:
        return hash(Secret)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled")

"""The project's one cattrs converter: structured data in and out, strictly.

Every attrs value type crosses the edge of the program (JSON files, CLI output, databases,
HTTP) through :data:`CONVERTER`. It refuses unknown keys, so a misspelt field in a profile or
manifest is an error rather than a silently ignored setting. Decimals travel as strings,
enums by value, :class:`~quant_core.settings.Secret` values as a mask (they never serialize).

Use :func:`structure` and :func:`unstructure`, which turn cattrs' errors into quant's typed
:class:`~quant_core.errors.ValidationError` with a reason code.

Examples:
    >>> from quant_core import structure, unstructure
    >>> from quant_core import Instrument
    >>> unstructure(Instrument("ETH", "CAD"))
    {'base': 'ETH', 'quote': 'CAD'}
    >>> structure({"base": "ETH", "quote": "CAD"}, Instrument)
    Instrument(base='ETH', quote=<QuoteCurrency.CAD: 'CAD'>)
    >>> structure({"base": "ETH", "quote": "CAD", "colour": "red"}, Instrument)
    Traceback (most recent call last):
    ...
    quant_core.errors.ValidationError: [UNKNOWN_KEY] Instrument: unknown key 'colour'
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypeVar

import cattrs
from cattrs.errors import AttributeValidationNote, ForbiddenExtraKeysError, IterableValidationNote

from quant_core import reasons
from quant_core._secret import MASK, Secret
from quant_core._values.types import to_decimal
from quant_core.errors import QuantError, ValidationError

__all__ = ["CONVERTER", "make_converter", "structure", "unstructure"]

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


def _whole_number(value: Any, cls: type[int]) -> int:
    """An ``int`` field (or ``IntEnum``) never takes a bool: ``True`` is not ``1``.

    The hook serves ``int``'s subclasses too; a ``bool`` field keeps taking booleans.
    """
    if isinstance(value, bool) and cls is not bool:
        raise ValidationError(
            f"a boolean ({value!r}) is not a whole number", reason_code=reasons.INVALID_INPUT
        )
    return cls(value)


def make_converter() -> cattrs.Converter:
    """Build a converter with the project's rules (for packages that need to extend one)."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(int, _whole_number)
    converter.register_unstructure_hook(Decimal, str)
    converter.register_structure_hook(Decimal, lambda value, _: to_decimal(value))
    converter.register_unstructure_hook(Secret, lambda _: MASK)
    converter.register_structure_hook(Secret, lambda value, _: Secret(value))
    return converter


CONVERTER = make_converter()
"""The shared converter instance."""


def unstructure(value: Any) -> Any:
    """Turn a value (attrs classes included) into plain JSON-ready data."""
    return CONVERTER.unstructure(value)


def _where(exc: BaseException) -> list[str]:
    """The field or index an exception inside a cattrs exception group was raised for."""
    notes = getattr(exc, "__notes__", ())
    return [
        note.name if isinstance(note, AttributeValidationNote) else f"[{note.index}]"
        for note in notes
        if isinstance(note, AttributeValidationNote | IterableValidationNote)
    ]


def _find(
    exc: BaseException, kind: type[E], path: tuple[str, ...] = ()
) -> tuple[E, tuple[str, ...]] | None:
    """The first exception of ``kind`` in ``exc`` or, depth first, its exception groups.

    Returned with the path of fields and indexes that leads to it (empty at the top).
    """
    path = (*path, *_where(exc))
    if isinstance(exc, kind):
        return exc, path
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _find(inner, kind, path)
            if found is not None:
                return found
    return None


def structure(data: Any, cls: type[T]) -> T:
    """Build a ``cls`` from plain data, strictly.

    Raises:
        ValidationError: ``UNKNOWN_KEY`` for keys the class does not define, or
            ``INVALID_INPUT`` for a type mismatch.
        QuantError: whatever a value's own validator raised, with its reason code; when a
            field's value raised it, the message starts with the class and field it names.
    """
    try:
        return CONVERTER.structure(data, cls)
    except Exception as exc:  # noqa: BLE001 - cattrs raises many types; all are mapped
        extra = _find(exc, ForbiddenExtraKeysError)
        if extra is not None:
            keys = ", ".join(repr(k) for k in sorted(extra[0].extra_fields))
            raise ValidationError(
                f"{extra[0].cl.__name__}: unknown key {keys}", reason_code=reasons.UNKNOWN_KEY
            ) from None
        found = _find(exc, QuantError)
        if found is not None:
            inner, path = found
            if path:
                # Name the field, keeping the error's type, reason code and attributes.
                where = "".join(step if step[0] == "[" else f".{step}" for step in path)
                inner.message = f"{getattr(cls, '__name__', cls)}{where}: {inner.message}"
                inner.args = (inner.message,)
            raise inner from None
        details = "; ".join(cattrs.transform_error(exc))
        raise ValidationError(
            f"{getattr(cls, '__name__', cls)}: {details}",
            reason_code=reasons.INVALID_INPUT,
        ) from None

r"""Canonical JSON and content hashing: the one byte form behind every hash in quant.

Config hashes, dataset hashes, feature-schema hashes, bundle manifests, audit records and
decision logs are all hashes of *canonical JSON*:

* object keys are strings, sorted by code point; no insignificant whitespace
  (``","`` and ``":"`` separators); integer keys are written as their decimal string, as JSON
  has no other key type (so ``{1: x}`` and ``{"1": x}`` are the same document);
* text is UTF-8, with non-ASCII characters written as themselves (not ``\u`` escapes);
* ``NaN``, ``Infinity`` and ``-Infinity`` are refused;
* floats are written in one format: the shortest decimal that round-trips (Python's
  ``repr``), so ``0.1`` is ``0.1`` and ``1.0`` is ``1.0``; ``-0.0`` is written ``0.0``
  because it equals ``0.0``;
* :class:`~decimal.Decimal` is written as a JSON *string* of its exact digits (money and
  quantities keep their precision), enums by value, tuples as arrays, attrs classes through the
  project converter (:data:`quant_core.CONVERTER`), numpy scalars and arrays as plain numbers and
  arrays;
* sets, bytes and other types without one obvious order or form are refused.

One encoder writes these bytes. Given a :class:`CanonicalMemo` (owned by a caller that
encodes many records of a few shapes, such as a decision log), it writes dicts of plain
values from memoised key orders and string literals instead of the C encoder's generic
path; the bytes are the same either way, only the speed differs.

Examples:
    >>> from quant_core import canonical_json, content_hash
    >>> canonical_json({"b": 1, "a": [1.0, "é"]})
    b'{"a":[1.0,"\xc3\xa9"],"b":1}'
    >>> content_hash({"a": 1}) == content_hash({"a": 1})
    True
"""

from __future__ import annotations

import enum
import hashlib
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final, cast

import attrs
import numpy as np

from quant_core.errors import CanonicalizationError

__all__ = [
    "HASH_ALGORITHMS",
    "CanonicalMemo",
    "bytes_hash",
    "canonical_json",
    "canonical_text",
    "content_hash",
    "sha256_hex",
]

HASH_ALGORITHMS: Final = ("sha256", "sha384", "sha512")
"""Algorithms :func:`content_hash` accepts; the digest is prefixed with the name."""


def _default(value: Any) -> Any:
    """Convert the non-JSON types canonical JSON admits; refuse everything else."""
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise CanonicalizationError(f"non-finite Decimal {value!s} has no canonical form")
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if attrs.has(type(value)):
        from quant_core._values.convert import CONVERTER

        return CONVERTER.unstructure(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise CanonicalizationError(f"{type(value).__name__} has no canonical JSON form")


def _normalize(value: Any) -> Any:
    """Slow path: rebuild ``value`` with ``-0.0`` folded to ``0.0``."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _normalize(item)
        return out
    if isinstance(value, list | tuple):
        return [_normalize(item) for item in value]
    if isinstance(value, float):  # finite: the encoder has already refused NaN and infinities
        return 0.0 if value == 0.0 else float(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    return _normalize(_default(value))


# A float -0.0 as the encoder writes it: a bare token after "[", ":" or "," (or alone) and
# before ",", "]" or "}" (or the end). A string holding "-0.0" may match too (then the slow
# path runs and changes nothing); an actual -0.0 float can never escape it.
_NEGATIVE_ZERO = re.compile(r"(?:^|[\[:,])-0\.0(?:[,\]}]|$)")

# CPython's C encoder (``_json.make_encoder``): the one ``json.JSONEncoder.encode`` itself uses.
_make_encoder: Callable[..., Callable[[Any, int], tuple[str, ...]]] = c_make_encoder


def _encode(value: Any) -> str:
    """The JSON text of ``value`` under the canonical settings.

    Exactly what ``json.JSONEncoder(ensure_ascii=False, allow_nan=False, sort_keys=True,
    separators=(",", ":"), default=_default).encode(value)`` returns, minus that method's
    per-call Python layers: the C encoder is made here directly (with a fresh circular
    reference guard each call, as the standard library does).
    """
    encoder = _make_encoder({}, _default, encode_basestring, None, ":", ",", True, False, False)
    return "".join(encoder(value, 0))


class CanonicalMemo:
    """What the encoder may remember between values: dict key orders and string literals.

    Owned by a caller that encodes many values of a few shapes (a decision log writes
    thousands of lines with the same keys and strings) and passed to :func:`canonical_text`.
    ``stable`` names top-level keys whose values come from a small set of strings (``None``
    and tuples of strings too): the text around the other keys' values is then kept per
    combination of those values, and only the other values are written each time.
    Entries are pure results of their keys, written whole, so a memo never changes a byte
    and may be shared between threads; every memo stops growing at ``limit`` entries.

    Examples:
        >>> memo = CanonicalMemo()
        >>> canonical_text({"b": "x", "a": 1.0}, memo) == canonical_text({"b": "x", "a": 1.0})
        True
        >>> len(memo.templates), len(memo.strings)
        (1, 1)
    """

    __slots__ = ("limit", "splits", "stable", "str_kinds", "strings", "templates")

    def __init__(self, limit: int = 4096, *, stable: Iterable[str] = ()) -> None:
        self.limit = limit
        self.stable = frozenset(stable)
        """Top-level keys whose values repeat (see above)."""
        self.splits: dict[tuple[Any, ...], _Split | None] = {}
        """A top-level dict's keys -> a getter of its stable values, their keys, and the
        pieces: stable values -> each other key with the text before its value (in sorted
        order) and the closing text (``None``: no stable key, or a key not a plain ``str``)."""
        self.strings: dict[str, str] = {}
        """A ``str`` value (or one of a subclass: equal values, equal text) -> its literal."""
        self.str_kinds: set[type] = set()
        """The ``str`` subclasses met (StrEnums), written from :attr:`strings` too."""
        self.templates: dict[tuple[Any, ...], _Template | None] = {}
        """A dict's keys in insertion order -> ``(key, '{"key":' or ',"key":')`` in sorted
        order (``None``: a key is not a plain ``str``, the C encoder writes that dict)."""


_DEPTH = 3  # nesting the memoised path writes; deeper values go to the C encoder
_Getter = Callable[[dict[Any, Any]], tuple[Any, ...]]
_Template = tuple[tuple[str, str], ...]
_UNSEEN: Any = object()  # a split not made yet (``None`` is a split made: none)
_Split = tuple[_Getter, tuple[str, ...], dict[tuple[Any, ...], tuple[_Template, str]]]


def _getter(keys: Sequence[str]) -> _Getter:
    """The values of ``keys`` as a tuple (one C call; one key too)."""
    if len(keys) == 1:
        (key,) = keys
        return lambda value: (value[key],)
    return cast("_Getter", operator.itemgetter(*keys))


def _split(memo: CanonicalMemo, keys: tuple[Any, ...]) -> _Split | None:
    """Make, and memoise while there is room, a dict's stable/other split (or ``None``)."""
    split: _Split | None = None
    if all(type(key) is str for key in keys) and memo.stable.intersection(keys):
        order = sorted(keys)
        stable = tuple(k for k in order if k in memo.stable)
        split = (_getter(stable), stable, {})
    if len(memo.splits) < memo.limit:
        memo.splits[keys] = split
    return split


def _symbol(value: Any) -> bool:
    """Whether ``value`` may key the pieces memo: a string, ``None`` or a tuple of strings.

    Only these: ``1``, ``1.0`` and ``True`` are equal keys with different texts.
    """
    if value is None or isinstance(value, str):
        return True
    return type(value) is tuple and all(isinstance(item, str) for item in value)


def _pieces(
    memo: CanonicalMemo, value: dict[Any, Any], split: _Split, stable_values: tuple[Any, ...]
) -> tuple[_Template, str] | None:
    """Each other key with the text before its value, and the closing text, for these."""
    texts = dict(zip(split[1], stable_values, strict=True))
    before: list[tuple[str, str]] = []
    run = ""
    for i, key in enumerate(sorted(value)):
        head = ("{" if i == 0 else ",") + encode_basestring(key) + ":"
        if key in texts:
            text = _memo_text(memo, texts[key], _DEPTH - 1)
            if text is None:
                return None
            run += head + text
        else:
            before.append((key, run + head))
            run = ""
    pieces = (tuple(before), run + "}")
    if len(split[2]) < memo.limit and all(_symbol(v) for v in stable_values):
        split[2][stable_values] = pieces
    return pieces


_float_repr = float.__repr__
_int_repr = int.__repr__


def _template(memo: CanonicalMemo, keys: tuple[Any, ...]) -> _Template | None:
    """Make, and memoise while there is room, the sorted key prefixes of a dict's keys."""
    template = None
    if all(type(key) is str for key in keys):
        template = tuple(
            (key, ("{" if i == 0 else ",") + encode_basestring(key) + ":")
            for i, key in enumerate(sorted(keys))
        )
    if len(memo.templates) < memo.limit:
        memo.templates[keys] = template
    return template


def _string(memo: CanonicalMemo, value: str) -> str:
    """The JSON literal of ``value``, memoised while there is room."""
    text = encode_basestring(value)
    if len(memo.strings) < memo.limit:
        memo.strings[value] = text
    return text


def _memo_text(memo: CanonicalMemo, value: Any, depth: int) -> str | None:
    """The canonical text of a plain value, or ``None`` to leave it to the C encoder.

    Writes exactly the types it knows (``str`` and its subclasses, ``int``, ``bool``, finite
    ``float`` and :class:`~decimal.Decimal`, ``None``, and ``dict`` with ``str`` keys,
    ``list`` and ``tuple`` up to :data:`_DEPTH` deep) as the C encoder does; anything else,
    other subclasses included, answers ``None`` (so the C encoder writes, or refuses, the
    whole value).
    """
    kind = type(value)
    if kind is str:
        return memo.strings.get(value) or _string(memo, value)
    if kind is Decimal:
        return '"' + str(value) + '"' if value.is_finite() else None
    if kind is int:
        return _int_repr(value)
    if kind is float:
        if value == 0.0:  # 0.0 and -0.0 alike
            return "0.0"
        return _float_repr(value) if value - value == 0.0 else None  # finite only
    if value is None:
        return "null"
    if kind is bool:
        return "true" if value else "false"
    if isinstance(value, str):  # a subclass (a StrEnum): its characters, as the C encoder writes
        memo.str_kinds.add(kind)
        return memo.strings.get(value) or _string(memo, value)
    if not depth:
        return None
    if kind is dict:
        return _memo_object(memo, value, depth - 1)
    if kind is list or kind is tuple:
        items = [_memo_text(memo, item, depth - 1) for item in value]
        return None if None in items else "[" + ",".join(cast("list[str]", items)) + "]"
    return None


def _memo_object(memo: CanonicalMemo, value: dict[Any, Any], depth: int) -> str | None:
    """:func:`_memo_text` of a dict, with the common scalar types written inline."""
    if not value:
        return "{}"
    keys = tuple(value)
    closing = "}"
    split = memo.splits.get(keys, _UNSEEN) if depth == _DEPTH and memo.stable else None
    if split is _UNSEEN:
        split = _split(memo, keys)
    if split is not None:
        stable_values = split[0](value)
        try:
            pieces = split[2].get(stable_values)
        except TypeError:  # a list or dict among them
            pieces = None
        if pieces is None:
            pieces = _pieces(memo, value, split, stable_values)
            if pieces is None:
                return None
        template, closing = pieces
    else:
        found = memo.templates.get(keys) or _template(memo, keys)
        if found is None:
            return None
        template = found
    parts: list[str] = []
    append = parts.append
    strings, str_kinds = memo.strings, memo.str_kinds
    for key, prefix in template:
        item = value[key]
        kind = type(item)
        if kind is Decimal:
            if not item.is_finite():
                return None
            append(prefix + '"' + str(item) + '"')
        elif kind is float:
            if item == 0.0:  # 0.0 and -0.0 alike
                append(prefix + "0.0")
            elif item - item == 0.0:  # finite (inf - inf and nan - nan are nan)
                append(prefix + _float_repr(item))
            else:
                return None
        elif kind is int:
            append(prefix + _int_repr(item))
        elif kind is str:
            append(prefix + (strings.get(item) or _string(memo, item)))
        elif item is None:
            append(prefix + "null")
        elif kind is dict and depth:
            text = _memo_object(memo, item, depth - 1)
            if text is None:
                return None
            append(prefix + text)
        elif kind in str_kinds:
            append(prefix + (strings.get(item) or _string(memo, item)))
        else:
            text = _memo_text(memo, item, depth)
            if text is None:
                return None
            append(prefix + text)
    append(closing)
    return "".join(parts)


def canonical_text(value: Any, memo: CanonicalMemo | None = None) -> str:
    """Return the canonical JSON text of ``value`` (see the module rules).

    Args:
        value: the value.
        memo: key orders and string literals to reuse (see :class:`CanonicalMemo`); the
            text is the same with or without one.

    Raises:
        CanonicalizationError: the value has no canonical form.
    """
    if memo is not None and type(value) is dict:
        text = _memo_object(memo, value, _DEPTH)
        if text is not None:
            return text
    try:
        text = _encode(value)
    except (ValueError, TypeError) as exc:
        raise CanonicalizationError(f"value has no canonical JSON form: {exc}") from exc
    # The C encoder writes -0.0 as "-0.0". It is rare; only when the text could hold one do
    # we take the slower, rebuilding path that folds it to 0.0. "-0.0" also occurs inside
    # strings (a Decimal such as "-0.05" is one), so the quick substring test is confirmed by
    # the pattern of a bare number, which every encoded -0.0 float matches.
    if "-0.0" in text and _NEGATIVE_ZERO.search(text) is not None:
        text = _encode(_normalize(value))
    return text


def canonical_json(value: Any, memo: CanonicalMemo | None = None) -> bytes:
    """Return the canonical JSON bytes (UTF-8) of ``value`` (see :func:`canonical_text`)."""
    return canonical_text(value, memo).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


def bytes_hash(data: bytes, algorithm: str = "sha256") -> str:
    """Hash raw bytes; returns ``"<algorithm>:<hex digest>"``, the project's hash notation.

    Raises:
        ValueError: ``algorithm`` is not in :data:`HASH_ALGORITHMS`.

    Examples:
        >>> bytes_hash(b"")
        'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
    """
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unsupported hash algorithm {algorithm!r}")
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def content_hash(value: Any, algorithm: str = "sha256") -> str:
    """Hash the canonical JSON of ``value``; returns ``"<algorithm>:<hex digest>"``.

    Raises:
        CanonicalizationError: the value has no canonical form.
        ValueError: ``algorithm`` is not in :data:`HASH_ALGORITHMS`.
    """
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"unsupported hash algorithm {algorithm!r}")
    return bytes_hash(canonical_json(value), algorithm)

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
import re
from collections.abc import Callable
from decimal import Decimal
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final

import attrs
import numpy as np

from quant_core.errors import CanonicalizationError

__all__ = [
    "HASH_ALGORITHMS",
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
        from quant_core._convert import CONVERTER

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


def canonical_text(value: Any) -> str:
    """Return the canonical JSON text of ``value`` (see the module rules).

    Raises:
        CanonicalizationError: the value has no canonical form.
    """
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


def canonical_json(value: Any) -> bytes:
    """Return the canonical JSON bytes (UTF-8) of ``value``."""
    return canonical_text(value).encode("utf-8")


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

"""Seeds and random generators, derived from one root seed by a stable path.

A run has one root seed. Every component that needs randomness derives its own seed from the
root and a *path* of names (``derive_seed(root, "models", "xgboost", "BTC")``), so adding a
component never shifts another's stream, and the same path gives the same seed on every
machine and Python process. Derivation hashes the canonical JSON of ``[root, *path]`` with
SHA-256 — never Python's ``hash()``, which is salted per process.

This module is the only place allowed to construct numpy random generators; everything else
asks it for one (enforced by ruff's banned-api rule).

Examples:
    >>> from quant_core import derive_seed, generator
    >>> derive_seed(42, "models", "xgboost") == derive_seed(42, "models", "xgboost")
    True
    >>> derive_seed(42, "a") != derive_seed(42, "b")
    True
    >>> float(generator(7, "demo").random()) == float(generator(7, "demo").random())
    True
"""

from __future__ import annotations

import hashlib

import numpy as np

from quant_core._values.canonical import canonical_json

__all__ = ["derive_seed", "generator"]


def derive_seed(root_seed: int, *path: str, bits: int = 63) -> int:
    """Derive a non-negative seed of at most ``bits`` bits from ``root_seed`` and ``path``.

    Args:
        root_seed: the run's root seed (any integer).
        path: component names, outermost first.
        bits: width of the result, 1..64 (31 suits libraries that take a C ``int``).

    Raises:
        ValueError: ``bits`` outside 1..64 or ``root_seed`` is a bool.
    """
    if not 1 <= bits <= 64:
        raise ValueError(f"bits must be within 1..64, got {bits}")
    if isinstance(root_seed, bool):
        raise ValueError("root_seed must be an integer, not a bool")
    digest = hashlib.sha256(canonical_json([int(root_seed), *path])).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - bits)


def generator(root_seed: int, *path: str) -> np.random.Generator:
    """A numpy PCG64 generator seeded with ``derive_seed(root_seed, *path)``."""
    return np.random.Generator(np.random.PCG64(derive_seed(root_seed, *path, bits=64)))

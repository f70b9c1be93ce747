"""Compare JSON structure (keys and value types), not values, against recorded samples."""

from __future__ import annotations

from typing import Any


def kind(value: Any) -> str:
    """A coarse JSON type: ints and floats are both 'number' (providers mix them)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return type(value).__name__


def same_shape(ours: Any, sample: Any, *, nullable: frozenset[str] = frozenset()) -> list[str]:
    """Differences in keys and value kinds between two JSON objects (lists by first item)."""
    problems: list[str] = []

    def walk(a: Any, b: Any, where: str) -> None:
        if isinstance(b, dict):
            if not isinstance(a, dict):
                problems.append(f"{where}: {kind(a)} instead of object")
                return
            if set(a) != set(b):
                problems.append(f"{where}: keys {sorted(set(a) ^ set(b))} differ")
            for key in set(a) & set(b):
                walk(a[key], b[key], f"{where}.{key}")
        elif isinstance(b, list) and b and not isinstance(b[0], list | dict):
            if not isinstance(a, list):
                problems.append(f"{where}: {kind(a)} instead of list")
                return
            if [kind(x) for x in a] != [kind(x) for x in b] and len(a) == len(b):
                problems.append(f"{where}: element kinds {[kind(x) for x in a]}")
        elif isinstance(b, list) and b:
            if not isinstance(a, list) or not a:
                problems.append(f"{where}: empty or not a list")
                return
            walk(a[0], b[0], f"{where}[0]")
        elif where.rsplit(".", 1)[-1] in nullable and (a is None or b is None):
            return
        elif kind(a) != kind(b):
            problems.append(f"{where}: {kind(a)} vs sample {kind(b)}")

    walk(ours, sample, "$")
    return problems

"""What a dialect hands the emulator's HTTP server: a reply, or a page of rows still to render.

Row-level faults (duplicated, shuffled, missing rows) act on :class:`Page` rows before the page
is rendered to bytes, so every dialect gets them for free.

Examples:
    >>> page = Page(rows=[1, 2], render=lambda rows: json_bytes(rows))
    >>> page.render(page.rows)
    b'[1, 2]'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import attrs

__all__ = ["Page", "Reply", "json_bytes", "raw_number", "render_json"]


def json_bytes(document: Any) -> bytes:
    """Compact-but-spaced JSON, like the providers send (keys in the given order)."""
    # Not canonical JSON: the emulator must send the providers' own wire layout.
    return json.dumps(document).encode("utf-8")


class raw_number(str):  # noqa: N801 - a str subclass used like a marker type
    """Decimal text to be written into JSON as a bare number, digits untouched."""

    __slots__ = ()


def render_json(document: Any) -> bytes:
    """JSON where :class:`raw_number` values appear as bare numbers with their exact digits."""
    marker = "~#NUM#~"

    def walk(value: Any) -> Any:
        if isinstance(value, raw_number):
            return marker + str(value) + marker
        if isinstance(value, Mapping):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [walk(v) for v in value]
        return value

    text = json.dumps(walk(document))
    return text.replace('"' + marker, "").replace(marker + '"', "").encode("utf-8")


@attrs.define
class Page:
    """Rows of a successful answer and how to turn (possibly faulted) rows into the body."""

    rows: list[Any]
    render: Callable[[list[Any]], bytes]
    status: int = 200
    headers: dict[str, str] = attrs.field(factory=dict)


@attrs.define
class Reply:
    """A finished answer."""

    status: int
    body: bytes
    headers: dict[str, str] = attrs.field(factory=dict)

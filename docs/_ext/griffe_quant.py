"""A Griffe extension that lets the API reference read quant's docstrings as written.

quant's docstrings use the Google style with Sphinx cross-reference roles
(``:class:`~quant_core.Clock```), which read well in ``help()`` and editors, and
reStructuredText literal blocks introduced by ``::``. Griffe's Google parser, which
mkdocstrings uses, renders roles and ``::`` as plain text. Before a docstring is parsed, this
extension rewrites its text for the documentation site (never the code):

* a role becomes an optional cross-reference: a link where the target is documented on
  some page, plain code otherwise (an unresolved optional reference is not a warning);
* a line ending in ``::`` ends in ``:``, as Sphinx shows it.

mkdocs.yml loads it by path, in the mkdocstrings Python handler's ``extensions`` option.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)
_ROLE = re.compile(
    r":(?:py:)?(?:class|func|meth|attr|data|const|mod|exc|obj):"
    r"`(?P<tilde>~?)(?P<target>[\w.]+)(?:\(\))?`"
)


def _resolve(obj: griffe.Object, target: str) -> str:
    """The full path ``target`` names when written in ``obj``'s docstring."""
    head, _, rest = target.partition(".")
    try:
        base = obj.resolve(head)
    except griffe.NameResolutionError:
        return target  # already a full path, or a name outside the documented packages
    return f"{base}.{rest}" if rest else base


def _reference(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    identifier = _resolve(obj, target)
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'


def rewrite(obj: griffe.Object, text: str) -> str:
    """Return ``text`` (a docstring of ``obj``) rewritten as the module docstring says."""
    text = _LITERAL.sub(":", text)
    return _ROLE.sub(lambda match: _reference(obj, match), text)


class QuantDocstrings(griffe.Extension):
    """Rewrite every docstring once the object tree is complete."""

    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        """Rewrite ``obj``'s own docstring (aliases share their target's)."""
        if obj.is_alias or obj.docstring is None:
            return
        obj.docstring.value = rewrite(obj, obj.docstring.value)

"""quant_exec has one door: a curated root and public sub-packages by concern."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import quant_exec

SUBPACKAGES = ("decisions", "ledger", "orders", "report", "risk", "session", "strategy", "venues")
NESTED = {"venues": {"kraken"}, "venues.kraken": {"fake"}}
"""Public sub-packages further down, each with its own curated ``__all__``."""


def _check_nested(path: str) -> None:
    """Every public sub-package below ``quant_exec.<path>`` is listed and curated."""
    for name in NESTED.get(path, set()):
        nested = importlib.import_module(f"quant_exec.{path}.{name}")
        assert 0 < len(nested.__all__) <= 30
        inner = {m.name for m in pkgutil.iter_modules(nested.__path__)}
        below = NESTED.get(f"{path}.{name}", set())
        assert all(m.startswith("_") for m in inner - below)
        _check_nested(f"{path}.{name}")


def test_the_root_surface_is_curated() -> None:
    assert len(quant_exec.__all__) <= 30
    assert sorted(quant_exec.__all__) == sorted(set(quant_exec.__all__))
    for name in quant_exec.__all__:
        assert getattr(quant_exec, name) is not None


def test_every_module_below_the_root_is_a_public_subpackage_or_private() -> None:
    public = {
        m.name for m in pkgutil.iter_modules(quant_exec.__path__) if not m.name.startswith("_")
    }
    assert public == {*SUBPACKAGES, "errors", "reasons"}
    for sub in SUBPACKAGES:
        package = importlib.import_module(f"quant_exec.{sub}")
        inner = {m.name for m in pkgutil.iter_modules(package.__path__)}
        assert inner
        assert all(name.startswith("_") for name in inner - NESTED.get(sub, set()))
        _check_nested(sub)


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_each_subpackage_exports_what_it_lists(sub: str) -> None:
    package = importlib.import_module(f"quant_exec.{sub}")
    assert package.__all__
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_root_names_are_the_subpackages_objects() -> None:
    owners = [importlib.import_module(f"quant_exec.{sub}") for sub in SUBPACKAGES]
    for name in quant_exec.__all__:
        if name != "__version__":
            assert any(getattr(o, name, None) is getattr(quant_exec, name) for o in owners)

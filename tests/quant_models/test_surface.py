"""One door: quant_models' public surface is the root and four public sub-packages."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import quant_models

PUBLIC = {
    "quant_models.evaluation",
    "quant_models.families",
    "quant_models.features",
    "quant_models.reasons",
    "quant_models.sequence",
    "quant_models.training",
}


@pytest.mark.parametrize("name", ["quant_models", *sorted(PUBLIC - {"quant_models.reasons"})])
def test_each_door_has_a_curated_all_of_at_most_30_names(name: str) -> None:
    module = importlib.import_module(name)
    assert len(module.__all__) <= 30
    assert len(set(module.__all__)) == len(module.__all__)
    for exported in module.__all__:
        assert hasattr(module, exported), exported


def test_every_other_module_is_private() -> None:
    public = {
        info.name
        for info in pkgutil.walk_packages(quant_models.__path__, "quant_models.")
        if not any(part.startswith("_") for part in info.name.split("."))
    }
    assert public == PUBLIC

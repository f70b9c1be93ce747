"""One door: quant_data's curated surface, and no private module reached from outside."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import quant_data
import quant_data.emulator
import quant_data.providers
import quant_data.store

ROOT = Path(__file__).resolve().parents[2]
PRIVATE_IMPORT = re.compile(r"^\s*(?:from|import) quant_data(?:\.\w+)*\._\w+", re.MULTILINE)


@pytest.mark.parametrize(
    "package", [quant_data, quant_data.emulator, quant_data.providers, quant_data.store]
)
def test_the_surface_is_curated_and_resolves(package: object) -> None:
    names = package.__all__  # type: ignore[attr-defined]
    assert len(names) <= 30
    for name in names:
        assert getattr(package, name) is not None


def test_code_outside_the_package_imports_no_private_module() -> None:
    outside = [
        *ROOT.glob("apps/**/*.py"),
        *ROOT.glob("benchmarks/*.py"),
        *ROOT.glob("scripts/*.py"),
        *(p for p in ROOT.glob("packages/**/*.py") if "quant_data" not in p.parts),
        *ROOT.glob("docs/**/*.md"),
    ]
    offenders = [str(p.relative_to(ROOT)) for p in outside if PRIVATE_IMPORT.search(p.read_text())]
    assert offenders == []

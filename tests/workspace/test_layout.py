"""The workspace's shape: packages, versions, typed markers, curated public surfaces."""

from __future__ import annotations

import importlib
import importlib.metadata as md
import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MEMBERS = {
    "quant_core": REPO / "packages/quant_core",
    "quant_net": REPO / "packages/quant_net",
    "quant_data": REPO / "packages/quant_data",
    "quant_models": REPO / "packages/quant_models",
    "quant_exec": REPO / "packages/quant_exec",
    "quant_bundle": REPO / "packages/quant_bundle",
    "quant_apps": REPO / "apps/quant_apps",
}


def _project(root: Path) -> dict[str, object]:
    data = tomllib.loads((root / "pyproject.toml").read_text())
    project = data["project"]
    assert isinstance(project, dict)
    return project


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_member_layout_version_and_typing(module: str) -> None:
    root = MEMBERS[module]
    project = _project(root)
    src = root / "src" / module
    assert (src / "py.typed").is_file()
    assert (root / "README.md").is_file()
    assert project["name"] == module.replace("_", "-")
    imported = importlib.import_module(module)
    assert imported.__version__ == project["version"] == md.version(str(project["name"]))


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_sibling_requirements_are_compatible_ranges(module: str) -> None:
    deps = _project(MEMBERS[module])["dependencies"]
    assert isinstance(deps, list)
    for dep in deps:
        name = re.split(r"[<>=!~ ;\[]", dep, maxsplit=1)[0]
        if name.startswith("quant-"):
            sibling = _project(MEMBERS[name.replace("-", "_")])
            major, minor = str(sibling["version"]).split(".")[:2]
            assert dep == f"{name}>={major}.{minor},<{major}.{int(minor) + 1}", dep


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_public_surface_is_curated(module: str) -> None:
    imported = importlib.import_module(module)
    exported = imported.__all__
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(imported, name), f"{module}.{name} is in __all__ but missing"


def test_quant_core_exports_each_module_surface() -> None:
    core = importlib.import_module("quant_core")
    for path in sorted((MEMBERS["quant_core"] / "src/quant_core").glob("[a-z]*.py")):
        module = importlib.import_module(f"quant_core.{path.stem}")
        assert hasattr(module, "__all__"), f"quant_core.{path.stem} has no __all__"
        for name in module.__all__:
            assert hasattr(module, name), f"quant_core.{path.stem}.{name} is missing"
    assert "Settings" in core.__all__
    assert "AuditLog" in core.__all__


def test_lock_resolves_from_pypi_alone_without_torch_or_cuda() -> None:
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    names = {p["name"] for p in lock["package"]}
    assert "torch" not in names, "torch is installed by hand from the CPU index (0061)"
    assert not any(n.startswith(("nvidia-", "cuda-")) for n in names)
    assert "triton" not in names
    for package in lock["package"]:
        source = package["source"]
        assert set(source) <= {"registry", "editable", "virtual", "workspace"}, package["name"]
        if "registry" in source:
            assert source["registry"] == "https://pypi.org/simple", package["name"]

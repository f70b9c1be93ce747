"""The workspace's shape: packages, versions, typed markers, curated public surfaces."""

from __future__ import annotations

import ast
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


MAX_ROOT_NAMES = 30
SCANNED = ("packages", "apps", "tests", "benchmarks", "scripts", "docs")


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_root_surface_has_at_most_thirty_names(module: str) -> None:
    exported = importlib.import_module(module).__all__
    assert len(exported) <= MAX_ROOT_NAMES, f"{module}.__all__ has {len(exported)} names"


@pytest.mark.parametrize("module", ["quant_core", "quant_bundle"])
def test_public_rooms_have_curated_surfaces(module: str) -> None:
    """Beside the root, each public module of these packages is a room with its own door."""
    src = MEMBERS[module] / "src" / module
    rooms = sorted(p.stem for p in src.glob("[a-z]*.py"))
    assert rooms
    for room in rooms:
        imported = importlib.import_module(f"{module}.{room}")
        assert hasattr(imported, "__all__") or room == "reasons", f"{module}.{room}: no __all__"
        for name in getattr(imported, "__all__", ()):
            assert hasattr(imported, name), f"{module}.{room}.{name} is in __all__ but missing"


def _owner(path: Path) -> str | None:
    """The package a source file belongs to (its own tests count as inside it)."""
    parts = path.relative_to(REPO).parts
    if parts[0] in ("packages", "apps") and len(parts) > 3 and parts[2] == "src":
        return parts[3]
    if parts[0] == "tests" and len(parts) > 2 and parts[1] in MEMBERS:
        return parts[1]
    return None


def _private_imports(source: str, owner: str | None) -> list[str]:
    """``module`` or ``module.name`` of each import of another package's private module."""
    found = []
    for node in ast.walk(ast.parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [f"{node.module}.{alias.name}" for alias in node.names]
        for target in targets:
            parts = target.split(".")
            private = any(p.startswith("_") and not p.startswith("__") for p in parts[1:])
            if parts[0] in MEMBERS and parts[0] != owner and private:
                found.append(target)
    return found


def test_no_module_imports_another_packages_private_module() -> None:
    offenders: dict[str, list[str]] = {}
    files = [p for top in SCANNED for p in sorted((REPO / top).rglob("*.py"))]
    assert len(files) > 100
    for path in files:
        if ".venv" in path.parts or "site" in path.relative_to(REPO).parts[:1]:
            continue
        imports = _private_imports(path.read_text(), _owner(path))
        if imports:
            offenders[str(path.relative_to(REPO))] = imports
    assert not offenders, offenders


def test_the_private_import_scan_sees_private_modules_and_names() -> None:
    source = (
        "from quant_core._values.clock import SimClock\n"
        "from quant_bundle import _store\n"
        "import quant_exec._hidden\n"
        "from quant_core import Clock\n"
        "from quant_data._inside import x\n"
    )
    found = _private_imports(source, "quant_data")
    assert found == [
        "quant_core._values.clock.SimClock",
        "quant_bundle._store",
        "quant_exec._hidden",
    ]
    assert _owner(REPO / "tests/quant_bundle/test_install.py") == "quant_bundle"
    assert _owner(REPO / "packages/quant_core/src/quant_core/_values/clock.py") == "quant_core"
    assert _owner(REPO / "benchmarks/bench_bundle_verify.py") is None


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


MAX_MODULE_LINES = 600
MAX_TOP_MODULES = 12


def test_no_source_module_is_over_six_hundred_lines() -> None:
    """Rooms that fit (issue 14): a module past 600 lines is split by concern."""
    sources = [p for root in ("packages", "apps") for p in (REPO / root).rglob("src/**/*.py")]
    assert sources
    long = {
        str(p.relative_to(REPO)): n
        for p in sources
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    }
    assert not long, long


@pytest.mark.parametrize("module", sorted(MEMBERS))
def test_a_package_past_a_dozen_modules_has_sub_packages(module: str) -> None:
    """At most a dozen modules beside ``__init__`` at a package's top; more go to rooms."""
    top = importlib.import_module(module).__file__
    assert top is not None
    modules = [p for p in Path(top).parent.glob("*.py") if p.name != "__init__.py"]
    assert len(modules) <= MAX_TOP_MODULES, sorted(p.name for p in modules)

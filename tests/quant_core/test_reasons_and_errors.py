"""Reason codes are unique and documented; the error tree is as drawn."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from quant_core import errors, reasons
from quant_core.errors import QuantError
from quant_core.reasons import REGISTRY, ReasonRegistry

REPO = Path(__file__).resolve().parents[2]


def test_every_constant_is_registered_under_its_own_name() -> None:
    constants = {
        name: value
        for name, value in vars(reasons).items()
        if name.isupper() and isinstance(value, str)
    }
    assert constants
    for name, value in constants.items():
        assert value == name
        assert REGISTRY.describe(value)


def test_no_code_is_registered_twice_anywhere_in_the_source() -> None:
    """A static scan, so it also sees modules no test happens to import."""
    seen: dict[str, Path] = {}
    for path in sorted((REPO / "packages").rglob("*.py")) + sorted((REPO / "apps").rglob("*.py")):
        source = path.read_text()
        if "declare_codes(globals())" not in source:
            continue
        for node in ast.parse(source).body:
            if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)):
                continue
            code = node.targets[0].id if isinstance(node.targets[0], ast.Name) else ""
            if code.isupper() and isinstance(node.value.value, str):
                assert code not in seen, f"{code} declared in {seen.get(code)} and {path}"
                seen[code] = path
    assert set(seen) >= set(REGISTRY)


def test_declare_codes_binds_names_and_refuses_a_second_declaration() -> None:
    registry = ReasonRegistry()
    space: dict[str, object] = {"FIRST_CODE": "Documented.", "REGISTRY": registry, "x": "y"}
    reasons.declare_codes(space, registry)
    assert space == {"FIRST_CODE": "FIRST_CODE", "REGISTRY": registry, "x": "y"}
    assert registry.describe("FIRST_CODE") == "Documented."
    with pytest.raises(ValueError, match="already"):
        reasons.declare_codes({"FIRST_CODE": "Again."}, registry)


def test_registry_refuses_duplicates_and_malformed_codes() -> None:
    registry = ReasonRegistry()
    assert registry.register("SOME_CODE", "documented") == "SOME_CODE"
    with pytest.raises(ValueError, match="already"):
        registry.register("SOME_CODE", "again")
    with pytest.raises(ValueError, match="UPPER"):
        registry.register("lower_code", "doc")
    with pytest.raises(ValueError, match="documentation"):
        registry.register("OTHER_CODE", "  ")
    assert list(registry) == ["SOME_CODE"]
    assert len(registry) == 1
    assert registry["SOME_CODE"] == "documented"


def _error_classes() -> list[type[QuantError]]:
    return [
        obj for obj in vars(errors).values() if inspect.isclass(obj) and issubclass(obj, QuantError)
    ]


def test_the_docstring_draws_every_error_class_under_its_parent() -> None:
    tree = re.compile(r"^( +(?:[│ ]*[├└]── )?)([A-Z]\w+)\s{2,}", re.MULTILINE)
    depth = {m.group(2): len(m.group(1)) for m in tree.finditer(errors.__doc__ or "")}
    for cls in _error_classes():
        assert cls.__name__ in depth, f"{cls.__name__} is missing from the drawn tree"
        if cls is not QuantError:
            parent = cls.__mro__[1].__name__
            assert depth[cls.__name__] > depth[parent], cls


def test_exit_codes_follow_the_branches() -> None:
    for cls in _error_classes():
        if issubclass(cls, errors.RejectedError):
            assert cls.exit_code == 3
        elif issubclass(cls, errors.QuantUsageError):
            assert cls.exit_code == 2
        else:
            assert cls.exit_code == 1
        assert cls.default_reason in REGISTRY


def test_errors_carry_their_reason_code() -> None:
    exc = errors.ValidationError("bad thing", reason_code=reasons.BAR_INVALID)
    assert str(exc) == "[BAR_INVALID] bad thing"
    assert exc.to_dict() == {
        "ok": False,
        "error": "ValidationError",
        "reason_code": "BAR_INVALID",
        "message": "bad thing",
        "exit_code": 3,
    }
    chain = errors.AuditChainError("broken", line=4)
    assert chain.line == 4
    assert chain.reason_code == reasons.AUDIT_CHAIN_BROKEN
    with pytest.raises(ValueError, match="unregistered"):
        errors.QuantError("x", reason_code="NOT_A_REGISTERED_CODE")

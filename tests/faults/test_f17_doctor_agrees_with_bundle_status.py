"""Finding 17: ``quant doctor`` and ``quant bundle status`` name the same active bundle.

Doctor used to verify only the shipped release ("1.0.0 verified") while ``bundle status``
said "active none". Now doctor's ``model bundle`` check also reads (read-only) the bundle
active in the default install root ``<data dir>/bundles``: before ``quant bundle activate``
both say none and doctor warns with that next step; after it both name the same version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app

runner = CliRunner()


def _json(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def _bundle_check(report: dict[str, Any]) -> dict[str, Any]:
    (check,) = [c for c in report["checks"] if c["name"] == "model bundle"]
    return dict(check)


def test_doctor_and_bundle_status_name_the_same_active_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    monkeypatch.setenv("QUANT_DATA_DIR", str(data))
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    for var in ("QUANT_BUNDLE_SOURCE", "QUANT_BUNDLE_KEYS"):
        monkeypatch.delenv(var, raising=False)
    # Before: nothing is active; doctor says so (a warning with the next step), as status does.
    status = _json("bundle", "status")
    doctor = _json("doctor")
    assert status["active_version"] is None
    assert doctor["bundle"]["verified"] is True
    assert doctor["bundle"]["active"] == {"root": str(data / "bundles"), "active_version": None}
    check = _bundle_check(doctor)
    assert check["status"] == "warn"
    assert "no bundle active" in check["detail"]
    assert "quant bundle activate" in check["detail"]
    assert doctor["ok"] is True  # an installable verified release is not a broken install
    assert not data.exists(), "doctor and bundle status must not create anything"
    # After a real activation into the isolated data dir: both name the same version.
    activated = _json("bundle", "activate")
    status = _json("bundle", "status")
    doctor = _json("doctor")
    assert activated["loaded"] is True
    version = status["active_version"]
    assert version is not None
    assert doctor["bundle"]["active"]["active_version"] == version
    check = _bundle_check(doctor)
    assert check["status"] == "ok"
    assert f"bundle {version} active" in check["detail"]
    human = runner.invoke(app, ["doctor"])
    assert f"bundle {version} active" in human.stdout

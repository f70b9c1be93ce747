"""Finding 16: no session starts from an untrained model by default.

``QUANT_REQUIRE_BUNDLE`` is on unless it says otherwise: with the variable unset a missing or
tampered bundle stops ``quant demo``, ``quant paper`` and the runtime's startup with its reason
code, before any decision is written. ``QUANT_REQUIRE_BUNDLE=0`` is the development opt-out,
and choosing it is logged (decision 0083).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.models.activation import startup_model
from quant_apps.runtime.models.bundles import require_bundle
from quant_bundle import BundleRejectedError

runner = CliRunner()


@pytest.fixture
def no_bundle(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A user's shell: no QUANT_REQUIRE_BUNDLE, and no bundle where the shipped one should be."""
    monkeypatch.delenv("QUANT_REQUIRE_BUNDLE", raising=False)
    monkeypatch.setenv("QUANT_BUNDLE_SOURCE", str(tmp_path / "no-bundle"))
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def test_require_is_the_default_and_the_opt_out_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        assert require_bundle({}) is True
        assert require_bundle({"QUANT_REQUIRE_BUNDLE": ""}) is True
        assert not caplog.records
        assert require_bundle({"QUANT_REQUIRE_BUNDLE": "0"}) is False
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "development opt-out" in record.getMessage()


def test_startup_without_a_bundle_stops_by_default(no_bundle: Path) -> None:
    with pytest.raises(BundleRejectedError) as caught:
        startup_model(no_bundle / "state", {"QUANT_BUNDLE_SOURCE": str(no_bundle / "none")})
    assert caught.value.reason_code == "BUNDLE_MISSING"


def test_the_demo_stops_without_a_bundle_and_says_how_to_go_on(no_bundle: Path) -> None:
    out = no_bundle / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--bars", "24", "--json"])
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (3, "BUNDLE_MISSING")
    assert "QUANT_REQUIRE_BUNDLE=0" in doc["message"]
    assert not (out / "decisions.jsonl").exists()
    assert not (out / "store.sqlite").exists()


def test_the_demo_runs_without_a_model_only_when_opted_out(
    no_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    out = no_bundle / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--bars", "24", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["bundle"]["active"] is False
    assert doc["backtest"]["model_id"].startswith("none:")


def test_paper_stops_without_a_bundle_by_default(no_bundle: Path) -> None:
    args = ["paper", "--provider", "kraken", "--symbols", "BTC", "--out", str(no_bundle / "p")]
    result = runner.invoke(app, [*args, "--cycles", "1", "--json"])
    doc = json.loads(result.stdout)
    assert (result.exit_code, doc["reason_code"]) == (3, "BUNDLE_MISSING")
    assert not (no_bundle / "p" / "decisions.jsonl").exists()

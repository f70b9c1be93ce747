"""The ``quant`` command: conventions, --version, doctor and audit verify."""

from __future__ import annotations

import importlib.metadata as md
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime import config, doctor
from quant_core import SimClock, reasons
from quant_core.audit import AuditLog
from quant_core.errors import StorageError, ValidationError
from quant_core.settings import Settings

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("isolated_env")


def test_version_lists_every_package() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(lines) == set(doctor.QUANT_PACKAGES)
    for name, version in lines.items():
        assert version == md.version(name)


def test_doctor_json_reports_the_environment(tmp_path: Path) -> None:
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["python"]["version"].startswith("3.")
    assert report["packages"] == {name: md.version(name) for name in doctor.QUANT_PACKAGES}
    # No package installs torch (0061); the test command adds its CPU build by hand (0120).
    import importlib.util

    if importlib.util.find_spec("torch") is None:
        assert report["torch"] == {"installed": False, "version": None, "build": None, "cuda": None}
    else:
        assert report["torch"]["installed"] is True
        assert report["torch"]["build"] == "cpu"
        assert report["torch"]["version"] == md.version("torch")
    assert report["data_dir"]["path"] == str(tmp_path / "data")
    assert report["database_url"] == f"sqlite:///{tmp_path / 'data' / 'quant.db'}"
    assert "backend" in report["keyring"]
    assert {c["name"] for c in report["checks"]} >= {"settings", "python", "packages", "torch"}
    assert not (tmp_path / "data").exists(), "doctor must not create anything"


def test_doctor_human_output_goes_to_stdout() -> None:
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0
    assert result.stderr == ""  # the report can be piped
    assert "quant-core" in result.stdout


def test_doctor_redacts_database_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUANT_DATABASE_URL", "postgresql://quant:pa55word@db:5432/quant")
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0
    assert "pa55word" not in result.output
    assert json.loads(result.stdout)["database_url"] == "postgresql://quant:***@db:5432/quant"


def test_doctor_rejects_invalid_settings_with_exit_3(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_CONTINUOUS_INGESTION", "perhaps")
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["reason_code"] == reasons.SETTINGS_INVALID


def test_usage_errors_exit_2() -> None:
    assert runner.invoke(app, ["no-such-command"]).exit_code == 2
    assert runner.invoke(app, ["doctor", "--no-such-flag"]).exit_code == 2
    assert runner.invoke(app, ["audit", "verify", "missing.jsonl"]).exit_code == 2


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (StorageError("disk on fire"), 1, reasons.IO_FAILURE),
        (ValidationError("bad", reason_code=reasons.BAR_INVALID), 3, reasons.BAR_INVALID),
        (RuntimeError("unexpected"), 1, reasons.INTERNAL_ERROR),
    ],
)
def test_failures_map_to_exit_codes_and_reason_codes(
    monkeypatch: pytest.MonkeyPatch, error: Exception, code: int, reason: str
) -> None:
    def boom(env: dict[str, str] | None = None) -> dict[str, object]:
        raise error

    monkeypatch.setattr("quant_apps.cli.doctor_report", boom)
    result = runner.invoke(app, ["doctor", "--json"])
    assert result.exit_code == code
    document = json.loads(result.stdout)
    assert document["reason_code"] == reason
    assert document["ok"] is False
    human = runner.invoke(app, ["doctor"])
    assert human.exit_code == code
    assert human.stdout == ""  # an error is a diagnostic: stderr
    assert reason in human.stderr


def _log(tmp_path: Path, n: int = 3) -> Path:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, SimClock(5))
    for i in range(n):
        log.append("test.event", {"i": i})
    return path


def test_audit_verify_intact_log(tmp_path: Path) -> None:
    path = _log(tmp_path)
    result = runner.invoke(app, ["audit", "verify", str(path), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert report["records"] == 3
    human = runner.invoke(app, ["audit", "verify", str(path)])
    assert human.exit_code == 0
    assert "chain intact" in human.stdout


def test_audit_verify_tampered_log_exits_3(tmp_path: Path) -> None:
    path = _log(tmp_path)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(lines[0] + lines[1].replace(b'"i":1', b'"i":7') + lines[2])
    result = runner.invoke(app, ["audit", "verify", str(path), "--json"])
    assert result.exit_code == 3
    report = json.loads(result.stdout)
    assert report["reason_code"] == reasons.AUDIT_CHAIN_BROKEN
    assert report["first_bad_line"] == 2
    human = runner.invoke(app, ["audit", "verify", str(path)])
    assert human.exit_code == 3
    assert "line 2" in human.stdout


def test_audit_verify_expected_head(tmp_path: Path) -> None:
    path = _log(tmp_path)
    result = runner.invoke(
        app, ["audit", "verify", str(path), "--json", "--expected-head", "sha256:00"]
    )
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == reasons.AUDIT_CHAIN_BROKEN


def test_config_reads_dotenv_under_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(
        "HIST_MARKET_DATA_PROVIDER=KRAKEN_PUBLIC\nUNIVERSE_REFRESH_CRON=0 1 * * *\n"
    )
    monkeypatch.setenv("UNIVERSE_REFRESH_CRON", "0 2 * * *")
    settings = config.load_settings(config.environ(env_file))
    assert settings.hist_market_data_provider.value == "KRAKEN_PUBLIC"
    assert settings.universe_refresh_cron == "0 2 * * *"
    assert config.load_settings().universe_refresh_cron == "0 2 * * *"
    assert config.environ(None)["UNIVERSE_REFRESH_CRON"] == "0 2 * * *"


def test_default_data_dir_is_the_user_data_dir() -> None:
    import platformdirs

    assert config.data_dir(Settings()) == Path(platformdirs.user_data_dir("quant", appauthor=False))


def test_the_console_script_runs_as_a_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "quant_apps", "doctor", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_doctor_reports_a_torch_installed_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib
    import importlib.util
    import types

    cpu = types.SimpleNamespace(
        __version__="2.13.0+cpu",
        version=types.SimpleNamespace(cuda=None),
        cuda=types.SimpleNamespace(is_available=lambda: False),
        get_num_threads=lambda: 4,
    )
    real_find_spec = importlib.util.find_spec
    real_import = importlib.import_module

    def find_spec(name: str, *args: object) -> object:
        return object() if name == "torch" else real_find_spec(name)

    def import_module(name: str, *args: object) -> object:
        return cpu if name == "torch" else real_import(name)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    monkeypatch.setattr(importlib, "import_module", import_module)
    report = json.loads(runner.invoke(app, ["doctor", "--json"]).stdout)
    assert report["torch"] == {
        "installed": True,
        "version": "2.13.0+cpu",
        "build": "cpu",
        "cuda": None,
        "cuda_available": False,
        "threads": 4,
    }
    assert {c["name"]: c["status"] for c in report["checks"]}["torch"] == "ok"


def test_doctor_reports_missing_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import keyring

    real_find_spec = importlib.util.find_spec

    def no_torch(name: str, *args: object) -> object:
        return None if name == "torch" else real_find_spec(name)

    def broken_keyring() -> object:
        raise RuntimeError("no backend")

    monkeypatch.setattr(importlib.util, "find_spec", no_torch)
    monkeypatch.setattr(keyring, "get_keyring", broken_keyring)
    monkeypatch.setattr(doctor, "QUANT_PACKAGES", (*doctor.QUANT_PACKAGES, "quant-missing"))
    result = runner.invoke(app, ["doctor", "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1
    assert report["ok"] is False
    assert report["packages"]["quant-missing"] is None
    assert report["torch"] == {"installed": False, "version": None, "build": None, "cuda": None}
    assert report["keyring"]["usable"] is False
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["packages"] == "fail"
    assert statuses["torch"] == "warn"
    assert statuses["keyring"] == "warn"
    assert "reason_code" not in report

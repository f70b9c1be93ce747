"""``quant bundle …``: every command, exit codes, JSON, keyring and QUANT_REQUIRE_BUNDLE."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.models.bundles import require_bundle
from quant_apps.runtime.models.releases import KEYRING_SERVICE
from quant_bundle import reasons
from quant_core.errors import QuantUsageError

runner = CliRunner()


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.store.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.store[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.store.pop((service, username), None)


pytestmark = pytest.mark.usefixtures("isolated_env")


def _run(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["bundle", *args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def _artifacts(tmp: Path, version: str) -> Path:
    src = tmp / f"art-{version}"
    src.mkdir()
    (src / "model.json").write_text(json.dumps({"v": version}))
    return src


def _setup(tmp: Path) -> Path:
    code, doc = _run("keygen", "--out", str(tmp / "keys"), "--name", "release")
    assert code == 0, doc
    return Path(doc["private"])


def _build(tmp: Path, key: Path, version: str) -> Path:
    out = tmp / f"rel-{version}"
    code, doc = _run(
        "build",
        str(_artifacts(tmp, version)),
        "--version",
        version,
        "--sign-key",
        str(key),
        "--out",
        str(out),
    )
    assert code == 0, doc
    assert doc["version"] == version
    return out


def test_keygen_build_verify_install_status_rollback(tmp_path: Path) -> None:
    key = _setup(tmp_path)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (
        key.read_text()
        not in runner.invoke(app, ["bundle", "keygen", "--out", str(tmp_path / "k2")]).output
    )
    keys = ["--trusted-keys", str(tmp_path / "keys")]
    (tmp_path / "keys" / "release.key").rename(tmp_path / "release.key")  # private key elsewhere
    key = tmp_path / "release.key"
    r1, r2 = _build(tmp_path, key, "1.0.0"), _build(tmp_path, key, "1.1.0")
    assert sorted(p.name for p in r1.iterdir()) == [
        "bundle.tar.zst",
        "latest.json",
        "latest.sig",
        "manifest.json",
        "manifest.sig",
    ]
    code, doc = _run("build", "--validate", "--out", str(r1), *keys)
    assert code == 0
    assert doc["version"] == "1.0.0"
    code, doc = _run("verify", str(r1), *keys)
    assert code == 0
    assert "archive_digest" in doc["checks"]
    code, doc = _run("install", str(r1), *keys)
    assert code == 0
    assert doc["outcome"] == "installed"
    code, doc = _run("apply-update", str(r2), *keys, "--retention", "2")
    assert code == 0
    assert doc["version"] == "1.1.0"
    code, doc = _run("status", *keys)
    assert (doc["active_version"], doc["previous_version"], doc["floor_version"]) == (
        "1.1.0",
        "1.0.0",
        "1.1.0",
    )
    assert doc["root"] == str(tmp_path / "data" / "bundles")
    code, doc = _run("check-update", str(r2), *keys)
    assert code == 0
    assert doc["available"] is False
    code, doc = _run("check", *keys)
    assert code == 0
    assert doc["loaded"]
    assert doc["version"] == "1.1.0"
    code, doc = _run("rollback", *keys)
    assert code == 0
    assert doc["version"] == "1.0.0"
    # Rejections exit 3 with the reason code and change nothing.
    code, doc = _run("install", str(r1), *keys)
    assert code == 3
    assert doc["reason_code"] == reasons.ROLLBACK
    code, doc = _run("rollback", *keys)
    assert code == 3
    assert doc["reason_code"] == reasons.NO_ROLLBACK_TARGET
    code, doc = _run("status", *keys)
    assert doc["active_version"] == "1.0.0"


def test_rejections_exit_3(tmp_path: Path) -> None:
    key = _setup(tmp_path)
    keys = ["--trusted-keys", str(tmp_path / "keys")]
    rel = _build(tmp_path, key, "1.0.0")
    data = bytearray((rel / "bundle.tar.zst").read_bytes())
    data[10] ^= 1
    (rel / "bundle.tar.zst").write_bytes(bytes(data))
    for cmd in (
        ["verify", str(rel)],
        ["install", str(rel)],
        ["build", "--validate", "--out", str(rel)],
    ):
        code, doc = _run(*cmd, *keys)
        assert (code, doc["reason_code"]) == (3, reasons.ARCHIVE_DIGEST_MISMATCH), cmd
    code, doc = _run("check-update", str(tmp_path / "nowhere"), *keys)
    assert (code, doc["reason_code"]) == (3, reasons.BUNDLE_MISSING)
    code, doc = _run("verify", str(rel), "--trusted-keys", str(tmp_path / "empty"))
    assert (code, doc["reason_code"]) == (3, reasons.BUNDLE_MISSING)
    code, doc = _run(
        "install", str(_build(tmp_path, key, "2.0.0")), *keys, "--feature-schema-hash", "sha256:11"
    )
    assert (code, doc["reason_code"]) == (3, reasons.INCOMPATIBLE_FEATURE_SCHEMA)
    code, _ = _run("build", "--out", str(tmp_path / "x"))
    assert code == 2
    code, _ = _run("build")
    assert code == 2


def test_require_bundle_flag_both_modes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup(tmp_path)
    keys = ["--trusted-keys", str(tmp_path / "keys")]
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    code, doc = _run("check", *keys)
    assert code == 0
    assert doc["fallback"]
    assert doc["reason_code"] == reasons.BUNDLE_MISSING
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    code, doc = _run("check", *keys)
    assert code == 3
    assert doc["reason_code"] == reasons.BUNDLE_MISSING
    result = runner.invoke(app, ["bundle", "check", *keys])
    assert result.exit_code == 3
    assert "BUNDLE_MISSING" in result.stderr
    assert require_bundle({"QUANT_REQUIRE_BUNDLE": "true"})
    assert require_bundle({})  # on by default (decision 0083)
    assert not require_bundle({"QUANT_REQUIRE_BUNDLE": "off"})
    with pytest.raises(QuantUsageError):
        require_bundle({"QUANT_REQUIRE_BUNDLE": "maybe"})


def test_keyring_keygen_and_build(tmp_path: Path) -> None:
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        code, doc = _run("keygen", "--out", str(tmp_path / "keys"), "--keyring", "--name", "ops")
        assert code == 0
        assert doc["private"] == "keyring:ops"
        assert not (tmp_path / "keys" / "ops.key").exists()
        secret = backend.store[(KEYRING_SERVICE, "ops")]
        assert secret not in json.dumps(doc)
        out = tmp_path / "rel"
        code, doc = _run(
            "build",
            str(_artifacts(tmp_path, "1.0.0")),
            "--version",
            "1.0.0",
            "--sign-key",
            "keyring:ops",
            "--out",
            str(out),
        )
        assert code == 0
        code, doc = _run(
            "build",
            str(_artifacts(tmp_path, "1.0.1")),
            "--version",
            "1.0.1",
            "--sign-key",
            "keyring:nobody",
            "--out",
            str(out),
        )
        assert (code, doc["reason_code"]) == (3, reasons.KEY_FILE_INVALID)
        code, doc = _run("verify", str(out), "--trusted-keys", str(tmp_path / "keys"))
        assert code == 0
        for path in tmp_path.rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes()
    finally:
        keyring.set_keyring(previous)


def test_keyring_unavailable_fails_closed(tmp_path: Path) -> None:
    import keyring.backends.fail

    previous = keyring.get_keyring()
    keyring.set_keyring(keyring.backends.fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        code, doc = _run("keygen", "--out", str(tmp_path / "keys"), "--keyring")
        assert (code, doc["reason_code"]) == (1, reasons.KEYCHAIN_UNAVAILABLE)
        assert not (tmp_path / "keys").exists()
        code, doc = _run(
            "build",
            str(_artifacts(tmp_path, "1.0.0")),
            "--version",
            "1.0.0",
            "--sign-key",
            "keyring:x",
            "--out",
            str(tmp_path / "rel"),
        )
        assert (code, doc["reason_code"]) == (1, reasons.KEYCHAIN_UNAVAILABLE)
    finally:
        keyring.set_keyring(previous)


def test_build_metadata_file(tmp_path: Path) -> None:
    key = _setup(tmp_path)
    meta = tmp_path / "meta.json"
    meta.write_text(
        json.dumps(
            {
                "model_family_versions": {"xgb": "2.1.0"},
                "training_lineage_metadata": {"seed": 7, "dataset_hash": "sha256:aa"},
                "inference_contract": {"inputs": "features/v1", "outputs": ["p_up_1h"]},
            }
        )
    )
    out = tmp_path / "rel"
    code, doc = _run(
        "build",
        str(_artifacts(tmp_path, "1.0.0")),
        "--version",
        "1.0.0",
        "--sign-key",
        str(key),
        "--out",
        str(out),
        "--metadata",
        str(meta),
    )
    assert code == 0, doc
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training_lineage_metadata"]["seed"] == 7
    meta.write_text(json.dumps({"bogus": 1}))
    code, _ = _run(
        "build",
        str(_artifacts(tmp_path, "1.0.1")),
        "--version",
        "1.0.1",
        "--sign-key",
        str(key),
        "--out",
        str(out),
        "--metadata",
        str(meta),
    )
    assert code == 2
    code, _ = _run(
        "build",
        str(_artifacts(tmp_path, "1.0.2")),
        "--version",
        "1.0.2",
        "--sign-key",
        str(key),
        "--out",
        str(out),
        "--metadata",
        str(tmp_path / "none"),
    )
    assert code == 2


def test_human_output_and_real_process(tmp_path: Path) -> None:
    key = _setup(tmp_path)
    rel = _build(tmp_path, key, "1.0.0")
    keys = ["--trusted-keys", str(tmp_path / "keys")]
    for args in (
        ["verify", str(rel)],
        ["install", str(rel)],
        ["status"],
        ["check"],
        ["check-update", str(rel)],
        ["build", "--validate", "--out", str(rel)],
    ):
        result = runner.invoke(app, ["bundle", *args, *keys])
        assert result.exit_code == 0, args
        assert result.stdout  # the result can be piped
        assert result.stderr == ""
    env = {**os.environ, "QUANT_REQUIRE_BUNDLE": "1", "QUANT_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run(
        [sys.executable, "-m", "quant_apps", "bundle", "check", "--json", *keys],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["version"] == "1.0.0"


def test_the_shipped_keys_are_the_default_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    from quant_apps.runtime.models import bundles

    # From any working directory (the fixture moved it into tmp_path), a release verifies
    # against the checkout's committed public keys unless --trusted-keys says otherwise.
    monkeypatch.delenv("QUANT_BUNDLE_KEYS", raising=False)
    shipped = bundles.shipped_bundle_dir({})
    code, doc = _run("verify", str(shipped))
    assert code == 0, doc
    committed = sorted(p.stem for p in bundles.shipped_keys_dir({}).glob("*.pub"))
    assert committed, "no public key is committed under bundles/keys"
    assert len(doc["signers"]) == 1
    assert doc["ok"] is True
    assert "archive_digest" in doc["checks"]

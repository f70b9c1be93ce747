"""Finding 17: every bundle command says what is really active and what to do next.

With nothing installed, ``bundle status`` and ``bundle check`` point to ``quant bundle
activate``. After install 1.0.0, 1.0.1 and a rollback to 1.0.0: ``bundle install 1.0.1``
says 1.0.0 is active and a newer version is needed, ``bundle activate 1.0.1`` says the release
was not activated and which bundle is, and ``check-update`` does not claim "up to date".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.quant_apps import _bundles
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_bundle import MANIFEST_NAME, parse_manifest, reasons
from quant_bundle.keys import generate_key, write_keypair
from quant_bundle.update import write_pointer

HINT = "quant bundle activate"


def _bundle(root: Path, keys: Path, *args: str) -> tuple[int, str]:
    out = CliRunner().invoke(
        app, ["bundle", *args, "--root", str(root), "--trusted-keys", str(keys)]
    )
    return out.exit_code, out.output


def test_after_a_rollback_every_command_names_the_active_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    r100, keys = _bundles.make_release(tmp_path, name="r100")
    r101, _ = _bundles.release_from_artifacts(
        tmp_path / "r100-artifacts", tmp_path / "r101", keys, version="1.0.1", key_name="two"
    )
    pointer_key = generate_key(seed=b"\x07" * 32)
    write_keypair(pointer_key, keys, "pointer", private=False)
    for release in (r100, r101):
        manifest = parse_manifest((release / MANIFEST_NAME).read_bytes())
        write_pointer(release, manifest, [pointer_key], expires_ns=2**62, pointer_version=1)
    root = tmp_path / "root"
    # Nothing installed: status and check point to `quant bundle activate`.
    code, text = _bundle(root, keys, "status")
    assert (code, "active none") == (0, text[: len("active none")])
    assert HINT in text
    code, text = _bundle(root, keys, "check")
    assert code == 3
    assert reasons.BUNDLE_MISSING in text
    assert HINT in text
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    code, text = _bundle(root, keys, "check")
    assert code == 0
    assert HINT in text
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    # Install 1.0.0, then 1.0.1, then roll back.
    assert _bundle(root, keys, "activate", str(r100))[0] == 0
    code, text = _bundle(root, keys, "activate", str(r101))
    assert code == 0
    assert "bundle 1.0.1 active" in text
    assert _bundle(root, keys, "rollback")[0] == 0
    code, text = _bundle(root, keys, "status")
    assert text.startswith("active 1.0.0")
    assert HINT not in text
    # install 1.0.1: refused, and says what is active and what to do.
    code, text = _bundle(root, keys, "install", str(r101))
    assert code == 3
    assert reasons.ALREADY_INSTALLED in text
    assert "bundle 1.0.0 is active" in text
    assert "install a newer version" in text
    # activate 1.0.1: the release is not activated, and the output says so.
    code, text = _bundle(root, keys, "activate", str(r101))
    assert code == 0
    assert f"release not activated [{reasons.ALREADY_INSTALLED}]" in text
    assert "bundle 1.0.0 active" in text
    code, text = _bundle(root, keys, "activate", str(r101), "--json")
    assert json.loads(text)["kept_reason_code"] == reasons.ALREADY_INSTALLED
    # check-update: not "up to date" while 1.0.0 is active.
    code, text = _bundle(root, keys, "check-update", str(r101))
    assert code == 0, text
    assert "up to date" not in text
    assert "bundle 1.0.0 is active" in text
    # Once the offered version is the active one, it is up to date.
    code, text = _bundle(root, keys, "check-update", str(r100))
    assert code == 3  # 1.0.0 is below the floor 1.0.1
    assert reasons.ROLLBACK in text

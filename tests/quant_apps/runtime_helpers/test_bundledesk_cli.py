"""``quant bundle`` over the bundle desk: human texts after an update and a rollback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app

pytestmark = pytest.mark.usefixtures("isolated_env")


def _bundle(*args: str) -> str:
    result = CliRunner().invoke(app, ["bundle", *args])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_update_rollback_and_the_floor_in_words(tmp_path: Path) -> None:
    key = json.loads(_bundle("keygen", "--out", str(tmp_path / "keys"), "--json"))["private"]
    keys = ["--trusted-keys", str(tmp_path / "keys")]
    releases = {}
    for version in ("1.0.0", "2.0.0"):
        art = tmp_path / f"art-{version}"
        art.mkdir()
        (art / "model.json").write_text(json.dumps({"v": version}))
        releases[version] = str(tmp_path / f"rel-{version}")
        _bundle("build", str(art), "--version", version, "--sign-key", key,
                "--out", releases[version])  # fmt: skip
    assert (
        _bundle("check-update", releases["1.0.0"], *keys) == "update 1.0.0 available (active None)"
    )
    assert _bundle("apply-update", releases["1.0.0"], *keys) == "updated to bundle 1.0.0"
    assert _bundle("check-update", releases["1.0.0"], *keys) == "up to date (1.0.0 active)"
    _bundle("apply-update", releases["2.0.0"], *keys, "--retention", "2")
    assert _bundle("rollback", *keys) == "rolled back to bundle 1.0.0"
    assert _bundle("check-update", releases["2.0.0"], *keys).startswith(
        "no update: 2.0.0 is at the version floor but bundle 1.0.0 is active (rolled back)"
    )
    assert _bundle("status", *keys).startswith("active 1.0.0, previous none, floor 2.0.0")

"""The vendored web assets are exactly what VENDORED.json records, each with its licence.

``scripts/vendor-assets`` fetched them from the npm registry and checked each tarball against
the registry's ``dist.integrity``; this checks that nothing changed since and that every
package ships its licence text next to its files (inside the installed package).
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib import resources
from typing import Any

VENDOR = resources.files("quant_apps.serve").joinpath("static/vendor")


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(VENDOR.joinpath("VENDORED.json").read_text("utf-8"))
    return doc


def test_vendored_files_match_their_record() -> None:
    packages = {p["name"]: p for p in _doc()["packages"]}
    assert set(packages) == {"htmx.org", "lightweight-charts"}
    assert re.fullmatch(r"2\.0\.\d+", packages["htmx.org"]["version"])
    assert re.fullmatch(r"5\.\d+\.\d+", packages["lightweight-charts"]["version"])
    for package in packages.values():
        assert package["integrity"].startswith("sha512-")
        assert package["files"]
        for entry in package["files"]:
            data = VENDOR.joinpath(entry["path"]).read_bytes()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
            assert len(data) == entry["bytes"]


def test_every_package_ships_its_licence() -> None:
    expected = {
        "htmx.org": ("0BSD", "Zero-Clause BSD"),
        "lightweight-charts": ("Apache-2.0", "Apache License"),
    }
    for package in _doc()["packages"]:
        licence, words = expected[package["name"]]
        assert package["license"] == licence
        assert package["license_file"] in {f["path"] for f in package["files"]}
        assert words in VENDOR.joinpath(package["license_file"]).read_text("utf-8")

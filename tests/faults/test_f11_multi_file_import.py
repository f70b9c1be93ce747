"""Finding 11: a multi-file import is all or nothing.

The attack: ``quant data import good1 good2 bad`` committed the two good files and then failed
on the third. Every file is now read and parsed before the first store write, so a bad file
anywhere in the list leaves the store unchanged (exit 3 with the file's reason code). Should
the store itself fail part-way (a write error injected under ``Store.ingest_page``), the
error (exit 1, ``STORE_ERROR``) names the files committed before it and those not written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_data import FetchedPage, IngestResult, Store, StoreError

runner = CliRunner()
HOUR = 3600
START = 1_700_000_000 // HOUR * HOUR


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    return f"sqlite:///{tmp_path / 'store.db'}"


def _hourly(path: Path, first: int, hours: int = 3) -> Path:
    rows = (f"{first + h * HOUR},1,2,0.5,1.5,10,3" for h in range(hours))
    path.write_text("\n".join(rows) + "\n")
    return path


def _import(url: str, *paths: Path, code: int) -> Any:
    args = ["data", "import", *map(str, paths), "--database-url", url, "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("bad_name", "bad_text", "reason"),
    [
        ("SOLUSD_60.csv", f"{START * 1000},1,2,0.5,1.5,10,3\n", "IMPORT_FILE_INVALID"),
        ("notes.csv", "hello, world\n", "IMPORT_FORMAT_UNKNOWN"),
    ],
)
def test_a_bad_file_last_leaves_the_store_unchanged(
    tmp_path: Path, url: str, bad_name: str, bad_text: str, reason: str
) -> None:
    good = [_hourly(tmp_path / "XBTUSD_60.csv", START), _hourly(tmp_path / "ETHUSD_60.csv", START)]
    bad = tmp_path / bad_name
    bad.write_text(bad_text)
    refused = _import(url, *good, bad, code=3)
    assert refused["reason_code"] == reason
    assert bad.name in refused["message"]
    # Nothing was committed: importing the good files alone now finds every bar new.
    doc = _import(url, *good, code=0)
    assert [f["bars_new"] for f in doc["files"]] == [3, 3]


def test_a_store_failure_part_way_names_what_was_committed(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [_hourly(tmp_path / f"{pair}_60.csv", START) for pair in ("XBTUSD", "ETHUSD", "SOLUSD")]
    real = Store.ingest_page
    calls: list[str] = []

    def ingest_then_fail(self: Store, page: FetchedPage, **kwargs: Any) -> IngestResult:
        calls.append(page.raw.request)
        if len(calls) == 2:
            raise StoreError("database write failed: disk I/O error (injected)")
        return real(self, page, **kwargs)

    monkeypatch.setattr(Store, "ingest_page", ingest_then_fail)
    failed = _import(url, *paths, code=1)
    assert failed["reason_code"] == "STORE_ERROR"
    assert failed["message"] == (
        "database write failed: disk I/O error (injected); committed before the failure: "
        f"{paths[0]}; not written: {paths[1]}, {paths[2]}"
    )
    monkeypatch.setattr(Store, "ingest_page", real)
    again = _import(url, *paths, code=0)
    assert [f["bars_new"] for f in again["files"]] == [0, 3, 3]


def test_a_store_failure_on_the_first_file_commits_none(
    tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _hourly(tmp_path / "XBTUSD_60.csv", START)

    def fail(self: Store, page: FetchedPage, **kwargs: Any) -> IngestResult:
        raise StoreError("database write failed (injected)")

    monkeypatch.setattr(Store, "ingest_page", fail)
    failed = _import(url, path, code=1)
    assert failed["message"].endswith(f"committed before the failure: none; not written: {path}")

"""Finding 3: a decompression bomb is refused by a streamed, size-capped gunzip.

The attack: a 3 MiB ``.csv.gz`` that expands to 3 GiB ended in an untyped ``MemoryError``
after minutes. The importer now reads at most the bound (``MAX_IMPORT_BYTES`` + 1 bytes) of a
file and inflates gzip in a stream that stops once its output passes the same bound, refusing
with ``IMPORT_FILE_TOO_LARGE``. The library tests lower the bound to 64 KiB (``max_bytes``)
and feed a generated bomb (8 MiB of CSV rows in about 30 KiB); the CLI test feeds a bomb past
the default 256 MiB bound, generated in a stream (a few hundred KiB on disk).
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import NS_PER_SECOND, SimClock
from quant_core.errors import ValidationError
from quant_data import detect_format, import_file

CAP = 64 * 1024
CLOCK = SimClock(1_800_000_000 * NS_PER_SECOND)
ROW = b"1700000000,1,2,0.5,1.5,10,3\n"
REAL_DECOMPRESSOBJ = zlib.decompressobj


def _bomb(tmp_path: Path) -> Path:
    path = tmp_path / "XBTUSD_60.csv.gz"
    path.write_bytes(gzip.compress(ROW * (8 * 1024 * 1024 // len(ROW)), compresslevel=9))
    return path


class _Inflater:
    """A zlib inflater that records how many bytes it handed out."""

    produced = 0

    def __init__(self, wbits: int) -> None:
        self._inner = REAL_DECOMPRESSOBJ(wbits)

    def decompress(self, data: bytes, max_length: int) -> bytes:
        out = self._inner.decompress(data, max_length)
        _Inflater.produced += len(out)
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_a_bomb_is_refused_after_inflating_no_more_than_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bomb = _bomb(tmp_path)
    assert bomb.stat().st_size < CAP
    monkeypatch.setattr(zlib, "decompressobj", _Inflater)
    for attempt in (
        lambda: import_file(bomb, clock=CLOCK, max_bytes=CAP),
        lambda: detect_format(bomb, max_bytes=CAP),
    ):
        _Inflater.produced = 0
        with pytest.raises(ValidationError, match=f"decompresses to more than {CAP} bytes") as e:
            attempt()
        assert e.value.reason_code == "IMPORT_FILE_TOO_LARGE"
        assert _Inflater.produced == CAP + 1


def test_a_stored_file_over_the_bound_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "XBTUSD_60.csv"
    big.write_bytes(ROW * (CAP // len(ROW) + 1))
    with pytest.raises(ValidationError, match=f"holds more than {CAP} bytes") as info:
        import_file(big, clock=CLOCK, max_bytes=CAP)
    assert info.value.reason_code == "IMPORT_FILE_TOO_LARGE"


def test_files_within_the_bound_still_import(tmp_path: Path) -> None:
    rows = ROW + b"1700003600,1,2,0.5,1.5,10,3\n"
    members = tmp_path / "XBTUSD_60.csv.gz"
    members.write_bytes(gzip.compress(ROW) + gzip.compress(rows[len(ROW) :]) + b"\0\0\0\0")
    assert len(import_file(members, clock=CLOCK, max_bytes=CAP).bars) == 2
    exact = tmp_path / "ETHUSD_60.csv"
    exact.write_bytes((ROW * (CAP // len(ROW) + 1))[:CAP])
    assert import_file(exact, clock=CLOCK, max_bytes=CAP).skipped[-1].startswith("row ")


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (gzip.compress(ROW * 100)[:-30], "the stream ends early"),
        (b"\x1f\x8b" + b"garbage" * 10, "not valid gzip: .*unknown compression method"),
    ],
)
def test_bad_gzip_is_invalid_not_too_large(tmp_path: Path, payload: bytes, why: str) -> None:
    path = tmp_path / "XBTUSD_60.csv.gz"
    path.write_bytes(payload)
    with pytest.raises(ValidationError, match=why) as info:
        import_file(path, clock=CLOCK, max_bytes=CAP)
    assert info.value.reason_code == "IMPORT_FILE_INVALID"


def test_cli_refuses_a_bomb_past_the_default_bound_with_exit_3_and_a_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    bomb = tmp_path / "XBTUSD_60.csv.gz"
    block = ROW * (1024 * 1024 // len(ROW))
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with bomb.open("wb") as out:
        for _ in range(257):
            out.write(deflate.compress(block))
        out.write(deflate.flush())
    assert bomb.stat().st_size < 1024 * 1024
    url = f"sqlite:///{tmp_path / 'store.db'}"
    args = ["data", "import", str(bomb), "--database-url", url, "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["reason_code"] == "IMPORT_FILE_TOO_LARGE"

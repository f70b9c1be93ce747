"""Finding 4: epoch timestamps in ms, µs or ns are refused naming the column and the unit.

The attack: a Kraken OHLCVT file whose ``time`` column holds unix milliseconds crashed
``quant data import`` with ``INTERNAL_ERROR`` ("Python int too large to convert to SQLite
INTEGER"). Every importable format that carries epoch integers (Kraken OHLCVT, Kraken trades,
a freqtrade feather whose ``date`` is an integer or a timestamp out of range) now refuses the
file with ``IMPORT_FILE_INVALID``, and the CLI exits 3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.feather as feather
import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import NS_PER_SECOND, SimClock
from quant_core.errors import ValidationError
from quant_data import import_file

CLOCK = SimClock(1_800_000_000 * NS_PER_SECOND)
SECONDS = 1_700_000_000
UNITS = {
    "seconds past 2262-04-11": 10**10,
    "milliseconds": SECONDS * 10**3,
    "microseconds": SECONDS * 10**6,
    "nanoseconds": SECONDS * 10**9,
}


def _ohlcvt(tmp_path: Path, at: int) -> Path:
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text(f"{SECONDS},1,2,0.5,1.5,10,3\n{at},1,2,0.5,1.5,10,3\n")
    return path


def _trades(tmp_path: Path, at: int) -> Path:
    path = tmp_path / "XBTUSD.csv"
    path.write_text(f"{SECONDS},100.5,0.1\n{at}.5,101,0.2\n")
    return path


def _feather(tmp_path: Path, dates: pa.Array) -> Path:
    path = tmp_path / "BTC_USDT-1h.feather"
    columns = {name: pa.array([1.0] * len(dates)) for name in ("open", "high", "low", "close")}
    feather.write_feather(pa.table({"date": dates, **columns, "volume": [2.0] * len(dates)}), path)
    return path


def _refused(path: Path, column: str, unit: str) -> None:
    with pytest.raises(ValidationError, match=f"column '{column}' holds .*unix {unit}") as info:
        import_file(path, clock=CLOCK)
    assert info.value.reason_code == "IMPORT_FILE_INVALID"
    assert path.name in info.value.message


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_kraken_ohlcvt_time_in_another_unit_is_refused(tmp_path: Path, unit: str) -> None:
    _refused(_ohlcvt(tmp_path, UNITS[unit]), "time", unit)


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_kraken_trades_time_in_another_unit_is_refused(tmp_path: Path, unit: str) -> None:
    _refused(_trades(tmp_path, UNITS[unit]), "time", unit)


@pytest.mark.parametrize("unit", sorted(UNITS))
def test_feather_integer_date_in_another_unit_is_refused(tmp_path: Path, unit: str) -> None:
    _refused(_feather(tmp_path, pa.array([SECONDS, UNITS[unit]], pa.int64())), "date", unit)


def test_seconds_still_import_in_every_epoch_format(tmp_path: Path) -> None:
    hourly = import_file(_ohlcvt(tmp_path, SECONDS + 3600), clock=CLOCK)
    opens = [SECONDS * NS_PER_SECOND, (SECONDS + 3600) * NS_PER_SECOND]
    assert [b.open_time_ns for b in hourly.bars] == opens
    trades = import_file(_trades(tmp_path, SECONDS + 60), clock=CLOCK)
    assert len(trades.bars) == 2
    ints = pa.array([SECONDS, None, SECONDS + 3600], pa.int64())
    bars = import_file(_feather(tmp_path, ints), clock=CLOCK)
    assert [b.open_time_ns for b in bars.bars] == opens
    assert bars.skipped == ("row 2: no date",)


def test_feather_timestamp_out_of_nanosecond_range_is_refused(tmp_path: Path) -> None:
    far = pa.array([SECONDS, 10**12], pa.timestamp("s", tz="UTC"))
    with pytest.raises(ValidationError, match=r"column 'date' \(timestamp\[s, tz=UTC\]\)") as info:
        import_file(_feather(tmp_path, far), clock=CLOCK)
    assert info.value.reason_code == "IMPORT_FILE_INVALID"


def test_cli_refuses_a_millisecond_file_with_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    path = _ohlcvt(tmp_path, SECONDS * 1000)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    result = CliRunner().invoke(app, ["data", "import", str(path), "--database-url", url, "--json"])
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["reason_code"] == "IMPORT_FILE_INVALID"
    assert "column 'time' holds 1700000000000, which looks like unix milliseconds" in doc["message"]

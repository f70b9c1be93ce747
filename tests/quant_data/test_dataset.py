"""The dataset hand-off format: canonical bytes, hash pinning, atomic write, refusal."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from quant_core import Bar, Instrument, IntegrityError, Timeframe, ValidationError
from quant_data import Dataset, read_dataset, write_dataset
from quant_data.dataset import BARS_FILE, MANIFEST_FILE, decimal_text
from quant_data.reasons import DATASET_HASH_MISMATCH, DATASET_INVALID

H = Timeframe.H1.ns


def _bars(base: str = "BTC", n: int = 4, scale: str = "1") -> list[Bar]:
    inst = Instrument(base, "USD")
    out = []
    for i in range(n):
        p = Decimal(100 + i) * Decimal(scale)
        out.append(Bar(inst, "1h", i * H, p, p + 1, p - 1, p, Decimal("2.50")))
    return out


def test_bytes_do_not_depend_on_decimal_scale_or_input_order() -> None:
    a = Dataset.from_bars(_bars() + _bars("ETH"))
    scaled = [
        Bar(
            b.instrument,
            b.timeframe,
            b.open_time_ns,
            b.open.quantize(Decimal("0.0001")),
            b.high,
            b.low,
            b.close,
            b.volume,
        )
        for b in reversed(_bars("ETH") + _bars())
    ]
    b = Dataset.from_bars(scaled)
    assert a.csv_bytes == b.csv_bytes
    assert a.manifest == b.manifest
    assert a.manifest.symbols == ("BTC", "ETH")


def test_round_trip_and_frame(tmp_path: Path) -> None:
    ds = Dataset.from_bars(_bars(), start_ns=0, end_ns=10 * H, as_of="v3", summary={"gaps": 1})
    out = tmp_path / "ds"
    assert write_dataset(out, ds) == ds.manifest.dataset_hash
    back = read_dataset(out)
    assert back == ds
    assert back.bars() == tuple(_bars())
    frame = back.frame()
    assert list(frame["open_time_ns"]) == [i * H for i in range(4)]
    assert str(frame["close"].dtype) == "float64"
    assert back.manifest.summary == {"gaps": 1}


def test_rewrite_replaces_atomically(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_dataset(out, Dataset.from_bars(_bars()))
    second = Dataset.from_bars(_bars("ETH"))
    write_dataset(out, second)
    assert read_dataset(out).manifest.symbols == ("ETH",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]


def test_tampered_bars_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    write_dataset(out, Dataset.from_bars(_bars()))
    (out / BARS_FILE).write_bytes((out / BARS_FILE).read_bytes().replace(b",101,", b",102,"))
    with pytest.raises(IntegrityError) as info:
        read_dataset(out)
    assert info.value.reason_code == DATASET_HASH_MISMATCH


def test_missing_or_malformed_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        read_dataset(tmp_path / "nope")
    assert info.value.reason_code == DATASET_INVALID
    out = tmp_path / "ds"
    write_dataset(out, Dataset.from_bars(_bars()))
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    for bad in (
        "{",
        json.dumps({**manifest, "surprise": 1}),
        json.dumps({**manifest, "format": "x/9"}),
    ):
        (out / MANIFEST_FILE).write_text(bad)
        with pytest.raises(ValidationError) as info:
            read_dataset(out)
        assert info.value.reason_code == DATASET_INVALID


def test_invalid_bar_sets_are_refused() -> None:
    mixed_tf = [*_bars()[:1], Bar(Instrument("BTC", "USD"), "4h", 4 * H, 1, 1, 1, 1, 0)]
    mixed_quote = [*_bars()[:1], Bar(Instrument("ETH", "CAD"), "1h", 0, 1, 1, 1, 1, 0)]
    for bars, kwargs in [
        ([], {}),
        (mixed_tf, {}),
        (mixed_quote, {}),
        (_bars() + _bars()[:1], {}),
        (_bars(), {"start_ns": H}),
        (_bars(), {"end_ns": 2 * H}),
    ]:
        with pytest.raises(ValidationError) as info:
            Dataset.from_bars(bars, **kwargs)  # type: ignore[arg-type]
        assert info.value.reason_code == DATASET_INVALID


@pytest.mark.parametrize(("text", "want"), [("2.5000", "2.5"), ("0E-8", "0"), ("1E+3", "1000")])
def test_decimal_text(text: str, want: str) -> None:
    assert decimal_text(Decimal(text)) == want

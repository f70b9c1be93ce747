"""The dataset hand-off format: canonical bytes, hash pinning, atomic write, refusal."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from quant_core import Bar, Instrument, Timeframe
from quant_core.errors import IntegrityError, ValidationError
from quant_data import BARS_FILE, MANIFEST_FILE, Dataset, decimal_text, read_dataset, write_dataset
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


def test_materialized_dataset_round_trips_with_its_store_summary(tmp_path: Path) -> None:
    from quant_core import SimClock
    from quant_data import FetchedPage, RawPage, SourceBar
    from quant_data.store import Store

    store = Store.open("sqlite://", clock=SimClock(100 * H))
    bars = tuple(
        SourceBar("demo", "ETH", "USD", "1h", i * H, "10", "11", "9", "10.5", "1") for i in (0, 2)
    )
    store.ingest_page(FetchedPage(RawPage("demo", "GET /", 0, 200, b"x"), bars, 0, 3 * H, None))
    ds = store.materialize(["ETH"], "USD", "1h", 0, 3 * H)
    write_dataset(tmp_path / "ds", ds)
    back = read_dataset(tmp_path / "ds")
    assert back.manifest == ds.manifest
    assert back.manifest.summary["symbols"]["ETH"]["missing_slots"] == 1
    assert back.manifest.summary["symbols"]["ETH"]["gap_ledger"]["open"] == 1
    assert back.manifest.as_of == "seq:1"
    assert [b.open_time_ns for b in back.bars()] == [0, 2 * H]


def test_dataset_hash_is_the_same_in_another_process(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = (
        "from decimal import Decimal\n"
        "from quant_core import Bar, Instrument\n"
        "from quant_data import Dataset\n"
        "bars = [Bar(Instrument(s, 'USD'), '1h', i * 3600 * 10**9, '100.10', '101', '99', "
        "'100', '2.50') for s in ('ETH', 'BTC', 'SOL') for i in range(5)]\n"
        "print(Dataset.from_bars(bars).manifest.dataset_hash)\n"
    )
    hashes = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        for seed in ("1", "99")
    }
    bars = [
        Bar(Instrument(s, "USD"), "1h", i * H, "100.10", "101", "99", "100", "2.50")
        for s in ("ETH", "BTC", "SOL")
        for i in range(5)
    ]
    assert hashes == {Dataset.from_bars(bars).manifest.dataset_hash}

"""``quant train``: CliRunner and a real subprocess; exit codes and JSON."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_data import write_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "quant_models"))
_helpers = importlib.import_module("helpers")
dataset_from_frame = _helpers.dataset_from_frame
synthetic_frame = _helpers.synthetic_frame
sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()

# The tiny training config the bundle tests use, without their gate and seed overrides.
CONFIG = {k: v for k, v in _bundles.TINY_CONFIG.items() if k not in ("gates", "seed")}


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ds") / "ds"
    frame = synthetic_frame(("BTC", "ETH"), n=400, momentum=0.15)
    write_dataset(path, dataset_from_frame(frame))
    return path


def _config(tmp_path: Path, **gates: object) -> Path:
    path = tmp_path / "train.json"
    path.write_text(json.dumps({**CONFIG, "gates": gates}))
    return path


def test_train_json_promotes(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, min_samples=10, min_bss=-1.0, max_ece=1.0)
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        ["train", "--dataset", str(dataset_dir), "--config", str(cfg), "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["promote"] is True
    assert doc["reasons"] == ["GATE_PASSED"]
    assert doc["model_id"] == json.loads((out / "metadata.json").read_bytes())["model_id"]
    assert set(doc["served"]) == {"h1", "h4"}
    # human output, and a champion that cannot be beaten by the identical run
    again = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "run2"),
            "--champion",
            str(out),
        ],
    )
    assert again.exit_code == 3
    assert "GATE_NOT_BETTER_THAN_CHAMPION" in again.output


def test_train_rejected_by_gates_exits_3(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, min_samples=10**6)
    result = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "run"),
            "--json",
        ],
    )
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert doc["promote"] is False
    assert "GATE_TOO_FEW_SAMPLES" in doc["reasons"]
    # artifacts and the decision are still written, for the record
    assert json.loads((tmp_path / "run" / "decision.json").read_bytes())["promote"] is False


def test_train_usage_errors(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    both = runner.invoke(
        app, ["train", "--config", str(cfg), "--out", str(tmp_path / "o"), "--json"]
    )
    assert both.exit_code == 2
    assert json.loads(both.stdout)["reason_code"] == "USAGE_ERROR"
    no_window = runner.invoke(
        app,
        ["train", "--symbols", "BTC", "--config", str(cfg), "--out", str(tmp_path / "o"), "--json"],
    )
    assert no_window.exit_code == 2
    (tmp_path / "bad.json").write_text('{"colour": 1}')
    bad = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(tmp_path / "bad.json"),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert bad.exit_code == 3
    assert json.loads(bad.stdout)["reason_code"] == "CONFIG_INVALID"
    champion = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "o"),
            "--champion",
            str(tmp_path / "nope"),
            "--json",
        ],
    )
    assert champion.exit_code == 3
    assert json.loads(champion.stdout)["reason_code"] == "ARTIFACT_INVALID"
    assert not (tmp_path / "o").exists()


def test_train_from_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--symbols materializes from the governed store named by the settings."""
    from quant_apps.cli import train as train_module

    frame = synthetic_frame(("BTC", "ETH"), n=400, momentum=0.15)
    ds = dataset_from_frame(frame)
    seen: list[tuple[object, ...]] = []

    def fake(symbols: str, quote: str, timeframe: str, start: str, end: str) -> object:
        seen.append((symbols, quote, timeframe, start, end))
        return ds

    monkeypatch.setattr(train_module, "_materialize", fake)
    cfg = _config(tmp_path, min_samples=10, min_bss=-1.0, max_ece=1.0)
    result = runner.invoke(
        app,
        [
            "train",
            "--symbols",
            "BTC,ETH",
            "--start",
            "1970-01-01T00:00:00Z",
            "--end",
            "1970-01-18T00:00:00Z",
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert seen == [("BTC,ETH", "USD", "1h", "1970-01-01T00:00:00Z", "1970-01-18T00:00:00Z")]
    assert json.loads(result.stdout)["dataset_hash"] == ds.manifest.dataset_hash


def test_materialize_reads_the_configured_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_apps.cli import train as train_module

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    from quant_core.errors import QuantError

    with pytest.raises(QuantError):
        train_module._materialize(
            "BTC", "USD", "1h", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z"
        )


def test_train_as_a_real_process(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = _config(tmp_path, min_samples=10, min_bss=-1.0, max_ece=1.0)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "quant_apps",
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "run"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True


def test_train_with_a_registry_keeps_the_champion_on_rejection(
    dataset_dir: Path, tmp_path: Path
) -> None:
    cfg = _config(tmp_path, min_samples=10, min_bss=-1.0, max_ece=1.0)
    reg = tmp_path / "registry"
    first = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "a"),
            "--registry",
            str(reg),
            "--json",
        ],
    )
    assert first.exit_code == 0, first.output
    pointer = json.loads((reg / "champion.json").read_bytes())
    assert pointer["model_id"] == json.loads(first.stdout)["model_id"]
    # the identical run cannot beat the registry's champion: rejected, champion unchanged
    second = runner.invoke(
        app,
        [
            "train",
            "--dataset",
            str(dataset_dir),
            "--config",
            str(cfg),
            "--out",
            str(tmp_path / "b"),
            "--registry",
            str(reg),
            "--json",
        ],
    )
    assert second.exit_code == 3
    assert json.loads(second.stdout)["reasons"] == ["GATE_NOT_BETTER_THAN_CHAMPION"]
    assert json.loads((reg / "champion.json").read_bytes()) == pointer
    assert len((reg / "history.jsonl").read_text().splitlines()) == 2


def test_train_from_a_real_store_end_to_end(tmp_path: Path) -> None:
    """--symbols against a real embedded SQLite store filled from the synthetic market."""
    import os

    from quant_core import SimClock, iso_to_ns
    from quant_data import FetchedPage, RawPage, Store, SyntheticMarket
    from quant_models import load_model_set

    start = iso_to_ns("2024-01-01T00:00:00Z")
    n_bars = 420
    end = start + n_bars * 3_600_000_000_000
    market = SyntheticMarket(seed=21, symbols=("BTC", "ETH", "SOL"), start_ns=start, end_ns=end)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    store = Store.open(f"sqlite:///{data_dir / 'quant.db'}", clock=SimClock(end + 1))
    for symbol in market.symbols:
        bars = market.source_bars(symbol)
        raw = RawPage("synthetic", f"GET /ohlc?pair={symbol}", end, 200, b"synthetic page")
        store.ingest_page(FetchedPage(raw, bars, start, end, None))
    # what the command should train on, materialized here independently
    expected = store.materialize(["BTC", "ETH"], "USD", "1h", start, end)
    store.engine.dispose()
    cfg = _config(tmp_path, min_samples=10, min_bss=-1.0, max_ece=1.0)
    out = tmp_path / "run"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "quant_apps",
            "train",
            "--symbols",
            "btc, eth",
            "--start",
            "2024-01-01T00:00:00Z",
            "--end",
            "2024-01-18T12:00:00Z",
            "--config",
            str(cfg),
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env={**os.environ, "QUANT_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["dataset_hash"] == expected.manifest.dataset_hash
    run = json.loads((out / "run.json").read_bytes())
    assert run["dataset_hash"] == expected.manifest.dataset_hash
    assert run["window"]["symbols"] == ["BTC", "ETH"]
    assert run["window"]["start_ns"] == start
    assert run["window"]["bars"] == n_bars
    model_set = load_model_set(out)
    assert model_set.model_id == doc["model_id"]
    assert model_set.dataset_hash == expected.manifest.dataset_hash
    assert model_set.symbols == ("BTC", "ETH")

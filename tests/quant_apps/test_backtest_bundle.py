"""``quant backtest --bundle``: a signed release's models drive the same engine."""

from __future__ import annotations

import gzip
import hashlib
import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_bundle import reasons
from quant_core import Bar, Instrument
from quant_core import reasons as core_reasons
from quant_core.events import Prediction
from quant_data import Dataset, write_dataset
from quant_exec import read_decision_log, write_predictions
from quant_exec.decisions import log_hash
from quant_models import ModelSetPredictor, load_model_set

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A signed release, its keys, its artifacts, and a fresh (unseen) dataset to test on."""
    root = tmp_path_factory.mktemp("bt")
    release, keys = _bundles.make_release(root)
    data = root / "dataset"
    write_dataset(data, _bundles.make_dataset(bars=200, seed=23))
    return {"release": release, "keys": keys, "artifacts": root / "release-artifacts", "data": data}


def _args(setup: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return [
        "backtest",
        "--data",
        str(setup["data"]),
        "--bundle",
        str(setup["release"]),
        "--keys",
        str(setup["keys"]),
        "--out",
        str(out),
        *extra,
    ]


def test_bundle_backtest_records_bundle_and_dataset_hashes(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    result = runner.invoke(app, _args(setup, tmp_path / "a", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    manifest_bytes = (setup["release"] / "manifest.json").read_bytes()
    bundle_hash = "sha384:" + hashlib.sha384(manifest_bytes).hexdigest()
    dataset_hash = json.loads((setup["data"] / "dataset.json").read_bytes())["dataset_hash"]
    run = json.loads((setup["artifacts"] / "run.json").read_bytes())
    assert doc["model_id"] == bundle_hash
    assert doc["dataset_hash"] == dataset_hash
    assert doc["bundle"]["bundle_hash"] == bundle_hash
    assert doc["bundle"]["bundle_version"] == "1.0.0"
    assert doc["bundle"]["model_id"] == run["model_id"]
    assert doc["bundle"]["training_dataset_hash"] == run["dataset_hash"]
    assert (doc["bundle"]["config_hash"], doc["bundle"]["seed"]) == (
        run["config_hash"],
        run["seed"],
    )
    out = tmp_path / "a"
    assert doc["log_hash"] == log_hash((out / "decisions.jsonl").read_bytes())
    session, records = read_decision_log(out / "decisions.jsonl")
    assert session["model_id"] == bundle_hash
    assert session["dataset_hash"] == dataset_hash
    # every decision that used a prediction names the model set inside the bundle
    used = {r["model_id"] for r in records if r["model_id"] is not None}
    assert used == {run["model_id"]}
    html = (out / "report.html").read_text()
    for value in (bundle_hash, dataset_hash, run["model_id"], doc["log_hash"]):
        assert value in html
    assert json.loads((out / "summary.json").read_bytes())["bundle"] == doc["bundle"]


def test_bundle_and_recorded_predictions_of_the_same_models_agree(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    """Recording the bundle's model predictions and replaying them decides identically."""
    predictor = ModelSetPredictor(load_model_set(setup["artifacts"]))
    bars = _bundles.make_dataset(bars=200, seed=23).bars()
    history: dict[object, list[object]] = {}
    recorded: list[Prediction] = []
    for ts in sorted({b.close_time_ns for b in bars}):
        for bar in (b for b in bars if b.close_time_ns == ts):
            history.setdefault(bar.instrument, []).append(bar)
        recorded.extend(predictor.predict(ts, history))  # type: ignore[arg-type]
    preds = tmp_path / "p.jsonl"
    write_predictions(preds, recorded)
    via_bundle = runner.invoke(app, _args(setup, tmp_path / "b", "--json"))
    via_file = runner.invoke(
        app,
        [
            *("backtest", "--data", str(setup["data"]), "--predictions", str(preds)),
            *("--out", str(tmp_path / "f"), "--json"),
        ],
    )
    assert via_bundle.exit_code == via_file.exit_code == 0, via_file.output
    b, f = json.loads(via_bundle.stdout), json.loads(via_file.stdout)
    assert b["metrics"] == f["metrics"]
    assert b["reason_counts"] == f["reason_counts"]
    _, rb = read_decision_log(tmp_path / "b" / "decisions.jsonl")
    _, rf = read_decision_log(tmp_path / "f" / "decisions.jsonl")
    assert rb == rf  # decisions name the model set either way; only the header differs


def test_human_output_names_the_bundle_and_dataset(setup: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, _args(setup, tmp_path / "h"))
    assert result.exit_code == 0, result.output
    assert "bundle: 1.0.0 (models sha256:" in result.stdout
    assert "dataset: sha256:" in result.stdout
    assert "replay hash: sha256:" in result.stdout


def test_replay_hash_is_equal_in_a_separate_process(setup: dict[str, Path], tmp_path: Path) -> None:
    first = runner.invoke(app, _args(setup, tmp_path / "one", "--json"))
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-m", "quant_apps", *_args(setup, tmp_path / "two", "--json")],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert json.loads(done.stdout)["log_hash"] == json.loads(first.stdout)["log_hash"]
    assert (tmp_path / "one" / "decisions.jsonl").read_bytes() == (
        tmp_path / "two" / "decisions.jsonl"
    ).read_bytes()


@pytest.mark.parametrize(
    ("target", "offset", "code"),
    [
        ("bundle.tar.zst", 64, reasons.ARCHIVE_DIGEST_MISMATCH),
        ("manifest.json", 20, reasons.SIG_INVALID),
        ("manifest.sig", 40, reasons.SIG_INVALID),
    ],
)
def test_a_tampered_bundle_exits_3_with_its_reason_code(
    setup: dict[str, Path], tmp_path: Path, target: str, offset: int, code: str
) -> None:
    release = tmp_path / "release"
    shutil.copytree(setup["release"], release)
    _bundles.flip_byte(release / target, offset)
    args = _args({**setup, "release": release}, tmp_path / "o", "--json")
    result = runner.invoke(app, args)
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["reason_code"] == code
    assert not (tmp_path / "o").exists()


def test_untrusted_and_default_keys(setup: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "other-keys"
    _bundles.write_keypair(_bundles.generate_key(), other, "other", private=False)
    result = runner.invoke(app, _args({**setup, "keys": other}, tmp_path / "o", "--json"))
    assert result.exit_code == 3
    assert json.loads(result.stdout)["reason_code"] == reasons.KEY_UNTRUSTED
    # without --keys the shipped bundles/keys are the trust root; they never trust a test key
    shipped = [
        "backtest",
        "--data",
        str(setup["data"]),
        "--bundle",
        str(setup["release"]),
        "--out",
        str(tmp_path / "d"),
        "--json",
    ]
    default = runner.invoke(app, shipped)
    assert default.exit_code == 3
    assert json.loads(default.stdout)["reason_code"] in {
        reasons.KEY_UNTRUSTED,
        reasons.BUNDLE_MISSING,
    }


@pytest.mark.parametrize(
    "args",
    [
        ["--data", "d", "--predictions", "p", "--bundle", "b"],
        ["--example", "--bundle", "b"],
        ["--bundle", "b"],
        ["--data", "d", "--predictions", "p", "--keys", "k"],
        ["--example", "--keys", "k"],
    ],
)
def test_bundle_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(app, ["backtest", *args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["reason_code"] == core_reasons.USAGE_ERROR


def _binance_usdt(shared: Path, symbol: str, last: int) -> list[Bar]:
    import pandas as pd

    folder = shared / "real" / "binance_spot_freqtrade__mounik-sample-scalping"
    raw = pd.read_feather(folder / f"{symbol}_USDT-1h.feather").drop_duplicates("date")
    raw = raw.sort_values("date").tail(last)
    ns = raw["date"].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    return [
        Bar(Instrument(symbol, "USDT"), "1h", int(t), repr(o), repr(h), repr(lo), repr(c), repr(v))
        for t, o, h, lo, c, v in zip(
            ns, raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"], strict=True
        )
    ]


def _kraken_usd(shared: Path, pair: str, base: str, last: int) -> list[Bar]:
    path = shared / "real" / "kraken_ohlcvt__aironav-bitcoin" / f"{pair}_60.csv.gz"
    out = []
    for line in gzip.decompress(path.read_bytes()).decode().splitlines()[-last:]:
        t, o, h, low, c, v, _trades = line.split(",")
        out.append(Bar(Instrument(base, "USD"), "1h", int(t) * 10**9, o, h, low, c, v))
    return out


def test_a_bundle_trained_on_real_usdt_bars_trades_real_usd_bars(
    shared_data: Path, tmp_path: Path
) -> None:
    """The shipped bundle's situation: Binance USDT history in, Kraken USD bars traded."""
    train_bars = _binance_usdt(shared_data, "BTC", 400) + _binance_usdt(shared_data, "ETH", 400)
    release, keys = _bundles.make_release(tmp_path, dataset=Dataset.from_bars(train_bars))
    usd = _kraken_usd(shared_data, "XBTUSD", "BTC", 150) + _kraken_usd(
        shared_data, "ETHUSD", "ETH", 150
    )
    write_dataset(tmp_path / "kraken", Dataset.from_bars(usd))
    result = runner.invoke(
        app,
        [
            *("backtest", "--data", str(tmp_path / "kraken"), "--bundle", str(release)),
            *("--keys", str(keys), "--out", str(tmp_path / "o"), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    run = json.loads((tmp_path / "release-artifacts" / "run.json").read_bytes())
    assert doc["bundle"]["training_dataset_hash"] == run["dataset_hash"]
    assert doc["session"]["instruments"] == ["BTC/USD", "ETH/USD"]
    _, records = read_decision_log(tmp_path / "o" / "decisions.jsonl")
    predicted = {r["instrument"] for r in records if r["model_id"] == run["model_id"]}
    assert predicted == {"BTC/USD", "ETH/USD"}  # the USDT-trained models served USD bars

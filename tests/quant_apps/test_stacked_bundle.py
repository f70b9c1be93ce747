"""A stacked model set (``quant.modelset/2``) through the whole product path (decision 0119).

``quant train`` with ``combine = "stack"`` → ``quant bundle build`` (a throwaway test key) →
``verify`` → ``activate`` → ``quant backtest --bundle --context`` → the paper runtime loads it
and predicts. On the tiny synthetic bars the bundle tests use.

Bad input (issue 18): a bundle whose model family is unknown, whose weights do not match the
declared shapes, or whose feature schema differs from the runtime's, validly re-signed after
the edit, is refused at install and at activation with the model's reason code; the previous
active bundle stays active and serving.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.models.activation import serve_active_bundle
from quant_apps.runtime.trading.paper import PaperOptions, serve_inputs
from quant_core import SimClock, Timeframe, content_hash
from quant_data import SyntheticMarket, write_dataset
from quant_exec import read_decision_log
from quant_models import reasons

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()
COINS = ("BTC", "ETH", "SOL")
START = _bundles.START_NS


def stack_config() -> dict[str, Any]:
    """The bundle tests' tiny config, as a stacked ensemble of two families with specialists."""
    config: dict[str, Any] = json.loads(json.dumps(_bundles.TINY_CONFIG))
    config.update(
        families=["lightgbm", "xgboost"],
        scopes=["global", "specialist"],
        combine="stack",
        min_specialist_bars=200,
        ensemble={"regime_window": 12, "regime_lookback": 24, "bootstrap_draws": 50},
    )
    config["params"]["xgboost"] = {"n_estimators": 8}
    return config


def _quant(*args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, [*args, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


@pytest.fixture(scope="module")
def stacked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A stacked run trained through ``quant train``, built and signed by ``quant bundle``."""
    root = tmp_path_factory.mktemp("stacked")
    write_dataset(root / "data", _bundles.make_dataset(COINS, bars=400, seed=11))
    (root / "train.json").write_text(json.dumps(stack_config()), encoding="utf-8")
    code, doc = _quant(
        "train", "--dataset", str(root / "data"), "--config", str(root / "train.json"),
        "--out", str(root / "run"),
    )  # fmt: skip
    assert code == 0, doc
    code, doc = _quant("bundle", "keygen", "--out", str(root / "keys"), "--name", "test")
    assert code == 0, doc
    (root / "private").mkdir()  # only the public half sits among the trusted keys
    Path(doc["private"]).rename(root / "private" / "test.key")
    _build(root / "run", root / "private" / "test.key", "1.0.0", root / "release")
    return {k: root / k for k in ("data", "run", "keys", "private", "release")}


def _build(run: Path, key: Path, version: str, out: Path) -> None:
    code, doc = _quant(
        "bundle", "build", str(run), "--version", version, "--sign-key", str(key),
        "--out", str(out),
    )  # fmt: skip
    assert code == 0, doc


def test_a_stacked_set_is_built_verified_and_activated(
    stacked: dict[str, Path], tmp_path: Path
) -> None:
    meta = json.loads((stacked["run"] / "metadata.json").read_bytes())
    assert meta["format"] == "quant.modelset/2"
    keys = ("--trusted-keys", str(stacked["keys"]))
    code, doc = _quant("bundle", "verify", str(stacked["release"]), *keys)
    assert code == 0, doc
    run = json.loads((stacked["run"] / "run.json").read_bytes())
    assert "models" in doc["checks"]
    assert doc["model_id"] == run["model_id"]
    code, doc = _quant(
        "bundle", "activate", str(stacked["release"]), *keys, "--root", str(tmp_path / "b")
    )
    assert code == 0, doc
    assert doc["model_id"] == run["model_id"]
    assert doc["training_dataset_hash"] == run["dataset_hash"]


def test_a_stacked_bundle_backtests_with_its_context(
    stacked: dict[str, Path], tmp_path: Path
) -> None:
    one = tmp_path / "eth"
    write_dataset(one, _bundles.make_dataset(("ETH",), bars=400, seed=11))
    code, doc = _quant(
        "backtest", "--data", str(one), "--bundle", str(stacked["release"]),
        "--keys", str(stacked["keys"]), "--context", str(stacked["data"]),
        "--out", str(tmp_path / "o"),
    )  # fmt: skip
    assert code == 0, doc
    assert doc["context"]["traded"] == ["ETH"]
    session, records = read_decision_log(tmp_path / "o" / "decisions.jsonl")
    run = json.loads((stacked["run"] / "run.json").read_bytes())
    assert session["model_id"] == doc["bundle"]["bundle_hash"]
    predicted = [r for r in records if "p_up" in r["inputs"]]  # after the features' warm-up
    assert predicted
    assert {r["model_id"] for r in predicted} == {run["model_id"]}
    assert all(set(r["inputs"]["p_up"]) == {"1h", "4h"} for r in predicted)


def test_the_paper_runtime_serves_a_stacked_bundle(
    stacked: dict[str, Path], tmp_path: Path
) -> None:
    env = {"QUANT_DATA_DIR": str(tmp_path / "data"), "QUANT_REQUIRE_BUNDLE": "1"}
    options = PaperOptions("kraken", COINS, bundle=stacked["release"], keys=stacked["keys"])
    served = serve_inputs(options, clock=SimClock(0), env=env)
    assert served.model["active"] is True
    _predicts(served.predictor)


def _predicts(predictor: Any) -> None:
    """``predictor`` gives a probability per coin at the training bars' last hour."""
    market = SyntheticMarket(
        seed=11, symbols=COINS, start_ns=START, end_ns=START + 400 * Timeframe.H1.ns
    )
    history = {b[0].instrument: b for b in (list(market.bars(s)) for s in COINS)}
    last = max(bars[-1].open_time_ns for bars in history.values())
    out = predictor.predict(last, history)
    assert {p.instrument for p in out} == set(history)
    assert all(0.0 < f.p_up < 1.0 for p in out for f in p.forecasts)


def _edit(metadata: dict[str, Any], how: str) -> None:
    if how == "family":
        metadata["members"][0]["family"] = "catboost"
    elif how == "shape":
        metadata["heads"][0]["members"] = metadata["heads"][0]["members"][:1]
    else:  # a feature the runtime does not compute under that name
        metadata["feature_schema"]["names"][0] = "ret_one"


@pytest.mark.usefixtures("isolated_env")
@pytest.mark.parametrize(
    ("how", "code"),
    [
        ("family", reasons.MODEL_FAMILY_UNKNOWN),
        ("shape", reasons.MODEL_SHAPE_MISMATCH),
        ("schema", reasons.SCHEMA_MISMATCH),
    ],
)
def test_a_tampered_re_signed_bundle_is_refused_and_the_active_one_stays(
    stacked: dict[str, Path], tmp_path: Path, how: str, code: str
) -> None:
    keys = ("--trusted-keys", str(stacked["keys"]))
    run = tmp_path / "run"
    shutil.copytree(stacked["run"], run)
    metadata = json.loads((run / "metadata.json").read_bytes())
    _edit(metadata, how)
    # a consistent set, as another writer would make it: the ids hash the edited metadata
    metadata["model_id"] = content_hash({k: v for k, v in metadata.items() if k != "model_id"})
    (run / "metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    record = json.loads((run / "run.json").read_bytes())
    (run / "run.json").write_text(json.dumps({**record, "model_id": metadata["model_id"]}))
    _build(run, stacked["private"] / "test.key", "2.0.0", tmp_path / "bad")
    # the signature and digests are fine, the models are not: verify loads them too
    status, doc = _quant("bundle", "verify", str(tmp_path / "bad"), *keys)
    assert (status, doc["reason_code"]) == (3, code), doc
    for command in ("install", "activate"):
        root = ("--root", str(tmp_path / command))
        status, doc = _quant("bundle", "activate", str(stacked["release"]), *keys, *root)
        assert status == 0, doc
        status, doc = _quant("bundle", command, str(tmp_path / "bad"), *keys, *root)
        assert (status, doc["reason_code"]) == (3, code), doc
        status, doc = _quant("bundle", "status", *root, *keys)
        assert doc["active_version"] == "1.0.0"
        predictor, about = serve_active_bundle(
            tmp_path / command, stacked["keys"], require=True, clock=None
        )
        assert about["bundle_version"] == "1.0.0"
        _predicts(predictor)


def test_a_release_that_cannot_be_extracted_to_check_its_models_is_a_storage_error(
    stacked: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_apps.runtime.models import activation

    def full(*args: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(activation, "extract_archive", full)
    code, doc = _quant(
        "bundle", "verify", str(stacked["release"]), "--trusted-keys", str(stacked["keys"])
    )
    assert (code, doc["reason_code"]) == (1, "BUNDLE_IO_FAILED"), doc

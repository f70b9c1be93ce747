"""A bundle's market context, supplied or refused, on every path that runs it (decision 0116).

On real bars: ``quant backtest --bundle`` over one coin is refused with ``CONTEXT_MISSING``
(before, it ran and silently never traded: the model's cross-asset inputs were missing);
with ``--context DIR`` the context coins' bars feed the model, only the dataset's coin is
traded, and it trades. ``quant paper``, the live session and ``quant demo`` refuse a
universe that lacks the context coins.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_apps.runtime.trading.live import LiveOptions, open_live_session
from quant_apps.runtime.trading.paper import PaperOptions, serve_inputs
from quant_core import Bar, Instrument, SimClock
from quant_core.errors import QuantError
from quant_data import Dataset, write_dataset
from quant_exec import read_decision_log
from quant_models import reasons

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()
REAL = "binance_spot_freqtrade__mounik-sample-scalping"
CONTEXT = ("BTC", "SOL", "XRP", "BNB", "ADA", "LINK", "LTC", "AVAX", "BCH")
BARS = 2000


def _real(shared: Path, symbol: str, last: int) -> list[Bar]:
    import pandas as pd

    raw = pd.read_feather(shared / "real" / REAL / f"{symbol}_USDT-1h.feather")
    raw = raw.drop_duplicates("date").sort_values("date").tail(last)
    ns = raw["date"].astype("datetime64[ns, UTC]").astype("int64").to_numpy()
    return [
        Bar(Instrument(symbol, "USDT"), "1h", int(t), repr(o), repr(h), repr(lo), repr(c), repr(v))
        for t, o, h, lo, c, v in zip(
            ns, raw["open"], raw["high"], raw["low"], raw["close"], raw["volume"], strict=True
        )
    ]


@pytest.fixture(scope="module")
def real(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One real coin (ETH) to trade, and a dataset of the context coins over the same hours."""
    root = tmp_path_factory.mktemp("context")
    write_dataset(root / "eth", Dataset.from_bars(_real(shared_data, "ETH", BARS)))
    # ETH too: a context dataset may hold the traded coin, which is traded, not fed
    bars = [b for s in (*CONTEXT, "ETH") for b in _real(shared_data, s, BARS)]
    write_dataset(root / "context", Dataset.from_bars(bars))
    return {"eth": root / "eth", "context": root / "context"}


def _backtest(real: dict[str, Path], out: Path, *extra: str) -> tuple[int, dict[str, object]]:
    args = ["backtest", "--data", str(real["eth"]), "--bundle", "bundles/default"]
    result = runner.invoke(app, [*args, "--out", str(out), *extra, "--json"])
    return result.exit_code, json.loads(result.stdout)


def test_a_single_coin_backtest_of_the_shipped_bundle_is_refused_without_context(
    real: dict[str, Path], tmp_path: Path
) -> None:
    code, doc = _backtest(real, tmp_path / "o")
    assert code != 0
    assert doc["reason_code"] == reasons.CONTEXT_MISSING
    assert "reference coin BTC" in str(doc["message"])
    assert not (tmp_path / "o").exists()  # refused before anything is written


def test_with_context_the_single_coin_backtest_trades_only_its_coin(
    real: dict[str, Path], tmp_path: Path
) -> None:
    code, doc = _backtest(real, tmp_path / "o", "--context", str(real["context"]))
    assert code == 0, doc
    context = doc["context"]
    assert isinstance(context, dict)
    assert context["traded"] == ["ETH"]
    assert set(context["fed"]) == set(CONTEXT)
    assert context["need"]["reference"] == "BTC"
    session, records = read_decision_log(tmp_path / "o" / "decisions.jsonl")
    assert session["instruments"] == ["ETH/USDT"]
    assert {r["instrument"] for r in records} == {"ETH/USDT"}  # context coins are not traded
    metrics = doc["metrics"]
    assert isinstance(metrics, dict)
    assert metrics["fills"] > 0  # it trades (before, a single coin never met the entry rule)
    human = runner.invoke(
        app,
        [
            *("backtest", "--data", str(real["eth"]), "--bundle", "bundles/default"),
            *("--context", str(real["context"]), "--out", str(tmp_path / "h")),
        ],
    )
    assert human.exit_code == 0, human.output
    assert "(fed to the model, not traded)" in human.stdout


def test_a_context_dataset_of_another_quote_is_a_usage_error(
    real: dict[str, Path], tmp_path: Path
) -> None:
    other = tmp_path / "usd"
    write_dataset(other, _bundles.make_dataset(("BTC", "SOL"), bars=30))
    code, doc = _backtest(real, tmp_path / "o", "--context", str(other))
    assert code == 2
    assert "quoted in USD" in str(doc["message"])


def test_context_goes_with_bundle(tmp_path: Path) -> None:
    args = ["backtest", "--example", "--context", str(tmp_path), "--out", str(tmp_path / "o")]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2
    assert "--context goes with --bundle" in json.loads(result.stdout)["message"]


def test_a_bundle_without_cross_features_needs_no_context(tmp_path: Path) -> None:
    config = json.loads(json.dumps(_bundles.TINY_CONFIG))
    config["features"]["cross_windows"] = []
    release, keys = _bundles.make_release(tmp_path, config=config)
    data = tmp_path / "one"
    write_dataset(data, _bundles.make_dataset(("ETH",), bars=120, seed=4))
    result = runner.invoke(
        app,
        [
            *("backtest", "--data", str(data), "--bundle", str(release), "--keys", str(keys)),
            *("--out", str(tmp_path / "o"), "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["context"]["need"]["min_panel"] == 0


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny signed release trained on BTC and ETH with cross-asset features."""
    rel, keys = _bundles.make_release(tmp_path_factory.mktemp("ctx-release"))
    return rel, keys


@pytest.mark.usefixtures("isolated_env")
def test_paper_refuses_at_start_a_universe_without_the_context_coins(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    args = ["paper", "--provider", "kraken", "--symbols", "ETH", "--out", str(tmp_path / "p")]
    result = runner.invoke(app, [*args, "--bundle", str(release[0]), "--keys", str(release[1])])
    assert result.exit_code != 0
    assert f"[{reasons.CONTEXT_MISSING}]" in result.output
    assert "reference coin BTC" in result.output
    assert not (tmp_path / "p" / "decisions.jsonl").exists()


def test_paper_and_live_inputs_are_served_only_with_the_context(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    """``serve_inputs`` is where both ``quant paper`` and ``quant live`` start."""
    env = {"QUANT_DATA_DIR": str(tmp_path / "data"), "QUANT_REQUIRE_BUNDLE": "1"}
    lacking = PaperOptions("kraken", ("ETH",), bundle=release[0], keys=release[1])
    with pytest.raises(QuantError) as caught:
        serve_inputs(lacking, clock=SimClock(0), env=env)
    assert caught.value.reason_code == reasons.CONTEXT_MISSING
    full = PaperOptions("kraken", ("BTC", "ETH"), bundle=release[0], keys=release[1])
    assert serve_inputs(full, clock=SimClock(0), env=env).model["active"] is True
    # the live session is refused at its first check after the paper minimum
    live = LiveOptions(lacking, "http://127.0.0.1:9", tmp_path / "paper.jsonl")
    with pytest.raises(QuantError) as refused:
        open_live_session(live, clock=SimClock(0), confirm=lambda gate: gate.phrase, env=env)
    assert refused.value.reason_code == reasons.CONTEXT_MISSING


@pytest.mark.usefixtures("isolated_env")
def test_the_demo_refuses_coins_without_the_context(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    args = ["demo", "--out", str(tmp_path / "d"), "--bars", "48", "--symbols", "ETH"]
    result = runner.invoke(
        app, [*args, "--bundle", str(release[0]), "--keys", str(release[1]), "--json"]
    )
    assert result.exit_code != 0
    assert json.loads(result.stdout)["reason_code"] == reasons.CONTEXT_MISSING


def test_a_running_session_refuses_a_reload_its_coins_lack_context_for(
    release: tuple[Path, Path], tmp_path: Path
) -> None:
    from quant_apps.runtime.models.activation import activate_bundle
    from quant_apps.runtime.models.bundles import trust_for
    from quant_apps.runtime.trading.paper import assemble_paper_session

    # the session starts without a model (the development opt-out), then a bundle is activated
    env = {"QUANT_DATA_DIR": str(tmp_path / "data"), "QUANT_REQUIRE_BUNDLE": "0"}
    options = PaperOptions(
        "kraken", ("ETH",), out=tmp_path / "p", bundle=tmp_path / "none", keys=release[1]
    )
    session = assemble_paper_session(options, clock=SimClock(0), env=env)
    runtime = session.runtime
    assert runtime.engine.predictor.model_id == "none:BUNDLE_MISSING"
    heard: list[str] = []
    runtime._on_change = heard.append
    # the operator activates a release that needs BTC as context: this session trades ETH only
    activate_bundle(session.bundle_root, release[0], trust=trust_for(release[1]), require=True)
    runtime.reload_bundle(actor="ops")
    runtime.service()
    assert heard[-1].startswith(f"bundle reload refused [{reasons.CONTEXT_MISSING}]")
    assert "reference coin BTC" in heard[-1]
    assert runtime.engine.predictor.model_id == "none:BUNDLE_MISSING"
    # a session over the context coins takes the same reload
    both = attrs.evolve(options, symbols=("BTC", "ETH"), out=tmp_path / "q")
    other = assemble_paper_session(both, clock=SimClock(0), env=env).runtime
    other._on_change = heard.append
    other.reload_bundle(actor="ops")
    other.service()
    assert heard[-1].startswith("bundle reloaded: ")

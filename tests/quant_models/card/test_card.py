"""The model card scores a run's out-of-fold table (issue 18, item 5)."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from tests.quant_models.helpers import tiny_config

from quant_core.errors import QuantError
from quant_data import Dataset
from quant_models import ConfigError, DataError, reasons
from quant_models.evaluation import ModelCard, auc, model_card, read_oof
from quant_models.training import OofBlock, OofTable, TrainResult, train

H = 3_600 * 10**9
DAY = 24 * H


@pytest.fixture(scope="module")
def run(small_dataset: Dataset) -> TrainResult:
    cfg = tiny_config(families=("lightgbm", "random_forest"), scopes=("global", "specialist"))
    return train(small_dataset, cfg)


def _frame(result: TrainResult) -> pd.DataFrame:
    frame = pd.read_csv(io.BytesIO(result.files["oof.csv"]))
    return frame.assign(day=frame["open_time_ns"] // DAY)


def test_every_model_and_baseline_gets_a_row_per_horizon(run: TrainResult) -> None:
    card = model_card(run.oof, block_ns=DAY, draws=300)
    frame = _frame(run)
    expected = sorted(
        {(int(h), str(m)) for h, m in zip(frame["horizon_bars"], frame["model"], strict=True)}
    )
    assert [(r.horizon_bars, r.model) for r in card.rows] == expected
    assert card.coins == run.oof.symbols


def test_the_numbers_agree_with_an_independent_computation(run: TrainResult) -> None:
    card = model_card(run.oof, block_ns=DAY, draws=300, threshold=0.5, fee=0.001)
    frame = _frame(run)
    for (h, name), g in frame.groupby(["horizon_bars", "model"]):
        row = card.row(int(str(h)), str(name))
        bm, bc = ((g["p"] - g["y"]) ** 2), ((g["climatology"] - g["y"]) ** 2)
        assert row.n == len(g)
        assert row.bss == pytest.approx(1 - bm.sum() / bc.sum(), rel=1e-12)
        daily = pd.DataFrame({"bm": bm, "bc": bc, "day": g["day"]}).groupby("day").sum()
        assert row.blocks == len(daily)
        assert row.blocks_positive == int((daily["bm"] < daily["bc"]).sum())
        assert row.bss_low <= row.bss_high
        long = g[g["p"] >= 0.5]
        assert row.trades == len(long)
        assert row.net_return == pytest.approx((long["forward_return"] - 0.002).sum(), abs=1e-12)
        ups, downs = g[g["y"] == 1]["p"].to_numpy(), g[g["y"] == 0]["p"].to_numpy()
        pairs = (ups[:, None] > downs[None, :]).sum() + 0.5 * (ups[:, None] == downs[None, :]).sum()
        assert row.auc == pytest.approx(pairs / (len(ups) * len(downs)), rel=1e-12)


def test_the_interval_covers_the_point_and_narrows_with_more_blocks() -> None:
    rng = np.random.default_rng(3)
    n = 24 * 200
    y = (rng.random(n) < 0.5).astype(float)
    p = np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.05, n), 0.01, 0.99)
    block = OofBlock("m", 1, 0, np.zeros(n, dtype=np.int64), np.arange(n), p, y,
                     np.zeros(n), np.full(n, 0.5))  # fmt: skip
    table = OofTable(("BTC",), np.arange(n) * H, (block,))
    coarse = model_card(table, block_ns=50 * DAY, draws=500).rows[0]
    fine = model_card(table, block_ns=DAY, draws=500).rows[0]
    assert coarse.bss == pytest.approx(fine.bss, rel=1e-12)
    assert fine.bss_low < fine.bss < fine.bss_high
    assert (fine.bss_high - fine.bss_low) < (coarse.bss_high - coarse.bss_low)
    assert (fine.blocks, coarse.blocks) == (200, 4)


def test_same_seed_same_bytes_other_seed_other_interval(run: TrainResult) -> None:
    one = model_card(run.oof, block_ns=DAY, draws=200, seed=1)
    assert one.to_json() == model_card(run.oof, block_ns=DAY, draws=200, seed=1).to_json()
    other = model_card(run.oof, block_ns=DAY, draws=200, seed=2)
    assert [r.bss for r in one.rows] == [r.bss for r in other.rows]
    assert [r.bss_low for r in one.rows] != [r.bss_low for r in other.rows]


def test_the_card_is_the_same_bytes_in_another_process(run: TrainResult) -> None:
    code = (
        "import sys; from quant_models.evaluation import model_card, read_oof;"
        "t = read_oof(sys.stdin.buffer.read());"
        "sys.stdout.buffer.write(model_card(t, block_ns=86400 * 10**9, draws=200).to_json())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=run.files["oof.csv"], capture_output=True, check=True
    )
    here = model_card(read_oof(run.files["oof.csv"]), block_ns=DAY, draws=200)
    assert done.stdout == here.to_json()
    assert json.loads(done.stdout)["draws"] == 200


def test_read_oof_round_trips_the_run_file(run: TrainResult) -> None:
    again = read_oof(run.files["oof.csv"])
    assert again.to_csv() == run.files["oof.csv"]
    direct = model_card(run.oof, block_ns=DAY, draws=100)
    assert model_card(again, block_ns=DAY, draws=100).to_json() == direct.to_json()


def test_held_out_coins_are_scored_separately(run: TrainResult) -> None:
    whole = model_card(run.oof, block_ns=DAY, draws=100)
    btc = model_card(run.oof, coins=["BTC"], block_ns=DAY, draws=100)
    assert btc.coins == ("BTC",)
    frame = _frame(run)
    for r in btc.rows:
        g = frame[(frame["horizon_bars"] == r.horizon_bars) & (frame["model"] == r.model)]
        assert r.n == int((g["symbol"] == "BTC").sum()) < whole.row(r.horizon_bars, r.model).n


def test_markdown_lists_every_row(run: TrainResult) -> None:
    card = model_card(run.oof, block_ns=DAY, draws=100)
    text = card.to_markdown("Card")
    assert text.startswith("# Card\n")
    table = [line for line in text.splitlines() if line.startswith("| ") and "h |" in line]
    assert len(table) == len(card.rows)
    assert all(f"| {r.model} | {r.n} |" in text for r in card.rows)


def test_auc_without_both_outcomes_is_no_skill() -> None:
    n = 48
    block = OofBlock("m", 1, 0, np.zeros(n, dtype=np.int64), np.arange(n), np.full(n, 0.6),
                     np.ones(n), np.zeros(n), np.full(n, 0.5))  # fmt: skip
    card = model_card(OofTable(("BTC",), np.arange(n) * H, (block,)), block_ns=DAY, draws=50)
    assert card.rows[0].auc == 0.5  # no down move to rank against: no evidence either way
    assert auc(np.array([0.2, 0.9]), np.array([0.0, 1.0])) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"coins": ["DOGE"]}, ConfigError),
        ({"block_ns": 0}, ConfigError),
        ({"draws": 0}, ConfigError),
        ({"fee": 1.0}, ConfigError),
        ({"threshold": -0.1}, ConfigError),
    ],
)
def test_bad_settings_are_refused(
    run: TrainResult, kwargs: dict[str, object], error: type[QuantError]
) -> None:
    with pytest.raises(error) as info:
        model_card(run.oof, **kwargs)  # type: ignore[arg-type]
    assert info.value.reason_code == reasons.CONFIG_INVALID


def test_nothing_to_score_and_bad_files_are_typed_errors() -> None:
    empty = OofBlock("m", 1, 0, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                     np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))  # fmt: skip
    with pytest.raises(DataError) as info:
        model_card(OofTable(("BTC",), np.zeros(1, dtype=np.int64), (empty,)))
    assert info.value.reason_code == reasons.INSUFFICIENT_DATA
    for data in (b"a,b\n1,2\n", b"", b"\xff\xfe"):
        with pytest.raises(QuantError) as bad:
            read_oof(data)
        assert bad.value.reason_code == reasons.INSUFFICIENT_DATA
    text = b"fold,horizon_bars,model,symbol,open_time_ns,p,y,forward_return,climatology\n"
    with pytest.raises(DataError):
        read_oof(text + b"x,1,m,BTC,0,0.5,1,0.0,0.5\n")


def test_a_card_is_plain_data(run: TrainResult) -> None:
    card = model_card(run.oof, block_ns=DAY, draws=50)
    assert isinstance(card, ModelCard)
    with pytest.raises(KeyError):
        card.row(999, "nothing")

"""Training in stages: any task runner gives the same bytes; the out-of-fold table is public."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import pytest

from quant_core import SerialRunner, TaskRunner
from quant_data import Dataset
from quant_models import ConfigError, Panel
from quant_models.training import (
    FoldConfig,
    FoldMode,
    OofTable,
    Scope,
    TrainResult,
    train,
    train_panel,
)

from .helpers import tiny_config

T = TypeVar("T")
R = TypeVar("R")


class ReversedRunner:
    """Runs the tasks last first (and records the order), returns them in input order."""

    def __init__(self) -> None:
        self.ran: list[object] = []

    def map(self, fn: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        results: dict[int, R] = {}
        for k in reversed(range(len(items))):
            self.ran.append(items[k])
            results[k] = fn(items[k])
        return [results[k] for k in range(len(items))]


class ThreadRunner:
    """Runs the tasks on a pool of threads, concurrently."""

    def map(self, fn: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        with ThreadPoolExecutor(3) as pool:
            return list(pool.map(fn, items))


@pytest.fixture(scope="module")
def serial(small_dataset: Dataset) -> TrainResult:
    config = tiny_config(families=("lightgbm", "random_forest"), scopes=("global", "specialist"))
    return train(small_dataset, config)


@pytest.mark.parametrize("runner_type", [ReversedRunner, ThreadRunner])
def test_any_runner_order_gives_byte_identical_artifacts(
    runner_type: Callable[[], TaskRunner], serial: TrainResult, small_dataset: Dataset
) -> None:
    config = tiny_config(families=("lightgbm", "random_forest"), scopes=("global", "specialist"))
    runner = runner_type()
    assert isinstance(runner, TaskRunner)
    result = train(small_dataset, config, runner=runner)
    assert result.files == serial.files
    if isinstance(runner, ReversedRunner):  # the fold tasks really ran in another order
        assert len(runner.ran) > 2
        assert runner.ran[-1] != runner.ran[0]


def test_the_out_of_fold_table_is_what_oof_csv_holds(serial: TrainResult) -> None:
    table = serial.oof
    assert isinstance(table, OofTable)
    assert table.to_csv() == serial.files["oof.csv"]
    assert table.models(1) == sorted(
        [
            "climatology",
            "persistence",
            "logistic",
            *(f"{f}/{s}" for f in ("lightgbm", "random_forest") for s in ("global", "specialist")),
        ]
    )
    blocks = table.select("lightgbm/global", 4)
    assert [b.fold for b in blocks] == [0, 1]
    first = blocks[0]
    assert len(first.p) == len(first.y) == len(first.symbol_rows) > 0
    assert np.all((first.p > 0) & (first.p < 1))
    btc = first.where(first.symbol_rows == 0)
    assert set(btc.symbol_rows.tolist()) == {0}
    assert table.symbols[0] == "BTC"


def test_train_panel_runs_serially_by_default(small_dataset: Dataset, serial: TrainResult) -> None:
    config = tiny_config(families=("lightgbm", "random_forest"), scopes=("global", "specialist"))
    panel = Panel.from_frame(small_dataset.frame())
    result = train_panel(
        panel, config, dataset_hash=small_dataset.manifest.dataset_hash, runner=SerialRunner()
    )
    assert result.files == serial.files


def test_scopes_and_fold_modes_are_closed_sets() -> None:
    assert tiny_config(scopes=("specialist",)).scopes == (Scope.SPECIALIST,)
    assert FoldConfig(mode="sliding").mode is FoldMode.SLIDING
    for bad in ((), ("everything",)):
        with pytest.raises(ConfigError):
            tiny_config(scopes=bad)
    with pytest.raises(ConfigError, match="walk-forward mode"):
        FoldConfig(mode="rolling")

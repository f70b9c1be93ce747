"""The chaos run at CI size: a seeded random fault plan over 150 orders (the benchmark runs
1,000 and more: ``benchmarks/bench_kraken_chaos.py``).

The venue drains W's real :class:`~quant_exec.venues.kraken.KrakenStream` over WebSocket on
127.0.0.1 from the fake's attached WebSocket (duplicated, delayed and reordered messages,
dropped connections) besides REST, or REST alone. Pass criterion: 0 duplicate venue orders (by
``cl_ord_id``), 0 orphan fills, no order left of unknown outcome, and the session's ledger
equal to the fake exchange's account exactly.
"""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS_DIR = Path(__file__).resolve().parents[4] / "benchmarks"


@pytest.fixture(scope="module")
def chaos() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCHMARKS_DIR))
        return runpy.run_path(str(BENCHMARKS_DIR / "bench_kraken_chaos.py"))["chaos"]


@pytest.mark.parametrize(("seed", "stream"), [(1, True), (2, True), (3, False)])
def test_a_seeded_fault_plan_ends_with_the_ledger_equal_to_the_account(
    chaos: Any, seed: int, stream: bool
) -> None:
    result = chaos(150, seed, stream=stream, real_stream=stream)  # the real stream, faulted
    assert result["faults_injected"] > 10
    assert result["venue_orders"] > 50
    assert result["fills"] > 30
    assert (result["duplicates"], result["orphans"], result["unresolved"]) == (0, 0, 0)
    assert result["refused_events"] == 0  # the venue never emitted an illegal transition
    assert result["ledger_equals_account"]
    if stream:  # connections were dropped; each reconnect made a poll reconcile through REST
        assert 0 < result["resyncs"] <= result["stream_connections"] - 1


def test_more_than_a_page_of_fills_between_two_polls_is_read_in_full(chaos: Any) -> None:
    """REST alone, polled once after 140 orders: the fills are read in pages of 50."""
    result = chaos(150, 4, faults=False, stream=False, poll_every=140)
    assert result["fills"] > 50
    assert (result["duplicates"], result["orphans"], result["unresolved"]) == (0, 0, 0)
    assert result["ledger_equals_account"]

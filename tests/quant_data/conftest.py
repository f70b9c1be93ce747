"""Fixtures for quant_data tests: the provider emulator over real HTTP on 127.0.0.1.

``emulator_factory(source=None, **kwargs)`` starts an emulator (port 0) and stops it at the end
of the test. With no source it serves a small synthetic market: BTC, ETH, SOL in USD, hourly,
2024-01-01 .. 2024-02-01, seed 7, with the clock at 2024-01-31T12:30Z unless ``clock`` is given.
Keyword arguments go to :func:`quant_data.emulator.start_emulator` (``faults``, ``clock``,
``seed``, ``options``). The returned object has ``.url``, ``.base_url(dialect)``,
``.set_faults(plan)``, ``.requests`` and ``.clock``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data import SyntheticMarket
from quant_data.emulator import Emulator, start_emulator

DEFAULT_START = iso_to_ns("2024-01-01T00:00:00Z")
DEFAULT_END = iso_to_ns("2024-02-01T00:00:00Z")
DEFAULT_NOW = iso_to_ns("2024-01-31T12:30:00Z")


@functools.cache
def default_market(
    symbols: tuple[str, ...] = ("BTC", "ETH", "SOL"), timeframe: Timeframe = Timeframe.H1
) -> SyntheticMarket:
    """The small synthetic market the fixture serves by default."""
    return SyntheticMarket(
        seed=7, symbols=symbols, start_ns=DEFAULT_START, end_ns=DEFAULT_END, timeframe=timeframe
    )


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., Emulator]]:
    """Start emulators on free ports; all are stopped when the test ends."""
    started: list[Emulator] = []

    def make(source: Any = None, **kwargs: Any) -> Emulator:
        if source is None:
            source = default_market()
            kwargs.setdefault("clock", SimClock(DEFAULT_NOW))
        emulator = start_emulator(source, **kwargs)
        started.append(emulator)
        return emulator

    yield make
    for emulator in started:
        emulator.stop()

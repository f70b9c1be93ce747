"""A real trading runtime with its runner thread, wrapped by a control plane.

The market is the engine's example bars served by an in-memory provider through the real
store and sync; the predictor is the example's oracle (it trades). The session clock is a
:class:`SimClock` the test moves; the runner waits on a real :class:`EventWaiter`, so a
command posted from the test thread wakes it at once, and a cycle runs when the test
advances the clock past a bar close and wakes the runner.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from quant_apps.runtime import EventWaiter, PaperLogWriter, ProviderSync, TradingRuntime
from quant_apps.runtime.models.bundledesk import BundleDesk
from quant_apps.runtime.operator.control import ControlPlane
from quant_apps.runtime.operator.decisionindex import DecisionIndex
from quant_core import SimClock, Timeframe
from quant_core.audit import AuditLog
from quant_core.events import Predictor
from quant_data import MemoryProvider, SourceBar, Store, StoreFeed
from quant_exec import BacktestConfig, RecordedPredictor
from quant_exec.session import example_bars, example_predictions

H = Timeframe.H1.ns
SYMBOLS = ("BTC", "ETH")


@attrs.define
class Running:
    """A runtime whose runner thread runs, and its control plane."""

    runtime: TradingRuntime
    control: ControlPlane
    clock: SimClock
    out: Path
    store: Store
    thread: threading.Thread
    cycled: threading.Semaphore = attrs.field(factory=lambda: threading.Semaphore(0))
    summary: dict[str, Any] = attrs.field(factory=dict)

    def advance(self, hours: int) -> None:
        """Move the clock bar by bar; wait for the runner's cycle after each."""
        for _ in range(hours):
            self.clock.advance_by(H)
            self.runtime.waiter.wake()
            assert self.cycled.acquire(timeout=60), "the runner ran the cycle"

    def stop(self) -> dict[str, Any]:
        """Stop the runner and wait for it; the summary."""
        self.runtime.stop(actor="test")
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()
        return self.summary

    def lines(self) -> list[dict[str, Any]]:
        """The decision log file's lines."""
        import json

        text = (self.out / "decisions.jsonl").read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


def _rows() -> tuple[list[SourceBar], RecordedPredictor, int]:
    bars = example_bars(n_bars=40)
    rows = [
        SourceBar("memory", b.instrument.base, b.instrument.quote.value, "1h", b.open_time_ns,
                  str(b.open), str(b.high), str(b.low), str(b.close), str(b.volume))
        for b in bars
    ]  # fmt: skip
    return rows, RecordedPredictor(example_predictions(bars)), min(b.open_time_ns for b in bars)


def make_runtime(
    out: Path,
    *,
    hours: int = 2,
    load_bundle: Callable[[], tuple[Predictor, Mapping[str, Any]]] | None = None,
    halt_file: Path | None = None,
    bundle: Mapping[str, Any] | None = None,
) -> tuple[TradingRuntime, SimClock, Store]:
    """A runtime over the example market, its clock ``hours`` bars into it."""
    rows, predictor, first = _rows()
    clock = SimClock(first + hours * H + 2 * 10**9)
    store = Store.open(f"sqlite:///{out / 'store.sqlite'}", clock=clock)
    runtime = TradingRuntime(
        feed=StoreFeed(store, list(SYMBOLS), "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, MemoryProvider(rows), list(SYMBOLS), "USD", Timeframe.H1),
        clock=clock,
        predictor=predictor,
        config=BacktestConfig.defaults(),
        writer=PaperLogWriter(out / "decisions.jsonl"),
        header={"paper": {"run": 1}},
        bundle=bundle or {"active": True, "bundle_hash": "sha384:one"},
        load_bundle=load_bundle,
        halt_file=halt_file,
        audit=AuditLog(out / "audit.jsonl", clock),
        waiter=EventWaiter(),
    )
    return runtime, clock, store


def start(
    out: Path,
    *,
    bundles: BundleDesk | None = None,
    command_timeout_s: float = 30.0,
    **kwargs: Any,
) -> Running:
    """Start a runtime's runner thread and wrap it in a control plane."""
    out.mkdir(parents=True, exist_ok=True)
    runtime, clock, store = make_runtime(out, **kwargs)
    control = ControlPlane(
        runtime,
        clock=clock,
        index=DecisionIndex(out / "decisions.jsonl", out / "decisions.idx.sqlite"),
        bundles=bundles,
        store=store,
        audit_path=out / "audit.jsonl",
        symbols=SYMBOLS,
        quote="USD",
        command_timeout_s=command_timeout_s,
    )
    runtime.start()
    running = Running(runtime, control, clock, out, store, threading.Thread(target=lambda: None))

    def run() -> None:
        running.summary = runtime.run(cycles=0, on_cycle=lambda _: running.cycled.release())

    running.thread = threading.Thread(target=run, name="runner", daemon=True)
    running.thread.start()
    assert running.cycled.acquire(timeout=60), "the first cycle ran"
    return running


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """A started session that traded 30 bars of the example market."""
    session = start(tmp_path / "out")
    session.advance(30)
    yield session
    if session.thread.is_alive():
        session.stop()
    session.control.index.close()

"""The trading runtime's commands, waits and read model, on a clock the test controls.

Commands are posted the way another thread would post them (from inside a wait); the fake
waiter moves the simulated clock by each wait's timeout, so "applied within a second" is a
statement about simulated timestamps in the log, not about how long the test took.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime import (
    CommandKind,
    Health,
    Mode,
    PaperLogWriter,
    ProviderSync,
    TradingRuntime,
)
from quant_apps.runtime.models.bundles import NoModel
from quant_apps.runtime.trading.session import POLL_S
from quant_core import SimClock, Timeframe, unstructure
from quant_core.audit import AuditLog, read_audit_log
from quant_core.errors import QuantError
from quant_core.events import Predictor
from quant_core.profiles import RiskProfile
from quant_data import MemoryProvider, SourceBar, Store, StoreFeed
from quant_exec import BacktestConfig, RecordedPredictor
from quant_exec.session import example_bars, example_predictions

H = Timeframe.H1.ns
S = 10**9


class Waiter:
    """Moves the clock by each wait's timeout; ``during(n)`` runs inside wait number n."""

    def __init__(self, clock: SimClock, during: Mapping[int, Callable[[], None]] = {}) -> None:
        self.clock, self.during = clock, dict(during)
        self.asked: list[float] = []
        self.woken = 0

    def wait(self, timeout_s: float) -> None:
        self.asked.append(timeout_s)
        self.clock.advance_by(max(1, round(timeout_s * S)))
        action = self.during.pop(len(self.asked), None)
        if action is not None:
            action()

    def wake(self) -> None:
        self.woken += 1


def _source() -> tuple[list[SourceBar], RecordedPredictor, int]:
    bars = example_bars(n_bars=40)
    rows = [
        SourceBar(
            "memory",
            b.instrument.base,
            b.instrument.quote.value,
            "1h",
            b.open_time_ns,
            str(b.open),
            str(b.high),
            str(b.low),
            str(b.close),
            str(b.volume),
        )
        for b in bars
    ]
    return rows, RecordedPredictor(example_predictions(bars)), min(b.open_time_ns for b in bars)


def _runtime(
    tmp_path: Path,
    *,
    during: Mapping[int, Callable[[], None]] = {},
    load_bundle: Callable[[], tuple[Predictor, Mapping[str, Any]]] | None = None,
    **kwargs: Any,
) -> tuple[TradingRuntime, Waiter, SimClock]:
    rows, predictor, first = _source()
    clock = SimClock(first + H)
    store = Store.open("sqlite://", clock=clock)
    waiter = Waiter(clock, during)
    runtime = TradingRuntime(
        feed=StoreFeed(store, ["BTC", "ETH"], "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, MemoryProvider(rows), ["BTC", "ETH"], "USD", Timeframe.H1),
        clock=clock,
        predictor=predictor,
        config=BacktestConfig.defaults(),
        writer=PaperLogWriter(tmp_path / "decisions.jsonl"),
        header={"paper": {"run": 1}},
        bundle={"active": True, "bundle_hash": "sha384:one"},
        load_bundle=load_bundle,
        audit=AuditLog(tmp_path / "audit.jsonl", clock),
        waiter=waiter,
        **kwargs,
    )
    return runtime, waiter, clock


def test_a_halt_mid_bar_engages_within_a_second_and_resume_releases(tmp_path: Path) -> None:
    box: list[TradingRuntime] = []
    during = {
        600: lambda: box[0].halt("operator drill", actor="ops"),  # ten minutes into the bar
        1200: lambda: box[0].resume("drill over", actor="ops"),
    }
    runtime, waiter, clock = _runtime(tmp_path, during=during)
    box.append(runtime)
    assert runtime.read_model().status.health is Health.STARTING
    runtime.start()
    start = runtime.cycle()
    assert runtime.read_model().status.health is Health.RUNNING
    runtime.wait_for_next_cycle()
    assert all(0 < s <= POLL_S for s in waiter.asked)
    assert waiter.woken == 2  # each command woke the runner
    engage, release = runtime.engine.log.risk
    posted = start.now_ns + 600 * S
    assert posted <= engage["ts_ns"] <= posted + int(POLL_S * S)
    assert engage["kill_switch"]["actor"] == "ops"
    assert release["kill_switch"]["action"] == "release"
    # The log on disk already holds both lines: the runner flushed as it applied them.
    assert (tmp_path / "decisions.jsonl").read_bytes() == runtime.engine.log.to_bytes()
    kinds = [r.kind for r in read_audit_log(tmp_path / "audit.jsonl")]
    assert kinds == ["kill_switch.engage", "kill_switch.release"]
    report = runtime.cycle()
    assert report.kill_switch == "engaged: operator drill; released"
    assert report.now_ns >= start.now_ns + H
    assert clock.now_ns() == report.now_ns


def test_the_read_model_shows_the_engaged_switch_and_is_json(tmp_path: Path) -> None:
    runtime, _, clock = _runtime(tmp_path)
    runtime.start()
    runtime.cycle()
    runtime.halt("maintenance", actor="ops")
    assert runtime.service()
    model = runtime.read_model()
    assert model.status.health is Health.HALTED
    assert model.status.mode is Mode.PAPER
    assert (model.status.kill_switch.engaged, model.status.kill_switch.actor) == (True, "ops")
    assert model.status.kill_switch.since_ns == clock.now_ns()
    assert [g.gate for g in model.risk] == ["max_positions", "total_exposure", "drawdown"]
    document = json.loads(json.dumps(unstructure(model)))
    assert document["status"]["health"] == "halted"
    assert document["status"]["bundle"] == {"active": True, "bundle_hash": "sha384:one"}
    assert [f["instrument"] for f in document["status"]["freshness"]] == ["BTC/USD", "ETH/USD"]
    assert document["decisions"][-1]["trigger"] == "risk"
    assert not runtime.service()  # nothing queued, nothing changed


def test_poll_venue_books_the_venue_s_news_between_cycles(tmp_path: Path) -> None:
    runtime, _, clock = _runtime(tmp_path)
    runtime.start()
    runtime.cycle()
    published: list[object] = []
    runtime.listen(published.append)
    clock.advance_by(90 * S)
    runtime.poll_venue()  # an execution arrived on a live stream: booked now, not next hour
    assert runtime.engine.clock.now_ns() == clock.now_ns()
    assert published
    assert runtime.read_model().status.stream is None
    assert (tmp_path / "decisions.jsonl").read_bytes() == runtime.engine.log.to_bytes()


def test_trading_fills_show_as_holdings_orders_and_gate_use(tmp_path: Path) -> None:
    runtime, _, clock = _runtime(tmp_path)
    runtime.start()
    seen_orders = seen_holdings = False
    for _ in range(38):
        runtime.cycle()
        model = runtime.read_model()
        seen_orders |= bool(model.open_orders)
        seen_holdings |= bool(model.holdings)
        assert len(model.decisions) <= 50
        assert {f.stale for f in model.status.freshness} == {False}
        clock.advance_by(H)
    assert seen_orders, "the example's oracle predictions trade"
    assert seen_holdings
    model = runtime.read_model()
    snapshot = runtime.engine.ledger.snapshot()
    assert model.portfolio_value == snapshot.portfolio_value
    assert {h.base for h in model.holdings} == set(snapshot.positions)
    positions = model.risk[0]
    assert positions.limit == BacktestConfig.defaults().risk.profile.max_concurrent_positions
    assert positions.utilisation_pct == positions.used * 100 / positions.limit
    clock.advance_by(3 * H)  # no bar for three hours: every coin is stale
    runtime.halt("stale", actor="ops")
    runtime.service()
    assert {f.stale for f in runtime.read_model().status.freshness} == {True}


def test_profile_commands_make_governed_versions_or_are_refused(tmp_path: Path) -> None:
    heard: list[str] = []
    runtime, _, _ = _runtime(tmp_path)
    runtime.start()
    runtime.apply_profile(risk=RiskProfile(max_concurrent_positions=1), actor="ops", reason="x")
    runtime.apply_profile(risk=RiskProfile(max_concurrent_positions=2), actor="ops", reason="")
    runtime._on_change = heard.append
    runtime.service()
    (line,) = runtime.engine.log.risk
    assert line["risk_profile"]["version"] == 2
    assert line["risk_profile"]["author"] == "ops"
    assert heard[0].startswith("profile refused [PROFILE_CHANGE_UNATTRIBUTED]")
    assert heard[1] == f"profile {runtime.engine.label}"
    report = runtime.cycle()
    assert report.profile.startswith("refused [PROFILE_CHANGE_UNATTRIBUTED]")
    assert report.profile.endswith(f"; {runtime.engine.label}")


def test_reload_bundle_swaps_the_predictor_only_for_another_bundle(tmp_path: Path) -> None:
    answers: list[Any] = [
        (NoModel("X"), {"active": True, "bundle_hash": "sha384:one"}),
        QuantError("no release", reason_code="BUNDLE_MISSING"),
        (NoModel("BUNDLE_MISSING"), {"active": False, "reason_code": "BUNDLE_MISSING"}),
    ]

    def load() -> tuple[Predictor, Mapping[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[no-any-return]

    heard: list[str] = []
    runtime, _, _ = _runtime(tmp_path, load_bundle=load)
    runtime.start()
    runtime._on_change = heard.append
    for _ in range(3):
        runtime.reload_bundle(actor="ops")
        runtime.service()
    assert heard == [
        "bundle reload: the active bundle is unchanged",
        "bundle reload refused [BUNDLE_MISSING]: no release",
        "bundle reloaded: no model",
    ]
    (line,) = runtime.engine.log.risk
    assert line["change"] == "bundle"
    assert line["bundle"] == {"active": False, "reason_code": "BUNDLE_MISSING"}
    assert runtime.engine.predictor.model_id == "none:BUNDLE_MISSING"
    assert runtime.read_model().status.bundle["active"] is False
    fixed, _, _ = _runtime(tmp_path / "fixed")
    fixed._on_change = heard.append
    fixed.reload_bundle(actor="ops")
    fixed.service()
    assert heard[-1] == "bundle reload refused: this session serves a fixed predictor"


def test_stop_ends_the_loop_at_once_and_the_summary_says_so(tmp_path: Path) -> None:
    box: list[TradingRuntime] = []
    runtime, waiter, _ = _runtime(tmp_path, during={5: lambda: box[0].stop(actor="ops")})
    box.append(runtime)
    runtime.start()
    reports: list[Any] = []
    summary = runtime.run(cycles=0, on_cycle=reports.append)
    assert len(reports) == 1
    assert len(waiter.asked) == 5  # stopped inside the gap, not at the next bar
    assert summary["interrupted"] is False
    assert runtime.read_model().status.health is Health.STOPPED
    assert runtime.stopping


def test_a_command_from_another_thread_cuts_a_real_wait_short(tmp_path: Path) -> None:
    from quant_apps.runtime import EventWaiter

    rows, predictor, first = _source()
    clock = SimClock(first + H)  # never moves by itself: only a command can end the wait
    store = Store.open("sqlite://", clock=clock)
    runtime = TradingRuntime(
        feed=StoreFeed(store, ["BTC"], "USD", Timeframe.H1, prefer=["memory"]),
        sync=ProviderSync(store, MemoryProvider(rows), ["BTC"], "USD", Timeframe.H1),
        clock=clock,
        predictor=predictor,
        config=BacktestConfig.defaults(),
        writer=PaperLogWriter(tmp_path / "decisions.jsonl"),
        header={"paper": {"run": 1}},
        waiter=EventWaiter(),
    )
    runtime.start()
    heard: list[str] = []
    started = threading.Event()

    def operator() -> None:
        started.wait()
        runtime.halt("from the API", actor="ops")
        runtime.stop(actor="ops")

    thread = threading.Thread(target=operator)
    thread.start()

    def on_cycle(_: object) -> None:
        started.set()

    summary = runtime.run(cycles=0, on_cycle=on_cycle, on_change=heard.append)
    thread.join()
    assert heard == ["kill switch engaged: from the API"]
    assert [r["action"] for r in summary["kill_switch"]] == ["engage"]


def test_command_kinds_are_a_closed_set() -> None:
    assert [k.value for k in CommandKind] == [
        "halt",
        "resume",
        "apply_profile",
        "reload_bundle",
        "stop",
    ]
    with pytest.raises(ValueError, match="launch"):
        CommandKind("launch")


def engaged(runtime: TradingRuntime) -> bool:
    """Whether the kill switch is engaged (a call, so each check reads the switch anew)."""
    return runtime.kill_switch.engaged


def test_the_halt_file_wins_for_halting_and_only_its_removal_releases(tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    runtime, _, _ = _runtime(tmp_path, halt_file=halt)
    runtime.start()
    runtime.halt("operator halt", actor="ops")
    runtime.service()
    runtime.service()  # no halt file: the operator's halt stays
    assert engaged(runtime)
    runtime.resume("operator resume", actor="ops")
    runtime.service()
    assert not engaged(runtime)
    halt.write_text("file halt\n", encoding="utf-8")
    runtime.service()
    runtime.resume("try to resume", actor="ops")
    runtime.service()  # the file still exists: engaged again at once
    assert engaged(runtime)
    halt.unlink()
    runtime.service()
    assert not engaged(runtime)
    actions = [(r.action, r.actor) for r in runtime.kill_switch.records]
    assert actions == [
        ("engage", "ops"),
        ("release", "ops"),
        ("engage", "halt-file"),
        ("release", "ops"),
        ("engage", "halt-file"),
        ("release", "halt-file"),
    ]

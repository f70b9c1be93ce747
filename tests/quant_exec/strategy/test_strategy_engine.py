"""The backtest engine: determinism, decision logging, risk gates, kill switch, heartbeats."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from quant_core import Bar, Instrument, SimClock, Timeframe, unstructure
from quant_core.errors import ValidationError
from quant_core.events import HorizonForecast, InMemoryFeed, Prediction
from quant_core.profiles import ProfileHistory, ProfileVersion, RiskProfile, StrategyProfile
from quant_core.reasons import REGISTRY as REASON_CODES
from quant_exec import reasons
from quant_exec.decisions import LogRun, read_decision_log, read_log, replay_ledger
from quant_exec.errors import EngineInputError
from quant_exec.orders import Order, OrderEvent, OrderFilled, OrderState, Side, event_from_record
from quant_exec.risk import ClusterMap, KillSwitch
from quant_exec.session import (
    BacktestConfig,
    BacktestResult,
    RecordedPredictor,
    TradingSession,
    example_inputs,
    run_backtest,
    summary,
)
from quant_exec.venues import (
    FeeSchedule,
    FeeTier,
    PaperBroker,
    SlippageModel,
    Throttle,
    VenueRulebook,
    VenueRules,
)

BTC = Instrument("BTC", "USD")
ETH = Instrument("ETH", "USD")
H = Timeframe.H1.ns
T0 = 1_704_067_200 * 10**9
SMALL = 96


def example_run(**overrides: object) -> BacktestResult:
    feed, predictor = example_inputs(n_bars=SMALL)
    return run_backtest(feed, predictor, BacktestConfig.defaults(**overrides))


# --- determinism and replay -----------------------------------------------------------------


def test_same_inputs_give_the_same_log_bytes() -> None:
    first, second = example_run(), example_run()
    assert first.log.to_bytes() == second.log.to_bytes()
    assert first.log_hash == second.log_hash
    assert first.log_hash.startswith("sha256:")


_REPLAY = (
    "from quant_exec.session import BacktestConfig, run_backtest\n"
    "from quant_exec.session import example_inputs\n"
    f"feed, predictor = example_inputs(n_bars={SMALL})\n"
    "print(run_backtest(feed, predictor, BacktestConfig.defaults()).log_hash)\n"
)


@pytest.mark.parametrize("hash_seed", ["1", "4242"])
def test_replay_in_another_process_with_another_hash_seed(hash_seed: str) -> None:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", _REPLAY], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.strip() == example_run().log_hash


def test_the_written_log_hashes_to_the_replay_hash(tmp_path: Path) -> None:
    result = example_run()
    written = result.log.write(tmp_path / "sub" / "decisions.jsonl")
    assert written == result.log_hash
    session, records = read_decision_log(tmp_path / "sub" / "decisions.jsonl")
    assert session["model_id"] == "example:oracle-with-noise/1"
    assert session["strategy_profile"]["version"] == 1
    assert len(records) == len(result.log) == result.metrics["decisions"]
    (run,) = read_log(tmp_path / "sub" / "decisions.jsonl")
    assert run.decisions == records
    assert run.orders == list(result.log.orders)
    # Decisions and order events share one numbering, in the order they were written.
    lines = (tmp_path / "sub" / "decisions.jsonl").read_bytes().splitlines()[1:]
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert len(lines) == len(records) + len(run.orders)


def test_every_order_event_is_logged_after_the_decision_that_made_it() -> None:
    result = example_run()
    decisions = result.log.records
    orders = result.log.orders
    created = {d.order_id: d for d in decisions if d.order_id is not None}
    assert created, "the example trades"
    assert {o["order_id"] for o in orders} == set(created)
    for order in orders:
        assert order["seq"] > created[order["order_id"]].seq
        assert order["event"]["client_order_id"] == order["order_id"]
    # Each order's lines start with its submission; read back, each event is the one applied.
    by_order: dict[str, list[dict[str, Any]]] = {}
    for order in orders:
        by_order.setdefault(str(order["order_id"]), []).append(order)
    for events in by_order.values():
        assert events[0]["event"]["event"] == "OrderSubmitted"
        assert events[0]["status"] == "submitted"
        for line in events:
            assert event_from_record(line["event"]).to_record() == line["event"]
    # Every fill the engine booked has its order line, with the same trade, price and quantity.
    logged = [
        (o["event"]["trade_id"], o["event"]["price"], o["event"]["quantity"])
        for o in orders
        if o["event"]["event"] == "OrderFilled" and not o["duplicate"]
    ]
    assert len(logged) == len(result.fills)
    assert [(str(p), str(q)) for _, p, q in logged] == [
        (str(f.price), str(f.quantity)) for f in result.fills
    ]


class _RepeatingVenue:
    """A paper broker whose every fill is delivered twice (a venue resending an execution)."""

    def __init__(self, clock: SimClock, config: BacktestConfig) -> None:
        self.broker = PaperBroker(
            clock, fees=config.fees, slippage=config.slippage, venue=config.venue
        )

    def _twice(self, events: Sequence[OrderEvent]) -> list[OrderEvent]:
        out: list[OrderEvent] = []
        for event in events:
            out += [event, event] if isinstance(event, OrderFilled) else [event]
        return out

    def submit(self, order: Order) -> Sequence[OrderEvent]:
        return self._twice(self.broker.submit(order))

    def poll(self) -> Sequence[OrderEvent]:
        return self._twice(self.broker.poll())

    def cancel(self, client_order_id: str) -> Sequence[OrderEvent]:
        return self._twice(self.broker.cancel(client_order_id))

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> Sequence[OrderEvent]:
        return self._twice(self.broker.on_bar(bar, cash_available=cash_available))

    @property
    def throttle(self) -> Throttle:
        return self.broker.throttle

    def query(self, client_order_id: str) -> OrderState | None:
        return self.broker.query(client_order_id)

    def open_orders(self) -> Sequence[OrderState]:
        return self.broker.open_orders()

    def trades_since(self, after_trade_id: str | None) -> Sequence[OrderFilled]:
        return self.broker.trades_since(after_trade_id)

    def balances(self) -> Mapping[str, Decimal]:
        return self.broker.balances()


def test_a_resent_fill_is_logged_as_a_duplicate_and_booked_once() -> None:
    feed, predictor = example_inputs(n_bars=SMALL)
    config = BacktestConfig.defaults()
    plain = run_backtest(feed, predictor, config)
    clock = SimClock()
    feed, predictor = example_inputs(n_bars=SMALL)
    twice = run_backtest(feed, predictor, config, venue=_RepeatingVenue(clock, config), clock=clock)
    fills = [o for o in twice.log.orders if o["event"]["event"] == "OrderFilled"]
    first, repeats = fills[0::2], fills[1::2]
    assert first
    assert len(first) == len(repeats) == len(plain.fills) == len(twice.fills)
    assert not any(o["duplicate"] for o in first)
    assert all(o["duplicate"] for o in repeats)
    assert [o["event"] for o in first] == [o["event"] for o in repeats]
    # The repeat changes nothing: same status, same books, same decisions.
    assert [o["status"] for o in first] == [o["status"] for o in repeats]
    assert twice.fills == plain.fills
    assert twice.metrics == plain.metrics
    # The same decisions (numbered apart: the repeats take line numbers of their own).
    assert [attrs.evolve(r, seq=0) for r in twice.log.records] == [
        attrs.evolve(r, seq=0) for r in plain.log.records
    ]


def test_the_header_records_a_configuration_that_replays_the_run(tmp_path: Path) -> None:
    feed, predictor = example_inputs(n_bars=SMALL)
    config = BacktestConfig.from_profiles(
        StrategyProfile(**SCENARIO_THRESHOLDS),
        RiskProfile(max_concurrent_positions=2),
        initial_cash="25000.5",
        fees=FeeSchedule((FeeTier(0, "0.1", "0.3"), FeeTier(50_000, "0.05", "0.2"))),
        slippage=SlippageModel(base_bps=3, impact_bps=20),
        latency_ns=2 * 10**9,
        max_volume_share="0.05",
        seed=11,
        venue=VenueRulebook(
            {"BTC": VenueRules("0.0001", "0.5"), "XRP": VenueRules(1, "0.0001")},
            default=VenueRules("0.001", "0.01", min_cost=5),
        ),
        clusters=ClusterMap({"BTC": "majors"}, fallback="alts"),
        dataset_hash="sha256:data",
        heartbeat_ns=H // 2,
        market_buffer_bps=50,
    )
    result = run_backtest(feed, predictor, config)
    assert result.fills, "the run trades, so fees, slippage and lots matter"
    result.log.write(tmp_path / "decisions.jsonl")
    header, _ = read_decision_log(tmp_path / "decisions.jsonl")
    again = BacktestConfig.from_session(header)
    # Everything but the venue and clusters comes back whole; those, for the traded assets.
    keep = ("venue", "clusters")
    assert attrs.evolve(again, venue=config.venue, clusters=config.clusters) == config
    assert again.venue.rules == {"BTC": config.venue.rules["BTC"], "ETH": config.venue.default}
    assert {b: again.clusters.cluster_of(b) for b in ("BTC", "ETH")} == {
        "BTC": "majors",
        "ETH": "alts",
    }
    assert all(k in header["execution"] for k in ("fees", "slippage", "seed", *keep))
    feed, predictor = example_inputs(n_bars=SMALL)
    assert run_backtest(feed, predictor, again).log.to_bytes() == result.log.to_bytes()


@pytest.mark.parametrize(
    "damage",
    [
        lambda h: h.pop("execution"),
        lambda h: h["execution"].pop("fees"),
        lambda h: h["execution"].update(seed="eleven"),
        lambda h: h["execution"].update(venue={"BTC": {"lot_size": "-1", "tick_size": "1"}}),
        lambda h: h["strategy_profile"].update(kind="risk"),
        lambda h: h.update(initial_cash="-5"),
    ],
)
def test_a_header_without_a_replayable_configuration_is_refused(damage: Any) -> None:
    header = json.loads(json.dumps(unstructure(dict(example_run().session))))
    damage(header)
    with pytest.raises(EngineInputError) as caught:
        BacktestConfig.from_session(header)
    assert caught.value.reason_code == "ENGINE_INPUT_INVALID"


def test_every_bar_gets_a_logged_decision_with_its_provenance() -> None:
    result = example_run(dataset_hash="sha256:data")
    records = result.log.records
    # Two instruments, one evaluation per bar close, no heartbeats configured.
    assert len(records) == result.metrics["bars"] == 2 * SMALL
    label = result.session["profile"]
    assert label.startswith("strategy v1 / risk v1 / sha256:")
    for record in records:
        assert record.profile == label
        assert all(code in REASON_CODES for code in record.reason_codes)
        assert record.trigger in {"bar", "fill"}
    assert result.session["dataset_hash"] == "sha256:data"
    with_prediction = [r for r in records if r.reason_codes[0] != reasons.NO_PREDICTION]
    assert with_prediction
    assert all(r.model_id == "example:oracle-with-noise/1" for r in with_prediction)
    assert all("p_up" in r.inputs for r in with_prediction)
    assert any(r.action == "none" for r in records)  # "no action" is logged too


def test_accounting_matches_the_fills() -> None:
    result = example_run(slippage=SlippageModel(base_bps=0, impact_bps=0))
    cash = Decimal(10_000)
    held: dict[str, Decimal] = {}
    for fill in result.fills:
        sign = 1 if fill.side == "buy" else -1
        cash -= sign * fill.price * fill.quantity + fill.fee
        held[fill.instrument] = held.get(fill.instrument, Decimal(0)) + sign * fill.quantity
        assert cash >= 0
        assert held[fill.instrument] >= 0
    last = {label: series[-1][1] for label, series in result.closes.items()}
    value = cash + sum(q * last[label] for label, q in held.items())
    assert Decimal(result.metrics["final_value"]) == value
    assert result.equity[-1][1] == value
    orders = {r.order_id for r in result.log.records if r.order_id}
    assert len(orders) == result.metrics["orders"]


def test_summary_and_report_data_carry_the_hashes() -> None:
    result = example_run(dataset_hash="sha256:d")
    doc = summary(result)
    assert doc["log_hash"] == result.log_hash
    assert doc["dataset_hash"] == "sha256:d"
    assert sum(doc["reason_counts"].values()) >= len(result.log)
    data = result.report_data("t")
    assert data.identity["decision_log_hash"] == result.log_hash
    assert len(data.fills) == len(result.fills)


# --- constructed scenarios through the whole engine -----------------------------------------


def bars(instrument: Instrument, closes: Sequence[str], volume: str = "1000") -> list[Bar]:
    out = []
    for i, close in enumerate(closes):
        price = Decimal(close)
        out.append(Bar(instrument, "1h", T0 + i * H, price, price, price, price, volume))
    return out


class Scripted:
    """A predictor that replays (near p_up, near downside, outlook p_up) per bar index."""

    model_id = "sha256:scripted"
    horizons_ns = (4 * H, 24 * H)

    def __init__(self, script: Mapping[int, tuple[float, float, float]], hook=None) -> None:  # type: ignore[no-untyped-def]
        self.script = script
        self.hook = hook

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        index = (as_of_ns - T0) // H - 1
        if self.hook is not None:
            self.hook(index)
        if index not in self.script or BTC not in history:
            return ()
        up, down, outlook = self.script[index]
        rest = 1.0 - down
        near = HorizonForecast(4 * H, up, (-0.01, 0.01), (down, rest / 2, rest / 2))
        far = HorizonForecast(24 * H, outlook)
        return (Prediction(BTC, as_of_ns, as_of_ns, (near, far), self.model_id),)


sys.path.insert(0, str(Path(__file__).resolve().parent))
SCENARIO_THRESHOLDS = importlib.import_module("_scenario").SCENARIO_THRESHOLDS


def scenario_config(
    strategy: StrategyProfile | None = None,
    risk: RiskProfile | None = None,
    max_volume_share: Decimal = Decimal(1),
) -> BacktestConfig:
    """The scenarios' configuration: pinned thresholds, no slippage, whole-bar fills."""
    return BacktestConfig.from_profiles(
        strategy or StrategyProfile(**SCENARIO_THRESHOLDS),
        risk or RiskProfile(),
        slippage=SlippageModel(base_bps=0, impact_bps=0),
        max_volume_share=max_volume_share,
    )


def scenario(
    closes: Sequence[str],
    script: Mapping[int, tuple[float, float, float]],
    strategy: StrategyProfile | None = None,
    risk: RiskProfile | None = None,
    **kw: object,
) -> BacktestResult:
    config = scenario_config(strategy, risk)
    return run_backtest(InMemoryFeed(bars(BTC, closes)), Scripted(script), config, **kw)  # type: ignore[arg-type]


STRONG = (0.7, 0.1, 0.7)
FADING = (0.55, 0.2, 0.55)
RECOVERED = (0.6, 0.1, 0.6)


def test_entry_partial_profit_and_reentry_through_the_engine() -> None:
    closes = ["100", "100", "108", "108", "108", "108"]
    # bar 0: entry -> fills at bar 1 open (100); bar 2 close 108: +8% with a faded edge ->
    # partial exit, fills at bar 3 open; bar 3: newer prediction with the edge back -> re-entry.
    result = scenario(closes, {0: STRONG, 1: STRONG, 2: FADING, 3: RECOVERED, 4: STRONG})
    reasons_by_fill = [(f.side, f.reason_code) for f in result.fills]
    assert reasons_by_fill == [
        ("buy", reasons.ENTRY),
        ("sell", reasons.TAKE_PROFIT_PARTIAL),
        ("buy", reasons.REENTRY),
    ]
    first, partial, again = result.fills
    assert partial.quantity == (first.quantity * Decimal("0.33")).quantize(Decimal("1e-8"))
    assert again.quantity == partial.quantity
    assert first.price == Decimal(100)
    assert partial.price == Decimal(108)


def test_kill_switch_halts_new_entries_but_not_exits() -> None:
    clock = SimClock(T0)
    switch = KillSwitch(clock)

    def engage(index: int) -> None:
        if index == 2:
            switch.engage("drill", actor="test")

    # Entry at bar 0; at bar 2 the switch is engaged; bar 3 would enter again (after the exit at
    # bars 2-4) but is refused; the negative-outlook exit still goes through.
    negative = (0.2, 0.8, 0.2)
    script = {0: STRONG, 1: negative, 2: negative, 3: negative, 4: STRONG, 5: STRONG}
    config = scenario_config(StrategyProfile(persistence=3))
    result = run_backtest(
        InMemoryFeed(bars(BTC, ["100"] * 8)),
        Scripted(script, engage),
        config,
        clock=clock,
        kill_switch=switch,
    )
    assert [(f.side, f.reason_code) for f in result.fills] == [
        ("buy", reasons.ENTRY),
        ("sell", reasons.EXIT_NEGATIVE_OUTLOOK),
    ]
    refused = [r for r in result.log.records if r.action == "rejected"]
    assert refused
    assert all(r.reason_codes == (reasons.ENTRY, reasons.KILL_SWITCH_ENGAGED) for r in refused)
    assert switch.records[0].ts_ns == T0 + 3 * H  # stamped in simulated time
    # The engage is logged once, as a risk line, before the decisions of the bar it came with.
    (line,) = result.log.risk
    assert line["change"] == "kill_switch"
    assert line["kill_switch"] == switch.records[0].to_audit()
    assert line["ts_ns"] == T0 + 3 * H
    same_bar = [r.seq for r in result.log.records if r.ts_ns == line["ts_ns"]]
    assert line["seq"] < min(same_bar)


def test_engaging_the_kill_switch_pulls_working_buys() -> None:
    # A buy worked over many bars (at most a sliver of each bar's volume fills): the switch is
    # engaged while it works; the rest of it is canceled, and what filled stays filled.
    clock = SimClock(T0)
    switch = KillSwitch(clock)
    config = scenario_config(max_volume_share=Decimal("0.00001"))
    script = dict.fromkeys(range(8), STRONG)
    session = TradingSession([BTC], Timeframe.H1, Scripted(script), config, clock=clock,
                             kill_switch=switch)  # fmt: skip
    closes = bars(BTC, ["100"] * 8)
    for bar in closes[:3]:
        session.on_bars([bar])
    working = [s for s in session.orders.values() if s.order.side is Side.BUY]
    assert working, "the buy is still being worked"
    assert working[0].filled_qty > 0
    now = closes[2].close_time_ns + 60 * 10**9
    clock.advance_to(now)
    switch.engage("drill", actor="ops")
    session.on_risk_change(now)
    for bar in closes[3:]:
        session.on_bars([bar])
    oid = working[0].client_order_id
    engage, verify = session.log.risk  # the cancel is verified against the venue at once
    assert engage["cancel_requested"] == [oid]
    assert (verify["change"], verify["reason_code"]) == (
        "kill_switch_verify",
        "KILL_SWITCH_VERIFIED",
    )
    text, verified = session.result().report_data().tables["Risk changes"].values()
    assert text == "kill switch engage by ops: drill; 1 working orders pulled"
    assert verified == "kill_switch_verify: KILL_SWITCH_VERIFIED venue"
    events = [o["event"]["event"] for o in session.log.orders if o["order_id"] == oid]
    assert events[-2:] == ["OrderCancelRequested", "OrderCanceled"]
    assert session.done[oid].status.value == "canceled"
    assert not session.venue.open_orders()
    assert not session.orders  # nothing works any more
    fills = [f for f in session.fills if f.side == "buy"]
    assert sum(f.quantity for f in fills) == session.done[oid].filled_qty
    assert all(f.ts_ns <= now for f in fills)
    # Nothing new was sent after the engage.
    assert all(r.order_id is None for r in session.log.records if r.ts_ns >= now)


def test_a_risk_change_books_due_venue_events_and_skips_instruments_without_bars() -> None:
    # BTC enters at its first close; the order reaches the venue 30 minutes later. A risk
    # re-evaluation 40 minutes after the close books that acknowledgement first; ETH has had
    # no bar yet, so only BTC is evaluated.
    config = BacktestConfig.from_profiles(
        StrategyProfile(**SCENARIO_THRESHOLDS), RiskProfile(), latency_ns=H // 2
    )
    session = TradingSession([BTC, ETH], Timeframe.H1, Scripted({0: STRONG}), config,
                             clock=SimClock(T0))  # fmt: skip
    (first,) = bars(BTC, ["100"])
    session.on_bars([first])
    assert [o["event"]["event"] for o in session.log.orders] == ["OrderSubmitted"]
    later = first.close_time_ns + 40 * 60 * 10**9
    session.on_risk_change(later)
    accepted = session.log.orders[-1]
    assert (accepted["event"]["event"], accepted["ts_ns"]) == ("OrderAccepted", later)
    risk = [r for r in session.log.records if r.trigger == "risk"]
    assert [(r.instrument, r.seq) for r in risk] == [("BTC/USD", accepted["seq"] + 1)]
    assert session.log.risk == ()  # nothing changed: nothing to log but the evaluation


def _strategy_v2(**changes: object) -> ProfileVersion[StrategyProfile]:
    history = ProfileHistory.create(
        StrategyProfile(**SCENARIO_THRESHOLDS), author="ops", reason="v1", clock=SimClock(0)
    )
    return history.change(changes, author="ops", reason="looser entry", clock=SimClock(1)).active


def _drill() -> tuple[TradingSession, KillSwitch, list[Bar]]:
    """Flat BTC on a fading edge; the switch engaged, the entry loosened, the switch released.

    Between bars 1 and 2: engage the switch (risk change 1), move to strategy v2 whose entry
    threshold the fading edge clears (risk change 2: the entry is refused by the switch), then
    release it (risk change 3: the entry goes through; it fills at bar 3's open).
    """
    clock = SimClock(T0)
    switch = KillSwitch(clock)
    config = scenario_config()
    script = dict.fromkeys(range(4), FADING)
    session = TradingSession([BTC], Timeframe.H1, Scripted(script), config, clock=clock,
                             kill_switch=switch)  # fmt: skip
    closes = bars(BTC, ["100", "100", "101", "102"])
    for bar in closes[:2]:
        session.on_bars([bar])
    now = closes[1].close_time_ns + 60 * 10**9
    clock.advance_to(now)
    switch.engage("drill", actor="ops")
    session.on_risk_change(now)
    session.on_risk_change(now + 1, strategy=_strategy_v2(entry_min_up_probability="0.5"))
    clock.advance_to(now + 2)
    switch.release("drill over", actor="ops")
    session.on_risk_change(now + 2)
    for bar in closes[2:]:
        session.on_bars([bar])
    return session, switch, closes


def test_risk_changes_are_logged_and_re_evaluated_at_once() -> None:
    session, switch, closes = _drill()
    log = session.log
    assert [(r["change"], r["ts_ns"] - log.risk[0]["ts_ns"]) for r in log.risk] == [
        ("kill_switch", 0),
        ("profile", 1),
        ("kill_switch", 2),
    ]
    assert [r["kill_switch"] for r in log.risk if r["change"] == "kill_switch"] == [
        rec.to_audit() for rec in switch.records
    ]
    profile = log.risk[1]
    assert profile["strategy_profile"]["version"] == 2
    assert profile["strategy_profile"]["diff"] == [
        {"parameter": "entry_min_up_probability", "old": "0.58", "new": "0.5"}
    ]
    assert profile["profile"].startswith("strategy v2 / risk v1 / sha256:")
    # One evaluation per risk change, right after its line: nothing to do, refused, entered.
    by_risk = [r for r in log.records if r.trigger == "risk"]
    assert [(r.action, r.reason_codes) for r in by_risk] == [
        ("none", (reasons.NO_EDGE,)),
        ("rejected", (reasons.ENTRY, reasons.KILL_SWITCH_ENGAGED)),
        ("buy", (reasons.ENTRY,)),
    ]
    assert [r.seq for r in by_risk] == [line["seq"] + 1 for line in log.risk]
    assert [r.profile.split(" / ")[0] for r in by_risk] == ["strategy v1"] + ["strategy v2"] * 2
    assert {r.profile for r in log.records if r.ts_ns >= by_risk[1].ts_ns} == {profile["profile"]}
    # The order, sent a minute into bar 2, filled at the open of the first bar opening after
    # it was sent (bar 3): the broker never fills at a price from before the order.
    result = session.result()
    (fill,) = result.fills
    assert (fill.side, fill.price, fill.reason_code) == ("buy", closes[3].open, reasons.ENTRY)
    # The report lists the changes in words, and the order events by type.
    tables = result.report_data().tables
    assert list(tables["Risk changes"].values()) == [
        "kill switch engage by ops: drill",
        f"profile now {profile['profile']}",
        "kill switch release by ops: drill over",
    ]
    assert tables["Order events"] == summary(result)["order_events"]
    assert tables["Order events"]["OrderFilled"] == 1


def test_a_risk_change_replays_byte_for_byte() -> None:
    first, _, _ = _drill()
    second, _, _ = _drill()
    assert first.log.to_bytes() == second.log.to_bytes()


def test_refused_risk_changes_change_nothing() -> None:
    session, _, _ = _drill()
    before = session.log.to_bytes()
    active = session.config.strategy
    now = session.clock.now_ns()
    with pytest.raises(EngineInputError, match="not newer"):
        session.on_risk_change(now, strategy=active)
    with pytest.raises(EngineInputError, match="before the session's clock"):
        session.on_risk_change(now - 1)
    assert session.log.to_bytes() == before
    assert session.config.strategy is active


class Both(Scripted):
    """Strong predictions for BTC from bar 0 and for ETH from bar ``eth_from``."""

    def __init__(self, eth_from: int = 0) -> None:
        super().__init__({})
        self.eth_from = eth_from

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        index = (as_of_ns - T0) // H - 1
        near = HorizonForecast(4 * H, 0.7, (-0.01, 0.01), (0.1, 0.45, 0.45))
        far = HorizonForecast(24 * H, 0.7)
        wanted = (BTC, ETH) if index >= self.eth_from else (BTC,)
        return tuple(Prediction(i, as_of_ns, as_of_ns, (near, far), self.model_id) for i in wanted)


def test_drawdown_gate_refuses_new_risk_and_logs_it() -> None:
    # BTC entered at 100 (35% of PV) falls to 90: PV drawdown 3.5% > the 1% gate; ETH's entry
    # at bar 3 is refused and logged, and no order exists for it.
    feed = InMemoryFeed(bars(BTC, ["100", "100", "90", "90", "90"]) + bars(ETH, ["10"] * 5))
    config = BacktestConfig.from_profiles(
        StrategyProfile(position_size_pct=Decimal(35)),
        RiskProfile(drawdown_limit_pct=Decimal(1)),
        slippage=SlippageModel(base_bps=0, impact_bps=0),
        max_volume_share=Decimal(1),
    )
    result = run_backtest(feed, Both(eth_from=3), config)
    assert [(f.instrument, f.reason_code) for f in result.fills] == [("BTC/USD", reasons.ENTRY)]
    refused = [r for r in result.log.records if r.action == "rejected"]
    assert refused
    assert {r.instrument for r in refused} == {"ETH/USD"}
    assert all(r.reason_codes == (reasons.ENTRY, reasons.RISK_DRAWDOWN) for r in refused)
    assert all(r.order_id is None and r.quantity is not None for r in refused)


def test_max_positions_gate_refuses_the_second_instrument() -> None:
    feed = InMemoryFeed(bars(BTC, ["100"] * 4) + bars(ETH, ["10"] * 4))
    config = BacktestConfig.from_profiles(
        StrategyProfile(), RiskProfile(max_concurrent_positions=1), max_volume_share=Decimal(1)
    )
    result = run_backtest(feed, Both(), config)
    assert [f.instrument for f in result.fills] == ["BTC/USD"]
    refused = [r for r in result.log.records if r.action == "rejected"]
    assert refused[0].instrument == "ETH/USD"
    assert refused[0].reason_codes == (reasons.ENTRY, reasons.RISK_MAX_POSITIONS)
    assert result.metrics["rejections"] == len(refused)


def test_pending_orders_block_new_intents_until_filled() -> None:
    # A thin market: 10% of a volume of 1 per bar fills slowly, so the order stays working.
    config = BacktestConfig.from_profiles(StrategyProfile(), RiskProfile())
    feed = InMemoryFeed(bars(BTC, ["100"] * 4, volume="1"))
    result = run_backtest(feed, Scripted(dict.fromkeys(range(4), STRONG)), config)
    codes = [r.reason_codes[0] for r in result.log.records]
    assert codes[0] == reasons.ENTRY
    assert set(codes[1:]) == {reasons.ORDER_PENDING}


def test_heartbeats_fire_only_in_gaps() -> None:
    gap = [
        *bars(BTC, ["100", "100"]),
        Bar(BTC, "1h", T0 + 6 * H, 100, 100, 100, 100, 1000),
        Bar(BTC, "1h", T0 + 7 * H, 100, 100, 100, 100, 1000),
    ]
    config = BacktestConfig.from_profiles(
        StrategyProfile(), RiskProfile(), heartbeat_ns=2 * H, max_volume_share=Decimal(1)
    )
    flat = run_backtest(InMemoryFeed(gap), Scripted({}), config)
    beats = [r for r in flat.log.records if r.trigger == "heartbeat"]
    # Closes at T0+1H, +2H, then +7H: beats at +4H and +6H (strictly before +7H).
    assert [r.ts_ns for r in beats] == [T0 + 4 * H, T0 + 6 * H]
    assert all(r.reason_codes == (reasons.HEARTBEAT_IDLE,) for r in beats)
    held = run_backtest(InMemoryFeed(gap), Scripted({0: STRONG}), config)
    beats = [r for r in held.log.records if r.trigger == "heartbeat"]
    assert [r.instrument for r in beats] == ["BTC/USD", "BTC/USD"]
    assert all(r.reason_codes == (reasons.HOLD_POSITION,) for r in beats)


def test_window_and_input_errors() -> None:
    feed, predictor = example_inputs(n_bars=30)
    config = BacktestConfig.defaults()
    some = run_backtest(feed, predictor, config, start_ns=T0 + 2 * H, end_ns=T0 + 5 * H)
    assert some.metrics["bars"] == 2 * 3
    with pytest.raises(EngineInputError) as info:
        run_backtest(feed, predictor, config, start_ns=T0 + 100 * H)
    assert info.value.reason_code == reasons.ENGINE_INPUT_INVALID
    mixed = InMemoryFeed(
        [*bars(BTC, ["1"]), Bar(Instrument("ETH", "CAD"), "1h", T0, 1, 1, 1, 1, 0)]
    )
    with pytest.raises(EngineInputError):
        run_backtest(mixed, predictor, config)
    unknown = InMemoryFeed(bars(Instrument("ZZZZ", "USD"), ["1", "1"]))
    odd = Scripted({0: STRONG})
    with pytest.raises(EngineInputError, match="no trading rules"):
        run_backtest(
            unknown, odd, attrs.evolve(config, venue=attrs.evolve(config.venue, default=None))
        )


def test_recorded_predictor_drives_the_engine(tmp_path: Path) -> None:
    feed, predictor = example_inputs(n_bars=SMALL)
    recorded = RecordedPredictor(predictor.predict(T0 + 5 * H, {BTC: ()}))
    result = run_backtest(feed, recorded, BacktestConfig.defaults())
    used = [r for r in result.log.records if r.model_id]
    assert {r.ts_ns for r in used} >= {T0 + 5 * H}
    assert json.loads(result.log.to_bytes().splitlines()[0])["kind"] == "session"


def test_latency_delays_acknowledgement_and_fill() -> None:
    # 30 minutes of latency: the order reaches the venue mid-bar, so it cannot trade on the
    # bar that opened when it was sent (that bar closes after arrival, so it still can); the
    # acknowledgement arrives by poll at the next event time.
    config = BacktestConfig.from_profiles(
        StrategyProfile(),
        RiskProfile(),
        latency_ns=H // 2,
        max_volume_share=Decimal(1),
        slippage=SlippageModel(base_bps=0, impact_bps=0),
    )
    feed = InMemoryFeed(bars(BTC, ["100", "101", "102", "103"]))
    result = run_backtest(feed, Scripted({0: STRONG}), config)
    assert [f.reason_code for f in result.fills] == [reasons.ENTRY]
    assert result.fills[0].ts_ns >= T0 + H


def test_a_gap_up_cuts_the_buy_to_what_cash_can_pay() -> None:
    from quant_core.profiles import ExposureLimit

    risk = RiskProfile(
        max_total_exposure=ExposureLimit.percent(100),
        max_cluster_exposure=ExposureLimit.percent(100),
    )
    config = BacktestConfig.from_profiles(
        StrategyProfile(position_size_pct=Decimal(95)),
        risk,
        max_volume_share=Decimal(1),
        slippage=SlippageModel(base_bps=0, impact_bps=0),
    )
    gap = [
        Bar(BTC, "1h", T0, 100, 100, 100, 100, 1000),
        Bar(BTC, "1h", T0 + H, 150, 150, 150, 150, 1000),  # opens 50% above the decision close
        Bar(BTC, "1h", T0 + 2 * H, 150, 150, 150, 150, 1000),
    ]
    result = run_backtest(InMemoryFeed(gap), Scripted({0: STRONG}), config)
    (fill,) = result.fills
    ordered = next(r.quantity for r in result.log.records if r.order_id)
    assert ordered is not None
    assert fill.quantity < ordered
    assert fill.quantity * fill.price + fill.fee <= Decimal(10_000)
    # The canceled rest leaves no working order: the next evaluation is not ORDER_PENDING.
    assert result.log.records[-1].reason_codes != (reasons.ORDER_PENDING,)


# --- the session API (what a paper session drives) ------------------------------------------


def test_a_session_fed_by_hand_reproduces_the_backtest() -> None:
    feed, predictor = example_inputs(n_bars=SMALL)
    config = BacktestConfig.defaults()
    session = TradingSession(feed.instruments, feed.timeframe, predictor, config)
    times = sorted({b.close_time_ns for b in feed.bars(0, 2**62)})
    for ts in times:
        session.on_bars([b for b in feed.bars(0, 2**62) if b.close_time_ns == ts])
    assert session.result().log.to_bytes() == run_backtest(feed, predictor, config).log.to_bytes()


def test_the_log_alone_rebuilds_the_sessions_books(tmp_path: Path) -> None:
    # Partial fills (a small volume share), fees and latency: many order lines per order.
    feed, predictor = example_inputs(n_bars=SMALL)
    config = BacktestConfig.defaults(max_volume_share=Decimal("0.00002"), latency_ns=10**9)
    session = TradingSession(feed.instruments, feed.timeframe, predictor, config)
    for ts in sorted({b.close_time_ns for b in feed.bars(0, 2**62)}):
        session.on_bars([b for b in feed.bars(0, 2**62) if b.close_time_ns == ts])
    statuses = {o["status"] for o in session.log.orders}
    assert {"partially_filled", "filled"} <= statuses
    session.log.write(tmp_path / "decisions.jsonl")
    (run,) = read_log(tmp_path / "decisions.jsonl")
    books, kept = replay_ledger(run), session.ledger
    assert books.cash == kept.cash
    assert books.positions == kept.positions
    assert books.realized_pnl == kept.realized_pnl
    assert books.fees_paid == kept.fees_paid
    assert [e.fill for e in books.entries] == [e.fill for e in kept.entries]


def test_a_log_that_cannot_be_replayed_is_refused() -> None:
    result = example_run()
    run = read_log_run(result)
    for header in ({}, {**run.session, "instruments": []}):
        with pytest.raises(ValidationError) as caught:
            replay_ledger(attrs.evolve(run, session=header))
        assert caught.value.reason_code == reasons.DECISION_LOG_INVALID
    broken = [dict(o, event={"event": "OrderFilled", "price": "x"}) for o in run.orders]
    with pytest.raises(ValidationError):
        replay_ledger(attrs.evolve(run, orders=broken))


def read_log_run(result: BacktestResult) -> LogRun:
    return LogRun(dict(result.session), [], list(result.log.orders))


def test_a_paper_style_session_stamps_decisions_when_bars_were_seen() -> None:
    # Live-ish: each close is observed 3 s late, and the broker has 1 s latency.
    feed, predictor = example_inputs(n_bars=SMALL)
    config = BacktestConfig.defaults(latency_ns=10**9, heartbeat_ns=H)
    clock = SimClock(T0)
    session = TradingSession(feed.instruments, feed.timeframe, predictor, config, clock=clock)
    late = 3 * 10**9
    for ts in sorted({b.close_time_ns for b in feed.bars(0, 2**62)}):
        session.on_bars([b for b in feed.bars(0, 2**62) if b.close_time_ns == ts], now_ns=ts + late)
        session.heartbeat(ts + late + H // 2)  # a quiet half hour: re-evaluate what is held
    result = session.result()
    by_trigger = {r.trigger for r in result.log.records}
    assert by_trigger >= {"bar", "heartbeat"}
    assert all((r.ts_ns - T0) % H in (late, late + H // 2) for r in result.log.records)
    assert result.fills
    assert clock.now_ns() == max(r.ts_ns for r in result.log.records)


def test_session_input_errors() -> None:
    feed, predictor = example_inputs(n_bars=30)
    config = BacktestConfig.defaults()
    session = TradingSession(feed.instruments, feed.timeframe, predictor, config)
    with pytest.raises(EngineInputError, match="no bars were processed"):
        session.result()
    a, b = (Bar(BTC, "1h", T0 + i * H, 1, 1, 1, 1, 1) for i in range(2))
    with pytest.raises(EngineInputError, match="close at one time"):
        session.on_bars([a, b])
    with pytest.raises(EngineInputError, match="close at one time"):
        session.on_bars([])
    with pytest.raises(EngineInputError, match="unknown"):
        session.on_bars([Bar(Instrument("SOL", "USD"), "1h", T0, 1, 1, 1, 1, 1)])
    with pytest.raises(EngineInputError, match="before their close"):
        session.on_bars([a], now_ns=T0)
    with pytest.raises(EngineInputError, match="initial cash"):
        BacktestConfig.defaults(initial_cash=0)
    with pytest.raises(EngineInputError, match="one quote currency"):
        TradingSession([], feed.timeframe, predictor, config)


def test_a_run_without_orders_or_risk_changes_has_no_extra_report_tables() -> None:
    result = scenario(["100"] * 4, {})
    assert result.log.orders == ()
    assert result.report_data().tables == {}
    assert summary(result)["order_events"] == {}

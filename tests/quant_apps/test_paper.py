"""``quant paper``: live bars from the provider emulator drive the backtest's engine.

The emulator serves a synthetic market over real HTTP on 127.0.0.1 with a clock the test
controls; the app's wall clock is replaced by that same clock, and the fake waiter moves it by
each wait's timeout (never more than a second), so every cycle sees exactly one newly closed
bar, and a file the test writes at a set time mid-bar is seen within a second of it.
"""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from quant_apps.cli import app
from quant_core import SimClock, Timeframe
from quant_core.errors import ValidationError
from quant_core.events import InMemoryFeed
from quant_data import Store, SyntheticMarket
from quant_data.emulator import Emulator, start_emulator
from quant_exec import BacktestConfig, RecordedPredictor, read_decision_log, read_log, run_backtest
from quant_exec.decisions import log_hash
from quant_models import ModelSetPredictor, load_model_set

sys.path.insert(0, str(Path(__file__).resolve().parent))
_bundles = importlib.import_module("_bundles")

runner = CliRunner()
H = Timeframe.H1.ns
START = _bundles.START_NS
T0 = START + 300 * H  # the emulator's clock at startup: exactly a bar close


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A signed release, its keys and its artifacts (the same files, unsigned)."""
    root = tmp_path_factory.mktemp("paper")
    rel, keys = _bundles.make_release(root)
    return rel, keys, root / "release-artifacts"


pytestmark = pytest.mark.usefixtures("isolated_env")


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The emulator on a SimClock at T0 that is also the app's wall clock."""
    market = SyntheticMarket(seed=5, symbols=("BTC", "ETH"), start_ns=START, end_ns=START + 400 * H)
    clock = SimClock(T0)
    emu = start_emulator(market, clock=clock)
    monkeypatch.setenv("KRAKEN_PUBLIC_BASE_URL", emu.base_url("kraken"))
    monkeypatch.setattr("quant_apps.cli.paper.WallClock", lambda: clock)
    yield emu
    emu.stop()


class FakeWaiter:
    """Moves the shared clock by each wait's timeout; runs ``actions[t]`` once it reaches t.

    A wait that starts at or after ``interrupt_ns`` raises Ctrl-C instead.
    """

    def __init__(
        self,
        clock: SimClock,
        interrupt_ns: int | None = None,
        actions: dict[int, Callable[[], None]] | None = None,
    ) -> None:
        self.clock, self.interrupt_ns = clock, interrupt_ns
        self.actions = dict(actions or {})
        self.asked: list[float] = []

    def wait(self, timeout_s: float) -> None:
        self.asked.append(timeout_s)
        if self.interrupt_ns is not None and self.clock.now_ns() >= self.interrupt_ns:
            raise KeyboardInterrupt
        self.clock.advance_by(max(1, round(timeout_s * 1e9)))
        for at in sorted(self.actions):
            if self.clock.now_ns() >= at:
                self.actions.pop(at)()

    def wake(self) -> None:
        """Nothing waits for real."""


def _sleep(
    monkeypatch: pytest.MonkeyPatch,
    emu: Emulator,
    interrupt_ns: int | None = None,
    actions: dict[int, Callable[[], None]] | None = None,
) -> FakeWaiter:
    fake = FakeWaiter(emu.clock, interrupt_ns, actions)  # type: ignore[arg-type]
    monkeypatch.setattr("quant_apps.cli.paper.EventWaiter", lambda: fake)
    return fake


def _paper(
    release: tuple[Path, Path, Path] | None, out: Path, *extra: str, code: int = 0
) -> dict[str, Any]:
    args = ["paper", "--provider", "kraken", "--symbols", "btc,ETH", "--out", str(out)]
    if release is not None:
        args += ["--bundle", str(release[0]), "--keys", str(release[1])]
    result = runner.invoke(app, [*args, *extra, "--json"])
    assert result.exit_code == code, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def _store_bars(tmp_path: Path, end_ns: int) -> list[Any]:
    store = Store.open(f"sqlite:///{tmp_path / 'data' / 'quant.db'}", clock=SimClock(end_ns))
    data = store.materialize(["BTC", "ETH"], "USD", "1h", START, end_ns, prefer=["kraken"])
    return list(data.bars())


def test_bars_flow_into_the_backtests_decisions(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake = _sleep(monkeypatch, emulator)
    out = tmp_path / "paper"
    doc = _paper(release, out, "--cycles", "4")
    # cycle 1 finds no newly closed bar (the warm-up loaded the store up to T0): a heartbeat;
    # each later cycle finds the one bar per symbol that closed during the (fake) sleep.
    assert [(c["heartbeat"], c["bars"]) for c in doc["cycles"]] == [
        (True, 0),
        (False, 2),
        (False, 2),
        (False, 2),
    ]
    # Each cycle observed its bar a little after the close (the provider's request pacing
    # moved the shared clock): that is the time the decisions carry.
    closes = [T0, T0 + H, T0 + 2 * H, T0 + 3 * H]
    assert all(
        0 <= c["now_ns"] - t < 60 * 10**9 for c, t in zip(doc["cycles"], closes, strict=True)
    )
    # Between cycles the runner never waits more than a second before it looks at its
    # commands and watched files again; it does not wait after the last cycle.
    assert fake.asked
    assert all(0 < s <= 1.0 for s in fake.asked)
    assert emulator.clock.now_ns() < T0 + 3 * H + 60 * 10**9
    assert doc["interrupted"] is False
    assert doc["bars"] == 6
    assert doc["bundle"]["active"] is True
    assert doc["backfilled"] > 0

    header, decisions = read_decision_log(out / "decisions.jsonl")
    assert header["paper"]["run"] == 1
    assert header["paper"]["provider"] == "kraken"
    assert header["model_id"] == doc["bundle"]["bundle_hash"]
    assert log_hash((out / "decisions.jsonl").read_bytes()) == doc["log_hash"]
    assert len(decisions) == doc["decisions"] == sum(c["decisions"] for c in doc["cycles"])
    beats = [d for d in decisions if d["trigger"] == "heartbeat"]
    assert [(d["ts_ns"], d["reason_codes"]) for d in beats] == [
        (doc["cycles"][0]["now_ns"], ["HEARTBEAT_IDLE"])
    ]
    live = [d for d in decisions if d["trigger"] != "heartbeat"]
    assert {(d["ts_ns"], d["instrument"]) for d in live} == {
        (doc["cycles"][k]["now_ns"], s) for k in (1, 2, 3) for s in ("BTC/USD", "ETH/USD")
    }
    # The model predicted on the warmed-up history: every bar decision has its p_up inputs.
    assert all("NO_PREDICTION" not in d["reason_codes"] for d in live)

    # The same bars and the same model's predictions through run_backtest: the same strategy
    # and risk path. The backtest decides at each close, the paper session when it saw the bar
    # (the provider's request pacing moved the shared clock a little past the close), so:
    # every decision has the same instrument, trigger, prediction and price inputs; the
    # decisions up to the first orders agree in everything but time and order id (same
    # actions, quantities, reasons); after that the paper broker fills the paper order one bar
    # later (it was sent after the next bar opened), so position-dependent inputs may differ.
    # The timestamp-exact comparison, fills included, is in test_paper_session.py.
    bars = _store_bars(tmp_path, T0 + 3 * H)
    history: dict[Any, list[Any]] = {}
    for bar in sorted(bars, key=lambda b: b.open_time_ns):
        history.setdefault(bar.instrument, []).append(bar)
    model = ModelSetPredictor(load_model_set(release[2]))
    predictions = [p for k in (1, 2, 3) for p in model.predict(T0 + k * H, history)]
    live_bars = [b for b in bars if b.open_time_ns >= T0]
    assert len(live_bars) == 6
    result = run_backtest(
        InMemoryFeed(live_bars), RecordedPredictor(predictions), BacktestConfig.defaults()
    )
    expected = _records(result)
    assert len(live) == len(expected)
    observed = {c["now_ns"] for c in doc["cycles"]}
    for paper, backtest in zip(live, expected, strict=True):
        assert paper["ts_ns"] in observed
        assert 0 <= paper["ts_ns"] - backtest["ts_ns"] < 60 * 10**9
        for key in ("instrument", "model_id", "profile"):
            assert paper[key] == backtest[key]
        for key in ("p_up", "p_down_near", "prediction_ts", "price"):
            assert paper["inputs"][key] == backtest["inputs"][key]
    acted = [i for i, d in enumerate(expected) if d["action"] != "none"]
    upto = expected[acted[0]]["ts_ns"] if acted else expected[-1]["ts_ns"]
    same = [i for i, d in enumerate(expected) if d["ts_ns"] <= upto]
    for i in same:
        assert _timeless(live[i]) == _timeless(expected[i])


def _records(result: Any) -> list[dict[str, Any]]:
    """The decision lines of a result's log, as written (its order lines left out)."""
    lines = [json.loads(line) for line in result.log.to_bytes().splitlines()[1:]]
    return [line for line in lines if line["kind"] == "decision"]


def _timeless(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("seq", "ts_ns", "order_id")}


def test_restart_appends_a_new_run_and_ctrl_c_ends_cleanly(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _sleep(monkeypatch, emulator)
    out = tmp_path / "paper"
    first = _paper(release, out, "--cycles", "2")
    log = out / "decisions.jsonl"
    before = log.read_bytes()
    # A crash mid-write left half a line: the next run cuts it and appends its own segment.
    log.write_bytes(before + b'{"kind":"decis')
    # Ctrl-C in the wait after run 2's second cycle (the bar closing at T0 + 2 H).
    fake = _sleep(monkeypatch, emulator, interrupt_ns=T0 + 2 * H + 60 * 10**9)
    args = ["paper", "--provider", "kraken", "--symbols", "BTC,ETH", "--out", str(out)]
    args += ["--bundle", str(release[0]), "--keys", str(release[1])]
    human = runner.invoke(app, args)  # --cycles 0: until Ctrl-C (the 2nd sleep)
    assert human.exit_code == 0, human.output
    assert "interrupted: the log is intact" in human.stderr
    assert "log hash (run 2)" in human.stdout
    # The torn half line is kept in a sidecar (finding 9), and run 2's header says where.
    sidecar = out / f"decisions.jsonl.torn-{len(before)}"
    assert f"a torn last line (14 bytes) was set aside in {sidecar}" in human.stderr
    assert sidecar.read_bytes() == b'{"kind":"decis'
    assert all(s <= 1.0 for s in fake.asked)
    data = log.read_bytes()
    assert data.startswith(before)  # run 1's lines untouched, not repeated
    runs = read_log(log)
    assert [run.session["paper"]["run"] for run in runs] == [1, 2]
    assert len(runs[0].decisions) == first["decisions"]
    # Run 2 began where run 1 stopped: a bar-free first cycle (heartbeat), then the next bar.
    second = runs[1].decisions
    assert second[0]["trigger"] == "heartbeat"
    assert 0 <= second[0]["ts_ns"] - (T0 + H) < 60 * 10**9
    assert {d["trigger"] for d in second[1:]} == {"bar"}
    # Run 1 decided on the bar closing at T0 + H, run 2 on the one closing at T0 + 2 H: no bar
    # was handed to the engine twice, none was skipped.
    assert {d["inputs"]["prediction_ts"] for d in runs[0].decisions[1:]} == {T0 + H}
    assert {d["inputs"]["prediction_ts"] for d in second[1:]} == {T0 + 2 * H}
    # Each run's segment is a decision log on its own, hashed as printed.
    segment = data[len(before) :]
    assert log_hash(segment) in human.stdout
    (tmp_path / "seg.jsonl").write_bytes(segment)
    header, decisions = read_decision_log(tmp_path / "seg.jsonl")
    assert header["paper"]["run"] == 2
    assert header["paper"]["torn_tail"] == {
        "offset": len(before),
        "length": 14,
        "saved_to": sidecar.name,
    }
    assert len(decisions) == len(runs[1].decisions)


def test_tampered_bundle_exits_3_and_fallback_runs_without_a_model(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad"
    shutil.copytree(release[0], bad)
    _bundles.flip_byte(bad / "bundle.tar.zst")
    tampered = (bad, release[1], release[2])
    _sleep(monkeypatch, emulator)
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    doc = _paper(tampered, tmp_path / "p1", "--cycles", "1", code=3)
    assert doc["reason_code"] == "ARCHIVE_DIGEST_MISMATCH"
    assert not (tmp_path / "p1" / "decisions.jsonl").exists()  # stopped before any decision
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    loose = _paper(tampered, tmp_path / "p2", "--cycles", "2")
    assert loose["bundle"] == {
        "active": False,
        "reason_code": "ARCHIVE_DIGEST_MISMATCH",
        "message": loose["bundle"]["message"],
    }
    _, decisions = read_decision_log(tmp_path / "p2" / "decisions.jsonl")
    assert [d["reason_codes"] for d in decisions if d["trigger"] == "bar"] == [
        ["NO_PREDICTION"],
        ["NO_PREDICTION"],
    ]


def test_ctrl_c_during_startup_exits_130_with_a_valid_log(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    def interrupted(self: object) -> int:
        raise KeyboardInterrupt

    _sleep(monkeypatch, emulator)
    monkeypatch.setattr("quant_apps.runtime.trading.session.TradingRuntime.start", interrupted)
    doc = _paper(release, tmp_path / "p", "--cycles", "1", code=130)
    assert doc["reason_code"] == "INTERRUPTED"
    assert doc["exit_code"] == 130
    # The run's header was written before the warm-up: a segment with no decisions yet.
    (run,) = read_log(tmp_path / "p" / "decisions.jsonl")
    assert run.session["paper"]["run"] == 1
    assert run.decisions == run.orders == []
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")  # the development opt-out: no model needed
    human = runner.invoke(
        app, ["paper", "--provider", "kraken", "--symbols", "BTC", "--out", str(tmp_path / "p")]
    )
    assert human.exit_code == 130
    assert "error [INTERRUPTED]" in human.output
    assert "Traceback" not in human.output


def test_shipped_bundle_settings_profile_and_untrusted_keys(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _sleep(monkeypatch, emulator)
    monkeypatch.setenv("QUANT_BUNDLE_SOURCE", str(release[0]))
    monkeypatch.setenv("QUANT_BUNDLE_KEYS", str(release[1]))
    profile = tmp_path / "profile.toml"
    profile.write_text("[risk]\nmax_concurrent_positions = 1\n", encoding="utf-8")
    doc = _paper(None, tmp_path / "p", "--cycles", "1", "--profile", str(profile))
    assert doc["bundle"]["active"] is True
    header, _ = read_decision_log(tmp_path / "p" / "decisions.jsonl")
    assert header["risk_profile"]["values"]["max_concurrent_positions"] == 1
    # Keys that are not a key directory: with require off, a run without a model; human output.
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")
    empty = tmp_path / "no-keys"
    empty.mkdir()
    args = ["paper", "--provider", "kraken", "--symbols", "BTC", "--out", str(tmp_path / "q")]
    result = runner.invoke(app, [*args, "--keys", str(empty), "--cycles", "1"])
    assert result.exit_code == 0, result.output
    assert "no model bundle active [BUNDLE_MISSING]" in result.stderr
    assert "log hash (run 1)" in result.stdout
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "1")
    refused = runner.invoke(app, [*args, "--keys", str(empty), "--json"])
    assert refused.exit_code == 3
    assert json.loads(refused.stdout)["reason_code"] == "BUNDLE_MISSING"


def _writer(path: Path, text: str) -> Callable[[], None]:
    def write() -> None:
        path.write_text(text, encoding="utf-8")

    return write


def test_an_edited_profile_file_becomes_a_new_version_at_the_next_cycle(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    profile = tmp_path / "profile.toml"
    profile.write_text("[strategy]\nentry_min_up_probability = 0.9\n", encoding="utf-8")
    # Mid-bar edits: looser (applied at once, reported by cycle 2), then out of bounds
    # (refused at once, reported by cycle 3).
    edits = {
        T0 + H // 2: _writer(profile, "[strategy]\nentry_min_up_probability = 0.52\n"),
        T0 + H + H // 2: _writer(profile, "[strategy]\nentry_min_up_probability = 7\n"),
    }
    _sleep(monkeypatch, emulator, actions=edits)
    doc = _paper(release, tmp_path / "p", "--cycles", "3", "--profile", str(profile))
    changes = [c["profile"] for c in doc["cycles"]]
    assert changes[0] == ""
    assert changes[1].startswith("strategy v2 / risk v1 / sha256:")
    assert changes[2].startswith("refused [PROFILE_OUT_OF_BOUNDS]")
    (run,) = read_log(tmp_path / "p" / "decisions.jsonl")
    assert run.session["strategy_profile"]["version"] == 1
    (line,) = run.risk  # the refused edit is not a change
    assert line["change"] == "profile"
    assert T0 + H // 2 <= line["ts_ns"] <= T0 + H // 2 + 10**9  # within a second, mid-bar
    assert line["profile"] == changes[1]
    version = line["strategy_profile"]
    assert (version["version"], version["author"]) == (2, "profile-file")
    assert version["reason"].startswith("profile.toml changed (sha256:")
    assert version["diff"] == [
        {"parameter": "entry_min_up_probability", "old": "0.9", "new": "0.52"}
    ]
    # Both instruments were evaluated at once under the new version, right after its line;
    # every later decision carries it, the refused edit's cycle included.
    risk = [d for d in run.decisions if d["trigger"] == "risk"]
    assert [d["instrument"] for d in risk] == ["BTC/USD", "ETH/USD"]
    assert risk[0]["seq"] == line["seq"] + 1
    later = [d for d in run.decisions if d["seq"] > line["seq"]]
    assert {d["profile"] for d in later} == {changes[1]}
    assert [d["profile"] for d in run.decisions if d["seq"] < line["seq"]] != []
    assert changes[1] not in {d["profile"] for d in run.decisions if d["seq"] < line["seq"]}


def test_the_halt_file_engages_and_releases_the_kill_switch(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    out = tmp_path / "p"
    out.mkdir()
    halt = out / "HALT"
    # The halt file appears half-way through the first bar and goes half-way through the next.
    actions = {
        T0 + H // 2: _writer(halt, "exchange outage\nsecond line ignored\n"),
        T0 + H + H // 2: halt.unlink,
    }
    _sleep(monkeypatch, emulator, actions=actions)
    doc = _paper(release, out, "--cycles", "3")
    assert [c["kill_switch"] for c in doc["cycles"]] == [
        "",
        "engaged: exchange outage",
        "released",
    ]
    assert [(r["action"], r["actor"], r["reason"]) for r in doc["kill_switch"]] == [
        ("engage", "halt-file", "exchange outage"),
        ("release", "halt-file", "halt file removed"),
    ]
    (run,) = read_log(out / "decisions.jsonl")
    assert [line["kill_switch"] for line in run.risk] == doc["kill_switch"]
    # Each was applied within a second of the file's change, mid-bar: not at the next close.
    for line, changed in zip(run.risk, (T0 + H // 2, T0 + H + H // 2), strict=True):
        assert changed <= line["ts_ns"] <= changed + 10**9
    # The same records, hash-chained, in the run's audit log.
    audit = runner.invoke(app, ["audit", "verify", str(out / "audit.jsonl"), "--json"])
    assert audit.exit_code == 0, audit.output
    kinds = [json.loads(line)["kind"] for line in (out / "audit.jsonl").read_text().splitlines()]
    assert kinds == ["kill_switch.engage", "kill_switch.release"]
    # Each change was re-evaluated at once: both instruments, at the change's time, before
    # any bar after it.
    for line in run.risk:
        after = [d for d in run.decisions if d["seq"] > line["seq"]][:2]
        assert [(d["trigger"], d["instrument"], d["ts_ns"]) for d in after] == [
            ("risk", "BTC/USD", line["ts_ns"]),
            ("risk", "ETH/USD", line["ts_ns"]),
        ]
    # While engaged, no decision created an order.
    engaged, released = (line["seq"] for line in run.risk)
    assert all(d["order_id"] is None for d in run.decisions if engaged < d["seq"] < released)


@pytest.mark.parametrize(
    ("directory", "reason"),
    [(False, "halt file present"), (True, "unreadable halt file: Is a directory")],
)
def test_a_halt_file_present_at_start_halts_from_the_first_cycle(
    release: tuple[Path, Path, Path],
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    directory: bool,
    reason: str,
) -> None:
    _sleep(monkeypatch, emulator)
    halt = tmp_path / "elsewhere" / "STOP"
    halt.parent.mkdir()
    if directory:  # there but unreadable: halting is the safe reading
        halt.mkdir()
    else:
        halt.write_text("   \n", encoding="utf-8")  # no reason given
    doc = _paper(release, tmp_path / "p", "--cycles", "2", "--halt-file", str(halt))
    assert [c["kill_switch"] for c in doc["cycles"]] == [f"engaged: {reason}", ""]
    assert len(doc["kill_switch"]) == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--provider", "binance", "--symbols", "BTC"], 2),
        (["--provider", "kraken", "--symbols", ","], 2),
        (["--provider", "kraken", "--symbols", "BTC", "--timeframe", "7x"], 2),
    ],
)
def test_usage_errors(args: list[str], code: int, tmp_path: Path) -> None:
    result = runner.invoke(app, ["paper", *args, "--out", str(tmp_path), "--json"])
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout)["reason_code"] == "USAGE_ERROR"


def test_a_log_that_is_not_a_paper_log_is_refused(tmp_path: Path) -> None:
    from quant_apps.runtime import PaperLogWriter

    path = tmp_path / "decisions.jsonl"
    for text in ('{"kind":"decision"}\n', "not json\n"):
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ValidationError) as caught:
            PaperLogWriter(path)
        assert caught.value.reason_code == "DECISION_LOG_INVALID"
    path.write_text("", encoding="utf-8")
    with pytest.raises(ValidationError, match="no session header"):
        read_log(path)
    assert PaperLogWriter(path).next_run == 1  # an empty file is a log with no runs yet


def test_the_command_refuses_to_append_to_a_foreign_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUANT_REQUIRE_BUNDLE", "0")  # get past the bundle to the log check
    out = tmp_path / "out"
    out.mkdir()
    (out / "decisions.jsonl").write_text('{"kind":"decision"}\n', encoding="utf-8")
    empty = tmp_path / "no-keys"
    empty.mkdir()
    args = ["paper", "--provider", "kraken", "--symbols", "BTC", "--out", str(out)]
    result = runner.invoke(app, [*args, "--keys", str(empty), "--json"])
    assert result.exit_code == 3, result.output
    assert json.loads(result.stdout)["reason_code"] == "DECISION_LOG_INVALID"
    assert (out / "decisions.jsonl").read_text(encoding="utf-8") == '{"kind":"decision"}\n'


def test_the_profile_watcher_refuses_bad_edits_and_ignores_no_change(tmp_path: Path) -> None:
    from quant_apps.runtime import ProfileBook, ProfileUpdate
    from quant_core.profiles import RiskProfile, StrategyProfile
    from quant_exec import BacktestConfig

    path = tmp_path / "profile.json"
    path.write_text('{"risk": {"max_concurrent_positions": 3}}', encoding="utf-8")
    risk = RiskProfile(max_concurrent_positions=3)
    config = BacktestConfig.from_profiles(StrategyProfile(), risk)
    watcher = ProfileBook(config, SimClock(T0), path=path)
    # The same values written differently: no new version.
    path.write_text('{ "risk": { "max_concurrent_positions": 3 } }\n', encoding="utf-8")
    assert watcher.poll() == ProfileUpdate()
    # Both tables change at once: one new version of each, stamped by the clock.
    both = '{"strategy": {"persistence": 4}, "risk": {"max_concurrent_positions": 2}}'
    path.write_text(both, encoding="utf-8")
    update = watcher.poll()
    assert update.strategy is not None
    assert update.risk is not None
    assert (update.strategy.version, update.risk.version) == (2, 2)
    assert update.strategy.created_ns == update.risk.created_ns == T0
    # A deleted file and a malformed one are refused; the last good versions stay active.
    path.unlink()
    assert watcher.poll().refused.startswith("[INVALID_INPUT]")
    assert watcher.poll() == ProfileUpdate()  # the same (missing) file is not reported again
    path.write_text('{"risk": {"max_concurrent_positions": 1}, "colour": 1}', encoding="utf-8")
    assert watcher.poll().refused.startswith("[PROFILE_UNKNOWN_PARAMETER]")
    assert watcher.risk.active.version == 2
    assert watcher.risk.active.profile.max_concurrent_positions == 2

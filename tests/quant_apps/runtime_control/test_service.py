"""``quant serve``'s composition: emulator, replay clock, paper session, runner, control plane.

The real run replays real hourly Kraken files from the shared data through the provider
emulator on 127.0.0.1, with a tiny trained and signed model bundle. The replay clock follows
a simulated wall clock the test moves (six wall seconds make one replayed hour), so which bars
a cycle sees is decided by the test, never by how fast the machine is.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from quant_apps.runtime import Command, CommandKind
from quant_apps.runtime.operator.service import (
    DEFAULT_SPEED,
    SYNTHETIC_START,
    WARMUP_BARS,
    ServeOptions,
    Service,
    open_service,
)
from quant_apps.runtime.trading.session import GRACE_S
from quant_apps.runtime.trading.views import CHART_BARS
from quant_core import SimClock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.audit import read_audit_log
from quant_core.errors import AuditChainError, ProfileError, QuantUsageError
from quant_exec import read_log
from quant_exec.decisions import log_hash

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
_bundles = importlib.import_module("_bundles")

REAL = "real/kraken_cryptodatadownload__loveulin-bitcapitalca"
H = Timeframe.H1.ns
WALL_HOUR = int(H / DEFAULT_SPEED)  # wall time of one replayed hour


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny trained, promoted, signed bundle release and its keys."""
    rel, keys = _bundles.make_release(tmp_path_factory.mktemp("serve"))
    return rel, keys


def _env(tmp_path: Path, require: str = "1") -> dict[str, str]:
    return {"QUANT_DATA_DIR": str(tmp_path / "data"), "QUANT_REQUIRE_BUNDLE": require}


def _wait_for(service: Service, cursor: int, found: Callable[[dict[str, Any]], bool]) -> int:
    """Read events until one satisfies ``found``; the cursor after it."""
    for _ in range(100):
        cursor, events = service.control.events_after(cursor, timeout_s=5)
        if any(found(e) for e in events):
            return cursor
    raise AssertionError("the awaited event never came")


def _cycles(n: int) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["type"] == "status" and e["data"]["cycles"] >= n


def test_serve_replays_real_data_trades_is_governed_and_stops_with_everything_flushed(
    shared_data: Path, release: tuple[Path, Path], tmp_path: Path
) -> None:
    wall = SimClock(iso_to_ns("2026-12-07T00:00:00Z"))
    options = ServeOptions(
        out=tmp_path / "out",
        source=(shared_data / REAL,),
        symbols=("BTC", "ETH", "DOGE"),
        bundle=release[0],
        keys=release[1],
    )
    service = open_service(options, env=_env(tmp_path), wall=wall)
    hints = service.url_hints
    assert hints["emulator"]["kraken"].startswith("http://127.0.0.1:")
    assert hints["replay"]["symbols"] == ["BTC", "ETH"]  # DOGE is not in these files
    assert hints["replay"]["speed"] == DEFAULT_SPEED
    start_ns = iso_to_ns(hints["replay"]["start"])
    assert start_ns % H == 0
    service.start()
    control = service.control
    cursor = _wait_for(service, 0, _cycles(1))
    grace = int(GRACE_S * 1e9 / DEFAULT_SPEED) + 1
    wall.advance_by(grace)  # bars are asked for a grace after their close
    for hour in range(2, 8):
        wall.advance_by(WALL_HOUR)
        service.runtime.waiter.wake()
        cursor = _wait_for(service, cursor, _cycles(hour))
    status = control.status()
    assert status["uptime_s"] == (grace + 6 * WALL_HOUR) / 1e9  # wall time, not replayed
    assert status["bundle"]["active"] is True
    assert {f["instrument"] for f in status["freshness"]} == {"BTC/USD", "ETH/USD"}
    assert status["bars"] >= 2 * 6
    predictions = control.predictions()
    assert [p["instrument"] for p in predictions] == ["BTC/USD", "ETH/USD"]
    chart = control.candles("BTC")
    assert len(chart["bars"]) == CHART_BARS  # the history loaded at the start
    assert chart["predictions"]
    assert control.data()["instruments"][0]["bars"] >= CHART_BARS
    halted = control.halt("operator drill", actor="alice")
    assert halted.ok
    refused = control.apply_profile(
        strategy=None, risk={"max_concurrent_positions": 0}, actor="alice", reason="too few"
    )
    assert refused.reason_code == "PROFILE_OUT_OF_BOUNDS"
    assert control.bundle_status()["managed"] is True
    assert control.check_update(actor="alice").reason_code == "USAGE_ERROR"  # no source
    reload = service.runtime.submit(Command(CommandKind.RELOAD_BUNDLE, "alice"))
    assert reload.result(timeout=60).message == "bundle reload: the active bundle is unchanged"
    page = control.decisions(limit=500)
    summary = service.stop()
    assert not service.running
    assert service.stop() == summary  # stopping twice changes nothing
    assert summary["interrupted"] is False
    out = options.out
    (run,) = read_log(out / "decisions.jsonl")
    assert summary["decisions"] == len(run.decisions)
    assert summary["log_hash"] == log_hash((out / "decisions.jsonl").read_bytes())
    assert page["items"][0]["id"] <= 1 + len(run.decisions) + len(run.risk) + len(run.orders)
    engage = [line for line in run.risk if line["change"] == "kill_switch"]
    assert engage[0]["kill_switch"]["actor"] == "alice"
    kinds = [(r.kind, r.data.get("actor", r.data.get("author"))) for r in
             read_audit_log(out / "audit.jsonl")]  # fmt: skip
    assert kinds[:2] == [("kill_switch.engage", "alice"), ("profile.refused", "alice")]
    assert (out / "store.sqlite").exists()
    assert (out / "decisions.idx.sqlite").exists()
    assert json.loads(json.dumps(summary)) == summary


def test_the_default_is_a_seeded_synthetic_market_and_stop_without_start_flushes(
    tmp_path: Path,
) -> None:
    env = {**_env(tmp_path, "0"), "QUANT_BUNDLE_SOURCE": str(tmp_path / "no-bundle")}
    options = ServeOptions(out=tmp_path / "out", symbols=("BTC",), speed=60.0)
    service = open_service(options, env=env, wall=SimClock(0))
    replay = service.url_hints["replay"]
    expected = iso_to_ns(SYNTHETIC_START) + WARMUP_BARS * H
    assert (replay["start"], replay["speed"]) == (ns_to_iso(expected), 60.0)
    assert service.control.status()["bundle"]["active"] is False
    summary = service.stop()
    assert (summary["decisions"], summary["bars"]) == (0, 0)
    assert (tmp_path / "out" / "decisions.jsonl").exists()
    with pytest.raises(QuantUsageError, match="started already"):
        _start_twice(tmp_path, env)


def _start_twice(tmp_path: Path, env: dict[str, str]) -> None:
    options = ServeOptions(out=tmp_path / "twice", symbols=("BTC",), start="2024-02-01T00:00:00Z")
    service = open_service(options, env=env, wall=SimClock(0))
    assert service.url_hints["replay"]["start"] == "2024-02-01T00:00:00Z"
    service.start()
    try:
        service.start()
    finally:
        service.stop()


def test_a_live_provider_runs_on_the_wall_clock(tmp_path: Path) -> None:
    env = {**_env(tmp_path, "0"), "QUANT_BUNDLE_SOURCE": str(tmp_path / "no-bundle")}
    options = ServeOptions(out=tmp_path / "out", provider="kraken", symbols=("BTC",))
    service = open_service(options, env=env, wall=SimClock(7 * H))
    assert "emulator" not in service.url_hints
    assert service.control.clock.now_ns() == 7 * H
    assert service.stop()["decisions"] == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"provider": "binance"}, "unknown provider"),
        ({"source": (Path("/no/such/file.csv"),)}, "no such file"),
        ({"start": "2020-01-01T00:00:00Z"}, "outside the data"),
    ],
)
def test_bad_options_are_usage_errors(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    env = {**_env(tmp_path, "0"), "QUANT_BUNDLE_SOURCE": str(tmp_path / "no-bundle")}
    options = ServeOptions(out=tmp_path / "out", symbols=("BTC",), **changes)
    with pytest.raises(QuantUsageError, match=message):
        open_service(options, env=env, wall=SimClock(0))


def test_files_without_the_coins_are_refused_and_the_emulator_stopped(
    shared_data: Path, tmp_path: Path
) -> None:
    env = {**_env(tmp_path, "0"), "QUANT_BUNDLE_SOURCE": str(tmp_path / "no-bundle")}
    options = ServeOptions(out=tmp_path / "out", source=(shared_data / REAL,), symbols=("SOL",))
    with pytest.raises(QuantUsageError, match="no 1h bars of SOL"):
        open_service(options, env=env, wall=SimClock(0))
    bad_profile = tmp_path / "profile.toml"
    bad_profile.write_text("[risk]\nmax_concurrent_positions = 0\n", encoding="utf-8")
    options = ServeOptions(out=tmp_path / "out", symbols=("BTC",), profile=bad_profile)
    for provider in ("emulator", "kraken"):
        with pytest.raises(ProfileError, match="PROFILE_OUT_OF_BOUNDS"):
            open_service(attrs.evolve(options, provider=provider), env=env, wall=SimClock(0))


def test_a_runner_failure_is_raised_by_stop(tmp_path: Path) -> None:
    env = {**_env(tmp_path, "0"), "QUANT_BUNDLE_SOURCE": str(tmp_path / "no-bundle")}
    options = ServeOptions(out=tmp_path / "out", symbols=("BTC",))
    service = open_service(options, env=env, wall=SimClock(0))
    service.start()
    (tmp_path / "out" / "audit.jsonl").write_bytes(b"not an audit record\n")
    failed = service.control.halt("the audit log is broken", actor="alice")
    assert (failed.ok, failed.reason_code) == (False, "AUDIT_RECORD_MALFORMED")
    assert failed.message.startswith("the session failed: ")
    later = service.control.resume("and now?", actor="alice")
    assert (later.ok, later.reason_code) == (False, "SESSION_STOPPED")
    with pytest.raises(AuditChainError):
        service.stop()


def test_a_real_update_and_rollback_swap_the_served_model(tmp_path: Path) -> None:
    from quant_apps.runtime.models.releases import build_signed_release, new_signing_key

    wall = SimClock(iso_to_ns("2026-12-07T00:00:00Z"))
    key, _ = new_signing_key(tmp_path / "keys", "release", use_keyring=False)
    releases = {}
    for version, seed in (("1.0.0", 11), ("2.0.0", 12)):
        artifacts = _bundles.train_artifacts(tmp_path / f"art-{version}", seed=seed)
        releases[version] = tmp_path / f"rel-{version}"
        build_signed_release(artifacts, version, key, releases[version], clock=wall,
                             pointer_version=int(version[0]))  # fmt: skip
    options = ServeOptions(
        out=tmp_path / "out",
        symbols=("BTC", "ETH"),
        bundle=releases["1.0.0"],
        keys=tmp_path / "keys",
        update_source=str(releases["2.0.0"]),
    )
    service = open_service(options, env=_env(tmp_path), wall=wall)
    service.start()
    control = service.control
    try:
        first = control.status()["bundle"]
        assert first["bundle_version"] == "1.0.0"
        assert control.check_update(actor="alice").details["offered_version"] == "2.0.0"
        applied = control.apply_update(actor="alice")
        assert applied.ok, applied.message
        served = control.status()["bundle"]
        assert (served["bundle_version"], served["active"]) == ("2.0.0", True)
        assert served["model_id"] != first["model_id"]
        assert applied.details["bundles"]["previous_version"] == "1.0.0"
        rolled = control.rollback(actor="bob")
        assert rolled.ok, rolled.message
        assert control.status()["bundle"] == first
        assert control.bundle_status()["active_version"] == "1.0.0"
    finally:
        summary = service.stop()
    out = tmp_path / "out"
    (run,) = read_log(out / "decisions.jsonl")
    swaps = [(r["actor"], r["bundle"]["bundle_version"]) for r in run.risk]
    assert swaps == [("alice", "2.0.0"), ("bob", "1.0.0")]
    assert summary["interrupted"] is False
    reloads = [r.data for r in read_audit_log(out / "audit.jsonl") if r.kind == "bundle.reload"]
    assert [(r["actor"], r["reason"], r["changed"]) for r in reloads] == [
        ("alice", "apply_update", True),
        ("bob", "rollback", True),
    ]

"""The live gate and session in one process: each refusal in order, then a confirmed session.

The fake Kraken is served over HTTP on 127.0.0.1 (SimClock), the bars come from the provider
emulator (wall clock), the bundle is the shipped one, the credential store is an in-memory
keyring backend (the Secret Service tests cover the real one).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import attrs
import pytest

from quant_apps.runtime.clock import WallClock
from quant_apps.runtime.doctor import bundle_report
from quant_apps.runtime.trading.credentials import CredentialStore, KrakenCredentials, StoredKey
from quant_apps.runtime.trading.live import (
    LiveGate,
    LiveOptions,
    LiveRefusedError,
    open_live_session,
    paper_evidence,
    profile_hash,
)
from quant_apps.runtime.trading.paper import PaperOptions
from quant_apps.runtime.trading.readmodel import Mode
from quant_core import SimClock, Timeframe
from quant_core.audit import read_audit_log
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_data import SyntheticMarket
from quant_data.emulator import Emulator, start_emulator
from quant_exec import BacktestConfig, read_log
from quant_exec.decisions import DecisionLog
from quant_exec.venues.kraken import KrakenVenue
from quant_exec.venues.kraken.fake import (
    FakeKraken,
    FakeKrakenWs,
    serve_fake_kraken,
    serve_fake_kraken_ws,
)
from quant_net import ProviderError

H = Timeframe.H1.ns
COINS = ("BTC", "ETH")
LABEL = BacktestConfig.from_profiles(StrategyProfile(), RiskProfile(), seed=0).profile_label()


@pytest.fixture(scope="module")
def bars() -> Iterator[Emulator]:
    clock = WallClock()
    close = Timeframe.H1.floor(clock.now_ns())
    # two coins: the shipped bundle needs market context beyond one coin (decision 0116)
    market = SyntheticMarket(seed=5, symbols=COINS, start_ns=close - 400 * H, end_ns=close + H)
    emulator = start_emulator(market, clock=clock)
    yield emulator
    emulator.stop()


@pytest.fixture
def env(bars: Emulator, tmp_path: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if not k.startswith(("QUANT_", "KRAKEN_"))}
    return kept | {
        "KRAKEN_PUBLIC_BASE_URL": bars.base_url("kraken"),
        "QUANT_DATA_DIR": str(tmp_path / "data"),
        "QUANT_REQUIRE_BUNDLE": "1",
    }


@pytest.fixture
def exchange(make_fake: Callable[..., FakeKraken]) -> Iterator[Any]:
    """The fake exchange over HTTP with its WebSocket attached (its journal streamed)."""
    fake = make_fake(SimClock(1_700_000_000 * 10**9))
    fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2300"))
    ws = FakeKrakenWs(fake.clock, exchange=fake)
    with (
        serve_fake_kraken(fake, hang_s=2.0) as server,
        serve_fake_kraken_ws(ws, heartbeat_s=0.5) as socket,
    ):
        yield SimpleNamespace(
            base_url=server.base_url, api_key=server.api_key, secret=server.secret, fake=fake,
            ws=ws, ws_url=socket.url,
        )  # fmt: skip


def _paper_log(
    path: Path, bundle_hash: str, cycles: int, *, live: bool = False, label: str = LABEL
) -> None:
    """Append a run of ``cycles`` heartbeat cycles of ``bundle_hash`` to the paper log."""
    header: dict[str, Any] = {
        "paper": {"run": 1, "started_ns": 7, "bundle": {"bundle_hash": bundle_hash}},
        "profile": label,
    }
    if live:
        header["live"] = {"exchange": "x", "fingerprint": "y"}
    log = DecisionLog(header)
    for ts in range(cycles):
        log.add(ts, "heartbeat", None, "none", ("HEARTBEAT_IDLE",), LABEL, {})
    scratch = path.parent / "scratch.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    log.write(scratch)
    with path.open("ab") as handle:
        handle.write(scratch.read_bytes())
    scratch.unlink()


def _store(memory_keyring: Any, server: Any) -> tuple[CredentialStore, StoredKey]:
    store = CredentialStore(memory_keyring)
    creds = KrakenCredentials.parse(server.api_key, server.secret)
    key = StoredKey(server.base_url, creds, ("query_funds",), 1)
    store.save(key)
    return store, key


def _options(tmp_path: Path, url: str, **kwargs: Any) -> LiveOptions:
    session = PaperOptions(
        provider="kraken", symbols=COINS, out=tmp_path / "live",
        halt_file=tmp_path / "live" / "HALT",
    )  # fmt: skip
    kwargs.setdefault("ws_url", None)
    return LiveOptions(session, url, tmp_path / "paper" / "decisions.jsonl", **kwargs)


def _open(options: LiveOptions, env: dict[str, str], store: CredentialStore, typed: str) -> Any:
    seen: list[LiveGate] = []

    def confirm(gate: LiveGate) -> str:
        seen.append(gate)
        return typed

    session = open_live_session(options, clock=WallClock(), confirm=confirm, store=store, env=env)
    return session, seen


def test_each_refusal_in_order(
    env: dict[str, str], exchange: Any, memory_keyring: Any, tmp_path: Path
) -> None:
    url = exchange.base_url
    store = CredentialStore(memory_keyring)
    options = _options(tmp_path, url, min_paper_cycles=2)
    no_model = env | {"QUANT_REQUIRE_BUNDLE": "0", "QUANT_DATA_DIR": str(tmp_path / "empty")}
    empty_keys = tmp_path / "no-keys"
    empty_keys.mkdir()
    untrusted = LiveOptions(PaperOptions(provider="kraken", symbols=("BTC",), keys=empty_keys), url)
    with pytest.raises(LiveRefusedError) as caught:
        _open(untrusted, no_model, store, "")
    assert caught.value.reason_code == "LIVE_BUNDLE_REQUIRED"

    with pytest.raises(LiveRefusedError) as caught:
        _open(options, env, store, "")
    assert caught.value.reason_code == "CREDENTIALS_MISSING"
    assert "quant kraken connect" in caught.value.message

    store, key = _store(memory_keyring, exchange)
    with pytest.raises(LiveRefusedError) as caught:
        _open(options, env, store, "")
    assert caught.value.reason_code == "LIVE_PAPER_MINIMUM"
    assert "holds 0 paper cycles" in caught.value.message

    bundle_hash = str(bundle_report(env)["bundle_hash"])
    _paper_log(options.paper_log, bundle_hash, 1)
    _paper_log(options.paper_log, "sha384:another-bundle", 5)
    _paper_log(options.paper_log, bundle_hash, 5, live=True)
    _paper_log(options.paper_log, bundle_hash, 5, label="strategy v2 / risk v1 / sha256:00")
    with pytest.raises(LiveRefusedError, match="holds 1 paper cycles"):
        _open(options, env, store, "")
    with pytest.raises(LiveRefusedError, match="at least 1 cycle"):
        _open(_options(tmp_path, url, min_paper_cycles=0), env, store, "")

    _paper_log(options.paper_log, bundle_hash, 1)
    with pytest.raises(LiveRefusedError) as caught:
        _open(options, env, store, f"LIVE {key.fingerprint} please")
    assert caught.value.reason_code == "LIVE_NOT_CONFIRMED"
    (refused,) = read_audit_log(tmp_path / "live" / "audit.jsonl")
    assert refused.kind == "live.refused"
    assert refused.data["reason_code"] == "LIVE_NOT_CONFIRMED"
    assert refused.data["paper"] == {"runs": 2, "cycles": 2, "first_ns": 7}
    assert not (tmp_path / "live" / "decisions.jsonl").exists()
    assert exchange.fake.calls == []  # nothing was asked of the exchange before the confirmation


def test_a_confirmed_session_trades_on_the_kraken_venue(
    env: dict[str, str], exchange: Any, memory_keyring: Any, tmp_path: Path
) -> None:
    store, key = _store(memory_keyring, exchange)
    options = _options(
        tmp_path, exchange.base_url, min_paper_cycles=1, dead_man_s=30, ws_url=exchange.ws_url
    )
    bundle_hash = str(bundle_report(env)["bundle_hash"])
    _paper_log(options.paper_log, bundle_hash, 1)
    session, seen = _open(options, env, store, f"  LIVE {key.fingerprint}\n")
    (gate,) = seen
    assert gate.phrase == f"LIVE {key.fingerprint}"
    assert isinstance(session.venue, KrakenVenue)
    assert session.runtime.engine.venue is session.venue  # given to the runtime, not patched
    assert session.runtime.read_model().status.mode is Mode.LIVE
    assert session.runtime.engine.ledger.cash == Decimal(10000)
    (tmp_path / "live" / "HALT").write_text("drill\n", encoding="utf-8")
    try:
        session.runtime.start()
        summary = session.runtime.run(cycles=1, on_cycle=lambda _: None)
        assert exchange.fake.book.cancel_at_ns is not None  # the dead-man's switch is armed
        assert exchange.ws.connections == 1  # the venue drains the private stream
        assert exchange.fake.calls.count("GetWebSocketsToken") == 1
        assert session.runtime.read_model().status.stream is None  # healthy
    finally:
        session.close()
    assert exchange.fake.book.cancel_at_ns is None  # and disarmed on close
    assert [r["action"] for r in summary["kill_switch"]] == ["engage"]
    audit = read_audit_log(tmp_path / "live" / "audit.jsonl")
    assert [r.kind for r in audit] == ["live.confirmed", "kill_switch.engage"]
    confirmed = audit[0].data
    assert confirmed["fingerprint"] == key.fingerprint
    assert confirmed["bundle_hash"] == bundle_hash
    assert confirmed["profile_hash"] == profile_hash(LABEL)
    assert confirmed["actor"] == "operator"
    (run,) = read_log(tmp_path / "live" / "decisions.jsonl")
    assert run.session["live"] == {"exchange": exchange.base_url, "fingerprint": key.fingerprint}

    rest_only = attrs.evolve(options, ws_url=None)  # REST polling only, no stream
    again, _ = _open(rest_only, env, store, f"LIVE {key.fingerprint}")  # a restart: carried
    try:
        again.runtime.start()
    finally:
        again.close()
    kinds = [r.kind for r in read_audit_log(tmp_path / "live" / "audit.jsonl")]
    assert kinds[-2:] == ["live.confirmed", "session.carry"]
    carried = read_audit_log(tmp_path / "live" / "audit.jsonl")[-1].data
    assert carried["cash"] == "10000"
    assert carried["orders"] == []


def test_a_failure_after_the_confirmation_closes_the_client(
    env: dict[str, str], exchange: Any, memory_keyring: Any, tmp_path: Path
) -> None:
    store, _key = _store(memory_keyring, exchange)
    options = _options(tmp_path, exchange.base_url, min_paper_cycles=1)
    _paper_log(options.paper_log, str(bundle_report(env)["bundle_hash"]), 1)

    def revoke_then_confirm(gate: LiveGate) -> str:
        exchange.fake.permissions = frozenset()  # the key loses its rights meanwhile
        return gate.phrase

    with pytest.raises(ProviderError) as caught:
        open_live_session(
            options, clock=WallClock(), confirm=revoke_then_confirm, store=store, env=env
        )
    assert caught.value.reason_code == "VENUE_PERMISSION_DENIED"
    assert exchange.fake.calls == ["Balance"]
    kinds = [r.kind for r in read_audit_log(tmp_path / "live" / "audit.jsonl")]
    assert kinds == ["live.confirmed"]


def test_paper_evidence_of_a_missing_log_is_none(tmp_path: Path) -> None:
    found = paper_evidence(tmp_path / "none.jsonl", bundle_hash="b", profile="p")
    assert found.to_json() == {"runs": 0, "cycles": 0, "first_ns": None}

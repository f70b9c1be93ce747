"""Governed changes through the control plane: applied by the runner, attributed, audited."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from quant_apps.runtime import Command, CommandKind
from quant_apps.runtime.operator.control import CommandResult
from quant_apps.runtime.trading.profiles import load_profiles
from quant_core.audit import read_audit_log, verify_audit_log
from quant_core.errors import ProfileError

from .conftest import Running, make_runtime, start


def _audit(running: Running) -> list[Any]:
    return read_audit_log(running.out / "audit.jsonl")


def test_halt_and_resume_are_applied_attributed_and_audited(running: Running) -> None:
    control = running.control
    halted = control.halt("operator drill", actor="alice")
    assert (halted.ok, halted.kind, halted.actor, halted.reason_code) == (
        True,
        "halt",
        "alice",
        None,
    )
    assert halted.details == {"engaged": True, "reason": "operator drill", "changed": True}
    assert control.health()["health"] == "halted"
    again = control.halt("twice", actor="bob")
    assert (again.ok, again.message) == (True, "the kill switch was already engaged")
    assert again.details["changed"] is False
    resumed = control.resume("drill over", actor="alice")
    assert (resumed.ok, resumed.details["engaged"]) == (True, False)
    assert control.resume("again", actor="alice").message == "the kill switch was not engaged"
    risk = [line for line in running.lines() if line["kind"] == "risk"]
    assert [(r["kill_switch"]["action"], r["kill_switch"]["actor"]) for r in risk] == [
        ("engage", "alice"),
        ("release", "alice"),
    ]
    kinds = [(r.kind, r.data["actor"]) for r in _audit(running)]
    assert kinds == [("kill_switch.engage", "alice"), ("kill_switch.release", "alice")]
    assert verify_audit_log(running.out / "audit.jsonl").ok
    blank = control.halt(" ", actor="alice")
    assert (blank.ok, blank.reason_code) == (False, "KILL_SWITCH_STATE")
    assert not running.runtime.kill_switch.engaged


def test_a_profile_change_lands_in_the_decision_log_and_the_audit_log(running: Running) -> None:
    result = running.control.apply_profile(
        strategy=None, risk={"max_concurrent_positions": 2}, actor="alice", reason="fewer bets"
    )
    assert (result.ok, result.message) == (True, f"profile {running.runtime.engine.label}")
    assert (result.details["risk_version"], result.details["strategy_version"]) == (2, 1)
    assert result.details["profile"] == running.runtime.engine.label
    (line,) = [line for line in running.lines() if line["kind"] == "risk"]
    assert line["change"] == "profile"
    assert (line["risk_profile"]["author"], line["risk_profile"]["reason"]) == (
        "alice",
        "fewer bets",
    )
    assert line["risk_profile"]["values"]["max_concurrent_positions"] == 2
    (record,) = _audit(running)
    assert (record.kind, record.data["author"], record.data["version"]) == (
        "profile.version",
        "alice",
        2,
    )
    profiles = running.control.profiles()
    assert profiles["risk"]["version"] == 2
    assert profiles["risk"]["author"] == "alice"
    # the other values kept theirs: only the one parameter changed
    assert [d["parameter"] for d in profiles["risk"]["diff"]] == ["max_concurrent_positions"]
    same = running.control.apply_profile(
        strategy={}, risk={"max_concurrent_positions": 2}, actor="alice", reason="again"
    )
    assert (same.ok, same.message) == (True, "no value differs from the active profiles")


REFUSALS = [
    ({"max_concurrent_positions": 99}, "PROFILE_OUT_OF_BOUNDS"),
    ({"max_concurrent_positions": 0}, "PROFILE_OUT_OF_BOUNDS"),
    ({"colour": "blue"}, "PROFILE_UNKNOWN_PARAMETER"),
    ({"max_concurrent_positions": "three"}, "INVALID_INPUT"),
    ({"max_concurrent_positions": 2.5}, "INVALID_INPUT"),
    ({"drawdown_limit_pct": 75}, "PROFILE_OUT_OF_BOUNDS"),
]


@pytest.mark.parametrize(("risk", "code"), REFUSALS)
def test_a_request_is_refused_with_the_code_the_profile_file_gets(
    running: Running, tmp_path: Path, risk: dict[str, Any], code: str
) -> None:
    result = running.control.apply_profile(strategy=None, risk=risk, actor="mallory", reason="x")
    assert (result.ok, result.reason_code) == (False, code)
    assert result.message.startswith(f"[{code}]")
    path = tmp_path / "profile.json"
    path.write_text(json.dumps({"risk": risk}), encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profiles(path)
    assert info.value.reason_code == code
    (record,) = _audit(running)
    assert record.kind == "profile.refused"
    assert (record.data["author"], record.data["reason_code"]) == ("mallory", code)
    assert running.control.profiles()["risk"]["version"] == 1
    assert not [line for line in running.lines() if line["kind"] == "risk"]


def test_a_table_that_is_not_a_table_or_a_change_without_a_reason_is_refused(
    running: Running,
) -> None:
    control = running.control
    listed = control.apply_profile(strategy=[1, 2], risk=None, actor="ops", reason="x")  # type: ignore[arg-type]
    assert listed.reason_code == "INVALID_INPUT"
    unexplained = control.apply_profile(
        strategy=None, risk={"max_concurrent_positions": 2}, actor="ops", reason=" "
    )
    assert unexplained.reason_code == "PROFILE_CHANGE_UNATTRIBUTED"
    assert [r.kind for r in _audit(running)] == ["profile.refused", "profile.refused"]


def test_resume_is_refused_while_the_halt_file_exists(tmp_path: Path) -> None:
    halt = tmp_path / "HALT"
    session = start(tmp_path / "out", halt_file=halt)
    try:
        halt.write_text("maintenance window\n", encoding="utf-8")
        session.advance(1)
        assert session.control.health()["health"] == "halted"
        refused = session.control.resume("let me trade", actor="alice")
        assert (refused.ok, refused.reason_code) == (False, "HALT_FILE_PRESENT")
        assert refused.details["engaged"] is True
        halt.unlink()
        session.advance(1)
        assert session.control.health()["health"] == "running"
    finally:
        session.stop()
        session.control.index.close()


def test_a_runner_that_does_not_answer_times_out(tmp_path: Path) -> None:
    from quant_apps.runtime.operator.control import ControlPlane
    from quant_apps.runtime.operator.decisionindex import DecisionIndex

    out = tmp_path / "out"
    out.mkdir()
    runtime, clock, store = make_runtime(out)
    control = ControlPlane(
        runtime,
        clock=clock,
        index=DecisionIndex(out / "decisions.jsonl", out / "decisions.idx.sqlite"),
        bundles=None,
        store=store,
        audit_path=out / "audit.jsonl",
        symbols=("BTC", "ETH"),
        quote="USD",
        command_timeout_s=0.01,
    )
    result = control.halt("nobody runs", actor="ops")  # no runner thread: nobody answers
    assert (result.ok, result.reason_code) == (False, "COMMAND_TIMEOUT")
    runtime.service()  # the runner comes back: the change is applied after all
    assert runtime.kill_switch.engaged
    control.index.close()


def test_commands_after_the_stop_are_refused_and_none_is_left_waiting(tmp_path: Path) -> None:
    session = start(tmp_path / "out")
    session.stop()
    result = session.control.halt("too late", actor="ops")
    assert (result.ok, result.reason_code) == (False, "SESSION_STOPPED")
    for call in (session.control.check_update, session.control.rollback):
        assert call(actor="ops").reason_code == "BUNDLES_UNMANAGED"
    session.control.index.close()


def test_commands_queued_when_the_loop_ends_are_answered_as_not_applied(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    runtime, _, _ = make_runtime(out)
    runtime.start()
    late: list[Any] = []
    halt = Command(CommandKind.HALT, "ops", "late")
    summary = runtime.run(cycles=1, on_cycle=lambda _: late.append(runtime.submit(halt)))
    assert summary["kill_switch"] == []
    (ticket,) = late
    outcome = ticket.result(timeout=0)
    assert (outcome.ok, outcome.reason_code) == (False, "SESSION_STOPPED")
    after = runtime.submit(Command(CommandKind.RESUME, "ops", "later")).result(timeout=0)
    assert (after.ok, after.changed, after.reason_code) == (False, False, "SESSION_STOPPED")


def test_governed_changes_from_many_threads_each_get_their_answer(running: Running) -> None:
    results: list[CommandResult] = []
    lock = threading.Lock()

    def operator(n: int) -> None:
        result = running.control.apply_profile(
            strategy=None,
            risk={"max_concurrent_positions": 1 + n},
            actor=f"op{n}",
            reason=f"thread {n}",
        )
        with lock:
            results.append(result)

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.actor for r in results) == ["op0", "op1", "op2", "op3"]
    assert all(r.ok for r in results)
    versions = sorted(r.details["risk_version"] for r in results if "risk_version" in r.details)
    assert versions[-1] == running.control.profiles()["risk"]["version"]
    assert [r.kind for r in _audit(running)].count("profile.version") == 4

"""Push events: the hub, and what a running session publishes through the control plane."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from quant_apps.runtime.operator.events import EventHub

from .conftest import Running, start


def test_a_waiter_is_woken_by_a_publish_from_another_thread() -> None:
    hub = EventHub()
    got: list[tuple[int, list[dict[str, object]]]] = []
    waiting = threading.Thread(target=lambda: got.append(hub.events_after(0, timeout_s=60)))
    waiting.start()
    hub.publish("status", {"health": "running"})
    waiting.join(timeout=60)
    assert got == [(1, [{"id": 1, "type": "status", "data": {"health": "running"}}])]
    assert hub.last_id == 1


def test_the_ring_keeps_the_newest_and_a_foreign_cursor_reads_from_the_start() -> None:
    hub = EventHub(capacity=3)
    for n in range(5):
        hub.publish("decision", {"n": n})
    cursor, events = hub.events_after(0, timeout_s=0)
    assert (cursor, [e["id"] for e in events]) == (5, [3, 4, 5])
    assert hub.events_after(99, timeout_s=0)[0] == 5  # a cursor from an earlier life
    assert hub.events_after(5, timeout_s=0) == (5, [])
    with pytest.raises(ValueError, match="at least one"):
        EventHub(capacity=0)


def test_close_wakes_every_waiter_with_nothing() -> None:
    hub = EventHub()
    got: list[object] = []
    waiting = threading.Thread(target=lambda: got.append(hub.events_after(0, timeout_s=600)))
    waiting.start()
    before = hub.closed
    hub.close()
    assert (before, hub.closed) == (False, True)
    waiting.join(timeout=60)
    assert got == [(0, [])]
    assert hub.events_after(0, timeout_s=600) == (0, [])  # closed: no waiting any more


def test_a_session_pushes_decisions_fills_status_and_changes(running: Running) -> None:
    control = running.control
    cursor, events = control.events_after(0, timeout_s=0)
    types = {e["type"] for e in events}
    assert types >= {"decision", "fill", "status"}
    decisions = [e["data"] for e in events if e["type"] == "decision"]
    page = control.decisions(limit=500)
    logged = {(i["seq"], i["ts_ns"]) for i in page["items"]}
    assert {(d["seq"], d["ts_ns"]) for d in decisions} <= logged
    assert all(d["run"] == 1 for d in decisions)
    fills = [e["data"] for e in events if e["type"] == "fill"]
    assert fills == control.ledger()["fills"][-len(fills) :]
    statuses = [e["data"] for e in events if e["type"] == "status"]
    assert statuses[-1]["cycles"] == control.status()["cycles"]
    control.halt("drill", actor="alice")
    cursor, events = control.events_after(cursor, timeout_s=60)
    changes = [e["data"] for e in events if e["type"] == "change"]
    assert changes[0]["change"] == "kill_switch"
    assert changes[0]["kill_switch"]["actor"] == "alice"
    assert changes[-1]["change"] == "command"
    assert changes[-1]["actor"] == "alice"
    status = [e["data"] for e in events if e["type"] == "status"]
    assert status[-1]["health"] == "halted"
    refused = control.apply_profile(strategy=None, risk={"x": 1}, actor="bob", reason="r")
    _, events = control.events_after(cursor, timeout_s=60)
    (change,) = [e["data"] for e in events if e["type"] == "change"]
    assert (change["ok"], change["reason_code"]) == (False, refused.reason_code)


def test_a_waiting_reader_hears_the_next_bar(tmp_path: Path) -> None:
    session = start(tmp_path / "out")
    try:
        cursor = session.control.hub.last_id
        got: list[tuple[int, list[dict[str, object]]]] = []
        reader = threading.Thread(
            target=lambda: got.append(session.control.events_after(cursor, timeout_s=60))
        )
        reader.start()
        session.advance(1)
        reader.join(timeout=60)
        ((_, events),) = got
        assert events
        assert events[0]["id"] == cursor + 1
    finally:
        session.stop()
        session.control.index.close()

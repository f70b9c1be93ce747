"""A control plane of plain dicts, shaped as the binding interface says (templates only).

The UI's unit tests render every page and fragment from these values (including markup in
symbols and reason codes, to prove it is escaped); the browser tests run the real
:class:`~quant_apps.runtime.operator.control.ControlPlane` on a paper session over real data.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import attrs

from quant_core.errors import QuantError

T0 = 1_704_067_200 * 10**9
H = 3600 * 10**9
EVIL = "<script>alert(1)</script>"


@attrs.frozen
class Result:
    ok: bool
    kind: str
    actor: str
    message: str
    reason_code: str | None = None
    details: Mapping[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class FakeControl:
    """Plain data; records the commands it was given."""

    def __init__(self, *, coin: str = "BTC/USD") -> None:
        self.coin = coin
        self.mode = "paper"
        self.calls: list[tuple[str, Any]] = []
        self.engaged = False
        self.bounds = {"persistence": {"min": 1, "max": 48}}

    def health(self) -> dict[str, Any]:
        return {"ok": True, "health": "halted" if self.engaged else "running", "now_ns": T0}

    def status(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "health": "running",
            "now_ns": T0 + 5 * H,
            "run": 1,
            "cycles": 5,
            "bars": 10,
            "freshness": [
                {"instrument": self.coin, "last_close_ns": T0, "lag_ns": 0, "stale": False}
            ],
            "bundle": {"bundle_version": "1.0.0", "hashes": ["a", "b"], "empty": []},
            "kill_switch": {
                "engaged": self.engaged,
                "reason": f"drill {EVIL}" if self.engaged else "",
                "actor": "ops" if self.engaged else "",
                "since_ns": T0 if self.engaged else None,
            },
            "profile": "strategy v1 / risk v1",
            "uptime_s": 3725.5,
            "cash": "9000.123",
            "portfolio_value": "10000.5",
            "equity": [[T0, "10000"], [T0 + H, "10000.5"]],
        }

    def risk(self) -> list[dict[str, Any]]:
        return [
            {"gate": "max_positions", "used": "1", "limit": "5", "utilisation_pct": "20"},
            {"gate": EVIL, "used": "0", "limit": "0", "utilisation_pct": "0"},
        ]

    def decisions(self, **filters: Any) -> dict[str, Any]:
        self.calls.append(("decisions", filters))
        if filters.get("instrument") == "BAD":
            raise QuantError("unknown instrument", reason_code="INVALID_INPUT")
        items = [
            {
                "kind": "decision",
                "id": 7,
                "run": 1,
                "seq": 7,
                "ts_ns": T0 + H,
                "trigger": "bar",
                "instrument": self.coin,
                "action": "none",
                "reason_codes": [EVIL, "MAX_POSITIONS"],
                "profile": "strategy v1 / risk v1",
                "inputs": {"p_up": {"1h": "0.512345"}, "prediction_ts": T0, "note": EVIL},
                "model_id": "m1",
            },
            {
                "kind": "decision",
                "id": 6,
                "run": 1,
                "seq": 6,
                "ts_ns": T0,
                "trigger": "risk",
                "instrument": None,
                "action": "none",
                "reason_codes": ["KILL_SWITCH_ENGAGED"],
                "profile": "",
                "inputs": {},
            },
        ]
        return {"items": items, "next_before": 6, "filters": filters}

    def reason_codes(self) -> list[str]:
        return ["ENTRY_SIGNAL", EVIL]

    def predictions(self) -> list[dict[str, Any]]:
        return [
            {
                "instrument": self.coin,
                "ts_ns": T0,
                "made_ns": T0 + 1,
                "model_id": "sha256:" + "ab" * 32,
                "forecasts": [
                    {"horizon_ns": H, "p_up": 0.51234},
                    {"horizon_ns": 24 * H, "p_up": 0.4},
                ],
            },
            {"instrument": "ETH/USD", "ts_ns": T0, "made_ns": T0, "model_id": "", "forecasts": []},
        ]

    def holdings(self) -> list[dict[str, Any]]:
        return [
            {"base": "BTC", "quantity": "0.1", "avg_cost": "40000", "mark": None, "value": "4000"}
        ]

    def orders(self) -> list[dict[str, Any]]:
        return []

    def ledger(self) -> dict[str, Any]:
        return {
            "cash": "9000",
            "portfolio_value": "10000",
            "fills": [{"ts_ns": T0, "instrument": self.coin, "side": "buy", "qty": "0.1"}],
        }

    def candles(self, instrument: str, limit: int = 500) -> dict[str, Any]:
        if instrument != self.coin:
            raise QuantError(f"unknown instrument {instrument}", reason_code="INVALID_INPUT")
        bars = [
            {
                "time_s": (T0 + i * H) // 10**9,
                "open": "1",
                "high": "2",
                "low": "0.5",
                "close": "1.5",
            }
            for i in range(3)
        ]
        return {
            "bars": bars,
            "markers": [{"time_s": T0 // 10**9, "kind": "entry", "price": "1", "qty": "2"}],
            "predictions": [{"time_s": T0 // 10**9, "value": "0.6"}],
        }

    def profiles(self) -> dict[str, Any]:
        return {
            "strategy": {
                "version": 1,
                "values": {"persistence": 3, "sensitivity": "0.5"},
                "author": "default",
                "reason": "initial",
                "ts_ns": T0,
            },
            "risk": {
                "version": 1,
                "values": {"max_total_exposure": {"mode": "percent_of_pv", "value": "80"}},
                "author": "",
                "reason": "",
                "ts_ns": None,
            },
            "bounds": self.bounds,
            "history": [{"profile": "strategy", "version": 1, "author": "default"}],
        }

    def profile_diff(
        self, strategy: Mapping[str, Any] | None, risk: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        self.calls.append(("profile_diff", (strategy, risk)))
        if strategy and strategy.get("persistence", 3) == 1000:
            return {
                "ok": False,
                "changes": [],
                "reason_code": "PROFILE_OUT_OF_BOUNDS",
                "message": "persistence 1000 outside 1..48",
            }
        changes = [
            {"profile": kind, "name": name, "old": "?", "new": str(new)}
            for kind, part in (("strategy", strategy), ("risk", risk))
            for name, new in (part or {}).items()
        ]
        return {"ok": True, "changes": changes}

    def bundle_status(self) -> dict[str, Any]:
        return {
            "active_version": "1.0.1",
            "previous_version": "1.0.0",
            "floor_version": None,
            "update_source": None,
            "history": ["a", "b"],
        }

    def data(self) -> dict[str, Any]:
        return {
            "quote": "USD",
            "timeframe": "1h",
            "instruments": [
                {
                    "instrument": self.coin,
                    "first_open_ns": T0,
                    "last_open_ns": T0 + 2 * H,
                    "bars": 3,
                    "gaps_total": 1,
                    "quarantined": 0,
                    "corrections": 0,
                    "last_sync": {"recorded_at_ns": T0, "source": "kraken", "bars_new": 1},
                    "gaps": [
                        {
                            "source": "kraken",
                            "reason": EVIL,
                            "start_ns": T0,
                            "end_ns": T0 + H,
                            "slots": 1,
                        }
                    ],
                },
                {"instrument": "ETH/USD", "bars": 0, "last_sync": None, "gaps": []},
            ],
        }

    def verify_audit(self) -> dict[str, Any]:
        return {"ok": True, "entries": 3}

    def events_after(self, cursor: int, timeout_s: float) -> tuple[int, list[dict[str, Any]]]:
        """One decision event after cursor 0, then nothing (a short wait)."""
        if cursor == 0:
            return 1, [{"id": 1, "type": "decision", "data": {"instrument": EVIL}}]
        threading.Event().wait(min(timeout_s, 0.05))
        return cursor, []

    def _command(self, kind: str, actor: str, **details: Any) -> Result:
        self.calls.append((kind, {"actor": actor, **details}))
        return Result(True, kind, actor, f"{kind} done", details=details)

    def halt(self, reason: str, *, actor: str) -> Result:
        self.engaged = True
        return self._command("halt", actor, reason=reason)

    def resume(self, reason: str, *, actor: str) -> Result:
        self.engaged = False
        return self._command("resume", actor, reason=reason)

    def apply_profile(
        self,
        *,
        strategy: Mapping[str, Any] | None,
        risk: Mapping[str, Any] | None,
        actor: str,
        reason: str,
    ) -> Result:
        if strategy and strategy.get("persistence") == 1000:
            self.calls.append(("apply_profile", strategy))
            return Result(False, "apply_profile", actor, "out of bounds", "PROFILE_OUT_OF_BOUNDS")
        return self._command("apply_profile", actor, strategy=strategy, risk=risk, reason=reason)

    def check_update(self, *, actor: str) -> Result:
        self.calls.append(("check_update", actor))
        return Result(False, "check_update", actor, "no update source", "USAGE_ERROR")

    def apply_update(self, *, actor: str) -> Result:
        return self._command("apply_update", actor)

    def rollback(self, *, actor: str) -> Result:
        return self._command("rollback", actor, active_version="1.0.0")

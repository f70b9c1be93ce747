"""The operator server over real HTTP: endpoint latency at a million decisions, push latency.

``quant serve``'s composition runs for real: :func:`open_service` (the provider emulator on
127.0.0.1 replaying a seeded synthetic market, the paper session on its runner thread, the
control plane) behind the FastAPI app on uvicorn, on a free loopback port.

1. **Endpoints** (issue 16: p99 <= 50 ms with a million decision lines stored). The control
   plane's decision index is swapped for one over a paper log of ``decisions`` lines (written
   by :func:`bench_control.write_log`), then ``GET /api/v1/status`` and ``GET
   /api/v1/decisions`` (no filter, coin + reason, action) are timed with a bearer token over
   one keep-alive connection. Baseline: the same page answered without an index (scan the
   JSONL file and ``json.loads`` every line, :func:`bench_control.scan_page`), checked equal to
   the endpoint's answer first. Ratio: baseline median / worst endpoint p99.
2. **Push** (issue 16: a decision reaches an open page within 1 s). The replay runs at
   ``speed`` (one 1h bar per ``3600 / speed`` s); every decision the control plane publishes is
   stamped when it is published; a server-sent-events client (``GET /api/v1/events``, what the
   browser's ``EventSource`` opens) stamps it on arrival, and a poller that asks ``GET
   /api/v1/decisions`` once a second (what a page without push would do) stamps when it first
   sees it. Printed: push median and p99, poll median; ``push_ratio`` = poll median / push
   median.

Run: ``uv run python benchmarks/bench_serve.py [--quick] [--json]``
"""

from __future__ import annotations

import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from quant_apps.runtime.operator.decisionindex import DecisionIndex
from quant_apps.runtime.operator.service import ServeOptions, open_service
from quant_apps.serve import Auth, Server, bind, create_app, origin_for
from quant_core import SimClock

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
    from benchmarks._history import p99
    from benchmarks.bench_control import scan_page, time_calls, write_log
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli
    from _history import p99
    from bench_control import scan_page, time_calls, write_log

TOKEN = "bench-token-not-a-secret"
ENDPOINTS: dict[str, tuple[str, dict[str, str]]] = {
    "status": ("/api/v1/status", {}),
    "decisions": ("/api/v1/decisions", {}),
    "decisions coin+reason": ("/api/v1/decisions", {"coin": "SOL", "reason": "EXIT"}),
    "decisions action": ("/api/v1/decisions", {"action": "rejected"}),
}


class _Stamps:
    """Wall-clock stamps per decision key ``(run, seq)``, from any thread (first one kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.at: dict[tuple[int, int], float] = {}

    def stamp(self, key: tuple[int, int]) -> None:
        now = time.perf_counter()
        with self._lock:
            self.at.setdefault(key, now)


def _key(line: dict[str, Any]) -> tuple[int, int]:
    return int(line["run"]), int(line["seq"])


def _listen(origin: str, seen: _Stamps, stop: threading.Event) -> None:
    """A server-sent-events client: stamp every decision event as it arrives."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "text/event-stream"}
    with (
        httpx.Client(base_url=origin, headers=headers, timeout=None) as client,
        client.stream("GET", "/api/v1/events") as response,
    ):
        kind = ""
        for line in response.iter_lines():
            if stop.is_set():
                return
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "decision":
                seen.stamp(_key(json.loads(line[6:])))


def _poll(origin: str, seen: _Stamps, stop: threading.Event, every_s: float) -> None:
    """The baseline: ask for the newest decisions once every ``every_s`` seconds."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=origin, headers=headers) as client:
        while not stop.wait(every_s):
            for line in client.get("/api/v1/decisions", params={"limit": 200}).json()["items"]:
                seen.stamp(_key(line))


def _serve(out: Path, speed: float) -> tuple[Any, Server, threading.Thread, str]:
    env = {**os.environ, "QUANT_DATA_DIR": str(out / "data")}  # a fresh bundle install root
    service = open_service(ServeOptions(out=out / "session", speed=speed), env=env)
    service.start()
    auth = Auth(TOKEN, "bench", clock=SimClock(0))
    sock = bind("127.0.0.1", 0)
    origin = origin_for("127.0.0.1", sock.getsockname()[1])
    server = Server(create_app(service.control, auth, origin=origin), sock)
    thread = threading.Thread(target=server.run, name="bench-uvicorn", daemon=True)
    thread.start()
    with httpx.Client(base_url=origin, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        while True:  # uvicorn answers once it has started
            try:
                c.get("/api/v1/health")
                break
            except httpx.TransportError:
                time.sleep(0.05)
    return service, server, thread, origin


def _push(service: Any, origin: str, seconds: float) -> dict[str, Any]:
    published, pushed, polled = _Stamps(), _Stamps(), _Stamps()
    hub = service.control.hub
    publish = hub.publish

    def stamped(kind: str, data: Any) -> int:
        if kind == "decision":
            published.stamp(_key(data))
        return int(publish(kind, data))

    hub.publish = stamped  # stamp each decision as the control plane publishes it
    stop = threading.Event()
    threads = [
        threading.Thread(target=_listen, args=(origin, pushed, stop), daemon=True),
        threading.Thread(target=_poll, args=(origin, polled, stop, 1.0), daemon=True),
    ]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    threads[1].join()
    hub.publish = publish
    both = [k for k in published.at if k in pushed.at and k in polled.at]
    if not both:
        raise AssertionError("no decision reached both the push client and the poller")
    push = [pushed.at[k] - published.at[k] for k in both]
    poll = [polled.at[k] - published.at[k] for k in both]
    return {
        "decisions": len(both),
        "push_median_ms": statistics.median(push) * 1e3,
        "push_p99_ms": p99(push) * 1e3,
        "push_max_ms": max(push) * 1e3,
        "poll_median_ms": statistics.median(poll) * 1e3,
    }


def _endpoints(
    service: Any, origin: str, tmp: Path, decisions: int, repeats: int
) -> dict[str, Any]:
    big = tmp / "big" / "decisions.jsonl"
    big.parent.mkdir()
    lines = write_log(big, decisions)
    index = DecisionIndex(big, tmp / "big" / "decisions.idx.sqlite")
    index.refresh()
    live, service.control.index = service.control.index, index
    out: dict[str, Any] = {"lines": lines}
    try:
        with httpx.Client(base_url=origin, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
            answer = c.get("/api/v1/decisions", params={"coin": "SOL", "reason": "EXIT"}).json()
            expected = scan_page(big, {"instrument": "SOL", "reason": "EXIT"})
            if answer["items"] != expected:
                raise AssertionError("the endpoint and the scan disagree")
            for name, (path, params) in ENDPOINTS.items():
                for _ in range(10):  # warm the connection and the caches
                    c.get(path, params=params).raise_for_status()
                samples = time_calls(functools.partial(c.get, path, params=params), repeats)
                out[name] = {
                    "median_ms": statistics.median(samples) * 1e3,
                    "p99_ms": p99(samples) * 1e3,
                }
        scan = time_calls(lambda: scan_page(big, {"instrument": "SOL", "reason": "EXIT"}), 2)
        out["baseline_scan_ms"] = statistics.median(scan) * 1e3
    finally:
        service.control.index = live
        index.close()
    return out


def run(decisions: int, repeats: int, seconds: float, speed: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        service, server, thread, origin = _serve(Path(tmp) / "serve", speed)
        try:
            push = _push(service, origin, seconds)
            endpoints = _endpoints(service, origin, Path(tmp), decisions, repeats)
        finally:
            server.stop()
            thread.join()
            service.stop()
    worst = max(endpoints[name]["p99_ms"] for name in ENDPOINTS)
    return {
        "endpoints": endpoints,
        "endpoint_p99_ms_worst": worst,
        "push": push,
        "push_ratio": push["poll_median_ms"] / push["push_median_ms"],
        "ratio": endpoints["baseline_scan_ms"] / worst,
    }


def _lines(sizes: tuple[int, int, float, float], r: dict[str, Any]) -> list[str]:
    _, repeats, seconds, speed = sizes
    e, p = r["endpoints"], r["push"]
    out = [f"operator server on 127.0.0.1, decision log of {e['lines']:,} lines, {repeats} calls"]
    for name in ENDPOINTS:
        out.append(
            f"  GET {name:22s} median {e[name]['median_ms']:7.2f} ms  "
            f"p99 {e[name]['p99_ms']:7.2f} ms"
        )
    out += [
        f"  worst endpoint p99: {r['endpoint_p99_ms_worst']:.2f} ms (target <= 50 ms)",
        f"  baseline (no index: scan + json.loads, coin+reason): {e['baseline_scan_ms']:,.1f} ms",
        f"  ratio (baseline / worst endpoint p99): {r['ratio']:,.0f}",
        f"push: {p['decisions']} decisions over {seconds:.0f} s of replay at {speed:.0f}x",
        (
            f"  server-sent events  median {p['push_median_ms']:7.1f} ms  p99 "
            f"{p['push_p99_ms']:7.1f} ms  max {p['push_max_ms']:7.1f} ms (target <= 1000 ms)"
        ),
        f"  baseline: poll once a second  median {p['poll_median_ms']:7.1f} ms",
        f"  push_ratio (poll median / push median): {r['push_ratio']:.0f}",
    ]
    return out


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(2_000, 20, 3.0, 3600.0),
        full=(1_000_000, 1_000, 20.0, 3600.0),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

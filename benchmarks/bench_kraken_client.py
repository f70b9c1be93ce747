"""Kraken client overhead per order: ``add_order`` against a bare signed POST, same fake.

Both place the same market orders on a fresh fake Kraken exchange over real HTTP on
127.0.0.1 (keep-alive connections both ways):

* quant: :meth:`quant_exec.venues.kraken.KrakenPrivateClient.add_order` — the nonce from its
  persisted high-water mark, the call and per-pair counters, the signature over the exact
  body, the write policy (sent once), the answer parsed into an ``OrderAck``;
* baseline: the HTTP round trip alone — the same form bodies, signed before the clock
  starts, POSTed with a bare ``httpx.Client``, the JSON answer decoded.

The fake's counters are set out of reach so neither side waits. Printed: milliseconds per
order of each, the client's overhead per order (the difference; the target is <= 1 ms), the
share of it spent persisting the nonce, and the ratio of throughputs (quant / baseline).

Run: ``uv run python benchmarks/bench_kraken_client.py [--quick] [--json]``
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from quant_core import SimClock
from quant_core.settings import Secret
from quant_exec.venues.kraken import (
    CallCounter,
    CounterTier,
    KrakenPrivateClient,
    NonceSource,
    OrderRateLimiter,
)
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken
from quant_net import WritePolicy, kraken

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_seconds, run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_seconds, run_cli

START_NS = 1_700_000_000 * 10**9
PATH = "/0/private/AddOrder"
UNBOUNDED = CounterTier("benchmark", 1e12, 1e12)
TARGET_MS = 1.0


def _fake(clock: SimClock) -> FakeKraken:
    fake = FakeKraken(clock, tier=UNBOUNDED, order_tier=UNBOUNDED)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal(40_000))
    fake.book.balances["ZUSD"] = Decimal(10**12)
    return fake


def _params(n: int) -> dict[str, str]:
    return {"ordertype": "market", "type": "buy", "volume": "0.001", "pair": "XBTUSD",
            "cl_ord_id": f"bench-{n:011d}"}  # fmt: skip


def quant_seconds(orders: int) -> float:
    """Seconds for ``orders`` calls of ``add_order`` on a fresh fake."""
    clock = SimClock(START_NS)
    fake = _fake(clock)
    with tempfile.TemporaryDirectory() as tmp, serve_fake_kraken(fake) as server:
        client = KrakenPrivateClient(
            server.base_url, api_key=Secret(server.api_key), secret=Secret(server.secret),
            clock=clock, seed=1, nonce=NonceSource(Path(tmp) / "nonce", clock),
            counter=CallCounter(UNBOUNDED, clock),
            order_limiter=OrderRateLimiter(UNBOUNDED, clock),
            write_policy=WritePolicy(timeout_s=10.0, rate_per_s=1e9, burst=10**9),
        )  # fmt: skip

        def place() -> None:
            for n in range(orders):
                p = _params(n)
                client.add_order(pair=p["pair"], side="buy", order_type="market",
                                 volume=Decimal(p["volume"]), cl_ord_id=p["cl_ord_id"])  # fmt: skip

        seconds = best_seconds(place, 1)
        client.close()
    assert len(fake.book.orders) == orders
    return seconds


def baseline_seconds(orders: int) -> float:
    """Seconds for ``orders`` pre-signed bare POSTs of the same bodies on a fresh fake."""
    clock = SimClock(START_NS)
    fake = _fake(clock)
    signer = kraken.RequestSigner(Secret(fake.secret))
    prepared = []
    for n in range(orders):
        nonce = n + 1
        body = urlencode({"nonce": str(nonce), **_params(n)}).encode()
        headers = {"API-Key": fake.api_key, "API-Sign": signer(PATH, nonce, body),
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        prepared.append((body, headers))
    with serve_fake_kraken(fake) as server, httpx.Client(base_url=server.base_url) as http:

        def post() -> None:
            for body, headers in prepared:
                answer = http.post(PATH, content=body, headers=headers).json()
                assert not answer["error"], answer

        seconds = best_seconds(post, 1)
    assert len(fake.book.orders) == orders
    return seconds


def per_call_fsync_ms(count: int) -> float:
    """Milliseconds per nonce persisted as before blocks: a file lock, a write, an ``fsync``."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nonce"

        def draw() -> None:
            for n in range(count):
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                os.pwrite(fd, str(n).encode(), 0)
                os.fsync(fd)
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)

        return best_seconds(draw, 1) * 1000 / count


def nonce_ms(count: int) -> float:
    """Milliseconds per :meth:`NonceSource.next` (a lock, in-place writes, an ``fsync`` a block)."""
    clock = SimClock(START_NS)
    with tempfile.TemporaryDirectory() as tmp:
        source = NonceSource(Path(tmp) / "nonce", clock)

        def draw() -> None:
            for _ in range(count):
                source.next()

        return best_seconds(draw, 1) * 1000 / count


def run(orders: int, repeats: int) -> dict[str, Any]:
    quant = baseline = float("inf")
    for _ in range(repeats):  # alternately, each on a fresh fake
        quant = min(quant, quant_seconds(orders))
        baseline = min(baseline, baseline_seconds(orders))
    quant_ms, baseline_ms = quant * 1000 / orders, baseline * 1000 / orders
    return {
        "orders": orders,
        "quant_ms_per_order": quant_ms,
        "baseline_ms_per_order": baseline_ms,
        "overhead_ms_per_order": quant_ms - baseline_ms,
        "nonce_ms_per_order": nonce_ms(orders),
        "nonce_per_call_fsync_ms": per_call_fsync_ms(orders),
        "target_ms": TARGET_MS,
        "meets_target": quant_ms - baseline_ms <= TARGET_MS,
        "ratio": baseline_ms / quant_ms,
    }


def _lines(sizes: tuple[int, int], result: dict[str, Any]) -> list[str]:
    orders, repeats = sizes
    return [
        f"Kraken AddOrder over HTTP on 127.0.0.1, {orders:,} orders (best of {repeats})",
        f"  quant    {result['quant_ms_per_order']:.3f} ms/order (KrakenPrivateClient.add_order)",
        f"  baseline {result['baseline_ms_per_order']:.3f} ms/order (pre-signed bare POST)",
        (
            f"  client overhead: {result['overhead_ms_per_order']:.3f} ms/order "
            f"(target <= {TARGET_MS:g} ms; met: {result['meets_target']})"
        ),
        (
            f"  of which the nonce's persisted high-water mark: "
            f"{result['nonce_ms_per_order']:.3f} ms/order (lock, in-place write, one fsync "
            f"per reserved block); per-call fsync as before: "
            f"{result['nonce_per_call_fsync_ms']:.3f} ms/order"
        ),
        f"  ratio (quant throughput / baseline throughput): {result['ratio']:.3f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(100, 1),
        full=(2_000, 3),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

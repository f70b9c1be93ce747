"""Kraken request signing: ``API-Sign`` values per second, prepared key against a naive one.

Every private Kraken call is signed (HMAC-SHA512 over the path and SHA-256(nonce + body),
keyed with the base64-decoded secret). Measured on an ``AddOrder`` body of realistic size,
each request with its own nonce:

* quant: :class:`quant_net.kraken.RequestSigner` — the secret decoded and the HMAC keyed
  once, each request a copy of the keyed state (what
  :class:`quant_exec.venues.kraken.KrakenPrivateClient` does).
* baseline: the naive recipe of Kraken's sample code and krakenex-style clients —
  base64-decode the secret text and key a new HMAC for every request
  (:func:`quant_net.kraken.sign` with the secret's text).

Both produce the same signatures (checked). Printed: signatures/s of each and the ratio
quant / baseline; the target for quant is >= 50,000 signatures/s.

Run: ``uv run python benchmarks/bench_kraken_signing.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from quant_core.settings import Secret
from quant_net import kraken

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import best_pair, run_cli, throughput_lines
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import best_pair, run_cli, throughput_lines

SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
"""Kraken's published example key (not a credential)."""
PATH = "/0/private/AddOrder"
TARGET_PER_S = 50_000


def _bodies(count: int) -> list[tuple[int, bytes]]:
    start = 1_700_000_000_000_000
    return [
        (
            n,
            (
                f"nonce={n}&ordertype=limit&type=buy&volume=0.01250000&pair=XBTUSD"
                f"&price=37500.1&cl_ord_id=intent-{n:012d}&oflags=post"
            ).encode(),
        )
        for n in range(start, start + count)
    ]


def run(requests: int, repeats: int) -> dict[str, Any]:
    bodies = _bodies(requests)
    signer = kraken.RequestSigner(Secret(SECRET))
    for nonce, body in bodies[:10]:
        assert signer(PATH, nonce, body) == kraken.sign(PATH, nonce, body, SECRET)

    def quant() -> None:
        for nonce, body in bodies:
            signer(PATH, nonce, body)

    def baseline() -> None:
        for nonce, body in bodies:
            kraken.sign(PATH, nonce, body, SECRET)

    quant_s, baseline_s = best_pair(quant, baseline, repeats)
    quant_rate = requests / quant_s
    baseline_rate = requests / baseline_s
    return {
        "requests": requests,
        "quant_signatures_per_s": quant_rate,
        "baseline_signatures_per_s": baseline_rate,
        "target_per_s": TARGET_PER_S,
        "meets_target": quant_rate >= TARGET_PER_S,
        "ratio": quant_rate / baseline_rate,
    }


def _lines(sizes: tuple[int, int], result: dict[str, Any]) -> list[str]:
    requests, repeats = sizes
    return throughput_lines(
        f"Kraken API-Sign over {requests:,} AddOrder bodies (best of {repeats})",
        result,
        "signatures/s",
        ",.0f",
        notes=[
            "  baseline: decode the secret and key a new HMAC per request (naive recipe)",
            f"  target: >= {TARGET_PER_S:,} signatures/s (met: {result['meets_target']})",
        ],
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    return run_cli(
        argv,
        description=__doc__,
        quick=(2_000, 2),
        full=(200_000, 5),
        run=lambda sizes: run(*sizes),
        lines=_lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])

"""Same inputs, same bytes: digests agree across processes with different hash seeds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

PROGRAM = textwrap.dedent(
    """
    import json, sys, tempfile, pathlib
    from decimal import Decimal
    import quant_core as q
    from quant_core.audit import AuditLog
    from quant_core.profiles import ProfileHistory, StrategyProfile
    from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

    keys = [f"k{i}" for i in range(50)]
    # Insertion order follows the salted hash(), so it differs from process to process.
    unordered = {k: int(k[1:]) for k in sorted(keys, key=hash)}
    bar = q.Bar(q.Instrument("BTC", "USD"), q.Timeframe.H1, 0, "1.5", "2", "1", "1.75", "10")
    history = ProfileHistory.create(
        StrategyProfile(), author="a", reason="r", clock=q.SimClock(7)
    ).change({"sensitivity": 0.75}, author="b", reason="s", clock=q.SimClock(9))
    path = pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"
    log = AuditLog(path, q.SimClock(1))
    for i in range(5):
        log.append("demo.event", {"i": i, "labels": {k: 1 for k in sorted("abc", key=hash)}})
    out = {
        "unordered": q.content_hash(unordered),
        "bar": q.content_hash(bar),
        "profile": history.active.content_hash(),
        "universe": UNIVERSE_V1_TOP30_NON_STABLE.content_hash(),
        "seed": q.derive_seed(42, "models", "xgboost", "BTC"),
        "draws": q.generator(42, "demo").integers(0, 10**9, 5).tolist(),
        "decimal": q.content_hash({"m": Decimal("0.1")}),
        "audit_file": q.content_hash(path.read_bytes().decode()),
    }
    sys.stdout.write(json.dumps(out, sort_keys=True))
    """
)


def _run(hash_seed: str, tmp_path: Path) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    result = json.loads(done.stdout)
    assert isinstance(result, dict)
    return result


def test_digests_agree_across_processes_with_different_hash_seeds(tmp_path: Path) -> None:
    first = _run("0", tmp_path)
    second = _run("12345", tmp_path)
    assert len(first) == 8
    assert first == second

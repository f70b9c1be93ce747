"""RT-17: the same journal and seed, restarted in separate processes, give identical streams.

A journal left by a crash (an intent journaled, its answer lost) is restarted three times, each
in its own Python process with ``PYTHONHASHSEED`` 0, 1 and ``random``: the restart carries
the journal's books over, reconciles with the paper venue rebuilt from it, and trades the
rest of the example bars. The decision, order and ledger streams are byte-identical (SHA-256
of each serialized stream).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.quant_exec.reconcile._harness import crash_run

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import hashlib, json, sys
from pathlib import Path
from tests.quant_exec.reconcile._harness import feed, grouped
from quant_core import CONVERTER, SimClock, canonical_json
from quant_exec.decisions import read_log
from quant_exec.session import BacktestConfig, TradingSession, carry_from_log, example_inputs

path, resume, now = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
carry = carry_from_log(read_log(path)[-1])
bars, predictor = example_inputs(n_bars=72)
session = TradingSession(bars.instruments, bars.timeframe, predictor, BacktestConfig.defaults(),
                         clock=SimClock(now), carry=carry)
found = session.reconcile()
feed(session, grouped()[resume:])
log = session.log.to_bytes()
streams = {
    "decisions": log,
    "orders": b"".join(line for line in log.splitlines(True) if b'"kind":"order"' in line),
    "ledger": canonical_json([CONVERTER.unstructure(e) for e in session.ledger.entries]),
}
out = {name: hashlib.sha256(data).hexdigest() for name, data in streams.items()}
out["findings"] = [list(f) for f in found.findings]
out["fills"] = len(session.fills)
print(json.dumps(out, sort_keys=True))
"""


def _replay(path: Path, resume: int, now: int, hashseed: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path), str(resume), str(now)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_the_same_journal_replays_byte_identically_in_three_processes(tmp_path: Path) -> None:
    path = tmp_path / "decisions.jsonl"
    clock, _, _, resume = crash_run(path, "b")
    now = clock.now_ns() + 10**9
    runs = [_replay(path, resume, now, seed) for seed in ("0", "1", "random")]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0]["findings"] == [["RECONCILE_RESENT", runs[0]["findings"][0][1]]]  # type: ignore[index]
    assert isinstance(runs[0]["fills"], int)
    assert runs[0]["fills"] > 0  # the restarted session traded


KRAKEN_SCRIPT = """
import hashlib, json, random, sys
from pathlib import Path
from tests.faults._kraken_rig import move_prices, session_fake
from tests.quant_exec.kraken.venue._harness import kraken_rig
from tests.quant_exec.reconcile._harness import Journal, grouped, new_session
from quant_core import CONVERTER, SimClock, canonical_json
from quant_exec.session import BacktestConfig
from quant_exec.venues.kraken.fake import FakeFault

directory, seed = Path(sys.argv[1]), int(sys.argv[2])
groups = grouped()
clock = SimClock(groups[0][0].open_time_ns)
fake = session_fake(clock, groups[0], BacktestConfig.defaults().initial_cash)
rng = random.Random(seed)
with kraken_rig(clock, directory, fake) as rig:
    session = new_session(clock, rig.venue(), Journal(directory / "decisions.jsonl"))
    for group in groups:
        move_prices(fake, group)
        if rng.random() < 0.3:  # the seeded fault plan: unknown outcomes, acting or not
            fake.inject("AddOrder", rng.choice((FakeFault.ACCEPT_THEN_500, FakeFault.HTTP_500)))
        session.on_bars(group, now_ns=max(group[0].close_time_ns, clock.now_ns()))
    session.heartbeat(clock.now_ns() + 60 * 10**9)
    log = session.log.to_bytes()
    streams = {
        "decisions": log,
        "orders": b"".join(line for line in log.splitlines(True) if b'"kind":"order"' in line),
        "ledger": canonical_json([CONVERTER.unstructure(e) for e in session.ledger.entries]),
        "venue": canonical_json([sorted(fake.book.trades), fake.calls]),
    }
    out = {name: hashlib.sha256(data).hexdigest() for name, data in streams.items()}
    out["fills"] = len(session.fills)
    out["absent"] = sum(b'KRAKEN_ORDER_ABSENT' in line for line in log.splitlines())
    out["cash"] = str(session.ledger.cash) == str(fake.book.balances["ZUSD"])
    print(json.dumps(out, sort_keys=True))
"""


def _kraken_run(directory: Path, hashseed: str, seed: int = 5) -> dict[str, object]:
    directory.mkdir()
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    done = subprocess.run(
        [sys.executable, "-c", KRAKEN_SCRIPT, str(directory), str(seed)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_rt_17_a_session_on_kraken_against_a_seeded_fake_is_identical_across_processes(
    tmp_path: Path,
) -> None:
    """The example session on KrakenVenue, against the fake served over HTTP in each process
    with the same seeded fault plan on AddOrder, in two processes with PYTHONHASHSEED 0 and
    1: the decision, order and ledger streams (and the venue's trades and calls) are
    byte-identical (SHA-256)."""
    runs = [_kraken_run(tmp_path / f"run-{s}", s) for s in ("0", "1")]
    assert runs[0] == runs[1]
    assert isinstance(runs[0]["fills"], int)
    assert runs[0]["fills"] >= 3  # the run trades
    assert runs[0]["absent"] == 2  # the seeded plan's unknown outcomes that placed nothing
    assert runs[0]["cash"] is True  # and its ledger is the fake's account

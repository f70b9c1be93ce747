"""NonceSource: strictly increasing across threads, processes, restarts and clock jumps."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import NonceSource, NonceStoreError


class JumpingClock:
    """A wall clock stand-in that can jump backwards and forwards (RT-12)."""

    def __init__(self, now_ns: int) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now


def test_rt_12_nonce_strictly_increasing_across_clock_jumps_and_restart(tmp_path: Path) -> None:
    path = tmp_path / "n"
    clock = JumpingClock(1_000_000_000_000)
    source = NonceSource(path, clock)
    seen = [source.next()]
    clock.now -= 5 * 60 * 10**9  # -5 min
    seen += [source.next(), source.next()]
    clock.now += 15 * 60 * 10**9  # +10 min from the start
    seen.append(source.next())
    clock.now = 0  # a restart with the clock far behind the persisted mark
    seen.append(NonceSource(path, clock).next())
    assert seen == sorted(set(seen))
    assert seen[1] == seen[0] + 1
    assert seen[3] == (1_000_000_000_000 + 10 * 60 * 10**9) // 1000  # the clock again
    assert NonceSource(path, clock).last() == seen[-1]


def test_rt_13_threads_never_share_a_nonce(tmp_path: Path) -> None:
    source = NonceSource(tmp_path / "n", SimClock(0))
    out: list[int] = []
    lock = threading.Lock()

    def work() -> None:
        mine = [source.next() for _ in range(100)]
        assert mine == sorted(mine)
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(out) == list(range(1, 401))


_TAKER = """
import sys
from pathlib import Path
from quant_core import SimClock
from quant_exec.venues.kraken import NonceSource
source = NonceSource(Path(sys.argv[1]), SimClock(0))
print(" ".join(str(source.next()) for _ in range(int(sys.argv[2]))))
"""


def test_rt_13_two_processes_share_one_strictly_increasing_sequence(tmp_path: Path) -> None:
    path = tmp_path / "n"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _TAKER, str(path), "150"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0
        results.append([int(n) for n in out.split()])
    for seq in results:
        assert seq == sorted(seq)
    merged = sorted(results[0] + results[1])
    assert merged == list(range(1, 301))  # no nonce handed out twice, none skipped
    assert NonceSource(path, SimClock(0)).next() == 301  # and a restart continues above


def test_a_new_file_starts_at_the_clock_and_its_folder_is_created(tmp_path: Path) -> None:
    source = NonceSource(tmp_path / "deep" / "n", SimClock(42_000))
    assert source.last() == 0
    assert source.next() == 42
    assert "n" in repr(source)


@pytest.mark.parametrize("content", [b"abc", b"-1", b"1 2", str(2**64).encode()])
def test_a_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "n"
    path.write_bytes(content)
    with pytest.raises(NonceStoreError) as caught:
        NonceSource(path, SimClock(0)).next()
    assert caught.value.reason_code == "KRAKEN_NONCE_STORE_INVALID"


def test_an_unopenable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NonceStoreError, match="cannot open"):
        NonceSource(tmp_path, SimClock(0)).next()  # a directory

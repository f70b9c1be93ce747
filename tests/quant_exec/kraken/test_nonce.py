"""NonceSource: strictly increasing across threads, processes, restarts and clock jumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import NonceSource, NonceStoreError
from quant_exec.venues.kraken._nonce import RESERVE_US


def test_a_new_file_starts_at_the_clock_and_its_folder_is_created(tmp_path: Path) -> None:
    source = NonceSource(tmp_path / "deep" / "n", SimClock(42_000))
    assert source.last() == 0
    assert source.next() == 42
    assert "n" in repr(source)


def test_the_reservation_is_synced_once_per_block_and_a_restart_starts_above_it(
    tmp_path: Path,
) -> None:
    clock = SimClock(1_000_000_000)  # 1,000,000 µs
    path = tmp_path / "n"
    path.write_bytes(b"7\n")  # the older one-integer file: both marks
    source = NonceSource(path, clock)
    handed = [source.next() for _ in range(1000)]
    assert handed[0] == 1_000_000
    assert handed == sorted(set(handed))
    assert source.syncs == 1  # one fsync for 1,000 nonces
    assert source.reserved() == 1_000_000 + RESERVE_US
    clock.advance_by((RESERVE_US + 1) * 1000)  # the clock passes the reservation
    assert source.next() == 1_000_000 + RESERVE_US + 1
    assert source.syncs == 2
    restarted = NonceSource(path, SimClock(0))
    assert restarted.next() == 1_000_000 + 2 * RESERVE_US + 2  # above every mark reserved
    assert restarted.last() == 1_000_000 + 2 * RESERVE_US + 2


@pytest.mark.parametrize("content", [b"abc", b"-1", b"1 2", b"1\n2\n3", str(2**64).encode()])
def test_a_corrupt_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "n"
    path.write_bytes(content)
    with pytest.raises(NonceStoreError) as caught:
        NonceSource(path, SimClock(0)).next()
    assert caught.value.reason_code == "KRAKEN_NONCE_STORE_INVALID"


def test_an_unopenable_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NonceStoreError, match="cannot open"):
        NonceSource(tmp_path, SimClock(0)).next()  # a directory

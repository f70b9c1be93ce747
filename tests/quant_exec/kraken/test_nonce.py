"""NonceSource: strictly increasing across threads, processes, restarts and clock jumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from quant_core import SimClock
from quant_exec.venues.kraken import NonceSource, NonceStoreError


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

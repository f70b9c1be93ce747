"""Seed derivation and generators."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import derive_seed, generator

paths = st.lists(st.text(max_size=10), max_size=4)


@settings(max_examples=100, deadline=None)
@given(st.integers(), paths, st.integers(min_value=1, max_value=64))
def test_seed_is_a_stable_hash_of_root_and_path(root: int, path: list[str], bits: int) -> None:
    seed = derive_seed(root, *path, bits=bits)
    payload = json.dumps([root, *path], separators=(",", ":"), ensure_ascii=False).encode()
    top64 = int.from_bytes(hashlib.sha256(payload).digest()[:8], "big")
    assert seed == top64 >> (64 - bits)
    assert 0 <= seed < 2**bits


def test_paths_do_not_collide_by_concatenation() -> None:
    assert derive_seed(1, "ab") != derive_seed(1, "a", "b")
    assert derive_seed(1, "a") != derive_seed(2, "a")


@pytest.mark.parametrize("bits", [0, 65])
def test_bits_must_fit(bits: int) -> None:
    with pytest.raises(ValueError, match="bits"):
        derive_seed(1, bits=bits)


def test_bool_root_is_refused() -> None:
    with pytest.raises(ValueError, match="bool"):
        derive_seed(True)


def test_generators_repeat_per_path_and_differ_between_paths() -> None:
    a1 = generator(42, "models", "a").standard_normal(8)
    a2 = generator(42, "models", "a").standard_normal(8)
    b = generator(42, "models", "b").standard_normal(8)
    assert a1.tolist() == a2.tolist()
    assert a1.tolist() != b.tolist()

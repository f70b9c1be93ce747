"""Keys, signatures, thresholds (BND-03) and rotation/revocation (BND-02, BND-04)."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from quant_bundle import BundleRejectedError, BundleStorageError, reasons, verify_release
from quant_bundle.keys import (
    PrivateKey,
    TrustStore,
    generate_key,
    load_private_key,
    load_public_key,
    make_rotation,
    private_key_from_hex,
    sign_document,
    verify_signatures,
    write_keypair,
)
from quant_core import canonical_json

from .conftest import Kit

KEYS = [generate_key(seed=bytes([i]) * 32) for i in range(1, 7)]


def _code(fn: Any, *args: Any) -> str:
    with pytest.raises(BundleRejectedError) as info:
        fn(*args)
    return info.value.reason_code


def test_key_id_and_repr_hide_the_secret() -> None:
    key = KEYS[0]
    assert key.key_id.startswith("ed25519:")
    assert len(key.key_id) == 8 + 32
    assert key.seed_hex() not in repr(key)
    assert key.seed_hex() not in str(key)
    assert "***" in repr(key)
    assert repr(key.public) == f"PublicKey({key.key_id})"
    assert private_key_from_hex(key.seed_hex()).key_id == key.key_id
    assert _code(private_key_from_hex, "zz") == reasons.KEY_FILE_INVALID
    assert generate_key().key_id != generate_key().key_id


def test_keypair_files(tmp_path: Path) -> None:
    key = KEYS[0]
    written = write_keypair(key, tmp_path / "k", "release")
    private = Path(written["private"])
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert load_private_key(private).key_id == key.key_id
    assert load_public_key(written["public"]) == key.public
    with pytest.raises(BundleStorageError):
        write_keypair(key, tmp_path / "k", "release")  # never overwrites
    only_pub = write_keypair(key, tmp_path / "p", "x", private=False)
    assert set(only_pub) == {"public"}


@pytest.mark.parametrize(
    "content",
    [
        b"{}",
        b"not json",
        canonical_json({"algorithm": "ed25519", "key_id": "x", "public_key": "zz"}),
        canonical_json({"algorithm": "ed25519", "key_id": "x", "public_key": "00" * 32}),
    ],
)
def test_bad_public_key_files(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "a.pub").write_bytes(content)
    assert _code(load_public_key, tmp_path / "a.pub") == reasons.KEY_FILE_INVALID


def test_bad_private_key_files(tmp_path: Path) -> None:
    (tmp_path / "a.key").write_bytes(b"{}")
    with pytest.raises(BundleRejectedError) as info:
        load_private_key(tmp_path / "a.key")
    assert info.value.reason_code == reasons.KEY_FILE_INVALID
    assert _code(load_private_key, tmp_path / "missing.key") == reasons.BUNDLE_MISSING
    assert _code(load_public_key, tmp_path / "missing.pub") == reasons.BUNDLE_MISSING
    (tmp_path / "big.pub").write_bytes(b" " * 70_000)
    assert _code(load_public_key, tmp_path / "big.pub") == reasons.KEY_FILE_INVALID


def test_bnd02_untrusted_key_and_forged_key_id(kit: Kit) -> None:
    trust = kit.trust
    rel = kit.release("1.0.0", signers=[kit.stranger])
    assert _code(verify_release, rel, trust) == reasons.KEY_UNTRUSTED
    data = b"payload"
    forged = canonical_json(
        {
            "signatures": [
                {
                    "algorithm": "ed25519",
                    "key_id": kit.key.key_id,
                    "signature": kit.stranger.sign(data).hex(),
                }
            ]
        }
    )
    assert _code(verify_signatures, data, forged, trust) == reasons.SIG_INVALID


@pytest.mark.parametrize(
    "sigfile",
    [
        b"",
        b"{}",
        canonical_json({"signatures": []}),
        canonical_json({"signatures": [{"x": 1}]}),
        canonical_json(
            {"signatures": [{"algorithm": "ed25519", "key_id": "k", "signature": "zz"}]}
        ),
    ],
)
def test_malformed_signature_files(sigfile: bytes) -> None:
    trust = TrustStore.from_keys([KEYS[0].public])
    code = _code(verify_signatures, b"d", sigfile, trust)
    assert code in (reasons.SIG_INVALID, reasons.KEY_UNTRUSTED)


def _sig(data: bytes, keys: list[PrivateKey]) -> bytes:
    return sign_document(data, keys)


@pytest.mark.parametrize(
    ("signers", "expected"),
    [
        ([0], reasons.THRESHOLD_NOT_MET),
        ([0, 0], reasons.THRESHOLD_NOT_MET),
        ([0, 1], None),
        ([1, 2], None),
        ([0, 5], reasons.KEY_UNTRUSTED),
        ([], reasons.SIG_INVALID),
    ],
    ids=["one", "same-key-twice", "two-distinct", "other-two", "one-plus-untrusted", "none"],
)
def test_bnd03_threshold(signers: list[int], expected: str | None) -> None:
    trust = TrustStore.from_keys([k.public for k in KEYS[:3]], threshold=2)
    data = b"manifest bytes"
    sig = _sig(data, [KEYS[i] for i in signers])
    if expected is None:
        assert sorted(verify_signatures(data, sig, trust)) == sorted(
            KEYS[i].key_id for i in signers
        )
    else:
        assert _code(verify_signatures, data, sig, trust) == expected


def test_bnd03_bad_signature_ignored_when_threshold_met() -> None:
    trust = TrustStore.from_keys([k.public for k in KEYS[:3]], threshold=2)
    data = b"x"
    doc = json.loads(_sig(data, [KEYS[0], KEYS[1]]))
    doc["signatures"].append(
        {"algorithm": "ed25519", "key_id": KEYS[2].key_id, "signature": "00" * 64}
    )
    assert len(verify_signatures(data, canonical_json(doc), trust)) == 2


# --- BND-04: rotation table, after python-tuf's root_rotation_cases ---------------------------


def _rot(
    store: TrustStore,
    signers: list[int],
    add: list[int],
    revoke: list[int],
    threshold: int | None = None,
) -> dict[str, Any]:
    return make_rotation(
        store,
        [KEYS[i] for i in signers],
        add=[KEYS[i].public for i in add],
        revoke=[KEYS[i].key_id for i in revoke],
        threshold=threshold,
    )


ROTATION_CASES: dict[str, tuple[list[int], list[int], list[int], int | None, str | None]] = {
    # name: (signers, add, revoke, threshold, expected failure)
    "1-of-1 rotation signed by old and new": ([0, 1], [1], [0], None, None),
    "1-of-1 rotation not signed with new key": ([0], [1], [0], None, reasons.KEY_REVOKED),
    "1-of-1 rotation not signed with old key": ([1], [1], [0], None, reasons.KEY_UNTRUSTED),
    "add a key, keep the old": ([0], [1], [], None, None),
    "threshold increase 1 to 2 signed by two": ([0, 1], [1, 2], [], 2, None),
    "threshold increase not met by new set": ([0], [1, 2], [], 2, reasons.THRESHOLD_NOT_MET),
    "statement by an untrusted key": ([3], [3], [], None, reasons.KEY_UNTRUSTED),
    "threshold above key count": ([0], [], [], 3, reasons.KEY_ROTATION_INVALID),
}


@pytest.mark.parametrize("case", list(ROTATION_CASES), ids=list(ROTATION_CASES))
def test_bnd04_rotation_cases(case: str) -> None:
    signers, add, revoke, threshold, expected = ROTATION_CASES[case]
    store = TrustStore.from_keys([KEYS[0].public])
    statement = _rot(store, signers, add, revoke, threshold)
    if expected is None:
        new = store.apply_rotation(statement)
        assert new.sequence == 1
        assert set(new.trusted) == ({KEYS[0].key_id} | {KEYS[i].key_id for i in add}) - {
            KEYS[i].key_id for i in revoke
        }
    else:
        assert _code(store.apply_rotation, statement) == expected


def test_bnd04_chain_from_directory_and_revoked_key_refused(kit: Kit, tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    write_keypair(KEYS[0], keys_dir, "root", private=False)
    root = TrustStore.load(keys_dir)
    first = _rot(root, [0, 1], [1], [0])
    (keys_dir / "rotation-0001.json").write_bytes(canonical_json(first))
    store1 = TrustStore.load(keys_dir)
    second = _rot(store1, [1, 2], [2], [])
    (keys_dir / "rotation-0002.json").write_bytes(canonical_json(second))
    final = TrustStore.load(keys_dir)
    assert final.sequence == 2
    assert set(final.trusted) == {KEYS[1].key_id, KEYS[2].key_id}
    assert KEYS[0].key_id in final.revoked
    # A bundle signed by the revoked key (valid under the original root) is refused.
    rel = kit.release("1.0.0", signers=[KEYS[0]])
    assert verify_release(rel, root).manifest.bundle_version == "1.0.0"
    assert _code(verify_release, rel, final) == reasons.KEY_REVOKED
    # A revoked key cannot come back through a later statement.
    third = _rot(final, [1], [0], [])
    assert KEYS[0].key_id not in final.apply_rotation(third).trusted


def test_bnd04_sequence_gaps_replays_and_malformed(tmp_path: Path) -> None:
    store = TrustStore.from_keys([KEYS[0].public])
    good = _rot(store, [0], [1], [])
    assert _code(
        store.apply_rotation, {**good, "statement": {**good["statement"], "sequence": 2}}
    ) == (reasons.KEY_ROTATION_INVALID)
    after = store.apply_rotation(good)
    assert _code(after.apply_rotation, good) == reasons.KEY_ROTATION_INVALID  # replay
    bad: dict[str, Any]
    for bad in (
        {},
        {"statement": {}, "signatures": []},
        {**good, "statement": {**good["statement"], "add": "x"}},
        {**good, "statement": {**good["statement"], "threshold": 0}},
        {**good, "statement": {**good["statement"], "add": [{"bad": 1}]}},
    ):
        assert _code(store.apply_rotation, bad) == reasons.KEY_ROTATION_INVALID
    tampered = {**good, "statement": {**good["statement"], "add": [KEYS[4].public.to_dict()]}}
    assert _code(store.apply_rotation, tampered) == reasons.SIG_INVALID
    many = TrustStore(store.trusted, frozenset(), 1, 64)
    assert _code(many.apply_rotation, _rot(many, [0], [1], [])) == reasons.KEY_ROTATION_INVALID
    keys_dir = tmp_path / "k"
    keys_dir.mkdir()
    assert _code(TrustStore.load, keys_dir) == reasons.BUNDLE_MISSING
    write_keypair(KEYS[0], keys_dir, "root", private=False)
    (keys_dir / "rotation-1.json").write_bytes(b"garbage")
    assert _code(TrustStore.load, keys_dir) == reasons.KEY_ROTATION_INVALID

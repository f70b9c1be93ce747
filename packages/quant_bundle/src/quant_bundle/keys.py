"""Ed25519 keys, detached signatures, the trust store and key rotation (PyNaCl).

* A **key id** is ``ed25519:`` + the first 32 hex digits of SHA-256 over the raw public key.
* A **public key file** (``*.pub``) and a **private key file** (``*.key``, mode 0600) are
  canonical JSON. Private keys never go into the repository, logs or reprs.
* A **signature file** (``manifest.sig``, ``latest.sig``) is canonical JSON
  ``{"signatures": [{"algorithm": "ed25519", "key_id": …, "signature": <hex>}]}`` over the
  exact bytes of the document next to it.
* The **trust store** starts from the pinned ``*.pub`` files of a directory (the repository's
  ``bundles/keys/``). A new key becomes trusted only through a **rotation statement**
  (``rotation-<n>.json``) signed by a threshold of the keys trusted before it; a statement can
  also revoke keys. Statements apply in sequence ``1, 2, …`` without gaps.

Examples:
    >>> from quant_bundle.keys import TrustStore, generate_key, sign_document, verify_signatures
    >>> key = generate_key(seed=bytes(32))
    >>> trust = TrustStore.from_keys([key.public])
    >>> sig = sign_document(b"hello", [key])
    >>> verify_signatures(b"hello", sig, trust)
    ['ed25519:...']
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import nacl.exceptions
import nacl.signing

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError, BundleStorageError
from quant_bundle._io import read_capped
from quant_bundle._manifest import strict_json
from quant_core import canonical_json
from quant_core.files import write_file_atomic

__all__ = [
    "ROTATION_SCHEMA",
    "SIGNATURE_MAX_BYTES",
    "PrivateKey",
    "PublicKey",
    "TrustStore",
    "generate_key",
    "key_id_of",
    "load_private_key",
    "load_public_key",
    "make_rotation",
    "private_key_from_hex",
    "sign_document",
    "verify_signatures",
    "write_keypair",
]

ROTATION_SCHEMA: Final = "quant.bundle.key-rotation/1"
SIGNATURE_MAX_BYTES: Final = 64 * 1024
_MAX_ROTATIONS: Final = 64
_SIG_HEX = re.compile(r"^[0-9a-f]{128}$")


def key_id_of(public_bytes: bytes) -> str:
    """The key id of a raw 32-byte Ed25519 public key."""
    return "ed25519:" + hashlib.sha256(public_bytes).hexdigest()[:32]


@attrs.frozen
class PublicKey:
    """A public verification key."""

    raw: bytes = attrs.field(repr=False)

    @property
    def key_id(self) -> str:
        """The key's id."""
        return key_id_of(self.raw)

    def to_dict(self) -> dict[str, str]:
        """The key as its ``*.pub`` JSON object."""
        # Hand-written: the key file format carries the algorithm and the key id beside the hex.
        return {"algorithm": "ed25519", "key_id": self.key_id, "public_key": self.raw.hex()}

    def __repr__(self) -> str:
        return f"PublicKey({self.key_id})"


class PrivateKey:
    """A private signing key; its repr and str never show the secret.

    Args:
        seed: the 32-byte Ed25519 seed.
    """

    __slots__ = ("_signing",)

    def __init__(self, seed: bytes) -> None:
        self._signing = nacl.signing.SigningKey(seed)

    @property
    def public(self) -> PublicKey:
        """The matching public key."""
        return PublicKey(bytes(self._signing.verify_key))

    @property
    def key_id(self) -> str:
        """The key's id."""
        return self.public.key_id

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature over ``data``."""
        return bytes(self._signing.sign(data).signature)

    def seed_hex(self) -> str:
        """The secret seed as hex, for writing a key file or a keychain entry only."""
        return bytes(self._signing).hex()

    def __repr__(self) -> str:
        return f"PrivateKey({self.key_id}, secret=***)"

    __str__ = __repr__


def generate_key(seed: bytes | None = None) -> PrivateKey:
    """Generate a key from the OS random source, or from a 32-byte ``seed`` (tests only)."""
    if seed is None:
        return PrivateKey(bytes(nacl.signing.SigningKey.generate()))
    return PrivateKey(seed)


def _key_error(message: str) -> BundleRejectedError:
    return BundleRejectedError(message, reason_code=reasons.KEY_FILE_INVALID)


def _parse_public(doc: Any) -> PublicKey:
    if not (isinstance(doc, dict) and set(doc) == {"algorithm", "key_id", "public_key"}):
        raise _key_error("not a public key object")
    if not (
        isinstance(doc["public_key"], str) and re.fullmatch(r"[0-9a-f]{64}", doc["public_key"])
    ):
        raise _key_error("public key is not 64 lower-case hex digits")
    raw = bytes.fromhex(doc["public_key"])
    if doc["algorithm"] != "ed25519" or len(raw) != 32 or doc["key_id"] != key_id_of(raw):
        raise _key_error("public key algorithm, length or key id is wrong")
    return PublicKey(raw)


def load_public_key(path: Path | str) -> PublicKey:
    """Read a ``*.pub`` file.

    Raises:
        BundleRejectedError: ``KEY_FILE_INVALID`` (or ``BUNDLE_MISSING`` if absent).
    """
    try:
        doc = strict_json(read_capped(Path(path), SIGNATURE_MAX_BYTES))
    except BundleRejectedError as exc:
        if exc.reason_code == reasons.BUNDLE_MISSING:
            raise
        raise _key_error(f"{Path(path).name}: {exc.message}") from None
    return _parse_public(doc)


def load_private_key(path: Path | str) -> PrivateKey:
    """Read a ``*.key`` file (the secret never appears in an error).

    Raises:
        BundleRejectedError: ``KEY_FILE_INVALID`` (or ``BUNDLE_MISSING`` if absent).
    """
    data = read_capped(Path(path), SIGNATURE_MAX_BYTES)
    try:
        doc = strict_json(data)
        if not (isinstance(doc, dict) and set(doc) == {"algorithm", "key_id", "private_key"}):
            raise ValueError
        key = PrivateKey(bytes.fromhex(doc["private_key"]))
        if doc["algorithm"] != "ed25519" or key.key_id != doc["key_id"]:
            raise ValueError
    except (BundleRejectedError, ValueError, TypeError, nacl.exceptions.CryptoError):
        raise _key_error(f"{Path(path).name} is not a valid private key file") from None
    return key


def private_key_from_hex(seed_hex: str) -> PrivateKey:
    """A private key from its hex seed (as stored in the OS keychain).

    Raises:
        BundleRejectedError: ``KEY_FILE_INVALID``.
    """
    try:
        return PrivateKey(bytes.fromhex(seed_hex))
    except (ValueError, TypeError, nacl.exceptions.CryptoError):
        raise _key_error("keychain entry is not a valid private key") from None


def write_keypair(
    key: PrivateKey, out_dir: Path | str, name: str, *, private: bool = True
) -> dict[str, str]:
    """Write ``<name>.pub`` (and, if ``private``, ``<name>.key`` with mode 0600).

    Existing files are never overwritten.

    Raises:
        BundleStorageError: a file exists or cannot be written.
    """
    out = Path(out_dir)
    written = {"public": str(out / f"{name}.pub")}
    try:
        out.mkdir(parents=True, exist_ok=True)
        if private:
            doc = {"algorithm": "ed25519", "key_id": key.key_id, "private_key": key.seed_hex()}
            write_file_atomic(out / f"{name}.key", canonical_json(doc), mode=0o600, exclusive=True)
            written["private"] = str(out / f"{name}.key")
        pub = canonical_json(key.public.to_dict())
        write_file_atomic(out / f"{name}.pub", pub, mode=0o644, exclusive=True)
    except OSError as exc:
        raise BundleStorageError(f"cannot write key files in {out}: {exc.strerror}") from None
    return written


def sign_document(data: bytes, keys: Sequence[PrivateKey]) -> bytes:
    """The canonical signature file bytes over ``data``, one signature per key."""
    sigs = [
        {"algorithm": "ed25519", "key_id": k.key_id, "signature": k.sign(data).hex()} for k in keys
    ]
    return canonical_json({"signatures": sigs})


@attrs.frozen
class TrustStore:
    """The keys trusted now, the keys revoked, and the signature threshold.

    Build one with :meth:`load` (a keys directory) or :meth:`from_keys`.
    """

    trusted: Mapping[str, PublicKey]
    revoked: frozenset[str] = frozenset()
    threshold: int = 1
    sequence: int = 0

    @classmethod
    def from_keys(cls, keys: Iterable[PublicKey], threshold: int = 1) -> TrustStore:
        """A trust store of the given root keys."""
        return cls({k.key_id: k for k in keys}, frozenset(), threshold, 0)

    @classmethod
    def load(cls, keys_dir: Path | str, threshold: int = 1) -> TrustStore:
        """Read the ``*.pub`` anchors and apply ``rotation-<n>.json`` statements in order.

        Raises:
            BundleRejectedError: ``KEY_FILE_INVALID`` or ``KEY_ROTATION_INVALID``;
                ``BUNDLE_MISSING`` when the directory has no key.
        """
        directory = Path(keys_dir)
        try:
            pubs = sorted(directory.glob("*.pub"))
            rotations = sorted(directory.glob("rotation-*.json"))
        except OSError as exc:  # pragma: no cover - glob swallows most errors
            raise BundleStorageError(f"cannot list {directory}: {exc.strerror}") from None
        if not pubs:
            raise BundleRejectedError(
                f"no trusted public keys in {directory}", reason_code=reasons.BUNDLE_MISSING
            )
        store = cls.from_keys((load_public_key(p) for p in pubs), threshold)
        statements = []
        for path in rotations:
            try:
                statements.append(strict_json(read_capped(path, SIGNATURE_MAX_BYTES)))
            except BundleRejectedError as exc:
                raise BundleRejectedError(
                    f"{path.name}: {exc.message}", reason_code=reasons.KEY_ROTATION_INVALID
                ) from None
        statements.sort(
            key=lambda s: (
                s.get("statement", {}).get("sequence", 0)
                if isinstance(s, dict) and isinstance(s.get("statement"), dict)
                else 0
            )
        )
        for statement in statements:
            store = store.apply_rotation(statement)
        return store

    def apply_rotation(self, document: Any) -> TrustStore:
        """Return the trust store after one rotation statement, or refuse it.

        Raises:
            BundleRejectedError: ``KEY_ROTATION_INVALID`` (bad schema, wrong sequence,
                too many rotations) or the signature reasons of :func:`verify_signatures`.
        """

        def bad(message: str) -> BundleRejectedError:
            return BundleRejectedError(message, reason_code=reasons.KEY_ROTATION_INVALID)

        if not (isinstance(document, dict) and set(document) == {"statement", "signatures"}):
            raise bad("rotation document must have 'statement' and 'signatures'")
        st = document["statement"]
        keys = {"schema", "sequence", "add", "revoke", "threshold"}
        if not (isinstance(st, dict) and set(st) == keys and st["schema"] == ROTATION_SCHEMA):
            raise bad("rotation statement does not match its schema")
        if type(st["sequence"]) is not int or st["sequence"] != self.sequence + 1:
            raise bad(f"rotation sequence must be {self.sequence + 1}")
        if st["sequence"] > _MAX_ROTATIONS:
            raise bad(f"more than {_MAX_ROTATIONS} rotations")
        if not (isinstance(st["add"], list) and isinstance(st["revoke"], list)):
            raise bad("'add' and 'revoke' must be lists")
        if type(st["threshold"]) is not int or st["threshold"] < 1:
            raise bad("threshold must be a positive integer")
        try:
            added = [_parse_public(k) for k in st["add"]]
        except BundleRejectedError:
            raise bad("an added key is malformed") from None
        signed = canonical_json(st)
        verify_signatures(signed, canonical_json({"signatures": document["signatures"]}), self)
        revoked = self.revoked | {r for r in st["revoke"] if isinstance(r, str)}
        trusted = {k: v for k, v in self.trusted.items() if k not in revoked}
        trusted.update({k.key_id: k for k in added if k.key_id not in revoked})
        if len(trusted) < st["threshold"]:
            raise bad("the rotation would leave fewer keys than its threshold")
        new = TrustStore(trusted, frozenset(revoked), st["threshold"], st["sequence"])
        # The new key set must also vouch for the statement (TUF: old and new threshold).
        verify_signatures(signed, canonical_json({"signatures": document["signatures"]}), new)
        return new


def make_rotation(
    store: TrustStore,
    signers: Sequence[PrivateKey],
    *,
    add: Sequence[PublicKey] = (),
    revoke: Sequence[str] = (),
    threshold: int | None = None,
) -> dict[str, Any]:
    """A rotation statement for ``store``'s next sequence number, signed by ``signers``."""
    statement = {
        "schema": ROTATION_SCHEMA,
        "sequence": store.sequence + 1,
        "add": [k.to_dict() for k in add],
        "revoke": sorted(revoke),
        "threshold": store.threshold if threshold is None else threshold,
    }
    signed = canonical_json(statement)
    sigs = strict_json(sign_document(signed, signers))["signatures"]
    return {"statement": statement, "signatures": sigs}


def verify_signatures(data: bytes, signature_file: bytes, trust: TrustStore) -> list[str]:
    """Verify a signature file over ``data``; return the ids of the keys that signed.

    Each trusted key counts once towards the threshold. With too few valid signatures the
    reason is ``KEY_REVOKED`` if any signature came from a revoked key, else ``SIG_INVALID`` if
    any did not verify (or the file is malformed), else ``KEY_UNTRUSTED`` if any key is
    unknown, else ``THRESHOLD_NOT_MET``.

    Raises:
        BundleRejectedError: with the reason above.
    """
    try:
        doc = strict_json(signature_file, max_bytes=SIGNATURE_MAX_BYTES)
    except BundleRejectedError as exc:
        raise BundleRejectedError(
            f"signature file: {exc.message}", reason_code=reasons.SIG_INVALID
        ) from None
    entries = (
        doc.get("signatures") if isinstance(doc, dict) and set(doc) == {"signatures"} else None
    )
    if not isinstance(entries, list) or not entries:
        raise BundleRejectedError(
            "signature file has no signatures", reason_code=reasons.SIG_INVALID
        )
    valid: list[str] = []
    problems: set[str] = set()
    for entry in entries:
        if not (
            isinstance(entry, dict)
            and set(entry) == {"algorithm", "key_id", "signature"}
            and entry["algorithm"] == "ed25519"
            and isinstance(entry["key_id"], str)
            and isinstance(entry["signature"], str)
            and _SIG_HEX.fullmatch(entry["signature"]) is not None
        ):
            problems.add(reasons.SIG_INVALID)
            continue
        key_id = entry["key_id"]
        if key_id in trust.revoked:
            problems.add(reasons.KEY_REVOKED)
            continue
        key = trust.trusted.get(key_id)
        if key is None:
            problems.add(reasons.KEY_UNTRUSTED)
            continue
        try:
            nacl.signing.VerifyKey(key.raw).verify(data, bytes.fromhex(entry["signature"]))
        except (ValueError, nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError):
            problems.add(reasons.SIG_INVALID)
            continue
        if key_id not in valid:
            valid.append(key_id)
    if len(valid) >= trust.threshold:
        return valid
    for code in (reasons.KEY_REVOKED, reasons.SIG_INVALID, reasons.KEY_UNTRUSTED):
        if code in problems:
            raise BundleRejectedError(f"signature check failed ({code})", reason_code=code)
    raise BundleRejectedError(
        f"{len(valid)} distinct trusted signature(s), threshold {trust.threshold}",
        reason_code=reasons.THRESHOLD_NOT_MET,
    )

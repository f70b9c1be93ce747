"""Updates from a release source: the signed, expiring ``latest`` pointer and downloads.

A source is a directory or an ``http(s)://`` URL holding the release assets
(``latest.json``, ``latest.sig``, ``manifest.json``, ``manifest.sig``, ``bundle.tar.zst``).
The pointer is canonical JSON::

    {"bundle_version": "1.2.0", "expires_ns": …, "manifest_sha384": "<hex>",
     "pointer_version": 7, "schema": "quant.bundle.pointer/1"}

signed like a manifest. It defeats freeze attacks (an expired pointer refuses the update:
``POINTER_EXPIRED``, evaluated against one start time per update) and rollback of the pointer
(``POINTER_ROLLBACK``; the floor is kept per signing key, so rotating the pointer key recovers
from a fast-forward attack). Every download has a byte cap and a deadline.

Examples:
    >>> from quant_bundle.update import open_source
    >>> type(open_source("/tmp")).__name__
    'DirectorySource'
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Final, Protocol

import attrs
import httpx

from quant_bundle import reasons
from quant_bundle._errors import BundleRejectedError, BundleStorageError
from quant_bundle._io import CHUNK, read_capped, storage_error
from quant_bundle._manifest import (
    ARCHIVE_NAME,
    MANIFEST_MAX_BYTES,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    Manifest,
    parse_version,
    strict_json,
)
from quant_bundle._release import verify_manifest
from quant_bundle._state import InstallOutcome, InstallResult, check_floor
from quant_bundle._store import BundleStore
from quant_bundle.keys import PrivateKey, TrustStore, sign_document, verify_signatures
from quant_core import NS_PER_SECOND, Clock, canonical_json, unstructure

__all__ = [
    "POINTER_MAX_BYTES",
    "POINTER_NAME",
    "POINTER_SIG_NAME",
    "DirectorySource",
    "HttpSource",
    "Pointer",
    "ReleaseSource",
    "UpdateCheck",
    "apply_update",
    "check_update",
    "make_pointer",
    "open_source",
    "verify_pointer",
    "write_pointer",
]

POINTER_NAME: Final = "latest.json"
POINTER_SIG_NAME: Final = "latest.sig"
POINTER_SCHEMA: Final = "quant.bundle.pointer/1"
POINTER_MAX_BYTES: Final = 16 * 1024
SIG_MAX_BYTES: Final = 64 * 1024


@attrs.frozen
class Pointer:
    """A verified ``latest`` pointer."""

    bundle_version: str
    manifest_sha384: str
    expires_ns: int
    pointer_version: int
    signers: tuple[str, ...]


def make_pointer(
    manifest: Manifest, signers: list[PrivateKey], *, expires_ns: int, pointer_version: int
) -> tuple[bytes, bytes]:
    """The pointer and signature bytes naming ``manifest``."""
    doc = {
        "schema": POINTER_SCHEMA,
        "bundle_version": manifest.bundle_version,
        "manifest_sha384": manifest.digest.split(":", 1)[1],
        "expires_ns": expires_ns,
        "pointer_version": pointer_version,
    }
    data = canonical_json(doc)
    return data, sign_document(data, signers)


def write_pointer(
    out_dir: Path | str,
    manifest: Manifest,
    signers: list[PrivateKey],
    *,
    expires_ns: int,
    pointer_version: int,
) -> None:
    """Write ``latest.json`` and ``latest.sig`` next to a release."""
    data, sig = make_pointer(
        manifest, signers, expires_ns=expires_ns, pointer_version=pointer_version
    )
    try:
        (Path(out_dir) / POINTER_NAME).write_bytes(data)
        (Path(out_dir) / POINTER_SIG_NAME).write_bytes(sig)
    except OSError as exc:
        raise BundleStorageError(f"cannot write the pointer: {exc.strerror}") from None


def verify_pointer(
    data: bytes,
    signature: bytes,
    trust: TrustStore,
    *,
    now_ns: int,
    floors: dict[str, int] | None = None,
) -> Pointer:
    """Verify a pointer's signature, schema, expiry (``now_ns >= expires_ns`` is expired) and floor.

    Raises:
        BundleRejectedError: a signature reason, ``MANIFEST_MALFORMED``, ``POINTER_EXPIRED``
            or ``POINTER_ROLLBACK``.
    """
    signers = verify_signatures(data, signature, trust)
    doc = strict_json(data, max_bytes=POINTER_MAX_BYTES)
    keys = {"schema", "bundle_version", "manifest_sha384", "expires_ns", "pointer_version"}
    ok = (
        isinstance(doc, dict)
        and set(doc) == keys
        and doc["schema"] == POINTER_SCHEMA
        and isinstance(doc["manifest_sha384"], str)
        and type(doc["expires_ns"]) is int
        and type(doc["pointer_version"]) is int
        and doc["pointer_version"] >= 0
    )
    if not ok:
        raise BundleRejectedError(
            "pointer does not match its schema", reason_code=reasons.MANIFEST_MALFORMED
        )
    parse_version(doc["bundle_version"])
    if now_ns >= doc["expires_ns"]:
        raise BundleRejectedError(
            "the update channel is stale: its signed pointer expired",
            reason_code=reasons.POINTER_EXPIRED,
        )
    for key_id in signers:
        floor = (floors or {}).get(key_id, 0)
        if doc["pointer_version"] < floor:
            raise BundleRejectedError(
                f"pointer version {doc['pointer_version']} is below the seen {floor}",
                reason_code=reasons.POINTER_ROLLBACK,
            )
    return Pointer(
        doc["bundle_version"],
        doc["manifest_sha384"],
        doc["expires_ns"],
        doc["pointer_version"],
        tuple(signers),
    )


def _read_chunks(src: BinaryIO, max_bytes: int) -> Iterator[bytes]:
    """Chunks of ``src``, reading at most one byte past ``max_bytes`` in all."""
    total = 0
    while chunk := src.read(min(CHUNK, max_bytes + 1 - total)):
        total += len(chunk)
        yield chunk


def _write_capped(
    name: str,
    chunks: Iterable[bytes],
    dest: Path,
    max_bytes: int,
    after_chunk: Callable[[], None] | None = None,
) -> None:
    """Write ``chunks`` to ``dest``, refusing more than ``max_bytes`` (``LENGTH_EXCEEDED``)."""
    total = 0
    with open(dest, "wb") as out:
        for chunk in chunks:
            total += len(chunk)
            if total > max_bytes:
                raise BundleRejectedError(
                    f"{name} exceeds {max_bytes} bytes", reason_code=reasons.LENGTH_EXCEEDED
                )
            out.write(chunk)
            if after_chunk is not None:
                after_chunk()


class ReleaseSource(Protocol):
    """Where release assets come from."""

    def fetch(self, name: str, dest: Path, max_bytes: int) -> None:
        """Copy asset ``name`` to ``dest``, refusing more than ``max_bytes``."""
        ...


@attrs.frozen
class DirectorySource:
    """Release assets in a local directory (offline packages, USB sticks, mounted shares)."""

    path: Path

    def fetch(self, name: str, dest: Path, max_bytes: int) -> None:
        """Copy ``name`` with a byte cap (``LENGTH_EXCEEDED`` past ``max_bytes``)."""
        try:
            with open(self.path / name, "rb") as src:
                _write_capped(name, _read_chunks(src, max_bytes), dest, max_bytes)
        except FileNotFoundError:
            raise BundleRejectedError(
                f"{name} is missing from the source", reason_code=reasons.BUNDLE_MISSING
            ) from None


@attrs.frozen
class HttpSource:
    """Release assets under a base URL, fetched with httpx.

    Attributes:
        base_url: the URL the asset names are appended to.
        clock: measures the per-download deadline.
        deadline_s: the most seconds one download may take (``SLOW_RETRIEVAL`` after it),
            enforced by a watchdog independently of when chunks arrive.
        transport: an httpx transport (tests); ``None`` for the network.
        poll_s: how often (real seconds) the watchdog reads ``clock`` during a download.
        read_timeout_s: the most real seconds one connect or read may wait (capped by
            ``deadline_s``).
    """

    base_url: str
    clock: Clock
    deadline_s: float = 60.0
    transport: httpx.BaseTransport | None = None
    poll_s: float = 0.1
    read_timeout_s: float = 10.0

    def fetch(self, name: str, dest: Path, max_bytes: int) -> None:
        """Stream ``name`` to ``dest``; abort at ``max_bytes + 1`` or past the deadline."""
        url = self.base_url.rstrip("/") + "/" + name
        deadline = self.clock.now_ns() + int(self.deadline_s * NS_PER_SECOND)
        timeout = httpx.Timeout(min(self.deadline_s, self.read_timeout_s))
        slow = BundleRejectedError(
            f"{name} did not arrive within {self.deadline_s} s", reason_code=reasons.SLOW_RETRIEVAL
        )
        try:
            with (
                httpx.Client(transport=self.transport, timeout=timeout) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code == 404:
                    raise BundleRejectedError(
                        f"{name} is missing from the source", reason_code=reasons.BUNDLE_MISSING
                    )
                if response.status_code != 200:
                    raise BundleRejectedError(
                        f"{name}: HTTP {response.status_code}",
                        reason_code=reasons.UPDATE_SOURCE_UNAVAILABLE,
                    )

                with _Watchdog(self.clock, deadline, self.poll_s, response) as watchdog:

                    def check_deadline() -> None:
                        if watchdog.fired.is_set():
                            raise slow

                    try:
                        _write_capped(name, response.iter_raw(), dest, max_bytes, check_deadline)
                    except httpx.HTTPError:
                        check_deadline()  # a read the watchdog cut short is a slow retrieval
                        raise
                    check_deadline()
        except httpx.TimeoutException:
            raise slow from None
        except httpx.HTTPError as exc:
            raise BundleRejectedError(
                f"{name}: {type(exc).__name__}", reason_code=reasons.UPDATE_SOURCE_UNAVAILABLE
            ) from None
        except BundleRejectedError:
            dest.unlink(missing_ok=True)
            raise


class _Watchdog:
    """Enforce a download's deadline whether or not a chunk arrives.

    A thread polls ``clock`` every ``poll_s`` seconds; past the deadline it sets ``fired`` and
    shuts the response's socket down, so a read blocked on a server that trickles (or sends
    nothing) returns at once instead of at the next chunk.
    """

    def __init__(
        self, clock: Clock, deadline_ns: int, poll_s: float, response: httpx.Response
    ) -> None:
        self.clock = clock
        self.deadline_ns = deadline_ns
        self.poll_s = poll_s
        stream = response.extensions.get("network_stream")
        self.sock: socket.socket | None = (
            stream.get_extra_info("socket") if stream is not None else None
        )
        self.fired = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="bundle-deadline", daemon=True)

    def __enter__(self) -> _Watchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self.clock.now_ns() > self.deadline_ns:
                self.fired.set()
                if self.sock is not None:
                    with contextlib.suppress(OSError):
                        self.sock.shutdown(socket.SHUT_RDWR)
                return


def open_source(
    spec: str,
    *,
    clock: Clock | None = None,
    deadline_s: float = 60.0,
    transport: httpx.BaseTransport | None = None,
) -> ReleaseSource:
    """A source for a directory path or an ``http(s)://`` URL (which needs a ``clock``)."""
    if spec.startswith(("http://", "https://")):
        if clock is None:
            raise BundleRejectedError(
                "a URL source needs a clock for its deadline",
                reason_code=reasons.UPDATE_SOURCE_UNAVAILABLE,
            )
        return HttpSource(spec, clock, deadline_s, transport)
    return DirectorySource(Path(spec))


@attrs.frozen
class UpdateCheck:
    """What :func:`check_update` found."""

    available: bool
    offered_version: str
    active_version: str | None
    expires_ns: int
    checks: tuple[str, ...]
    reason_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        result: dict[str, Any] = unstructure(self)
        return result


def _fetch_metadata(
    source: ReleaseSource, work: Path, store: BundleStore, now_ns: int
) -> tuple[Pointer, Manifest, list[str]]:
    work.mkdir(parents=True, exist_ok=True)
    for name, cap in (
        (POINTER_NAME, POINTER_MAX_BYTES),
        (POINTER_SIG_NAME, SIG_MAX_BYTES),
        (MANIFEST_NAME, MANIFEST_MAX_BYTES),
        (SIGNATURE_NAME, SIG_MAX_BYTES),
    ):
        source.fetch(name, work / name, cap)
    state = store.read_state()
    pointer = verify_pointer(
        read_capped(work / POINTER_NAME, POINTER_MAX_BYTES),
        read_capped(work / POINTER_SIG_NAME, SIG_MAX_BYTES),
        store.trust,
        now_ns=now_ns,
        floors=dict(state.pointer_floors),
    )
    manifest, _, checks = verify_manifest(
        read_capped(work / MANIFEST_NAME, MANIFEST_MAX_BYTES),
        read_capped(work / SIGNATURE_NAME, SIG_MAX_BYTES),
        store.trust,
        store.runtime,
    )
    _match(pointer, manifest)
    return pointer, manifest, ["pointer", *checks]


def _match(pointer: Pointer, manifest: Manifest) -> None:
    if (
        pointer.manifest_sha384 != manifest.digest.split(":", 1)[1]
        or pointer.bundle_version != manifest.bundle_version
    ):
        raise BundleRejectedError(
            "the signed pointer names another manifest", reason_code=reasons.POINTER_MISMATCH
        )


def check_update(source: ReleaseSource, store: BundleStore, *, now_ns: int) -> UpdateCheck:
    """Fetch and verify the pointer and manifest (no archive); say whether to update.

    Args:
        source: the release source.
        store: the local bundle store (its trust, runtime and version floor are used).
        now_ns: the fixed start time all expiry checks of this update use.

    Raises:
        BundleRejectedError: the pointer or manifest is refused, or the offered bundle is
            older than the floor (``ROLLBACK``/``VERSION_REUSED``).
    """
    with store.locked():
        work = store.staging / "check"
        try:
            pointer, manifest, checks = _fetch_metadata(source, work, store, now_ns)
        except OSError as exc:
            raise storage_error(exc, "cannot stage the update metadata") from None
        finally:
            shutil.rmtree(work, ignore_errors=True)
        status = store.status()
        try:
            check_floor(manifest, store.read_state())
        except BundleRejectedError as exc:
            if exc.reason_code != reasons.ALREADY_INSTALLED:
                raise
            return UpdateCheck(
                False,
                manifest.bundle_version,
                status["active_version"],
                pointer.expires_ns,
                tuple(checks),
                reasons.ALREADY_INSTALLED,
            )
        return UpdateCheck(
            True,
            manifest.bundle_version,
            status["active_version"],
            pointer.expires_ns,
            (*checks, "version_floor"),
        )


def apply_update(source: ReleaseSource, store: BundleStore, *, now_ns: int) -> InstallResult:
    """The one-click path: fetch, verify the pointer, download with caps, install atomically.

    Raises:
        BundleRejectedError: any refusal (the active bundle stays as it was).
        BundleStorageError: storage failures or ``UPDATE_IN_PROGRESS``.
    """
    with store.locked():
        work = store.staging / "download"
        state = store.read_state()
        try:
            try:
                pointer, manifest, _ = _fetch_metadata(source, work, store, now_ns)
                check_floor(manifest, state)
                source.fetch(ARCHIVE_NAME, work / ARCHIVE_NAME, manifest.archive_size)
            except OSError as exc:
                raise storage_error(exc, "download failed") from None
        except BundleRejectedError as exc:
            store.record_attempt(
                InstallOutcome.REJECTED,
                exc.reason_code,
                state,
                ["download"],
                {"version": None, "manifest_digest": None},
            )
            shutil.rmtree(work, ignore_errors=True)
            raise
        try:
            result = store.install_locked(work, expected=lambda m: _match(pointer, m))
            floors = dict(store.read_state().pointer_floors)
            for key_id in pointer.signers:
                floors[key_id] = max(floors.get(key_id, 0), pointer.pointer_version)
            with contextlib.suppress(OSError):
                store.write_state(attrs.evolve(store.read_state(), pointer_floors=floors))
            return result
        finally:
            shutil.rmtree(work, ignore_errors=True)

"""Update sources and the signed pointer (BND-06, BND-07, BND-10, BND-11) over 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_bundle import BundleRejectedError, reasons
from quant_bundle._manifest import parse_manifest
from quant_bundle.keys import PrivateKey, TrustStore, make_rotation
from quant_bundle.update import (
    DirectorySource,
    HttpSource,
    apply_update,
    check_update,
    make_pointer,
    open_source,
    verify_pointer,
    write_pointer,
)
from quant_core import NS_PER_SECOND

from .conftest import Kit

T = 1_800_000_000 * NS_PER_SECOND  # pointer expiry


class WallClock:
    def now_ns(self) -> int:
        return time.time_ns()


def _publish(
    kit: Kit,
    version: str,
    *,
    pointer_version: int = 1,
    expires_ns: int = T,
    signers: list[PrivateKey] | None = None,
    **kw: Any,
) -> Path:
    rel = kit.release(version, **kw)
    manifest = parse_manifest((rel / "manifest.json").read_bytes())
    write_pointer(
        rel, manifest, signers or [kit.key], expires_ns=expires_ns, pointer_version=pointer_version
    )
    return rel


def test_directory_update_check_then_apply(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = _publish(kit, "1.1.0")
    check = check_update(DirectorySource(rel), store, now_ns=T - 1)
    assert check.available
    assert check.offered_version == "1.1.0"
    assert check.active_version == "1.0.0"
    assert "pointer" in check.checks
    assert check.to_dict()["expires_ns"] == T
    result = apply_update(DirectorySource(rel), store, now_ns=T - 1)
    assert result.version == "1.1.0"
    assert kit.active_version() == "1.1.0"
    assert store.read_state().pointer_floors == {kit.key.key_id: 1}
    again = check_update(DirectorySource(rel), store, now_ns=T - 1)
    assert not again.available
    assert again.reason_code == reasons.ALREADY_INSTALLED
    kit.check_invariants("1.1.0")


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-NS_PER_SECOND, None),
        (0, reasons.POINTER_EXPIRED),
        (NS_PER_SECOND, reasons.POINTER_EXPIRED),
    ],
    ids=["T-1s", "T", "T+1s"],
)
def test_bnd07_pointer_expiry_boundaries(kit: Kit, offset: int, expected: str | None) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    rel = _publish(kit, "1.1.0")
    before = kit.snapshot()
    if expected is None:
        assert check_update(DirectorySource(rel), store, now_ns=T + offset).available
    else:
        with pytest.raises(BundleRejectedError) as info:
            apply_update(DirectorySource(rel), store, now_ns=T + offset)
        assert info.value.reason_code == expected
        assert kit.snapshot() == before
        assert kit.audit()[-1].data["reason_code"] == expected


def test_pointer_rollback_mismatch_and_malformed(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("1.0.0"))
    apply_update(DirectorySource(_publish(kit, "1.1.0", pointer_version=5)), store, now_ns=0)
    old = _publish(kit, "1.2.0", pointer_version=4)
    before = kit.snapshot()
    with pytest.raises(BundleRejectedError) as info:
        apply_update(DirectorySource(old), store, now_ns=0)
    assert info.value.reason_code == reasons.POINTER_ROLLBACK
    # A pointer that names another manifest (mix-and-match of pointer and release).
    other = _publish(kit, "1.3.0", pointer_version=6)
    mixed = _publish(kit, "1.4.0", pointer_version=6)
    for name in ("latest.json", "latest.sig"):
        (mixed / name).write_bytes((other / name).read_bytes())
    with pytest.raises(BundleRejectedError) as info:
        apply_update(DirectorySource(mixed), store, now_ns=0)
    assert info.value.reason_code == reasons.POINTER_MISMATCH
    assert kit.snapshot() == before
    from quant_bundle.keys import sign_document

    bad = b'{"schema":"x"}'
    with pytest.raises(BundleRejectedError) as info:
        verify_pointer(bad, sign_document(bad, [kit.key]), kit.trust, now_ns=0)
    assert info.value.reason_code == reasons.MANIFEST_MALFORMED


def test_update_refuses_older_release_before_download(kit: Kit) -> None:
    store = kit.store()
    store.install(kit.release("2.0.0"))
    rel = _publish(kit, "1.0.0")
    with pytest.raises(BundleRejectedError) as info:
        check_update(DirectorySource(rel), store, now_ns=0)
    assert info.value.reason_code == reasons.ROLLBACK
    (rel / "bundle.tar.zst").unlink()  # never fetched: the floor refuses first
    with pytest.raises(BundleRejectedError) as info:
        apply_update(DirectorySource(rel), store, now_ns=0)
    assert info.value.reason_code == reasons.ROLLBACK


def test_bnd06_fast_forward_recovery_by_rotating_the_pointer_key(kit: Kit) -> None:
    store = kit.store(trust=TrustStore.from_keys([kit.key.public, kit.key2.public]))
    store.install(kit.release("1.0.0"))
    # The compromised key2 publishes a pointer at version 2**53 for a valid release.
    apply_update(
        DirectorySource(_publish(kit, "1.1.0", pointer_version=2**53, signers=[kit.key2])),
        store,
        now_ns=0,
    )
    floor_before = store.read_state().floor_version
    # The trust root revokes key2 and adds key3; pointers restart at version 5.
    key3 = kit.stranger
    rotated = store.trust.apply_rotation(
        make_rotation(store.trust, [kit.key, key3], add=[key3.public], revoke=[kit.key2.key_id])
    )
    store2 = kit.store(trust=rotated)
    result = apply_update(
        DirectorySource(_publish(kit, "1.2.0", pointer_version=5, signers=[key3])), store2, now_ns=0
    )
    assert result.version == "1.2.0"
    assert floor_before == "1.1.0"
    assert store2.read_state().floor_version == "1.2.0"
    # The revoked key's pointer is refused from now on.
    with pytest.raises(BundleRejectedError) as info:
        apply_update(
            DirectorySource(_publish(kit, "1.3.0", pointer_version=2**53 + 1, signers=[kit.key2])),
            store2,
            now_ns=0,
        )
    assert info.value.reason_code == reasons.KEY_REVOKED


def test_directory_source_caps_and_missing(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 100)
    with pytest.raises(BundleRejectedError) as info:
        DirectorySource(tmp_path).fetch("big", tmp_path / "out", 10)
    assert info.value.reason_code == reasons.LENGTH_EXCEEDED
    with pytest.raises(BundleRejectedError) as info:
        DirectorySource(tmp_path).fetch("nope", tmp_path / "out", 10)
    assert info.value.reason_code == reasons.BUNDLE_MISSING
    assert isinstance(open_source(str(tmp_path)), DirectorySource)
    with pytest.raises(BundleRejectedError):
        open_source("http://127.0.0.1:1/")
    assert isinstance(open_source("http://127.0.0.1:1/", clock=WallClock()), HttpSource)


# --- a real HTTP server on 127.0.0.1 -----------------------------------------------------


class _Handler(http.server.BaseHTTPRequestHandler):
    root: Path
    mode: str = "normal"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = self.root / self.path.lstrip("/")
        mode = type(self).mode
        if mode == "500":
            self.send_response(500)
            self.end_headers()
            return
        if not path.is_file():
            self.send_response(404)
            self.end_headers()
            return
        data = path.read_bytes()
        if mode == "endless" and path.name == "bundle.tar.zst":
            self.send_response(200)
            self.end_headers()
            try:
                for _ in range(10):
                    self.wfile.write(data)
            except OSError:
                pass
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "trickle" and path.name == "bundle.tar.zst":
            try:
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass
            return
        self.wfile.write(data)


@pytest.fixture
def server() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("H", (_Handler,), {})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_update_end_to_end(kit: Kit, server: tuple[str, type[_Handler]]) -> None:
    url, handler = server
    store = kit.store()
    store.install(kit.release("1.0.0"))
    handler.root = _publish(kit, "1.1.0")
    source = open_source(url, clock=WallClock())
    assert check_update(source, store, now_ns=0).available
    assert apply_update(source, store, now_ns=0).version == "1.1.0"


def test_bnd10_endless_data_is_cut_at_declared_length(
    kit: Kit, server: tuple[str, type[_Handler]]
) -> None:
    url, handler = server
    store = kit.store()
    store.install(kit.release("1.0.0"))
    handler.root, handler.mode = _publish(kit, "1.1.0"), "endless"
    before = kit.snapshot()
    with pytest.raises(BundleRejectedError) as info:
        apply_update(open_source(url, clock=WallClock()), store, now_ns=0)
    assert info.value.reason_code == reasons.LENGTH_EXCEEDED
    assert kit.snapshot() == before


def test_bnd11_slow_retrieval_is_aborted_by_the_deadline(
    kit: Kit, server: tuple[str, type[_Handler]]
) -> None:
    url, handler = server
    store = kit.store()
    store.install(kit.release("1.0.0"))
    handler.root, handler.mode = _publish(kit, "1.1.0"), "trickle"
    before = kit.snapshot()
    start = time.monotonic()
    with pytest.raises(BundleRejectedError) as info:
        apply_update(HttpSource(url, WallClock(), deadline_s=1.0), store, now_ns=0)
    assert info.value.reason_code == reasons.SLOW_RETRIEVAL
    assert time.monotonic() - start < 1.0 + 1.5
    assert kit.snapshot() == before
    assert kit.active_version() == "1.0.0"


def test_http_errors(kit: Kit, server: tuple[str, type[_Handler]], tmp_path: Path) -> None:
    url, handler = server
    handler.root = tmp_path
    source = HttpSource(url, WallClock())
    with pytest.raises(BundleRejectedError) as info:
        source.fetch("latest.json", tmp_path / "x", 100)
    assert info.value.reason_code == reasons.BUNDLE_MISSING
    handler.mode = "500"
    with pytest.raises(BundleRejectedError) as info:
        source.fetch("latest.json", tmp_path / "x", 100)
    assert info.value.reason_code == reasons.UPDATE_SOURCE_UNAVAILABLE
    with pytest.raises(BundleRejectedError) as info:
        HttpSource("http://127.0.0.1:9/", WallClock()).fetch("a", tmp_path / "x", 10)
    assert info.value.reason_code == reasons.UPDATE_SOURCE_UNAVAILABLE

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(BundleRejectedError) as info:
        HttpSource(url, WallClock(), transport=httpx.MockTransport(timeout)).fetch(
            "a", tmp_path / "x", 10
        )
    assert info.value.reason_code == reasons.SLOW_RETRIEVAL


def test_make_pointer_is_deterministic(kit: Kit) -> None:
    manifest = parse_manifest((kit.release("1.0.0") / "manifest.json").read_bytes())
    assert make_pointer(manifest, [kit.key], expires_ns=5, pointer_version=1) == make_pointer(
        manifest, [kit.key], expires_ns=5, pointer_version=1
    )

"""Fixtures for quant_bundle: deterministic keys, release factories and invariant checks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from quant_bundle import BundleSpec, BundleStore, RuntimeVersions, build_release, verify_installed
from quant_bundle.keys import PrivateKey, TrustStore, generate_key
from quant_core import SimClock
from quant_core.audit import read_audit_log

SCHEMA = "sha256:" + "ab" * 32
RUNTIME = RuntimeVersions(app="0.1.0", backend="0.1.0", model="0.1.0", feature_schema_hash=SCHEMA)


class Kit:
    """Builds releases and stores in one tmp dir and checks the store's invariants."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.key = generate_key(seed=b"\x01" * 32)
        self.key2 = generate_key(seed=b"\x02" * 32)
        self.stranger = generate_key(seed=b"\x03" * 32)
        self.trust = TrustStore.from_keys([self.key.public])
        self.clock = SimClock(1_700_000_000_000_000_000)
        self.root = tmp / "root"
        self._n = 0

    def files(self, version: str) -> dict[str, bytes]:
        return {
            "model.json": f'{{"version":"{version}"}}'.encode(),
            "sub/weights.bin": hashlib.sha256(version.encode()).digest() * 8,
        }

    def release(
        self,
        version: str,
        *,
        files: Mapping[str, bytes] | None = None,
        signers: list[PrivateKey] | None = None,
        **spec: Any,
    ) -> Path:
        self._n += 1
        src = self.tmp / f"src-{self._n}"
        for name, data in (files if files is not None else self.files(version)).items():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes(data)
        out = self.tmp / f"rel-{self._n}-{version}"
        spec.setdefault("feature_schema_hash", SCHEMA)
        build_release(src, BundleSpec(bundle_version=version, **spec), signers or [self.key], out)
        return out

    def store(self, **kwargs: Any) -> BundleStore:
        kwargs.setdefault("runtime", RUNTIME)
        return BundleStore(self.root, kwargs.pop("trust", self.trust), self.clock, **kwargs)

    def snapshot(self) -> dict[str, str]:
        """Everything under the root except the audit log, its anchor and the lock, as link/hash."""
        out: dict[str, str] = {}
        if not self.root.exists():
            return out
        for dirpath, dirnames, filenames in os.walk(self.root):
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                rel = path.relative_to(self.root).as_posix()
                if rel in ("audit.jsonl", "audit.jsonl.anchor", ".lock"):
                    continue
                if path.is_symlink():
                    out[rel] = "link:" + os.readlink(path)
                elif path.is_file():
                    out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    out[rel] = "dir"
        return out

    def audit(self) -> list[Any]:
        path = self.root / "audit.jsonl"
        return read_audit_log(path) if path.exists() else []

    def active_version(self) -> str | None:
        try:
            return os.readlink(self.root / "current").split("/")[-1].split("-")[0]
        except OSError:
            return None

    def check_invariants(self, floor_before: str | None = None) -> None:
        """I1-I6 of the fault-injection catalogue."""
        store = self.store()
        state = store.read_state()
        current = store.link("current")
        if current is not None:  # I1
            verify_installed(self.root / "store" / current, self.trust)
        assert state.active == current  # I2
        assert not (self.root / "staging").exists() or not any(
            (self.root / "staging").iterdir()
        )  # I3
        self.audit()  # I4: parses (raises on a broken chain)
        if floor_before is not None:  # I5
            assert state.floor_version is not None
            assert tuple(map(int, state.floor_version.split("."))) >= tuple(
                map(int, floor_before.split("."))
            )
        previous = store.link("previous")  # I6
        if previous is not None:
            assert (self.root / "store" / previous).is_dir()


@pytest.fixture
def kit(tmp_path: Path) -> Kit:
    return Kit(tmp_path)


@pytest.fixture
def unchanged(kit: Kit) -> Callable[[Callable[[], object], str], None]:
    """Run an action that must be rejected: reason code, state and files unchanged, one audit."""

    def check(action: Callable[[], object], reason: str) -> None:
        from quant_core.errors import QuantError

        before, records = kit.snapshot(), len(kit.audit())
        with pytest.raises(QuantError) as info:
            action()
        assert info.value.reason_code == reason, info.value
        assert kit.snapshot() == before
        assert len(kit.audit()) == records + 1
        assert kit.audit()[-1].data["reason_code"] == reason

    return check

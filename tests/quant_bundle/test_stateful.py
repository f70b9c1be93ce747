"""Hypothesis stateful test of install / rollback / tamper / recover sequences."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from quant_bundle import BundleRejectedError, reasons

from .conftest import Kit

VERSIONS = ["1.0.0", "1.1.0", "2.0.0", "2.1.0", "3.0.0"]


def _reason(action: Callable[[], object]) -> str | None:
    """The reason code of a rejection, or None when the action succeeded."""
    try:
        action()
    except BundleRejectedError as exc:
        return exc.reason_code
    return None


def _v(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


class InstallMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="bundle-sm-"))
        self.kit = Kit(self.tmp)
        self.releases = {v: self.kit.release(v) for v in VERSIONS}
        self.store = self.kit.store(retention=2)
        # The model: the floor and the known-good history (oldest first).
        self.floor: str | None = None
        self.history: list[str] = []

    def teardown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    @rule(version=st.sampled_from(VERSIONS))
    def install(self, version: str) -> None:
        refused = _reason(lambda: self.store.install(self.releases[version]))
        if refused is not None:
            assert self.floor is not None
            assert _v(version) <= _v(self.floor)
            expected = (
                reasons.ROLLBACK if _v(version) < _v(self.floor) else reasons.ALREADY_INSTALLED
            )
            assert refused == expected
            return
        assert self.floor is None or _v(version) > _v(self.floor)
        self.floor = version
        self.history = [*self.history, version][-3:]

    @rule(version=st.sampled_from(VERSIONS))
    def install_tampered(self, version: str) -> None:
        work = self.tmp / "tampered"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(self.releases[version], work)
        data = bytearray((work / "bundle.tar.zst").read_bytes())
        data[len(data) // 2] ^= 0xFF
        (work / "bundle.tar.zst").write_bytes(bytes(data))
        refused = _reason(lambda: self.store.install(work))
        assert refused in (
            reasons.ARCHIVE_DIGEST_MISMATCH,
            reasons.ROLLBACK,
            reasons.ALREADY_INSTALLED,
        )

    @rule()
    def rollback(self) -> None:
        before = self.kit.active_version()
        refused = _reason(self.store.rollback)
        if refused is not None:
            assert refused == reasons.NO_ROLLBACK_TARGET
            assert len(self.history) < 2
            assert self.kit.active_version() == before
            return
        self.history.pop()

    @rule()
    def restart_and_recover(self) -> None:
        self.store = self.kit.store(retention=2)
        self.store.recover()

    @invariant()
    def matches_the_model(self) -> None:
        assert self.kit.active_version() == (self.history[-1] if self.history else None)
        assert self.store.read_state().floor_version == self.floor
        self.kit.check_invariants(self.floor)


InstallMachine.TestCase.settings = settings(
    max_examples=8, stateful_step_count=8, deadline=None, derandomize=True
)
TestInstallMachine = InstallMachine.TestCase

"""Fixtures of the live-trading app tests: a real Secret Service, a fake Kraken over HTTP.

The Secret Service tests need a D-Bus session with an unlocked keyring (``.ci/run`` starts
gnome-keyring and sets ``QUANT_TEST_SECRET_SERVICE=1``). Without that variable they skip on a
developer machine and fail in CI (``CI`` set), so CI can never pass them silently.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from keyring.backend import KeyringBackend

from quant_core import Clock
from quant_exec.venues.kraken.fake import FakeKraken, serve_fake_kraken

SECRET_SERVICE = bool(os.environ.get("QUANT_TEST_SECRET_SERVICE"))  # read before isolated_env
IN_CI = bool(os.environ.get("CI"))
PLANTED_KEY = "planted-public-key-5f1c9a7e"
PLANTED_SECRET = "cGxhbnRlZC1wcml2YXRlLWtleS0zOGQyYjE3Yy1kbyBub3QgbG9n"  # base64, a test value


def need_secret_service() -> None:
    """Skip (developer machine) or fail (CI) when no real Secret Service was started."""
    if SECRET_SERVICE:
        return
    message = "QUANT_TEST_SECRET_SERVICE is unset: no Secret Service (run through .ci/run)"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def secret_service() -> KeyringBackend:
    """The real Secret Service backend (gnome-keyring on the test's D-Bus session)."""
    need_secret_service()
    from keyring.backends import SecretService

    backend = SecretService.Keyring()  # type: ignore[no-untyped-call]
    assert backend.priority > 0, "the Secret Service is not reachable"
    return backend


def funded_fake(clock: Clock, **kwargs: object) -> FakeKraken:
    """A fake Kraken listing XBTUSD at 40,000 with 10,000 USD, the planted key by default."""
    options: dict[str, object] = {"api_key": PLANTED_KEY, "secret": PLANTED_SECRET, **kwargs}
    fake = FakeKraken(clock, **options)  # type: ignore[arg-type]
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    fake.book.balances["ZUSD"] = Decimal("10000")
    return fake


@pytest.fixture
def planted() -> tuple[str, str]:
    """The planted API key and secret (RT-18 greps for them)."""
    return PLANTED_KEY, PLANTED_SECRET


@pytest.fixture
def make_fake() -> Callable[..., FakeKraken]:
    """:func:`funded_fake`, for tests that shape the fake themselves."""
    return funded_fake


@pytest.fixture
def fake_server() -> Iterator[Any]:
    """A funded fake Kraken (planted key) served over HTTP on 127.0.0.1, on the wall clock.

    The CLI reads the wall clock (its clock check compares it with the exchange's ``Time``),
    so the exchange it is pointed at keeps the same time, as the real one does.
    """
    from quant_apps.runtime.clock import WallClock

    with serve_fake_kraken(funded_fake(WallClock()), hang_s=2.0) as server:
        yield server


class MemoryKeyring(KeyringBackend):
    """A keyring backend holding entries in a dict: the OS store's interface, for one process.

    It stands in for a third-party interface (the OS credential store), never for our code; the
    Secret Service tests cover the real one.
    """

    priority = -1  # never chosen by keyring itself

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.entries[(service, username)]


@pytest.fixture
def memory_keyring() -> MemoryKeyring:
    """An empty :class:`MemoryKeyring`."""
    return MemoryKeyring()

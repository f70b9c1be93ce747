"""Kraken keys in the OS credential store: a real Secret Service round trip, and every refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail, null

from quant_apps.runtime.trading.credentials import (
    SERVICE,
    CredentialsInvalidError,
    CredentialStore,
    CredentialsUnavailableError,
    KrakenCredentials,
    StoredKey,
)

KEY, SECRET = "test-public-key-credentials", "dGVzdC1zZWNyZXQtY3JlZGVudGlhbHM="


class PlaintextKeyring(KeyringBackend):
    """A backend that would write a plain file: refused by name, never called."""

    priority = -1  # never chosen by keyring itself

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]

    def get_password(self, service: str, username: str) -> str | None:
        raise AssertionError("a plaintext backend must never be read")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise AssertionError("a plaintext backend must never be written")

    def delete_password(self, service: str, username: str) -> None:
        raise AssertionError("a plaintext backend must never be written")


class BrokenKeyring(KeyringBackend):
    """A real-looking backend whose every call fails (a locked or vanished store)."""

    priority = -1  # never chosen by keyring itself

    def __init__(self, answer: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.answer = answer

    def get_password(self, service: str, username: str) -> str | None:
        if self.answer is not None:
            return self.answer
        raise RuntimeError(f"locked {SECRET}")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise RuntimeError(f"locked {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise RuntimeError("locked")


def _stored(url: str) -> StoredKey:
    return StoredKey(url, KrakenCredentials.parse(KEY, SECRET), ("query_funds",), 42)


def test_a_validated_key_round_trips_through_the_secret_service(
    secret_service: KeyringBackend,
) -> None:
    store = CredentialStore(secret_service)
    url = "http://127.0.0.1:1/credentials-round-trip"
    assert store.backend_name() == "keyring.backends.SecretService.Keyring"
    store.delete(url)
    assert store.load(url) is None
    store.save(_stored(url))
    loaded = store.load(url)
    assert loaded is not None
    assert loaded.credentials.api_key.reveal() == KEY
    assert loaded.credentials.secret.reveal() == SECRET
    assert loaded.about() == {
        "base_url": url,
        "fingerprint": KrakenCredentials.parse(KEY, SECRET).fingerprint,
        "permissions": ["query_funds"],
        "validated_ns": 42,
    }
    assert KEY not in repr(loaded)
    assert SECRET not in repr(loaded)
    assert store.delete(url) is True
    assert store.delete(url) is False
    assert secret_service.get_password(SERVICE, url) is None


def test_an_unreadable_entry_fails_closed(secret_service: KeyringBackend) -> None:
    url = "http://127.0.0.1:1/credentials-unreadable"
    secret_service.set_password(SERVICE, url, "not json")
    try:
        with pytest.raises(CredentialsUnavailableError, match="unreadable"):
            CredentialStore(secret_service).load(url)
    finally:
        secret_service.delete_password(SERVICE, url)


NO_STORE = [fail.Keyring(), null.Keyring(), PlaintextKeyring()]  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("backend", NO_STORE)
def test_no_real_store_is_refused_for_every_operation(backend: KeyringBackend) -> None:
    store = CredentialStore(backend)
    for action in (
        store.backend_name,
        lambda: store.save(_stored("u")),
        lambda: store.load("u"),
        lambda: store.delete("u"),
    ):
        with pytest.raises(CredentialsUnavailableError) as caught:
            action()
        assert caught.value.reason_code == "CREDENTIALS_UNAVAILABLE"
        assert "quant kraken connect" in caught.value.message


def test_backend_errors_fail_closed_without_the_values() -> None:
    store = CredentialStore(BrokenKeyring())
    actions: list[tuple[Callable[[], object], str]] = [
        (lambda: store.save(_stored("u")), "storing failed: RuntimeError"),
        (lambda: store.load("u"), "reading failed: RuntimeError"),
    ]
    for action, what in actions:
        with pytest.raises(CredentialsUnavailableError) as caught:
            action()
        assert what in caught.value.message
        assert SECRET not in str(caught.value)
        assert caught.value.__cause__ is None
    answered = CredentialStore(BrokenKeyring('{"api_key": "k", "secret": "s", '
                                             '"permissions": [], "validated_ns": 1}'))  # fmt: skip
    with pytest.raises(CredentialsUnavailableError, match="deleting failed"):
        answered.delete("u")


def test_the_default_backend_is_keyrings_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    import keyring

    monkeypatch.setattr(keyring, "get_keyring", fail.Keyring)
    with pytest.raises(CredentialsUnavailableError, match=r"keyring\.backends\.fail\.Keyring"):
        CredentialStore().backend_name()

    def broken() -> KeyringBackend:
        raise RuntimeError("no D-Bus")

    monkeypatch.setattr(keyring, "get_keyring", broken)
    with pytest.raises(CredentialsUnavailableError, match=r"\(RuntimeError\)"):
        CredentialStore().backend_name()


@pytest.mark.parametrize(
    ("key", "secret", "why"),
    [
        ("", SECRET, "non-blank"),
        (KEY, "  ", "non-blank"),
        ("a key", SECRET, "non-blank"),
        (KEY, "not*base64!", "not base64"),
    ],
)
def test_malformed_keys_are_refused_without_echoing_them(key: str, secret: str, why: str) -> None:
    with pytest.raises(CredentialsInvalidError, match=why) as caught:
        KrakenCredentials.parse(key, secret)
    assert caught.value.reason_code == "CREDENTIALS_INVALID"
    assert "not*base64!" not in caught.value.message


def test_the_fingerprint_names_the_public_key_only() -> None:
    one = KrakenCredentials.parse(f"  {KEY}\n", SECRET)
    assert one.api_key.reveal() == KEY
    assert one.fingerprint.startswith("kraken:")
    assert len(one.fingerprint) == 23
    assert KEY not in one.fingerprint
    assert KEY not in repr(one)
    assert SECRET not in repr(one)

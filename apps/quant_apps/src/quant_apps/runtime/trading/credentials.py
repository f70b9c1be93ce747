"""Kraken API credentials in the OS credential store (``keyring``), failing closed.

A key is stored only after ``quant kraken connect`` validated it (:mod:`.onboarding`), so a
stored key *is* a validated key: :class:`CredentialStore` keeps one entry per exchange URL
under the service :data:`SERVICE`, a JSON document holding the key, the secret, the key's
:attr:`~KrakenCredentials.fingerprint`, its permissions and when it was validated.

Only a real credential store is used: the keyring's ``fail`` and ``null`` backends and any
plaintext or file backend (``keyrings.alt``) are refused, as is any backend error, with
:class:`CredentialsUnavailableError` (``CREDENTIALS_UNAVAILABLE``) and guidance
(:data:`GUIDANCE`); nothing is ever written to a file instead (decision 0107).

The key and secret are :class:`~quant_core.settings.Secret` values: never in a repr, a log
line, an exception or a file of ours. The fingerprint (a hash of the public key only) is what
logs and the audit trail name.

Examples:
    >>> creds = KrakenCredentials.parse("my-public-key", "c2VjcmV0")
    >>> creds
    KrakenCredentials(fingerprint='kraken:dc69d...')
    >>> creds.fingerprint == KrakenCredentials.parse("my-public-key", "b3RoZXI=").fingerprint
    True
    >>> from keyring.backends import fail
    >>> CredentialStore(fail.Keyring()).load("https://api.kraken.com")
    Traceback (most recent call last):
    ...
    quant_apps.runtime.trading.credentials.CredentialsUnavailableError: [CREDENTIALS_UNAVAILABLE] no usable OS credential store (keyring backend keyring.backends.fail.Keyring): ...
"""  # noqa: E501

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import TYPE_CHECKING, Any, Final

import attrs

from quant_apps.runtime.trading import livereasons
from quant_core.errors import RejectedError, StorageError
from quant_core.settings import Secret

if TYPE_CHECKING:  # pragma: no cover - typing only
    from keyring.backend import KeyringBackend

__all__ = [
    "GUIDANCE",
    "SERVICE",
    "CredentialStore",
    "CredentialsInvalidError",
    "CredentialsUnavailableError",
    "KrakenCredentials",
    "StoredKey",
]

SERVICE: Final = "quant-kraken"
"""The credential-store service the Kraken keys are kept under (one entry per exchange URL)."""

GUIDANCE: Final = (
    "start the desktop's credential store (macOS Keychain, Windows Credential Locker, or on "
    "Linux GNOME Keyring/KWallet through the Secret Service) and unlock it, then run "
    "`quant kraken connect` again; `quant doctor` shows the backend in use. A plaintext or "
    "file keyring is refused: the key is never written to a file"
)
"""What to do when no usable credential store is found."""

_REFUSED_MODULES: Final = ("keyring.backends.fail", "keyring.backends.null", "keyrings.alt")


class CredentialsUnavailableError(StorageError, reason=livereasons.CREDENTIALS_UNAVAILABLE):
    """No usable OS credential store; nothing was stored or read (fail closed)."""


class CredentialsInvalidError(RejectedError, reason=livereasons.CREDENTIALS_INVALID):
    """A key or secret given is empty or not what Kraken issues."""


@attrs.frozen(repr=False)
class KrakenCredentials:
    """One Kraken API key pair.

    Attributes:
        api_key: the public key (``API-Key``).
        secret: the private key, base64 as Kraken shows it.
    """

    api_key: Secret
    secret: Secret

    @classmethod
    def parse(cls, api_key: str, secret: str) -> KrakenCredentials:
        """Check and wrap a key pair as typed or pasted (surrounding blanks dropped).

        Args:
            api_key: the public key.
            secret: the private key (base64).

        Raises:
            CredentialsInvalidError: a blank value, or a secret that is not base64 (the
                values themselves are never in the message).
        """
        key, private = api_key.strip(), secret.strip()
        if not key or not private or any(c.isspace() for c in key + private):
            raise CredentialsInvalidError("the API key and the secret must be non-blank words")
        try:
            base64.b64decode(private, validate=True)
        except (binascii.Error, ValueError):
            raise CredentialsInvalidError(
                "the secret is not base64 (copy Kraken's 'Private key' whole)"
            ) from None
        return cls(Secret(key), Secret(private))

    @property
    def fingerprint(self) -> str:
        """``kraken:`` + the first 16 hex digits of SHA-256 of the public key (never the key)."""
        digest = hashlib.sha256(self.api_key.reveal().encode()).hexdigest()
        return f"kraken:{digest[:16]}"

    def __repr__(self) -> str:
        return f"KrakenCredentials(fingerprint={self.fingerprint[:12] + '...'!r})"


@attrs.frozen
class StoredKey:
    """A validated key as the credential store keeps it.

    Attributes:
        base_url: the exchange it was validated against.
        credentials: the key pair.
        permissions: the permissions ``GetApiKeyInfo`` reported, sorted.
        validated_ns: when it was validated (the injected clock's time).
    """

    base_url: str
    credentials: KrakenCredentials
    permissions: tuple[str, ...]
    validated_ns: int

    @property
    def fingerprint(self) -> str:
        """The key's fingerprint (see :attr:`KrakenCredentials.fingerprint`)."""
        return self.credentials.fingerprint

    def about(self) -> dict[str, Any]:
        """What may be shown or audited: everything but the key and the secret."""
        return {
            "base_url": self.base_url,
            "fingerprint": self.fingerprint,
            "permissions": list(self.permissions),
            "validated_ns": self.validated_ns,
        }


def _backend_name(backend: object) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


class CredentialStore:
    """The validated Kraken keys in the OS credential store (see the module docs).

    Args:
        backend: the keyring backend (default: the one ``keyring`` selects for this machine).
    """

    def __init__(self, backend: KeyringBackend | None = None) -> None:
        self._backend = backend

    def _usable(self) -> KeyringBackend:
        """The backend, or :class:`CredentialsUnavailableError` when it is not a real store."""
        backend = self._backend
        if backend is None:
            import keyring

            try:
                backend = keyring.get_keyring()
            except Exception as exc:  # noqa: BLE001 - any failure to find one fails closed
                raise self._unavailable(type(exc).__name__) from None
        name = _backend_name(backend)
        if name.startswith(_REFUSED_MODULES) or "plaintext" in name.lower():
            raise self._unavailable(f"keyring backend {name}")
        return backend

    @staticmethod
    def _unavailable(what: str) -> CredentialsUnavailableError:
        return CredentialsUnavailableError(f"no usable OS credential store ({what}): {GUIDANCE}")

    def backend_name(self) -> str:
        """The backend's dotted name, once it passed the checks.

        Raises:
            CredentialsUnavailableError: no usable backend.
        """
        return _backend_name(self._usable())

    def save(self, stored: StoredKey) -> None:
        """Keep ``stored`` under its exchange URL, replacing any earlier key.

        Args:
            stored: the validated key.

        Raises:
            CredentialsUnavailableError: no usable backend, or it failed to store.
        """
        backend = self._usable()
        document = {
            "api_key": stored.credentials.api_key.reveal(),
            "secret": stored.credentials.secret.reveal(),
            "permissions": list(stored.permissions),
            "validated_ns": stored.validated_ns,
        }
        try:
            backend.set_password(SERVICE, stored.base_url, json.dumps(document, sort_keys=True))
        except Exception as exc:  # noqa: BLE001 - a backend error never leaks the value
            raise self._unavailable(f"storing failed: {type(exc).__name__}") from None

    def load(self, base_url: str) -> StoredKey | None:
        """The validated key for ``base_url``, or ``None`` when none is stored.

        Args:
            base_url: the exchange URL the key was validated against.

        Raises:
            CredentialsUnavailableError: no usable backend, it failed, or the entry is not
                one of ours.
        """
        backend = self._usable()
        try:
            text = backend.get_password(SERVICE, base_url)
        except Exception as exc:  # noqa: BLE001 - as in save
            raise self._unavailable(f"reading failed: {type(exc).__name__}") from None
        if text is None:
            return None
        try:
            document = json.loads(text)
            creds = KrakenCredentials(Secret(document["api_key"]), Secret(document["secret"]))
            permissions = tuple(sorted(str(p) for p in document["permissions"]))
            validated = int(document["validated_ns"])
        except (ValueError, KeyError, TypeError):
            raise self._unavailable(f"the stored entry for {base_url} is unreadable") from None
        return StoredKey(base_url, creds, permissions, validated)

    def delete(self, base_url: str) -> bool:
        """Forget the key for ``base_url``; whether one was stored.

        Args:
            base_url: the exchange URL.

        Raises:
            CredentialsUnavailableError: no usable backend.
        """
        if self.load(base_url) is None:
            return False
        backend = self._usable()
        try:
            backend.delete_password(SERVICE, base_url)
        except Exception as exc:  # noqa: BLE001 - as in save
            raise self._unavailable(f"deleting failed: {type(exc).__name__}") from None
        return True

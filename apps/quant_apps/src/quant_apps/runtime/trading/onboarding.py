"""Guided Kraken key onboarding: the permissions a key needs, and the checks before it is kept.

:func:`check_key` runs the checks ``quant kraken connect`` (and the operator UI's onboarding
page) make, in order, stopping at the first that fails:

1. ``key`` — ``GetApiKeyInfo``: a key that may **withdraw funds** is refused, as is one that
   lacks a permission of :data:`REQUIRED_PERMISSIONS` (the names are listed);
2. ``clock`` — :meth:`~quant_exec.venues.kraken.KrakenPrivateClient.check_clock_skew`: Kraken's
   public ``Time`` against the client's clock; certainly more than ``max_skew_s`` apart is
   ``CLOCK_SKEW`` (the one skew check of the code base, also run before a live session);
3. ``balance`` — ``Balance`` answers;
4. ``open_orders`` — ``OpenOrders`` answers;
5. ``dry_run`` — ``AddOrder`` with ``validate=true`` at the pair's minimum size (nothing is
   placed; an account without the funds passes with a note: the key may trade).

Each step is a :class:`Check`; a :class:`ConnectReport` collects them.
:func:`connect_key` runs the checks and, only when all pass, stores the key
(:class:`~quant_apps.runtime.trading.credentials.CredentialStore`). Nothing here prints the key
or the secret; the report names the key by its fingerprint.

Examples:
    >>> print(explain_permissions().splitlines()[0])
    A Kraken API key for quant needs exactly these permissions (Settings > API > Create key):
    >>> "withdraw" in explain_permissions().lower()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import attrs

from quant_apps.runtime.trading import livereasons
from quant_apps.runtime.trading.credentials import (
    CredentialStore,
    CredentialsUnavailableError,
    KrakenCredentials,
    StoredKey,
)
from quant_core import Clock
from quant_core.errors import QuantError, RejectedError
from quant_exec.venues.kraken import KrakenPrivateClient, NonceSource
from quant_net import ProviderError
from quant_net import kraken as wire

__all__ = [
    "MAX_SKEW_S",
    "REQUIRED_PERMISSIONS",
    "Check",
    "ConnectError",
    "ConnectReport",
    "check_key",
    "connect_key",
    "explain_permissions",
    "onboarding_status",
    "open_client",
]

REQUIRED_PERMISSIONS: Final = (
    ("query_funds", "Funds permissions: Query", "read balances"),
    ("query_open_orders", "Orders and trades: Query open orders & trades", "see working orders"),
    ("query_closed_orders", "Orders and trades: Query closed orders & trades", "see fills"),
    ("create_orders", "Orders and trades: Create & modify orders", "place orders"),
    ("cancel_orders", "Orders and trades: Cancel & close orders", "cancel, dead-man's switch"),
    ("websocket", "WebSocket interface: On", "live order and balance updates"),
)
"""(permission, where Kraken's key form shows it, why quant needs it): the minimum scope."""

MAX_SKEW_S: Final = 5.0
"""The largest clock difference with the exchange accepted by default, in seconds."""

_INSUFFICIENT = "VENUE_INSUFFICIENT_FUNDS"


def explain_permissions() -> str:
    """The minimum permissions, one line each, and the withdrawal rule (for a person to read)."""
    head = "A Kraken API key for quant needs exactly these permissions (Settings > API > "
    lines = [head + "Create key):"]
    lines += [f"  - {where}  ({why})" for _, where, why in REQUIRED_PERMISSIONS]
    lines.append(
        "Leave every Funds permission other than Query OFF: a key that may withdraw funds "
        "(or deposit, or transfer) is refused."
    )
    return "\n".join(lines)


def onboarding_status(store: CredentialStore, base_url: str = wire.BASE_URL) -> dict[str, Any]:
    """What the onboarding page shows: permissions, the credential store, the stored key.

    Never the key or the secret: a stored key is described by
    :meth:`~quant_apps.runtime.trading.credentials.StoredKey.about`.

    Args:
        store: the credential store.
        base_url: the exchange.

    Examples:
        >>> from keyring.backends import fail
        >>> status = onboarding_status(CredentialStore(fail.Keyring()))
        >>> status["store"]["usable"], status["reason_code"], status["key"]
        (False, 'CREDENTIALS_UNAVAILABLE', None)
        >>> [p["permission"] for p in status["permissions"]][:2]
        ['query_funds', 'query_open_orders']
    """
    url = "" if base_url == wire.BASE_URL else f" --url {base_url}"
    status: dict[str, Any] = {
        "exchange": base_url,
        "permissions": [
            {"permission": p, "where": where, "why": why} for p, where, why in REQUIRED_PERMISSIONS
        ],
        "connect": f"quant kraken connect{url}",
        "key": None,
    }
    try:
        backend = store.backend_name()
        stored = store.load(base_url)
    except CredentialsUnavailableError as exc:
        store_state = {"usable": False, "message": exc.message}
        return {**status, "store": store_state, "reason_code": exc.reason_code}
    status["store"] = {"usable": True, "backend": backend}
    if stored is None:
        return {**status, "reason_code": livereasons.CREDENTIALS_MISSING}
    return {**status, "key": stored.about(), "reason_code": None}


@attrs.frozen
class Check:
    """One onboarding step's outcome.

    Attributes:
        name: ``key``, ``clock``, ``balance``, ``open_orders`` or ``dry_run``.
        ok: whether it passed.
        detail: what was found (never a credential).
        reason_code: why it failed (``None`` when it passed).
    """

    name: str
    ok: bool
    detail: str
    reason_code: str | None = None


@attrs.frozen
class ConnectReport:
    """All the steps run, and what the key is.

    Attributes:
        base_url: the exchange checked.
        fingerprint: the key's fingerprint.
        checks: the steps, in order (the failed one last).
        permissions: the key's permissions (empty when ``GetApiKeyInfo`` failed).
        key_name: the key's name on the account.
    """

    base_url: str
    fingerprint: str
    checks: tuple[Check, ...]
    permissions: tuple[str, ...] = ()
    key_name: str = ""

    @property
    def ok(self) -> bool:
        """Whether every step ran and passed."""
        return len(self.checks) == len(_STEPS) and all(c.ok for c in self.checks)

    @property
    def reason_code(self) -> str | None:
        """The failed step's reason code."""
        return next((c.reason_code for c in self.checks if not c.ok), None)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON object."""
        return {
            "ok": self.ok,
            "base_url": self.base_url,
            "fingerprint": self.fingerprint,
            "key_name": self.key_name,
            "permissions": list(self.permissions),
            "checks": [attrs.asdict(c) for c in self.checks],
            **({} if self.ok else {"reason_code": self.reason_code}),
        }


class ConnectError(RejectedError, reason=livereasons.CONNECT_CHECK_FAILED):
    """A check failed; nothing was stored.

    Attributes:
        report: every step run.
    """

    def __init__(self, report: ConnectReport) -> None:
        failed = report.checks[-1]
        super().__init__(
            f"Kraken check {failed.name!r} failed: {failed.detail}",
            reason_code=failed.reason_code,
        )
        self.report = report


def open_client(
    credentials: KrakenCredentials, base_url: str, *, clock: Clock, state_dir: Path, seed: int = 0
) -> KrakenPrivateClient:
    """A private client for ``credentials``, its nonces kept in ``state_dir`` (one file a key).

    Args:
        credentials: the key pair.
        base_url: the exchange's root.
        clock: the injected clock.
        state_dir: where the nonce high-water mark lives (``nonce-<fingerprint>``).
        seed: the read retries' jitter seed.
    """
    name = "nonce-" + credentials.fingerprint.replace(":", "-")
    return KrakenPrivateClient(
        base_url,
        api_key=credentials.api_key,
        secret=credentials.secret,
        clock=clock,
        nonce=NonceSource(state_dir / name, clock),
        seed=seed,
    )


_STEPS: Final = ("key", "clock", "balance", "open_orders", "dry_run")


def _step_key(client: KrakenPrivateClient, found: dict[str, Any]) -> str:
    info = client.get_api_key_info()
    found["permissions"], found["key_name"] = tuple(sorted(info.permissions)), info.name
    info.check_trading_scope(tuple(p for p, _, _ in REQUIRED_PERMISSIONS))
    return f"key {info.name!r}: the needed permissions, no withdrawal"


def check_key(
    client: KrakenPrivateClient,
    *,
    base_url: str,
    fingerprint: str,
    pair: str = "XBTUSD",
    volume: Decimal = Decimal("0.0001"),
    max_skew_s: float = MAX_SKEW_S,
) -> ConnectReport:
    """Run the onboarding checks (see the module docs), stopping at the first failure.

    Args:
        client: a private client holding the key to check.
        base_url: the exchange's root (for the report).
        fingerprint: the key's fingerprint (for the report).
        pair: the pair of the dry-run order.
        volume: the dry-run order's size (the pair's minimum).
        max_skew_s: the largest clock difference accepted.
    """
    found: dict[str, Any] = {"permissions": (), "key_name": ""}

    def clock_step() -> str:
        skew_s = client.check_clock_skew(max_skew_s)
        return f"clock skew {skew_s:+.1f}s (at most {max_skew_s:g}s)"

    def balance_step() -> str:
        balances = client.balance()
        held = ", ".join(f"{a} {format(v, 'f')}" for a, v in balances.items() if v) or "empty"
        return f"balance: {held}"

    def open_step() -> str:
        return f"{client.open_orders().count} open orders"

    def dry_run_step() -> str:
        text = f"buy {format(volume, 'f')} {pair} @ market"
        try:
            client.add_order(
                pair=pair, side="buy", order_type="market", volume=volume, validate=True
            )
        except ProviderError as exc:
            if exc.reason_code != _INSUFFICIENT:
                raise
            return f"dry run {text}: accepted but for funds (the key may trade)"
        return f"dry run {text}: valid (nothing placed)"

    steps: dict[str, Callable[[], str]] = {
        "key": lambda: _step_key(client, found),
        "clock": clock_step,
        "balance": balance_step,
        "open_orders": open_step,
        "dry_run": dry_run_step,
    }
    checks: list[Check] = []
    for name in _STEPS:
        try:
            checks.append(Check(name, True, steps[name]()))
        except QuantError as exc:
            checks.append(Check(name, False, exc.message, exc.reason_code))
            break
    return ConnectReport(
        base_url, fingerprint, tuple(checks), found["permissions"], found["key_name"]
    )


def connect_key(
    credentials: KrakenCredentials,
    *,
    base_url: str,
    store: CredentialStore,
    client: KrakenPrivateClient,
    clock: Clock,
    pair: str = "XBTUSD",
    volume: Decimal = Decimal("0.0001"),
    max_skew_s: float = MAX_SKEW_S,
) -> ConnectReport:
    """Check the key (:func:`check_key`) and store it only when every check passed.

    Args:
        credentials: the key pair (``client`` holds the same).
        base_url: the exchange's root: the key is stored under it.
        store: where validated keys are kept.
        client: a private client holding ``credentials``.
        clock: this machine's clock (the validation time stored).
        pair: the dry-run order's pair.
        volume: the dry-run order's size.
        max_skew_s: the largest clock difference accepted.

    Raises:
        CredentialsUnavailableError: no usable credential store (checked before any call).
        ConnectError: a check failed (its report attached); nothing was stored.
    """
    store.backend_name()  # fail closed before the key is sent anywhere
    report = check_key(
        client,
        base_url=base_url,
        fingerprint=credentials.fingerprint,
        pair=pair,
        volume=volume,
        max_skew_s=max_skew_s,
    )
    if not report.ok:
        raise ConnectError(report)
    store.save(StoredKey(base_url, credentials, report.permissions, clock.now_ns()))
    return report

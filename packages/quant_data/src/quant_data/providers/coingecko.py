"""CoinGecko ``/coins/markets`` and the proposed next universe version.

:class:`CoinGeckoClient` fetches the market-cap ranking (keeping every response's exact bytes);
:func:`propose_universe` turns a ranking into a :class:`UniverseProposal`: the next universe
version as a diff (added, removed, kept, and the coins excluded on the way with their reason)
against the active :class:`~quant_core.universe.Universe`. Exclusions use the active universe's
own :class:`~quant_core.universe.ExclusionRule` data (stablecoins, tokenized fiat, wrapped and
staked wrappers), so the proposal is checked by the same rule the universe was built with.

A proposal is only a value: nothing registers or activates it (governance: a universe change is
reviewed and released as a new version). It is canonical-JSON hashable, so the same ranking
gives the same proposal hash on every machine.

Examples:
    >>> from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE as V1
    >>> coins = [MarketCoin("tether", "USDT", "Tether", "83000000000", 3),
    ...          MarketCoin("bitcoin", "BTC", "Bitcoin", "569778313238", 1),
    ...          MarketCoin("dogecoin", "DOGE", "Dogecoin", "10000000000", 9)]
    >>> proposal = propose_universe(V1, coins, size=2)
    >>> proposal.name, proposal.symbols
    ('UNIVERSE_V2_TOP30_NON_STABLE', ('BTC', 'DOGE'))
    >>> proposal.added, proposal.kept, len(proposal.removed)
    (('DOGE',), ('BTC',), 29)
    >>> [(e.symbol, e.reason) for e in proposal.excluded]
    [('USDT', 'stablecoin')]
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs
import httpx

from quant_core import Clock, content_hash
from quant_core.settings import Secret
from quant_core.universe import Universe, UniverseMember
from quant_data._errors import ProviderUsageError
from quant_data._records import RawPage
from quant_data.providers._common import HttpAdapter, raw_page
from quant_net import PROVIDER_BAD_REQUEST, RateLimiter, ReadPolicy, Response, kraken

__all__ = [
    "COINGECKO_BASE_URL",
    "CoinGeckoClient",
    "Exclusion",
    "MarketCoin",
    "MarketsSnapshot",
    "UniverseProposal",
    "propose_universe",
]

COINGECKO_BASE_URL: Final = "https://api.coingecko.com"
"""The public (Demo/keyless) root; paths start with ``/api/v3``. Pro: ``pro-api.coingecko.com``."""

NAME: Final = "coingecko"
_SYMBOL = re.compile(r"^[A-Z0-9]{1,16}$")

NOT_TRADABLE: Final = "not_tradable"
"""Exclusion reason: the venue does not list the asset in the universe's quote currencies."""
DUPLICATE_SYMBOL: Final = "duplicate_symbol"
"""Exclusion reason: a larger coin already uses that ticker."""
INVALID_SYMBOL: Final = "invalid_symbol"
"""Exclusion reason: the ticker is not 1-16 upper-case letters or digits."""
NO_MARKET_CAP: Final = "no_market_cap"
"""Exclusion reason: CoinGecko reports no market cap for the coin."""


@attrs.frozen
class MarketCoin:
    """One ``/coins/markets`` row, reduced to what ranking needs.

    Attributes:
        id: CoinGecko's coin id (``bitcoin``).
        symbol: the ticker, upper-cased (``BTC``).
        name: display name (``Bitcoin``).
        market_cap: market cap as the decimal text received, or ``None``.
        market_cap_rank: CoinGecko's rank, or ``None``.
    """

    id: str
    symbol: str
    name: str
    market_cap: str | None
    market_cap_rank: int | None

    def cap(self) -> Decimal | None:
        """The market cap as a decimal (``None`` when absent or not a number)."""
        if self.market_cap is None:
            return None
        try:
            value = Decimal(self.market_cap)
        except InvalidOperation:
            return None
        return value if value.is_finite() else None


@attrs.frozen
class MarketsSnapshot:
    """The ``/coins/markets`` pages fetched and the coins they held, in received order."""

    raw: tuple[RawPage, ...]
    coins: tuple[MarketCoin, ...]


@attrs.frozen
class Exclusion:
    """A coin that ranked high enough to be considered but cannot be a member, and why."""

    coin_id: str
    symbol: str
    name: str
    reason: str


@attrs.frozen
class UniverseProposal:
    """A proposed next universe version, as a diff against the active one. Never applied.

    Attributes:
        base_name: the active universe's name.
        base_version: its version.
        base_hash: its content hash (the proposal is only valid against exactly that one).
        name: the proposed name (the ``_V<n>_`` part bumped).
        version: ``base_version + 1``.
        members: the proposed members, rank order.
        added: symbols entering, rank order.
        removed: symbols leaving, in their old rank order.
        kept: symbols staying, in their new rank order.
        excluded: coins ranked above the cut-off that were excluded, with the reason.
        ranking_hash: content hash of the ranking the proposal was computed from.
    """

    base_name: str
    base_version: int
    base_hash: str
    name: str
    version: int
    members: tuple[UniverseMember, ...]
    added: tuple[str, ...]
    removed: tuple[str, ...]
    kept: tuple[str, ...]
    excluded: tuple[Exclusion, ...]
    ranking_hash: str

    @property
    def symbols(self) -> tuple[str, ...]:
        """Proposed symbols in rank order."""
        return tuple(m.symbol for m in self.members)

    @property
    def changed(self) -> bool:
        """Whether the membership differs from the base (rank moves alone do not count)."""
        return bool(self.added or self.removed)

    def content_hash(self) -> str:
        """Hash of the proposal's canonical JSON."""
        return content_hash(self)

    def to_universe(self, base: Universe) -> Universe:
        """The proposed :class:`Universe` value (same quotes and rules as ``base``).

        Nothing is registered: activating it is a separate, governed release.

        Raises:
            ProviderUsageError: ``base`` is not the universe this proposal was computed from.
        """
        if base.content_hash() != self.base_hash:
            raise ProviderUsageError(
                f"proposal was computed against {self.base_name} v{self.base_version} "
                f"({self.base_hash}), not {base.name} v{base.version}",
                reason_code=PROVIDER_BAD_REQUEST,
            )
        return Universe(
            name=self.name,
            version=self.version,
            members=self.members,
            quote_currencies=base.quote_currencies,
            exclusion_rules=base.exclusion_rules,
        )


def _next_name(name: str, version: int) -> str:
    bumped, count = re.subn(r"_V\d+_", f"_V{version}_", name, count=1)
    return bumped if count else f"{name}_V{version}"


def _order_key(coin: MarketCoin) -> tuple[int, Decimal, int, str]:
    cap = coin.cap()
    rank = coin.market_cap_rank if coin.market_cap_rank is not None else 1 << 62
    return (0 if cap is not None else 1, -(cap or Decimal(0)), rank, coin.id)


def propose_universe(
    active: Universe,
    coins: Sequence[MarketCoin],
    *,
    size: int | None = None,
    tradable: Collection[str] | None = None,
) -> UniverseProposal:
    """Rank ``coins`` by market cap and propose the next version of ``active``.

    Pure: the same universe and coins give the same proposal (and hash).

    Args:
        active: the universe in force.
        coins: the ranking input (any order; sorted by market cap descending, then
            CoinGecko rank, then id).
        size: members wanted; default the active universe's size.
        tradable: if given, only these symbols can be members (for example the bases Kraken
            lists in the universe's quotes); others are excluded as ``not_tradable``.

    Raises:
        ProviderUsageError: ``size`` below 1.
    """
    wanted = len(active.members) if size is None else size
    if wanted < 1:
        raise ProviderUsageError(
            f"a universe needs at least one member, got size={wanted}",
            reason_code=PROVIDER_BAD_REQUEST,
        )
    allowed = None if tradable is None else {s.upper() for s in tradable}
    old = {m.symbol: m for m in active.members}
    chosen: list[UniverseMember] = []
    excluded: list[Exclusion] = []
    seen: set[str] = set()
    for coin in sorted(coins, key=_order_key):
        if len(chosen) >= wanted:
            break
        symbol = coin.symbol.upper()
        category = active.exclusion(symbol, coin.name)
        reason: str | None
        if coin.cap() is None:
            reason = NO_MARKET_CAP
        elif not _SYMBOL.fullmatch(symbol):
            reason = INVALID_SYMBOL
        elif category is not None:
            reason = category.value
        elif symbol in seen:
            reason = DUPLICATE_SYMBOL
        elif allowed is not None and symbol not in allowed:
            reason = NOT_TRADABLE
        else:
            reason = None
        if reason is not None:
            excluded.append(Exclusion(coin.id, symbol, coin.name, reason))
            continue
        seen.add(symbol)
        previous = old.get(symbol)
        chosen.append(
            UniverseMember(
                symbol=symbol,
                rank=len(chosen) + 1,
                name=previous.name if previous else coin.name,
                kraken_code=previous.kraken_code if previous else kraken.asset_code(symbol),
            )
        )
    new_symbols = [m.symbol for m in chosen]
    version = active.version + 1
    return UniverseProposal(
        base_name=active.name,
        base_version=active.version,
        base_hash=active.content_hash(),
        name=_next_name(active.name, version),
        version=version,
        members=tuple(chosen),
        added=tuple(s for s in new_symbols if s not in old),
        removed=tuple(m.symbol for m in active.members if m.symbol not in seen),
        kept=tuple(s for s in new_symbols if s in old),
        excluded=tuple(excluded),
        ranking_hash=content_hash(sorted(coins, key=_order_key)),
    )


def _coin(item: Any) -> MarketCoin:
    cap = item.get("market_cap")
    rank = item.get("market_cap_rank")
    return MarketCoin(
        id=str(item["id"]),
        symbol=str(item["symbol"]).upper(),
        name=str(item["name"]),
        market_cap=None if cap is None else str(cap),
        market_cap_rank=None if rank is None else int(rank),
    )


class CoinGeckoClient(HttpAdapter):
    """``GET /api/v3/coins/markets`` under the shared HTTP policy.

    Args:
        base_url: the root (``https://api.coingecko.com`` or an emulator's ``.../coingecko``).
        api_key: the Demo or Pro key (``None``: keyless).
        clock: the injected clock.
        seed: root seed of the retry jitter.
        policy: the HTTP policy (default: 30 calls/min).
        transport: an httpx transport for tests.
        sleep: how to wait (default: advance a SimClock, or really sleep).
        key_header: ``x-cg-demo-api-key`` (default) or ``x-cg-pro-api-key``.
        limiter: a rate limiter shared with other clients of the same key.
    """

    def __init__(
        self,
        base_url: str,
        api_key: Secret | None = None,
        *,
        clock: Clock,
        seed: int,
        policy: ReadPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] | None = None,
        key_header: str = "x-cg-demo-api-key",
        limiter: RateLimiter | None = None,
    ) -> None:
        super().__init__(
            NAME,
            base_url,
            clock=clock,
            seed=seed,
            policy=policy or ReadPolicy(rate_per_s=0.5, burst=1),
            sleep=sleep,
            transport=transport,
            secret_headers={key_header: api_key} if api_key is not None else None,
            limiter=limiter,
        )

    def __repr__(self) -> str:
        return f"CoinGeckoClient({self.http!r})"

    def _parse(self, response: Response) -> tuple[RawPage, tuple[MarketCoin, ...]]:
        try:
            body = json.loads(response.payload, parse_float=str, parse_int=str)
        except ValueError:
            body = None
        if response.status != 200:
            message = response.excerpt()
            if isinstance(body, dict):
                status = body.get("status")
                if isinstance(status, dict) and "error_message" in status:
                    message = str(status["error_message"])
                elif "error" in body:
                    message = str(body["error"])
            response.expect_ok(message)
        if not isinstance(body, list):
            raise response.invalid(f"malformed answer to {response.request}")
        try:
            coins = tuple(_coin(item) for item in body)
        except (KeyError, TypeError, ValueError, AttributeError):
            raise response.invalid(
                f"a /coins/markets row lacks id, symbol or name in {response.request}"
            ) from None
        return raw_page(response), coins

    def markets(
        self, vs_currency: str = "usd", *, per_page: int = 250, pages: int = 1
    ) -> MarketsSnapshot:
        """The top ``per_page * pages`` coins by market cap (stops early on a short page).

        Raises:
            ProviderUsageError: ``per_page`` outside 1..250 or ``pages`` below 1.
            ProviderError: auth failures at once; 429/5xx after the retries.
        """
        if not 1 <= per_page <= 250 or pages < 1:
            raise ProviderUsageError(
                f"per_page must be within 1..250 and pages >= 1 (got {per_page}, {pages})",
                reason_code=PROVIDER_BAD_REQUEST,
            )
        raws: list[RawPage] = []
        coins: list[MarketCoin] = []
        for page in range(1, pages + 1):
            params = {
                "vs_currency": vs_currency.lower(),
                "order": "market_cap_desc",
                "per_page": str(per_page),
                "page": str(page),
                "sparkline": "false",
            }
            raw, got = self.http.get("/api/v3/coins/markets", params, parse=self._parse)
            raws.append(raw)
            coins.extend(got)
            if len(got) < per_page:
                break
        return MarketsSnapshot(tuple(raws), tuple(coins))

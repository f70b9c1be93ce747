"""The governed training universe, as versioned data.

:data:`UNIVERSE_V1_TOP30_NON_STABLE` is the 30-symbol set of the historical data spec (§4.1),
in its order, with each member's Kraken asset code recorded as data (``BTC`` trades as
``XBT``; the rules of Kraken's names live in ``quant_net.kraken``), the quote
currencies CAD, USD and USDC, and the exclusion rule for stablecoins, tokenized fiat and
wrapped or staked wrappers. The rule is *data* (:class:`ExclusionRule`), so a proposed next
universe can be checked with the same rule, and changing the rule is a versioned change.

A universe never changes in place: a new set is a new :class:`Universe` with a new name and
a higher version (``UNIVERSE_V2_...``), registered beside the old one.

Examples:
    >>> from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE as V1
    >>> V1.symbols[:3]
    ('BTC', 'ETH', 'BNB')
    >>> V1.member("BTC").kraken_code
    'XBT'
    >>> V1.exclusion("USDT", "Tether")
    <ExclusionCategory.STABLECOIN: 'stablecoin'>
    >>> V1.exclusion("WBTC", "Wrapped Bitcoin")
    <ExclusionCategory.WRAPPED: 'wrapped'>
    >>> V1.exclusion("SOL", "Solana") is None
    True
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

from quant_core import reasons
from quant_core._values.canonical import content_hash
from quant_core._values.types import Instrument, QuoteCurrency
from quant_core.errors import UniverseError

__all__ = [
    "UNIVERSES",
    "UNIVERSE_V1_EXCLUSION_RULES",
    "UNIVERSE_V1_TOP30_NON_STABLE",
    "ExclusionCategory",
    "ExclusionRule",
    "Universe",
    "UniverseMember",
    "get_universe",
]


class ExclusionCategory(enum.Enum):
    """Why an asset can never be a training-universe member."""

    STABLECOIN = "stablecoin"
    TOKENIZED_FIAT = "tokenized_fiat"
    WRAPPED = "wrapped"
    STAKED = "staked"


@attrs.frozen
class ExclusionRule:
    """One exclusion category, expressed as data.

    An asset matches when its symbol is listed, its symbol fully matches one of
    ``symbol_patterns``, or its name contains a match of one of ``name_patterns`` (both
    regular expressions, case-insensitive).
    """

    category: ExclusionCategory
    symbols: tuple[str, ...]
    symbol_patterns: tuple[str, ...] = ()
    name_patterns: tuple[str, ...] = ()

    def matches(self, symbol: str, name: str = "") -> bool:
        """Whether the asset ``symbol`` (with display ``name``) falls under this rule."""
        sym = symbol.upper()
        if sym in self.symbols:
            return True
        if any(re.fullmatch(p, sym, re.IGNORECASE) for p in self.symbol_patterns):
            return True
        return any(re.search(p, name, re.IGNORECASE) for p in self.name_patterns)


@attrs.frozen
class UniverseMember:
    """A universe symbol: canonical ``symbol``, its 1-based ``rank``, Kraken ``kraken_code``."""

    symbol: str
    rank: int
    name: str
    kraken_code: str


@attrs.frozen
class Universe:
    """A named, versioned, ordered set of tradable base assets."""

    name: str
    version: int
    members: tuple[UniverseMember, ...]
    quote_currencies: tuple[QuoteCurrency, ...]
    exclusion_rules: tuple[ExclusionRule, ...]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Canonical symbols in rank order."""
        return tuple(m.symbol for m in self.members)

    def member(self, symbol: str) -> UniverseMember:
        """The member for a canonical ``symbol``.

        Raises:
            UniverseError: ``SYMBOL_UNKNOWN`` when the symbol is not in this universe.
        """
        for m in self.members:
            if m.symbol == symbol:
                return m
        raise UniverseError(f"{symbol!r} is not in {self.name}")

    def instruments(self) -> tuple[Instrument, ...]:
        """Every (symbol, quote currency) pair, symbols in rank order."""
        return tuple(
            Instrument(m.symbol, quote) for m in self.members for quote in self.quote_currencies
        )

    def exclusion(self, symbol: str, name: str = "") -> ExclusionCategory | None:
        """The first exclusion category the asset falls under, or ``None`` if eligible."""
        for rule in self.exclusion_rules:
            if rule.matches(symbol, name):
                return rule.category
        return None

    def content_hash(self) -> str:
        """Hash of the universe's canonical JSON: it changes whenever anything in it does."""
        return content_hash(self)


UNIVERSE_V1_EXCLUSION_RULES: tuple[ExclusionRule, ...] = (
    ExclusionRule(
        ExclusionCategory.STABLECOIN,
        symbols=(
            "USDT", "USDC", "DAI", "USDE", "USDS", "FDUSD", "TUSD", "PYUSD", "USDD", "USD1",
            "RLUSD", "FRAX", "LUSD", "GUSD", "USDP", "BUSD", "USDG", "GHO", "CRVUSD", "USD0",
            "USDX", "USTC", "DOLA", "MIM",
        ),
        symbol_patterns=(r"[A-Z]*USD[A-Z0-9]?",),
        name_patterns=(r"\bstable ?coin\b", r"\bUSD\b", r"\bdollar\b", r"TrueUSD"),
    ),
    ExclusionRule(
        ExclusionCategory.TOKENIZED_FIAT,
        symbols=(
            "EURC", "EURT", "EURS", "EURCV", "EURI", "EURR", "AEUR", "XSGD", "BRZ", "TRYB", "GBPT",
            "JPYC", "ZCHF", "XCHF", "CADC", "QCAD",
        ),
        symbol_patterns=(r"(EUR|GBP|JPY|CHF|CAD|AUD|SGD|BRL|TRY|MXN)[A-Z]?",),
        name_patterns=(r"\beuro\b", r"tokeni[sz]ed (fiat|euro|pound|yen|franc)", r"\bfiat\b"),
    ),
    ExclusionRule(
        ExclusionCategory.WRAPPED,
        symbols=(
            "WBTC", "WETH", "CBBTC", "WBNB", "BTCB", "TBTC", "SOLVBTC", "LBTC", "WTRX", "WAVAX",
            "WMATIC", "WPOL", "WSOL", "WHBAR", "WTAO", "RENBTC", "HBTC",
        ),
        name_patterns=(r"\bwrapped\b", r"\bbridged\b", r"\bpegged\b"),
    ),
    ExclusionRule(
        ExclusionCategory.STAKED,
        symbols=(
            "STETH", "WSTETH", "RETH", "CBETH", "WBETH", "METH", "EZETH", "RSETH", "SWETH", "WEETH",
            "EETH", "JITOSOL", "MSOL", "BNSOL", "JUPSOL", "STSOL", "BBSOL", "SFRXETH", "OSETH",
            "LSETH", "SUSDE", "SAVAX", "STKAAVE", "STTAO",
        ),
        name_patterns=(r"\bstaked\b", r"\brestaked\b", r"liquid staking"),
    ),
)  # fmt: skip
"""The V1 exclusion rule: stablecoins, tokenized fiat, wrapped and staked wrappers."""


def _members(rows: tuple[tuple[str, str, str], ...]) -> tuple[UniverseMember, ...]:
    return tuple(
        UniverseMember(symbol=s, rank=i, name=n, kraken_code=k)
        for i, (s, n, k) in enumerate(rows, start=1)
    )


UNIVERSE_V1_TOP30_NON_STABLE = Universe(
    name="UNIVERSE_V1_TOP30_NON_STABLE",
    version=1,
    members=_members(
        (
            ("BTC", "Bitcoin", "XBT"),
            ("ETH", "Ethereum", "ETH"),
            ("BNB", "BNB", "BNB"),
            ("XRP", "XRP", "XRP"),
            ("SOL", "Solana", "SOL"),
            ("TRX", "TRON", "TRX"),
            ("ADA", "Cardano", "ADA"),
            ("BCH", "Bitcoin Cash", "BCH"),
            ("XMR", "Monero", "XMR"),
            ("LINK", "Chainlink", "LINK"),
            ("XLM", "Stellar", "XLM"),
            ("HBAR", "Hedera", "HBAR"),
            ("LTC", "Litecoin", "LTC"),
            ("AVAX", "Avalanche", "AVAX"),
            ("ZEC", "Zcash", "ZEC"),
            ("SUI", "Sui", "SUI"),
            ("SHIB", "Shiba Inu", "SHIB"),
            ("TON", "Toncoin", "TON"),
            ("DOT", "Polkadot", "DOT"),
            ("UNI", "Uniswap", "UNI"),
            ("AAVE", "Aave", "AAVE"),
            ("TAO", "Bittensor", "TAO"),
            ("NEAR", "NEAR Protocol", "NEAR"),
            ("ETC", "Ethereum Classic", "ETC"),
            ("ICP", "Internet Computer", "ICP"),
            ("POL", "POL (ex-MATIC)", "POL"),
            ("KAS", "Kaspa", "KAS"),
            ("ALGO", "Algorand", "ALGO"),
            ("FIL", "Filecoin", "FIL"),
            ("APT", "Aptos", "APT"),
        )
    ),
    quote_currencies=(QuoteCurrency.CAD, QuoteCurrency.USD, QuoteCurrency.USDC),
    exclusion_rules=UNIVERSE_V1_EXCLUSION_RULES,
)
"""Universe V1: the top-30 non-stable set of the historical data spec, in its order."""

UNIVERSES: Mapping[str, Universe] = MappingProxyType(
    {UNIVERSE_V1_TOP30_NON_STABLE.name: UNIVERSE_V1_TOP30_NON_STABLE}
)
"""Every known universe version by name (read-only)."""


def get_universe(name: str) -> Universe:
    """Look a universe up by name.

    Raises:
        UniverseError: ``UNIVERSE_UNKNOWN`` for a name that is not registered.
    """
    try:
        return UNIVERSES[name]
    except KeyError:
        known = ", ".join(sorted(UNIVERSES))
        raise UniverseError(
            f"unknown universe {name!r} (known: {known})", reason_code=reasons.UNIVERSE_UNKNOWN
        ) from None

"""quant_core: the deterministic floor every other quant package stands on.

It owns value types, time and the :class:`~quant_core.clock.Clock`, seed derivation,
canonical JSON and content hashing, the error tree and reason codes, governed profiles,
settings with secrets that never show, the Universe V1 registry and the hash-chained audit
log. It imports only attrs, cattrs and numpy, and never reads the wall clock, the global RNG,
the environment or the network.

The names below are the stable surface; import them from ``quant_core`` directly.
"""

from quant_core.audit import AuditLog, AuditRecord, VerifyReport, read_audit_log, verify_audit_log
from quant_core.canonical import (
    CanonicalMemo,
    bytes_hash,
    canonical_json,
    canonical_text,
    content_hash,
)
from quant_core.clock import (
    NS_PER_SECOND,
    Clock,
    SimClock,
    datetime_to_ns,
    iso_to_ns,
    ns_to_datetime,
    ns_to_iso,
)
from quant_core.convert import CONVERTER, structure, unstructure
from quant_core.errors import (
    AuditChainError,
    CanonicalizationError,
    ClockError,
    IntegrityError,
    ProfileError,
    QuantError,
    QuantRuntimeError,
    QuantUsageError,
    RejectedError,
    SettingsError,
    StorageError,
    UniverseError,
    ValidationError,
)
from quant_core.events import (
    BarClosed,
    Heartbeat,
    HorizonForecast,
    InMemoryFeed,
    MarketDataFeed,
    Prediction,
    Predictor,
    bar_sort_key,
)
from quant_core.profiles import (
    ExposureLimit,
    ExposureMode,
    ParameterChange,
    ParameterSpec,
    ProfileHistory,
    ProfileStore,
    ProfileVersion,
    RiskProfile,
    StrategyProfile,
    version_from_record,
)
from quant_core.reasons import REGISTRY as REASON_CODES
from quant_core.rng import derive_seed, generator
from quant_core.secret import Secret
from quant_core.settings import Settings
from quant_core.types import (
    Bar,
    Instrument,
    Money,
    Quantity,
    QuoteCurrency,
    Timeframe,
    to_decimal,
)
from quant_core.universe import (
    UNIVERSE_V1_TOP30_NON_STABLE,
    UNIVERSES,
    ExclusionCategory,
    ExclusionRule,
    Universe,
    UniverseMember,
    get_universe,
)

__version__ = "0.1.0"

__all__ = [
    "CONVERTER",
    "NS_PER_SECOND",
    "REASON_CODES",
    "UNIVERSES",
    "UNIVERSE_V1_TOP30_NON_STABLE",
    "AuditChainError",
    "AuditLog",
    "AuditRecord",
    "Bar",
    "BarClosed",
    "CanonicalMemo",
    "CanonicalizationError",
    "Clock",
    "ClockError",
    "ExclusionCategory",
    "ExclusionRule",
    "ExposureLimit",
    "ExposureMode",
    "Heartbeat",
    "HorizonForecast",
    "InMemoryFeed",
    "Instrument",
    "IntegrityError",
    "MarketDataFeed",
    "Money",
    "ParameterChange",
    "ParameterSpec",
    "Prediction",
    "Predictor",
    "ProfileError",
    "ProfileHistory",
    "ProfileStore",
    "ProfileVersion",
    "QuantError",
    "QuantRuntimeError",
    "QuantUsageError",
    "Quantity",
    "QuoteCurrency",
    "RejectedError",
    "RiskProfile",
    "Secret",
    "Settings",
    "SettingsError",
    "SimClock",
    "StorageError",
    "StrategyProfile",
    "Timeframe",
    "Universe",
    "UniverseError",
    "UniverseMember",
    "ValidationError",
    "VerifyReport",
    "__version__",
    "bar_sort_key",
    "bytes_hash",
    "canonical_json",
    "canonical_text",
    "content_hash",
    "datetime_to_ns",
    "derive_seed",
    "generator",
    "get_universe",
    "iso_to_ns",
    "ns_to_datetime",
    "ns_to_iso",
    "read_audit_log",
    "structure",
    "to_decimal",
    "unstructure",
    "verify_audit_log",
    "version_from_record",
]

"""quant_core: the deterministic floor every other quant package stands on.

It owns value types, time and the :class:`~quant_core.Clock`, seed derivation, canonical JSON
and content hashing, the error tree and reason codes, governed profiles, settings with secrets
that never show, the Universe V1 registry and the hash-chained audit log. It imports only
attrs, cattrs and numpy, and never reads the wall clock, the global RNG, the environment or
the network.

The names below are the stable surface of values, time, hashing, conversion and seeds. The
other concerns each have one public room with its own curated ``__all__``:

* :mod:`quant_core.errors`: the exception tree;
* :mod:`quant_core.reasons`: reason codes and their registry;
* :mod:`quant_core.events`: bar and heartbeat events, predictions, the ``Predictor`` and
  ``MarketDataFeed`` protocols;
* :mod:`quant_core.profiles`: governed risk and strategy profiles;
* :mod:`quant_core.audit`: the hash-chained audit log;
* :mod:`quant_core.universe`: the Universe V1 registry;
* :mod:`quant_core.settings`: settings and :class:`~quant_core.settings.Secret`;
* :mod:`quant_core.files`: durable (fsync'd, atomic) file writes.

Examples:
    >>> import quant_core
    >>> len(quant_core.__all__) <= 30
    True
"""

from quant_core import errors, reasons
from quant_core._values.canonical import (
    CanonicalMemo,
    bytes_hash,
    canonical_json,
    canonical_text,
    content_hash,
    sha256_hex,
)
from quant_core._values.clock import (
    NS_PER_SECOND,
    Clock,
    SimClock,
    datetime_to_ns,
    iso_to_ns,
    ns_to_datetime,
    ns_to_iso,
)
from quant_core._values.convert import CONVERTER, structure, unstructure
from quant_core._values.rng import derive_seed, generator
from quant_core._values.types import (
    Bar,
    Instrument,
    Money,
    Quantity,
    QuoteCurrency,
    Timeframe,
    to_decimal,
)
from quant_core.tasks import SerialRunner, TaskRunner

__version__ = "0.1.0"

__all__ = [
    "CONVERTER",
    "NS_PER_SECOND",
    "Bar",
    "CanonicalMemo",
    "Clock",
    "Instrument",
    "Money",
    "Quantity",
    "QuoteCurrency",
    "SerialRunner",
    "SimClock",
    "TaskRunner",
    "Timeframe",
    "__version__",
    "bytes_hash",
    "canonical_json",
    "canonical_text",
    "content_hash",
    "datetime_to_ns",
    "derive_seed",
    "errors",
    "generator",
    "iso_to_ns",
    "ns_to_datetime",
    "ns_to_iso",
    "reasons",
    "sha256_hex",
    "structure",
    "to_decimal",
    "unstructure",
]

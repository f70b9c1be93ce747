"""The fake Kraken exchange over real HTTP on 127.0.0.1, and clients pointed at it."""

from __future__ import annotations

from tests.quant_exec.kraken._harness import START_NS as START_NS
from tests.quant_exec.kraken._harness import ClientFactory as ClientFactory
from tests.quant_exec.kraken._harness import (  # noqa: F401  # fixtures, found by name
    fixture_client,
    fixture_clock,
    fixture_fake,
    fixture_make_client,
    fixture_server,
)

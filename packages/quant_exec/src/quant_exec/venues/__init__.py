"""Venues: the one ExecutionVenue seam, the paper broker, a venue's rules, costs and throttle."""

from quant_exec.venues._fees import KRAKEN_SPOT_FEES, FeeSchedule, FeeTier
from quant_exec.venues._paper import PaperBroker
from quant_exec.venues._protocol import ExecutionVenue
from quant_exec.venues._rules import KRAKEN_SPOT_RULES, VenueRulebook, VenueRules
from quant_exec.venues._slippage import SlippageModel
from quant_exec.venues._throttle import RateLimit, Throttle, TokenBucket

__all__ = [
    "KRAKEN_SPOT_FEES",
    "KRAKEN_SPOT_RULES",
    "ExecutionVenue",
    "FeeSchedule",
    "FeeTier",
    "PaperBroker",
    "RateLimit",
    "SlippageModel",
    "Throttle",
    "TokenBucket",
    "VenueRulebook",
    "VenueRules",
]

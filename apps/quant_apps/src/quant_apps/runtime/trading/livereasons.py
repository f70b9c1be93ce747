"""Reason codes of Kraken onboarding and the live session (:mod:`.credentials`, :mod:`.live`).

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> CREDENTIALS_UNAVAILABLE in REGISTRY, LIVE_NOT_CONFIRMED
    (True, 'LIVE_NOT_CONFIRMED')
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

CREDENTIALS_UNAVAILABLE = (
    "No usable OS credential store (keyring backend): exchange credentials can be neither "
    "stored nor read; nothing was written anywhere else."
)
CREDENTIALS_MISSING = "No validated Kraken key is stored for this exchange URL."
CREDENTIALS_INVALID = "The Kraken key or secret given is empty or malformed."
CONNECT_CHECK_FAILED = "A Kraken connectivity check failed (see the step that failed)."
LIVE_PAPER_MINIMUM = (
    "No paper run of the same bundle and profile meets the minimum required before live."
)
LIVE_NOT_CONFIRMED = "The operator did not type the live confirmation phrase."
LIVE_BUNDLE_REQUIRED = "A live session needs an active, verified model bundle."

declare_codes(globals())

"""Reason codes of the runtime's control plane (governed commands and their outcomes).

Examples:
    >>> COMMAND_TIMEOUT
    'COMMAND_TIMEOUT'
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

COMMAND_TIMEOUT = "The session's runner did not apply a governed command within the wait."
SESSION_STOPPED = "The session had stopped before it applied the command; nothing changed."
HALT_FILE_PRESENT = "The halt file exists: the kill switch stays engaged until it is removed."
BUNDLE_FIXED = "This session serves a fixed predictor: its bundle cannot be reloaded."
BUNDLES_UNMANAGED = "This session has no bundle store to check, update or roll back."

declare_codes(globals())

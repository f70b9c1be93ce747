"""Reason codes of the live Kraken venue (:class:`~quant_exec.venues.kraken.KrakenVenue`).

Declared the package's one way (decision 0075), in the venue's own module so the slice that
owns :mod:`quant_exec.reasons` is not touched; the venue's refusals otherwise carry Kraken's
own codes (``VENUE_*`` from :mod:`quant_net.kraken`).

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> REGISTRY.describe(KRAKEN_ORDER_ABSENT).startswith("An order whose")
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

KRAKEN_ORDER_ABSENT = (
    "An order whose AddOrder had an unknown outcome was looked for by its client order id among "
    "Kraken's open and closed orders and is not there: it was never placed; it is rejected and "
    "nothing was sent again."
)
KRAKEN_BUG_ALARM = (
    "Kraken refused an order the SDK built as EGeneral:Invalid arguments: a bug in the SDK or "
    "its pair table, raised as an alarm (the order is rejected, the session goes on)."
)
KRAKEN_DEAD_MAN_FAILED = (
    "Refreshing Kraken's dead-man's switch (CancelAllOrdersAfter) failed; it is tried again "
    "on the next poll, and Kraken cancels every open order if the timer runs out."
)
KRAKEN_POLL_FAILED = (
    "A Kraken read of the venue's poll failed (service error, pause, counter); the orders it "
    "would have updated are read again on the next poll."
)
KRAKEN_PAIR_UNKNOWN = (
    "The venue has no Kraken pair for the order's instrument (or a fill's pair or symbol maps "
    "to no instrument); nothing was sent."
)
KRAKEN_ORDER_ID_UNFIT = (
    "The order's client order id fits none of Kraken's cl_ord_id formats (a UUID, or free "
    "text of at most 18 characters); nothing was sent."
)
KRAKEN_EXECUTION_INVALID = (
    "A Kraken executions message could not be read (a field missing or not a number); it was "
    "dropped, and the REST poll recovers what it carried."
)

declare_codes(globals())

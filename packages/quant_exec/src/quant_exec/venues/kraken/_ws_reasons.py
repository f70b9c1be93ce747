"""Reason codes of the Kraken WebSocket v2 stream (the package's one way, decision 0075)."""

from quant_core.reasons import declare_codes

KRAKEN_WS_LOST = (
    "The Kraken WebSocket stream could not reconnect within its bounded attempts; market data "
    "is stale and order state comes from REST only."
)
KRAKEN_WS_SUBSCRIBE_REFUSED = (
    "Kraken refused a WebSocket subscription (an expired token, an unknown symbol or channel)."
)
KRAKEN_WS_BOOK_CHECKSUM = (
    "A Kraken book's CRC32 did not match the local copy; the book was dropped and resubscribed "
    "and the pair's market data is stale until a snapshot matches."
)
KRAKEN_WS_HEARTBEAT_LOST = (
    "The Kraken WebSocket was silent beyond the heartbeat interval and was treated as disconnected."
)

declare_codes(globals())

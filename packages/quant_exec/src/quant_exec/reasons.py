"""Reason codes of quant_exec, registered once in the project-wide registry.

Each section belongs to one part of the package; add codes to your own section only. Every
code is a stable public constant: its meaning never changes once released.

Examples:
    >>> from quant_core.reasons import REGISTRY
    >>> from quant_exec import reasons
    >>> reasons.KILL_SWITCH_ENGAGED in REGISTRY
    True
"""

from __future__ import annotations

from quant_core.reasons import declare_codes

# --- venues/kraken: the live Kraken client (issue 17) -----------------------------------------

KRAKEN_NONCE_STORE_INVALID = (
    "The Kraken nonce high-water-mark file cannot be read as one non-negative integer, or "
    "cannot be written; no nonce is handed out."
)
KRAKEN_CALL_BUDGET = (
    "The client-side Kraken call counter (or a pair's order-rate counter) would exceed its "
    "maximum and the wait is longer than allowed (or waiting is off); nothing was sent."
)
KRAKEN_KEY_SCOPE = (
    "The Kraken API key's permissions are wrong for trading: it may withdraw funds, or lacks "
    "a permission trading needs (the missing ones are named)."
)
KRAKEN_PAUSED = (
    "Private Kraken calls are paused after a lockout or a throttle answer until the stated "
    "time; nothing was sent."
)

# --- orders, risk, ledger ----------------------------------------------------------------

ORDER_INVALID = (
    "An order is malformed: non-positive quantity, a limit order without a positive price, "
    "or a market order with a price."
)
ORDER_INVALID_TRANSITION = (
    "An order event is not allowed in the order's current state (see the transition table)."
)
ORDER_EVENT_MISMATCH = "An order event names another order, instrument or side."
ORDER_OVERFILL = "A fill would take an order's filled quantity above its quantity."
ORDER_UNKNOWN = "No order with that client order id is known."
EXTERNAL_FILL = (
    "A fill the session cannot match to an order it made (unknown order, or another instrument "
    "or side); new orders on the fill's instrument are halted."
)
OVERFILL = (
    "Fills took an order's filled quantity above its quantity; new orders on the instrument "
    "are halted."
)
ORDER_DUPLICATE = "An order with the same client order id was already submitted."
ORDER_INSUFFICIENT_FUNDS = (
    "The paper broker canceled the rest of a buy order because free cash could not pay for it."
)
RISK_PROFILE_MISSING = "No active risk profile version was supplied; no order is admitted."
RISK_PROFILE_STALE = (
    "The order was decided under a risk profile version that is no longer the active one."
)
RISK_MAX_POSITIONS = "Opening another position would exceed max_concurrent_positions."
RISK_TOTAL_EXPOSURE = "The order would take total exposure above max_total_exposure."
RISK_CLUSTER_EXPOSURE = "The order would take its cluster's exposure above max_cluster_exposure."
RISK_DRAWDOWN = "Portfolio drawdown from its peak is at or beyond drawdown_limit_pct; no new risk."
RISK_INSUFFICIENT_CASH = (
    "Free cash cannot pay for the order and its worst-case fee (no leverage, margin or borrowing)."
)
RISK_NO_SHORT = "A sell exceeds the free quantity held: spot trading is long-only."
RISK_BELOW_MIN_QUANTITY = "The order quantity is below the venue's minimum order size."
RISK_BELOW_MIN_COST = "The order value is below the venue's minimum order cost."
RISK_LOT_SIZE = "The order quantity is not a whole multiple of the venue's lot size."
RISK_TICK_SIZE = "The limit price is not a whole multiple of the venue's tick size."
RISK_NO_MARK = "No mark price is known for the order's instrument."
RISK_VENUE_UNKNOWN = "The venue has no trading rules for the order's instrument."
RISK_QUOTE_MISMATCH = "The order's quote currency is not the portfolio's quote currency."
KILL_SWITCH_ENGAGED = "The kill switch is engaged: every order adding risk is rejected."
KILL_SWITCH_STATE = (
    "A kill-switch action needs a reason and an actor, or does not fit its current state."
)
LEDGER_INSUFFICIENT_CASH = (
    "A fill or withdrawal would make ledger cash negative; it was refused and nothing changed."
)
LEDGER_SHORT_POSITION = "A sell fill exceeds the position held; it was refused and nothing changed."
LEDGER_CURRENCY_MISMATCH = "A fill's quote currency differs from the ledger's."
FEE_SCHEDULE_INVALID = (
    "A fee schedule is malformed: no tier at zero volume, unsorted tiers or negative rates."
)
VENUE_RULES_INVALID = "Venue trading rules are malformed (non-positive lot or tick size)."
CLUSTER_MAP_INVALID = "Cluster data is malformed: an asset is assigned to two clusters."

# --- session: reconciliation on start, restart carry-over, kill-switch drill (issue 17) -----

RECONCILE_ADOPTED = (
    "On start, the venue had an order the session's journal names (an intent journaled before "
    "a crash, or a sent order): its venue state was adopted; nothing was sent again."
)
RECONCILE_RESENT = (
    "On start, a journaled intent the venue provably never received (not open, not closed) was "
    "sent once, within the intent age limit."
)
RECONCILE_INTENT_STALE = (
    "On start, a journaled intent the venue never received was older than the intent age "
    "limit: it was dropped, not sent."
)
RECONCILE_ORDER_LOST = (
    "On start, a sent order the venue does not know (neither open nor closed) outlived the "
    "lost-order limit: it is taken as never accepted (rejected) and the instrument halted."
)
RECONCILE_ORDER_UNRESOLVED = (
    "On start, a sent order the venue does not know yet is within the lost-order limit: it "
    "stays unresolved and nothing is sent for it."
)
RECONCILE_VENUE_CLOSED = (
    "On start, the venue had closed an order the journal left working (canceled by the "
    "venue, e.g. its dead-man's switch, or expired): the venue's state was adopted."
)
RECONCILE_UNKNOWN_ORDER = (
    "On start, the venue has a working order the session never made; new orders on its "
    "instrument are halted."
)
RECONCILE_BALANCE_MISMATCH = (
    "On start, after adopting the venue's fills, the venue's balance of an asset differs from "
    "the session's ledger; a traded base asset's instrument is halted."
)
KILL_SWITCH_VERIFIED = (
    "The kill switch's cancels were verified against the venue: none of the pulled orders "
    "is open there any more."
)
KILL_SWITCH_CANCEL_PENDING = (
    "The kill switch asked to cancel working orders that the venue still lists as open; "
    "the session keeps checking and logs the verification when they are gone."
)
JOURNAL_TORN_TAIL = (
    "A torn final journal record (a crash mid-append) was found on restart; it was set aside "
    "(truncated from the journal) and the state replayed from the complete records."
)

# --- session: stale market data (issue 17, decision 0113) ---------------------------------

MARKET_DATA_STALE = (
    "The pair's live market data is stale (its order book failed its checksum); no new risk "
    "on it until the data is valid again, exits still go."
)
MARKET_DATA_VALID = "The pair's live market data is valid again (its book checksum matches)."

# --- strategy, backtest, decision log ----------------------------------------------------
# (owned by the strategy helper)

NO_PREDICTION = "No prediction is available for the instrument; the strategy stays put."
NO_EDGE = "Flat, and the predicted up probability does not clear the entry thresholds."
ENTRY = "Prediction-led entry: near-term and outlook probabilities agree."
ENTRY_GATED_DOWNSIDE = "Entry gated: near-term downside probability is above the profile's."
ENTRY_DIP = "Dip-aware entry: a qualifying drop with a predicted recovery."
DIP_FALLING_KNIFE = "A qualifying drop, but the near-term outlook predicts continuation: no entry."
HOLD_POSITION = "A position is open and no exit, profit-taking or re-entry condition holds."
TAKE_PROFIT_PARTIAL = (
    "Tactical partial profit-taking: gain above trigger while the near-term edge fades."
)
REENTRY = "Tactical re-entry: the local edge recovered after a partial exit."
EXIT_NEGATIVE_OUTLOOK = (
    "Final exit: a negative outlook with weak rebound probability persisted long enough."
)
SEVERE_LOSS_HOLD = "Severe-loss recovery: deeply adverse, rebound predicted; hold."
SEVERE_LOSS_DERISK = (
    "Severe-loss recovery: deeply adverse, outlook mixed; sell a fraction to de-risk."
)
SEVERE_LOSS_EXIT = (
    "Severe-loss recovery: deeply adverse and continuation persistently predicted; exit."
)
SEVERE_LOSS_WAIT = (
    "Severe-loss recovery: deeply adverse, already de-risked, no rebound predicted; the "
    "bounded wait continues."
)
SEVERE_LOSS_BOUNDED_EXIT = (
    "Severe-loss recovery: deeply adverse for the profile's most predictions without a "
    "qualifying rebound forecast; exit."
)
ORDER_PENDING = "An order for the instrument is still working; no new intent is made."
INTENT_TOO_SMALL = "The sized order rounds to nothing; no order."
HEARTBEAT_IDLE = "A liveness heartbeat found nothing to evaluate."
PREDICTIONS_INVALID = "A recorded predictions file is malformed or not time-ordered."
ENGINE_INPUT_INVALID = (
    "Backtest inputs are inconsistent (no bars, unknown instrument, mismatched window)."
)
DECISION_LOG_INVALID = "A decision log file is malformed or not a decision log."
REPLAY_MISMATCH = (
    "Replaying a run's recorded inputs did not reproduce its decision log byte for byte."
)

declare_codes(globals())

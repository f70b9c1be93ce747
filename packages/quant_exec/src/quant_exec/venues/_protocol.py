"""The one seam between a trading session and where its orders go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from quant_core import Bar
from quant_exec.orders._model import Order, OrderEvent, OrderFilled, OrderState
from quant_exec.venues._throttle import Throttle


class ExecutionVenue(Protocol):
    """Where approved orders go: the paper broker now, an exchange client later.

    The session's strategy, risk and accounting path is the same code whatever the venue.
    Commands answer with the order events they caused at once; later events come from
    :meth:`poll` (time passed) and :meth:`on_bar` (a simulated venue trades on bars; a real
    one answers ``[]`` there and reports through :meth:`poll`). The reads let a session
    reconcile on start: what the venue knows of an order by its client order id (the way
    to resolve a write of unknown outcome before anything is sent again), the orders still
    working, the account's balances and its fills since the last one the session saw.
    :attr:`throttle` is the venue's request budget.
    """

    @property
    def throttle(self) -> Throttle:
        """The venue's request budget on the session's clock."""
        ...

    def submit(self, order: Order) -> Sequence[OrderEvent]:
        """Send ``order``; return the events it caused at once (e.g. submitted)."""
        ...

    def cancel(self, client_order_id: str) -> Sequence[OrderEvent]:
        """Ask to cancel a working order; return the events it caused at once."""
        ...

    def query(self, client_order_id: str) -> OrderState | None:
        """What the venue knows of the order, or ``None`` when it never received it."""
        ...

    def open_orders(self) -> Sequence[OrderState]:
        """The orders still working at the venue, in submission order."""
        ...

    def balances(self) -> Mapping[str, Decimal]:
        """The account's balance per asset (quote currency and bases), as the venue has it."""
        ...

    def trades_since(self, after_trade_id: str | None) -> Sequence[OrderFilled]:
        """The account's fills after the one with ``after_trade_id``, oldest first.

        ``None`` asks for every fill the venue reports. A fill of an order placed elsewhere
        (not through this session) carries the venue's client order id, or ``""`` when the
        venue has none. An ``after_trade_id`` the venue does not know answers every fill.
        """
        ...

    def poll(self) -> Sequence[OrderEvent]:
        """Events that became due on the clock without a new bar (acknowledgements)."""
        ...

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> Sequence[OrderEvent]:
        """Work the open orders of ``bar.instrument`` against the new bar.

        ``cash_available`` is the free cash now, so a buy never fills beyond what can be paid.
        """
        ...

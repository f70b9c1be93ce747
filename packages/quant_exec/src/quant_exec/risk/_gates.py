"""Pre-order risk gates: every order is checked, and the outcome is a value.

:func:`check_order` returns :class:`Approved` or :class:`Rejected` (with a stable reason code
and a human detail); it never raises for a business outcome. :func:`evaluate` runs the same
gates and also reports which gates were evaluated, for the decision log.

Gates, in the order they are evaluated (the first failure decides):

| gate | applies to | reason code when it fails |
|---|---|---|
| kill switch | new risk (buys) | `KILL_SWITCH_ENGAGED` |
| active profile version | new risk | `RISK_PROFILE_MISSING`, `RISK_PROFILE_STALE` |
| quote currency | every order | `RISK_QUOTE_MISMATCH` |
| venue rules exist | every order | `RISK_VENUE_UNKNOWN` |
| lot size, tick size | every order | `RISK_LOT_SIZE`, `RISK_TICK_SIZE` |
| minimum quantity | every order | `RISK_BELOW_MIN_QUANTITY` |
| mark price known | every order | `RISK_NO_MARK` |
| minimum cost | every order | `RISK_BELOW_MIN_COST` |
| no short selling | sells | `RISK_NO_SHORT` |
| drawdown gate | new risk | `RISK_DRAWDOWN` |
| max concurrent positions | new risk | `RISK_MAX_POSITIONS` |
| cash incl. worst-case fee | new risk | `RISK_INSUFFICIENT_CASH` |
| total exposure | new risk | `RISK_TOTAL_EXPOSURE` |
| cluster exposure | new risk | `RISK_CLUSTER_EXPOSURE` |

Spot trading is long-only, so a buy is new risk and a sell can only reduce a held position:
reducing risk is always allowed (the kill switch, the profile, drawdown, position count, cash
and exposure gates never block it), but the venue's physical rules still apply and a sell may
never exceed the quantity held (no shorting, no borrowing). Cash must cover the order's value
*and* its worst-case (taker) fee, after reserving for open buy orders: that is the
no-leverage / no-margin rule. Open orders count towards exposure and position count.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core import Instrument, SimClock
    >>> from quant_core.profiles import ProfileHistory, RiskProfile
    >>> from quant_exec.ledger import Ledger
    >>> from quant_exec.orders import Order, Side
    >>> from quant_exec.risk import RiskContext, check_order
    >>> profile = ProfileHistory.create(RiskProfile(), author="ops", reason="init",
    ...                                 clock=SimClock(0)).active
    >>> ledger = Ledger("USD", Decimal(10_000))
    >>> ledger.mark({"BTC": Decimal(40_000)})
    >>> ctx = RiskContext(profile=profile, portfolio=ledger.snapshot())
    >>> btc = Instrument("BTC", "USD")
    >>> decision = check_order(Order.create(btc, Side.BUY, "0.1", ts_init=0, sequence=1), ctx)
    >>> decision.ok, decision.notional, decision.fee
    (True, Decimal('4000.0'), Decimal('16.0000'))
    >>> check_order(Order.create(btc, Side.BUY, "0.3", ts_init=0, sequence=2), ctx).reason_code
    'RISK_INSUFFICIENT_CASH'
    >>> check_order(Order.create(btc, Side.SELL, "0.1", ts_init=0, sequence=3), ctx).reason_code
    'RISK_NO_SHORT'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType

import attrs

from quant_core import to_decimal
from quant_core.profiles import ProfileVersion, RiskProfile
from quant_exec import reasons
from quant_exec.ledger._books import PortfolioSnapshot
from quant_exec.orders._model import Liquidity, Order, OrderState, Side
from quant_exec.risk._clusters import DEFAULT_CLUSTERS, ClusterMap
from quant_exec.risk._killswitch import KillSwitchState
from quant_exec.venues._fees import KRAKEN_SPOT_FEES, FeeSchedule
from quant_exec.venues._rules import KRAKEN_SPOT_RULES, VenueRulebook, VenueRules

_ZERO = Decimal(0)
_EMPTY: Mapping[str, Decimal] = MappingProxyType({})


@attrs.frozen
class Approved:
    """The order passed every gate.

    Attributes:
        new_risk: whether the order adds risk (a buy).
        price: the price the gates assumed (limit, or mark plus the market buffer).
        notional: ``quantity * price``.
        fee: the worst-case fee the cash gate reserved.
    """

    new_risk: bool
    price: Decimal
    notional: Decimal
    fee: Decimal

    ok = True
    reason_code = None


@attrs.frozen
class Rejected:
    """The order failed a gate.

    Attributes:
        reason_code: the stable code of the failing gate.
        detail: a human explanation with the numbers involved.
    """

    reason_code: str
    detail: str

    ok = False


RiskDecision = Approved | Rejected
"""The outcome of :func:`check_order`."""


@attrs.frozen
class RiskContext:
    """Everything the gates look at, as values.

    Attributes:
        profile: the active risk profile version (``None``: no order adds risk).
        portfolio: the ledger snapshot.
        marks: mark prices (base -> price) that override the snapshot's marks.
        kill_switch: the kill-switch state.
        venue: exchange rules (minimums, lot and tick sizes).
        clusters: the cluster of each asset.
        fees: the fee schedule (the cash gate reserves the taker fee).
        volume_30d: 30-day traded volume for the fee tier.
        open_orders: orders still working; they reserve cash, quantity and exposure.
        market_buffer_bps: headroom on the mark for the price a market buy may pay.
    """

    profile: ProfileVersion[RiskProfile] | None
    portfolio: PortfolioSnapshot
    marks: Mapping[str, Decimal] = _EMPTY
    kill_switch: KillSwitchState = attrs.field(factory=KillSwitchState)
    venue: VenueRulebook = KRAKEN_SPOT_RULES
    clusters: ClusterMap = DEFAULT_CLUSTERS
    fees: FeeSchedule = KRAKEN_SPOT_FEES
    volume_30d: Decimal = attrs.field(default=_ZERO, converter=to_decimal)
    open_orders: Sequence[OrderState] = ()
    market_buffer_bps: Decimal = attrs.field(default=_ZERO, converter=to_decimal)

    def mark(self, base: str) -> Decimal | None:
        """The mark for ``base``: the context's own, else the snapshot's."""
        mark = self.marks.get(base)
        return mark if mark is not None else self.portfolio.mark_of(base)


@attrs.frozen
class RiskReport:
    """The decision and the gates evaluated to reach it (in order).

    Attributes:
        decision: approved or rejected.
        gates: names of the gates evaluated; on rejection the last one failed.
    """

    decision: RiskDecision
    gates: tuple[str, ...]


@attrs.frozen
class _Order:
    """What the gates compute once per order."""

    order: Order
    ctx: RiskContext
    rules: VenueRules | None
    mark: Decimal | None

    @property
    def base(self) -> str:
        return self.order.instrument.base

    @property
    def venue_rules(self) -> VenueRules:
        assert self.rules is not None  # the venue gate ran first
        return self.rules

    @property
    def limits(self) -> RiskProfile:
        assert self.ctx.profile is not None  # the profile gate ran first
        return self.ctx.profile.profile

    @property
    def price(self) -> Decimal:
        if self.order.limit_price is not None:
            return self.order.limit_price
        assert self.mark is not None  # the mark gate ran first
        if self.order.side is Side.BUY:
            return self.mark * (1 + self.ctx.market_buffer_bps / 10_000)
        return self.mark

    @property
    def notional(self) -> Decimal:
        return self.order.quantity * self.price

    @property
    def fee(self) -> Decimal:
        return self.ctx.fees.fee(self.notional, self.ctx.volume_30d, Liquidity.TAKER)


def _open_price(state: OrderState, ctx: RiskContext) -> Decimal:
    order = state.order
    if order.limit_price is not None:
        return order.limit_price
    mark = ctx.mark(order.instrument.base)
    return (mark or _ZERO) * (1 + ctx.market_buffer_bps / 10_000)


def _open_buys(ctx: RiskContext) -> list[tuple[str, Decimal]]:
    """(base, reserved notional) of every working buy order."""
    return [
        (s.order.instrument.base, s.leaves_qty * _open_price(s, ctx))
        for s in ctx.open_orders
        if s.is_open and s.order.side is Side.BUY
    ]


def _exposure(ctx: RiskContext, base: str) -> Decimal:
    """Market value of the holding in ``base`` (which must be held)."""
    held = ctx.portfolio.positions[base]
    mark = ctx.mark(base)
    return held.quantity * (mark if mark is not None else held.avg_cost)


def _pv(ctx: RiskContext) -> Decimal:
    return ctx.portfolio.cash + sum((_exposure(ctx, b) for b in ctx.portfolio.positions), _ZERO)


# -- the gates: each returns a Rejected or None --------------------------------------------


def _kill_switch(o: _Order) -> Rejected | None:
    if o.ctx.kill_switch.engaged:
        why = o.ctx.kill_switch.reason
        return Rejected(reasons.KILL_SWITCH_ENGAGED, f"kill switch engaged: {why}")
    return None


def _profile(o: _Order) -> Rejected | None:
    active = o.ctx.profile
    if active is None:
        return Rejected(reasons.RISK_PROFILE_MISSING, "no active risk profile version")
    wanted = o.order.profile_version
    if wanted is not None and wanted != active.version:
        return Rejected(
            reasons.RISK_PROFILE_STALE,
            f"order decided under profile version {wanted}, active is {active.version}",
        )
    return None


def _quote(o: _Order) -> Rejected | None:
    if o.order.instrument.quote is not o.ctx.portfolio.quote:
        return Rejected(
            reasons.RISK_QUOTE_MISMATCH,
            f"{o.order.instrument} against a {o.ctx.portfolio.quote.value} portfolio",
        )
    return None


def _venue(o: _Order) -> Rejected | None:
    if o.rules is None:
        return Rejected(reasons.RISK_VENUE_UNKNOWN, f"no venue rules for {o.order.instrument}")
    return None


def _lot_tick(o: _Order) -> Rejected | None:
    rules = o.venue_rules
    if not rules.is_lot_multiple(o.order.quantity):
        return Rejected(
            reasons.RISK_LOT_SIZE,
            f"quantity {o.order.quantity} is not a multiple of {rules.lot_size}",
        )
    price = o.order.limit_price
    if price is not None and not rules.is_tick_multiple(price):
        return Rejected(
            reasons.RISK_TICK_SIZE, f"limit {price} is not a multiple of {rules.tick_size}"
        )
    return None


def _min_quantity(o: _Order) -> Rejected | None:
    minimum = o.venue_rules.min_quantity
    if o.order.quantity < minimum:
        why = f"quantity {o.order.quantity} is below the minimum {minimum}"
        return Rejected(reasons.RISK_BELOW_MIN_QUANTITY, why)
    return None


def _mark(o: _Order) -> Rejected | None:
    if o.mark is None:
        return Rejected(reasons.RISK_NO_MARK, f"no mark price for {o.base}")
    return None


def _min_cost(o: _Order) -> Rejected | None:
    minimum = o.venue_rules.min_cost
    if o.notional < minimum:
        why = f"order value {o.notional} is below the minimum cost {minimum}"
        return Rejected(reasons.RISK_BELOW_MIN_COST, why)
    return None


def _no_short(o: _Order) -> Rejected | None:
    held = o.ctx.portfolio.positions.get(o.base)
    selling = sum(
        (
            s.leaves_qty
            for s in o.ctx.open_orders
            if s.is_open and s.order.side is Side.SELL and s.order.instrument.base == o.base
        ),
        _ZERO,
    )
    free = (held.quantity if held else _ZERO) - selling
    if o.order.quantity > free:
        return Rejected(
            reasons.RISK_NO_SHORT,
            f"sell of {o.order.quantity} {o.base} exceeds the {free} free to sell",
        )
    return None


def _drawdown(o: _Order) -> Rejected | None:
    snapshot = o.ctx.portfolio
    peak = max(snapshot.peak_pv, _pv(o.ctx))
    drawdown = (peak - _pv(o.ctx)) * 100 / peak if peak > 0 else _ZERO
    limit = o.limits.drawdown_limit_pct
    if drawdown >= limit:
        return Rejected(
            reasons.RISK_DRAWDOWN, f"drawdown {drawdown:.4f}% is at or beyond the {limit}% gate"
        )
    return None


def _max_positions(o: _Order) -> Rejected | None:
    occupied = set(o.ctx.portfolio.positions) | {b for b, _ in _open_buys(o.ctx)}
    limit = o.limits.max_concurrent_positions
    if o.base not in occupied and len(occupied) >= limit:
        return Rejected(
            reasons.RISK_MAX_POSITIONS,
            f"{len(occupied)} positions open or pending; the limit is {limit}",
        )
    return None


def _cash(o: _Order) -> Rejected | None:
    reserved = sum(
        (n + o.ctx.fees.fee(n, o.ctx.volume_30d, Liquidity.TAKER) for _, n in _open_buys(o.ctx)),
        _ZERO,
    )
    free = o.ctx.portfolio.cash - reserved
    need = o.notional + o.fee
    if need > free:
        return Rejected(
            reasons.RISK_INSUFFICIENT_CASH,
            f"needs {need} incl. fee; free cash is {free} after {reserved} reserved",
        )
    return None


def _exposure_after(o: _Order, in_scope: Callable[[str], bool]) -> Decimal:
    """Exposure to the bases in scope once the order fills: held, pending buys, the order."""
    ctx = o.ctx
    held = sum((_exposure(ctx, b) for b in ctx.portfolio.positions if in_scope(b)), _ZERO)
    pending = sum((n for b, n in _open_buys(ctx) if in_scope(b)), _ZERO)
    return held + pending + o.notional


def _total_exposure(o: _Order) -> Rejected | None:
    after = _exposure_after(o, lambda _base: True)
    cap = o.limits.max_total_exposure.cap(_pv(o.ctx))
    if after > cap:
        why = f"total exposure would be {after}, the cap is {cap}"
        return Rejected(reasons.RISK_TOTAL_EXPOSURE, why)
    return None


def _cluster_exposure(o: _Order) -> Rejected | None:
    clusters = o.ctx.clusters
    cluster = clusters.cluster_of(o.base)
    after = _exposure_after(o, lambda base: clusters.cluster_of(base) == cluster)
    cap = o.limits.max_cluster_exposure.cap(_pv(o.ctx))
    if after > cap:
        why = f"cluster {cluster!r} exposure would be {after}, the cap is {cap}"
        return Rejected(reasons.RISK_CLUSTER_EXPOSURE, why)
    return None


_Gate = tuple[str, Callable[[_Order], Rejected | None]]

_VENUE_GATES: tuple[_Gate, ...] = (
    ("quote", _quote),
    ("venue", _venue),
    ("lot_tick", _lot_tick),
    ("min_quantity", _min_quantity),
    ("mark", _mark),
    ("min_cost", _min_cost),
)
_BUY_GATES: tuple[_Gate, ...] = (
    ("kill_switch", _kill_switch),
    ("profile", _profile),
    *_VENUE_GATES,
    ("drawdown", _drawdown),
    ("max_positions", _max_positions),
    ("cash", _cash),
    ("total_exposure", _total_exposure),
    ("cluster_exposure", _cluster_exposure),
)
_SELL_GATES: tuple[_Gate, ...] = (*_VENUE_GATES, ("no_short", _no_short))


def evaluate(order: Order, ctx: RiskContext) -> RiskReport:
    """Run the gates for ``order`` and report the decision and the gates evaluated."""
    o = _Order(
        order, ctx, ctx.venue.for_instrument(order.instrument), ctx.mark(order.instrument.base)
    )
    gates = _BUY_GATES if order.side is Side.BUY else _SELL_GATES
    names: list[str] = []
    for name, gate in gates:
        names.append(name)
        rejected = gate(o)
        if rejected is not None:
            return RiskReport(rejected, tuple(names))
    decision = Approved(order.side is Side.BUY, o.price, o.notional, o.fee)
    return RiskReport(decision, tuple(names))


def check_order(order: Order, ctx: RiskContext) -> RiskDecision:
    """Check ``order`` against every gate: :class:`Approved` or the first :class:`Rejected`.

    Never raises for a business outcome.
    """
    return evaluate(order, ctx).decision

"""The append-only ledger: cash, positions, PnL and portfolio value, in exact Decimal.

A :class:`Ledger` is a fold over :class:`LedgerEntry` records (deposits, withdrawals, fills).
Entries are only ever appended; the balances are what the fold of the entries gives, and
:meth:`Ledger.replay` rebuilds a ledger from its entries to prove it. Every entry is checked
*before* anything changes, so a refused entry (a fill that would make cash negative, a sell of
more than is held, a foreign currency) raises a typed error and leaves the ledger exactly as it
was. Fills are deduplicated by ``trade_id``: folding the same fill twice books it once.

Accounting rules (long-only spot, one quote currency):

* a buy of ``q`` at ``p`` with fee ``f`` moves ``q*p + f`` of cash into the position; the
  position's average cost includes the buy fees;
* a sell of ``q`` at ``p`` with fee ``f`` adds ``q*p - f`` to cash and realises
  ``q*p - f - q*avg_cost``; the average cost of what remains does not change (the cost basis
  is kept as an exact total; a partial sell removes its share rounded to 10^-12);
* so, always: ``PV - net deposits == realised PnL + unrealised PnL``, where unrealised PnL is
  ``sum(q * (mark - avg_cost))``.

Marks (prices used for PV) come from market data through :meth:`Ledger.mark`; a held asset
with no mark yet is valued at its last fill price. The peak PV is tracked after every change,
and drawdown is measured from it.

Examples:
    >>> from decimal import ROUND_HALF_EVEN, Decimal
    >>> from quant_core import Instrument
    >>> from quant_exec.ledger import Ledger
    >>> from quant_exec.orders import OrderFilled, Side
    >>> btc = Instrument("BTC", "USD")
    >>> ledger = Ledger("USD", Decimal(1000))
    >>> _ = ledger.apply(OrderFilled("O-1", btc, "buy", "t1", "100", "2", "1",
    ...                              ts_event=1, ts_init=1))
    >>> ledger.cash, ledger.positions["BTC"].quantity, ledger.positions["BTC"].avg_cost
    (Decimal('799'), Decimal('2'), Decimal('100.5'))
    >>> ledger.mark({"BTC": Decimal(90)})
    >>> snap = ledger.snapshot()
    >>> snap.portfolio_value, snap.unrealized_pnl, snap.drawdown_pct
    (Decimal('979'), Decimal('-21'), Decimal('2.1'))
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType

import attrs

from quant_core import QuoteCurrency, to_decimal
from quant_core import reasons as core_reasons
from quant_exec import reasons
from quant_exec.errors import InsufficientCashError, LedgerError
from quant_exec.orders._model import OrderEvent, OrderFilled, Side

_ZERO = Decimal(0)
COST_QUANTUM = Decimal("1e-12")
"""The share of cost basis a partial sell removes is rounded to this quantum."""


def _holdings_value(positions: Mapping[str, Position], marks: Mapping[str, Decimal]) -> Decimal:
    """Market value of ``positions`` at ``marks`` (the average cost where there is no mark).

    Summed in the order held, starting from zero: the one formula behind
    :attr:`PortfolioSnapshot.positions_value` and :meth:`Ledger.valuation`, so both give the
    same Decimal (digits and exponent alike).
    """
    total = _ZERO
    for base, position in positions.items():
        mark = marks.get(base)
        total += position.quantity * (position.avg_cost if mark is None else mark)
    return total


@attrs.frozen
class Position:
    """A long holding of one base asset.

    The cost basis is kept as a total, so it stays exact under any number of buys; a sell
    removes the sold share of it, rounded to :data:`COST_QUANTUM`.

    Attributes:
        base: the asset.
        quantity: units held, positive.
        cost_basis: what the units cost in the quote currency, buy fees included.
    """

    base: str
    quantity: Decimal
    cost_basis: Decimal

    @property
    def avg_cost(self) -> Decimal:
        """Average cost per unit (``cost_basis / quantity``)."""
        return self.cost_basis / self.quantity


class EntryKind(enum.Enum):
    """What a ledger entry records."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    FILL = "fill"
    CARRY = "carry"
    """The opening record of a ledger carried over from an earlier run (cash and positions)."""


@attrs.frozen
class LedgerEntry:
    """One append-only ledger record.

    Attributes:
        seq: 1-based position in the ledger.
        kind: deposit, withdrawal or fill.
        ts_event: when it happened (UTC ns).
        cash_delta: change of cash it caused.
        realized_pnl: PnL it realised (sells only; zero otherwise).
        fill: the fill, for ``FILL`` entries.
        positions: the holdings carried over, for the ``CARRY`` entry.
    """

    seq: int
    kind: EntryKind
    ts_event: int
    cash_delta: Decimal
    realized_pnl: Decimal = _ZERO
    fill: OrderFilled | None = None
    positions: tuple[Position, ...] = ()


@attrs.frozen
class PortfolioSnapshot:
    """An immutable view of the ledger at one moment, with the marks used to value it.

    Attributes:
        quote: the quote currency of every amount.
        cash: free cash.
        positions: base -> position (only non-zero holdings).
        marks: base -> mark price used for valuation.
        peak_pv: the highest portfolio value seen so far.
        realized_pnl: PnL realised so far (net of fees).
        fees_paid: total fees paid.
        net_deposits: deposits minus withdrawals.
    """

    quote: QuoteCurrency
    cash: Decimal
    positions: Mapping[str, Position]
    marks: Mapping[str, Decimal]
    peak_pv: Decimal
    realized_pnl: Decimal = _ZERO
    fees_paid: Decimal = _ZERO
    net_deposits: Decimal = _ZERO

    def mark_of(self, base: str) -> Decimal | None:
        """The mark of ``base`` (``None`` if none is known)."""
        return self.marks.get(base)

    def position_value(self, base: str) -> Decimal:
        """Market value of the holding in ``base`` (zero when flat)."""
        position = self.positions.get(base)
        if position is None:
            return _ZERO
        mark = self.marks.get(base)  # the average cost is only worked out when there is no mark
        return position.quantity * (position.avg_cost if mark is None else mark)

    @property
    def positions_value(self) -> Decimal:
        """Market value of every holding."""
        return _holdings_value(self.positions, self.marks)

    @property
    def portfolio_value(self) -> Decimal:
        """Cash plus the market value of every holding (PV)."""
        return self.cash + self.positions_value

    @property
    def unrealized_pnl(self) -> Decimal:
        """``sum(market value - cost basis)`` over holdings."""
        return sum(
            (self.position_value(b) - p.cost_basis for b, p in self.positions.items()), _ZERO
        )

    @property
    def drawdown_pct(self) -> Decimal:
        """How far PV is below its peak, in percent of the peak (0 at or above the peak)."""
        if self.peak_pv <= 0:
            return _ZERO
        return max(_ZERO, (self.peak_pv - self.portfolio_value) * 100 / self.peak_pv)

    @property
    def open_positions(self) -> int:
        """Number of assets held."""
        return len(self.positions)


class Ledger:
    """An append-only ledger in one quote currency.

    Args:
        quote: the quote currency (``"USD"``, ``QuoteCurrency.USD`` ...).
        initial_cash: booked as a first deposit entry when positive.
        ts_ns: timestamp of that deposit.

    Raises:
        LedgerError: ``initial_cash`` is negative.
    """

    def __init__(
        self, quote: QuoteCurrency | str, initial_cash: Decimal | int | str = 0, *, ts_ns: int = 0
    ) -> None:
        self.quote = QuoteCurrency(quote)
        self._entries: list[LedgerEntry] = []
        self._cash = _ZERO
        self._positions: dict[str, Position] = {}
        # A frozen copy of the positions for snapshots; only a fill changes positions, so
        # the copy is made again only after one (``None``: stale).
        self._positions_view: Mapping[str, Position] | None = None
        self._marks: dict[str, Decimal] = {}
        self._realized = _ZERO
        self._fees = _ZERO
        self._net_deposits = _ZERO
        self._trade_ids: set[str] = set()
        self._peak = _ZERO
        amount = to_decimal(initial_cash)
        if amount:
            self.deposit(amount, ts_ns=ts_ns)

    def __repr__(self) -> str:
        return f"Ledger({self.quote.value}, cash={self._cash}, positions={len(self._positions)})"

    @classmethod
    def carried(
        cls,
        quote: QuoteCurrency | str,
        cash: Decimal | int | str,
        positions: Iterable[Position] = (),
        *,
        ts_ns: int = 0,
    ) -> Ledger:
        """A ledger that opens with an earlier run's cash and positions (one ``CARRY`` entry).

        The carried capital (cash plus the positions' cost basis) counts as deposited, so
        ``PV - net deposits == realised + unrealised PnL`` holds from the first entry.

        Args:
            quote: the quote currency.
            cash: the free cash carried over (non-negative).
            positions: the holdings carried over (positive quantities, one per base).
            ts_ns: timestamp of the opening entry.

        Raises:
            LedgerError: ``INVALID_INPUT`` for negative cash, a non-positive quantity, a
                negative cost basis or a base carried twice.

        Examples:
            >>> ledger = Ledger.carried("USD", "500", [Position("BTC", Decimal(2), Decimal(210))])
            >>> ledger.cash, ledger.positions["BTC"].avg_cost, ledger.entries[0].kind.value
            (Decimal('500'), Decimal('105'), 'carry')
            >>> ledger.snapshot().net_deposits
            Decimal('710')
        """
        ledger = cls(quote)
        ledger._open(to_decimal(cash), tuple(positions), ts_ns)
        return ledger

    def _open(self, cash: Decimal, positions: tuple[Position, ...], ts_ns: int) -> None:
        bases = [p.base for p in positions]
        bad = any(p.quantity <= 0 or p.cost_basis < 0 for p in positions)
        if self._entries or cash < 0 or bad or len(set(bases)) != len(bases):
            raise LedgerError(
                "a carried ledger opens once, with non-negative cash and one positive holding "
                "per base",
                reason_code=core_reasons.INVALID_INPUT,
            )
        self._cash = cash
        self._positions = {p.base: p for p in positions}
        self._net_deposits = cash + sum((p.cost_basis for p in positions), _ZERO)
        self._append(LedgerEntry(1, EntryKind.CARRY, ts_ns, cash, positions=positions))

    # -- reading --------------------------------------------------------------------------

    @property
    def entries(self) -> tuple[LedgerEntry, ...]:
        """Every entry, oldest first."""
        return tuple(self._entries)

    @property
    def cash(self) -> Decimal:
        """Free cash (never negative)."""
        return self._cash

    @property
    def positions(self) -> Mapping[str, Position]:
        """Non-zero holdings by base asset (a read-only view)."""
        return MappingProxyType(self._positions)

    @property
    def realized_pnl(self) -> Decimal:
        """PnL realised by sells, net of all fees on the quantity sold."""
        return self._realized

    @property
    def fees_paid(self) -> Decimal:
        """Total fees paid."""
        return self._fees

    @property
    def peak_pv(self) -> Decimal:
        """The highest portfolio value seen."""
        return self._peak

    def has_trade(self, trade_id: str) -> bool:
        """Whether a fill with ``trade_id`` has been booked."""
        return trade_id in self._trade_ids

    def _frozen_positions(self) -> Mapping[str, Position]:
        """A frozen copy of the positions, made again only after a fill changed them."""
        positions = self._positions_view
        if positions is None:
            positions = self._positions_view = MappingProxyType(dict(self._positions))
        return positions

    def snapshot(self) -> PortfolioSnapshot:
        """An immutable view of the current state."""
        return PortfolioSnapshot(
            quote=self.quote,
            cash=self._cash,
            positions=self._frozen_positions(),
            marks=MappingProxyType(dict(self._marks)),
            peak_pv=self._peak,
            realized_pnl=self._realized,
            fees_paid=self._fees,
            net_deposits=self._net_deposits,
        )

    def valuation(self) -> tuple[Decimal, Mapping[str, Position], Decimal]:
        """``(cash, positions, PV)`` now, exactly as :meth:`snapshot` would give them.

        The positions are the same frozen view a snapshot holds and the PV is the snapshot's
        ``portfolio_value``; it costs no copy of the marks, for callers that need no more.
        """
        positions, cash = self._frozen_positions(), self._cash
        return cash, positions, cash + _holdings_value(positions, self._marks)

    def portfolio_value(self) -> Decimal:
        """Current PV (cash + holdings at their marks)."""
        value, marks = self._cash, self._marks
        for base, position in self._positions.items():
            mark = marks.get(base)
            value += position.quantity * (position.avg_cost if mark is None else mark)
        return value

    # -- writing --------------------------------------------------------------------------

    def _append(self, entry: LedgerEntry) -> LedgerEntry:
        self._entries.append(entry)
        self._peak = max(self._peak, self.portfolio_value())
        return entry

    def deposit(self, amount: Decimal | int | str, *, ts_ns: int) -> LedgerEntry:
        """Add cash.

        Raises:
            LedgerError: ``INVALID_INPUT`` for a non-positive amount.
        """
        value = to_decimal(amount)
        if value <= 0:
            raise LedgerError(
                f"deposit must be positive, got {value}", reason_code=core_reasons.INVALID_INPUT
            )
        self._cash += value
        self._net_deposits += value
        return self._append(LedgerEntry(len(self._entries) + 1, EntryKind.DEPOSIT, ts_ns, value))

    def withdraw(self, amount: Decimal | int | str, *, ts_ns: int) -> LedgerEntry:
        """Remove cash.

        Raises:
            LedgerError: ``INVALID_INPUT`` for a non-positive amount.
            InsufficientCashError: more than the free cash.
        """
        value = to_decimal(amount)
        if value <= 0:
            raise LedgerError(
                f"withdrawal must be positive, got {value}", reason_code=core_reasons.INVALID_INPUT
            )
        if value > self._cash:
            raise InsufficientCashError(f"withdrawal of {value} exceeds cash {self._cash}")
        self._cash -= value
        self._net_deposits -= value
        entry = LedgerEntry(len(self._entries) + 1, EntryKind.WITHDRAWAL, ts_ns, -value)
        return self._append(entry)

    def apply(self, event: OrderEvent) -> LedgerEntry | None:
        """Fold an order event: fills are booked, other events change nothing.

        Returns the new entry, or ``None`` for a non-fill event or an already booked trade.

        Raises:
            LedgerError: ``LEDGER_SHORT_POSITION`` or ``LEDGER_CURRENCY_MISMATCH``.
            InsufficientCashError: the fill would make cash negative.
        """
        if isinstance(event, OrderFilled):
            return self.apply_fill(event)
        return None

    def apply_fill(self, fill: OrderFilled) -> LedgerEntry | None:
        """Book one fill (see :meth:`apply`); a duplicate ``trade_id`` returns ``None``."""
        if fill.trade_id in self._trade_ids:
            return None
        if fill.instrument.quote is not self.quote:
            raise LedgerError(
                f"fill {fill.trade_id} is in {fill.instrument.quote.value}, the ledger in "
                f"{self.quote.value}",
                reason_code=reasons.LEDGER_CURRENCY_MISMATCH,
            )
        base = fill.instrument.base
        held = self._positions.get(base)
        realized = _ZERO
        if fill.side is Side.BUY:
            cash_delta = -(fill.notional + fill.fee)
            quantity = fill.quantity + (held.quantity if held else _ZERO)
            cost = fill.notional + fill.fee + (held.cost_basis if held else _ZERO)
            new_position: Position | None = Position(base, quantity, cost)
        else:
            if held is None or fill.quantity > held.quantity:
                have = held.quantity if held else _ZERO
                raise LedgerError(
                    f"sell of {fill.quantity} {base} exceeds the {have} held (no shorting)",
                    reason_code=reasons.LEDGER_SHORT_POSITION,
                )
            cash_delta = fill.notional - fill.fee
            remaining = held.quantity - fill.quantity
            removed = held.cost_basis
            if remaining:
                share = held.cost_basis * fill.quantity / held.quantity
                removed = share.quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)
            realized = cash_delta - removed
            new_position = (
                Position(base, remaining, held.cost_basis - removed) if remaining else None
            )
        if self._cash + cash_delta < 0:
            raise InsufficientCashError(
                f"fill {fill.trade_id} needs {-cash_delta} {self.quote.value}, cash is "
                f"{self._cash}; refused"
            )
        # Every check passed: now, and only now, change state.
        self._cash += cash_delta
        self._fees += fill.fee
        self._realized += realized
        self._trade_ids.add(fill.trade_id)
        if new_position is None:
            del self._positions[base]
        else:
            self._positions[base] = new_position
        self._positions_view = None
        self._marks.setdefault(base, fill.price)
        entry = LedgerEntry(
            len(self._entries) + 1, EntryKind.FILL, fill.ts_event, cash_delta, realized, fill
        )
        return self._append(entry)

    def mark(self, prices: Mapping[str, Decimal]) -> None:
        """Update mark prices (base -> price) and the peak PV. Marks are not entries."""
        marks = self._marks
        for base, price in prices.items():
            # A finite Decimal is what to_decimal would return unchanged; skip the call.
            exact = type(price) is Decimal and price.is_finite()
            marks[base] = price if exact else to_decimal(price)
        self._peak = max(self._peak, self.portfolio_value())

    @classmethod
    def replay(cls, quote: QuoteCurrency | str, entries: Iterable[LedgerEntry]) -> Ledger:
        """Rebuild a ledger by folding ``entries`` again (marks and peak aside).

        Raises:
            LedgerError: an entry cannot be folded (the same checks as when it was booked).
        """
        ledger = cls(quote)
        for entry in entries:
            if entry.fill is not None:
                ledger.apply_fill(entry.fill)
            elif entry.kind is EntryKind.CARRY:
                ledger._open(entry.cash_delta, entry.positions, entry.ts_event)
            elif entry.kind is EntryKind.DEPOSIT:
                ledger.deposit(entry.cash_delta, ts_ns=entry.ts_event)
            else:
                ledger.withdraw(-entry.cash_delta, ts_ns=entry.ts_event)
        return ledger

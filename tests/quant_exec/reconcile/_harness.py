"""A session that crashes on cue, and its restart from the journal it left on disk.

The venue outlives the process (as an exchange does): the crashed session is thrown away,
the journal file is what it had made durable, and a new session opens with
:func:`~quant_exec.session.carry_from_log` of that journal, reconciles with the same venue and
trades on. Kill points (RT-01): ``"a"`` after the intent is journaled, before sending;
``"b"`` after sending, before the venue's answer reaches the session; ``"c"`` after the
answer, before it is journaled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from pathlib import Path

from tests.quant_exec.kraken.venue._harness import Rig, kraken_rig

from quant_core import Bar, SimClock
from quant_exec.decisions import read_log
from quant_exec.orders import Order, OrderEvent, OrderFilled, OrderState
from quant_exec.session import (
    BacktestConfig,
    CarryOver,
    ReconcilePolicy,
    TradingSession,
    carry_from_log,
    example_inputs,
)
from quant_exec.venues import ExecutionVenue, PaperBroker, Throttle
from quant_exec.venues.kraken.fake import FakeKraken

T0 = 1_704_067_200 * 10**9
"""The first example bar's open: where the Kraken rig's clock starts."""


class CrashError(Exception):
    """The process dies here."""


class CrashingVenue:
    """A venue wrapper that kills the session at point ``"b"`` or ``"c"`` of its first submit."""

    def __init__(self, inner: ExecutionVenue, point: str) -> None:
        self.inner, self.point, self.armed = inner, point, False
        self.last_bar_ns = -1  # the open time of the last bar the venue worked

    @property
    def throttle(self) -> Throttle:
        return self.inner.throttle

    def _check(self) -> None:
        if self.armed:
            raise CrashError("after the answer, before the journal")

    def submit(self, order: Order) -> Sequence[OrderEvent]:
        self._check()
        events = self.inner.submit(order)
        if self.point == "b":
            raise CrashError("after sending, before the answer")
        self.armed = self.point == "c"
        return events

    def cancel(self, client_order_id: str) -> Sequence[OrderEvent]:
        self._check()
        return self.inner.cancel(client_order_id)

    def query(self, client_order_id: str) -> OrderState | None:
        self._check()
        return self.inner.query(client_order_id)

    def open_orders(self) -> Sequence[OrderState]:
        self._check()
        return self.inner.open_orders()

    def balances(self) -> Mapping[str, Decimal]:
        self._check()
        return self.inner.balances()

    def trades_since(self, after_trade_id: str | None) -> Sequence[OrderFilled]:
        self._check()
        return self.inner.trades_since(after_trade_id)

    def poll(self) -> Sequence[OrderEvent]:
        self._check()
        return self.inner.poll()

    def on_bar(self, bar: Bar, *, cash_available: Decimal | None = None) -> Sequence[OrderEvent]:
        self._check()
        self.last_bar_ns = bar.open_time_ns
        return self.inner.on_bar(bar, cash_available=cash_available)


def paper_broker(clock: SimClock, config: BacktestConfig) -> PaperBroker:
    """The paper venue the example session trades on."""
    return PaperBroker(
        clock,
        fees=config.fees,
        slippage=config.slippage,
        latency_ns=config.latency_ns,
        seed=config.seed,
        max_volume_share=config.max_volume_share,
        venue=config.venue,
        balances={"USD": config.initial_cash},
    )


class Journal:
    """The journal file: a session's log bytes as made durable (and a kill at point ``a``)."""

    def __init__(self, path: Path, crash_before_send: bool = False) -> None:
        self.path, self.crash = path, crash_before_send
        self.session: TradingSession | None = None
        self.base = path.read_bytes() if path.exists() else b""

    def bind(self, session: TradingSession) -> TradingSession:
        self.session = session
        return session

    def write(self) -> None:
        """Make the session's lines so far durable (as the runtime's writer does)."""
        assert self.session is not None
        self.path.write_bytes(self.base + self.session.log.to_bytes())

    def flush(self) -> None:
        """The session's journal hook: durable, then (at kill point ``a``) the crash."""
        self.write()
        if self.crash:
            raise CrashError("after the intent is journaled, before sending")


def grouped(n_bars: int = 72) -> list[list[Bar]]:
    """The example bars grouped by close time."""
    feed, _ = example_inputs(n_bars=n_bars)
    by_time: dict[int, list[Bar]] = {}
    for bar in feed.bars(0, 2**62):
        by_time.setdefault(bar.open_time_ns, []).append(bar)
    return [by_time[t] for t in sorted(by_time)]


def new_session(
    clock: SimClock,
    venue: ExecutionVenue,
    journal: Journal,
    carry: CarryOver | None = None,
    policy: ReconcilePolicy | None = None,
) -> TradingSession:
    feed, predictor = example_inputs(n_bars=72)
    session = journal.bind(
        TradingSession(
            feed.instruments,
            feed.timeframe,
            predictor,
            BacktestConfig.defaults(),
            venue=venue,
            clock=clock,
            carry=carry,
            journal=journal.flush,
            policy=policy,
        )
    )
    journal.write()  # the header (and its carry) is on disk before anything is sent
    return session


def crash_run(
    path: Path, point: str, clock: SimClock | None = None, inner: ExecutionVenue | None = None
) -> tuple[SimClock, PaperBroker, list[list[Bar]], int]:
    """Run the example session until its first order crashes it at ``point``.

    ``inner`` is the venue (default: a paper broker on a fresh clock). Returns the clock, the
    paper broker (or the default one, unused), the bars by time and the index of the first
    group the venue has not worked (where the restarted session goes on).
    """
    clock = clock or SimClock()
    broker = paper_broker(clock, BacktestConfig.defaults())
    venue = CrashingVenue(inner or broker, point)
    session = new_session(clock, venue, Journal(path, crash_before_send=point == "a"))
    groups = grouped()
    for group in groups:
        try:
            session.on_bars(group)
        except CrashError:
            break
    else:
        raise AssertionError("the example run made no order")
    resume = next(i for i, g in enumerate(groups) if g[0].open_time_ns > venue.last_bar_ns)
    return clock, broker, groups, resume


def restart(
    path: Path,
    clock: SimClock,
    venue: ExecutionVenue,
    at_ns: int,
    policy: ReconcilePolicy | None = None,
) -> TradingSession:
    """A new session from the journal at ``path``, reconciled with ``venue`` at ``at_ns``."""
    carry = carry_from_log(read_log(path)[-1])
    clock.advance_to(at_ns)
    return new_session(clock, venue, Journal(path), carry, policy)


def feed(session: TradingSession, groups: Sequence[Sequence[Bar]]) -> None:
    """Hand ``groups`` to ``session``, each seen at its close or now, whichever is later."""
    for group in groups:
        close = group[0].close_time_ns
        session.on_bars(group, now_ns=max(close, session.clock.now_ns()))


@contextlib.contextmanager
def funded_rig(directory: Path) -> Iterator[Rig]:
    """The fake Kraken exchange on 127.0.0.1, its account funded as the session's ledger."""
    clock = SimClock(T0)
    fake = FakeKraken(clock)
    fake.book.add_pair("XBTUSD", "XXBT", "ZUSD", Decimal("40000"))
    fake.book.add_pair("ETHUSD", "XETH", "ZUSD", Decimal("2000"))
    fake.book.balances["ZUSD"] = BacktestConfig.defaults().initial_cash
    with kraken_rig(clock, directory, fake) as running:
        yield running


def ledger_account(session: TradingSession) -> dict[str, Decimal]:
    """The session's ledger as an account: cash and each holding."""
    ledger = session.ledger
    return {"USD": ledger.cash, **{b: p.quantity for b, p in ledger.positions.items()}}


def kraken_account(rig: Rig) -> dict[str, Decimal]:
    """The fake exchange's account in the session's asset codes (empty holdings left out)."""
    names = {"ZUSD": "USD", "XXBT": "BTC", "XETH": "ETH"}
    balances = rig.fake.book.balances
    return {names[k]: v for k, v in balances.items() if v or k == "ZUSD"}

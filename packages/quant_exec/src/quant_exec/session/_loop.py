"""The trading session: one loop for backtest, paper and live (see :mod:`quant_exec.session`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from quant_core import Bar, Instrument, SimClock, Timeframe
from quant_core.events import Prediction, Predictor
from quant_exec import reasons
from quant_exec.decisions._log import Action, DecisionLog, DecisionRecord, RiskChange, Trigger
from quant_exec.errors import EngineInputError, LedgerError, OrderError
from quant_exec.ledger._books import Ledger, PortfolioSnapshot, Position
from quant_exec.orders._model import (
    Order,
    OrderEvent,
    OrderFilled,
    OrderState,
    OrderStatus,
    Side,
    apply,
    new_state,
)
from quant_exec.risk._gates import Approved, RiskContext, check_order
from quant_exec.risk._killswitch import KillSwitch, KillSwitchState
from quant_exec.session._book import Book
from quant_exec.session._config import BacktestConfig
from quant_exec.session._controls import SessionControls
from quant_exec.session._restart import ReconcilePolicy, paper_venue, reconcile
from quant_exec.session._result import BacktestResult, FillRecord, session_result
from quant_exec.session._safety import SessionGuard, fill_record, pull_orders, verify_pulled
from quant_exec.strategy._decide import Evaluation, Intent, MarketContext, StrategyMemo, decide
from quant_exec.venues._protocol import ExecutionVenue

if TYPE_CHECKING:
    from quant_exec.session._restart import CarryOver, Reconciliation

ENGINE_VERSION = "quant_exec.engine/2"
"""The decision log contract the session header names.

``/2`` added the ``order`` and ``risk`` lines and the header's ``execution`` settings.
"""
_ZERO = Decimal(0)


class TradingSession(SessionControls):
    """One trading session's engine state: feed it bar closes in event order.

    :func:`run_backtest` drives a session over a feed. A paper session drives the same object
    from live bars: it advances the session's clock to the wall-clock time each bar close was
    observed (``now_ns``), so decisions, orders and broker latency are stamped in real time
    while the strategy, risk gates, broker and ledger code is exactly the backtest's.

    Args:
        instruments: the instruments traded (one quote currency).
        timeframe: the bar length.
        predictor: the predictions.
        config: profiles, cash, fees, venue rules, dataset hash.
        venue: where approved orders go (default: a
            :class:`~quant_exec.venues.PaperBroker` on ``clock`` built from the config).
        clock: the session clock (default: a :class:`~quant_core.SimClock` at 0).
        kill_switch: halts new risk while engaged.
        header: extra keys for the decision log's session header (a paper session names its
            run there); they cannot replace the engine's own keys.
        carry: an earlier run's books and unfinished orders to open with (a restart; the
            header's ``carry`` key says so), then :meth:`reconcile` with the venue.
        journal: called after an intent's decision line is logged and before its order is
            sent (a live or paper runtime makes the log durable there).
        policy: the age limits of :meth:`reconcile`.

    Raises:
        EngineInputError: no instruments, several quote currencies, an instrument without
            venue rules, or a ``header`` key the engine writes itself.

    Examples:
        >>> from quant_exec.session import example_bars, example_predictions
        >>> from quant_exec.session import RecordedPredictor
        >>> from quant_core import Timeframe
        >>> bars = example_bars(n_bars=30)
        >>> session = TradingSession(sorted({b.instrument for b in bars}), Timeframe.H1,
        ...                          RecordedPredictor(example_predictions(bars)),
        ...                          BacktestConfig.defaults())
        >>> first = [b for b in bars if b.open_time_ns == bars[0].open_time_ns]
        >>> session.on_bars(first, now_ns=first[0].close_time_ns + 2 * 10**9)  # seen 2 s late
        >>> [r.ts_ns - first[0].close_time_ns for r in session.log.records]
        [2000000000, 2000000000]
    """

    def __init__(
        self,
        instruments: Sequence[Instrument],
        timeframe: Timeframe,
        predictor: Predictor,
        config: BacktestConfig,
        *,
        venue: ExecutionVenue | None = None,
        clock: SimClock | None = None,
        kill_switch: KillSwitch | None = None,
        header: Mapping[str, Any] | None = None,
        carry: CarryOver | None = None,
        journal: Callable[[], object] | None = None,
        policy: ReconcilePolicy | None = None,
    ) -> None:
        instruments = sorted(instruments, key=lambda i: (i.base, i.quote.value))
        quotes = {i.quote for i in instruments}
        if len(quotes) != 1:
            raise EngineInputError(
                f"a session needs instruments in one quote currency, got {len(quotes)}"
            )
        clock = clock or SimClock()
        quote = quotes.pop()
        self.predictor, self.config, self.clock = predictor, config, clock
        self.venue: ExecutionVenue = venue or paper_venue(config, clock, quote.value, carry)
        self.journal, self.policy = journal, policy or ReconcilePolicy()
        self.memo = StrategyMemo()  # the strategy's derived values, this session's own
        self.kill_switch = kill_switch
        self.bar_ns = timeframe.ns
        self.books: dict[Instrument, Book] = {}
        for instrument in instruments:
            rules = config.venue.for_instrument(instrument)
            if rules is None:
                raise EngineInputError(f"the venue has no trading rules for {instrument}")
            self.books[instrument] = Book(instrument, rules.lot_size)
        self.bars_seen = 0
        self.ledger = (
            Ledger(quote, config.initial_cash)
            if carry is None
            else Ledger.carried(quote, carry.cash, carry.positions, ts_ns=clock.now_ns())
        )
        self.profile = config.strategy.profile
        self.label = config.profile_label()
        self.session: dict[str, Any] = {
            "engine": ENGINE_VERSION,
            "model_id": predictor.model_id,
            "horizons_ns": list(predictor.horizons_ns),
            "dataset_hash": config.dataset_hash,
            "profile": self.label,
            "strategy_profile": config.strategy.to_record(),
            "risk_profile": config.risk.to_record(),
            "initial_cash": config.initial_cash,
            "instruments": [str(i) for i in instruments],
            "timeframe": timeframe.value,
            "execution": config.execution_record(instruments),
            **({} if carry is None else {"carry": carry.to_record()}),
        }
        if header:
            clash = sorted(set(header) & set(self.session))
            if clash:
                raise EngineInputError(f"the session header already has {clash}")
            self.session.update(header)
        self.log = DecisionLog(self.session)
        self.history: dict[Instrument, list[Bar]] = {i: b.history for i, b in self.books.items()}
        self.latest: dict[Instrument, Prediction] = {}
        self.orders: dict[str, OrderState] = {}  # working orders only (and carried intents)
        self.done: dict[str, OrderState] = {}
        self.order_reason: dict[str, str] = {}
        self.sequence = 0 if carry is None else carry.sequence
        self.last_trade_id = None if carry is None else carry.last_trade_id
        self.carried = carry is not None  # a fresh session opens at the venue's state
        for state in carry.orders if carry is not None else ():
            self.orders[state.client_order_id] = state
            self.order_reason[state.client_order_id] = state.order.tag
        self._pulled: list[str] = []  # orders the kill switch pulled, not yet verified gone
        self.stale: dict[Instrument, str] = {}  # instrument -> why its market data is stale
        self.equity: list[tuple[int, Decimal]] = []
        self.closes: dict[str, list[tuple[int, Decimal]]] = {
            b.name: b.closes for b in self.books.values()
        }
        self.fills: list[FillRecord] = []
        self.rejections = 0
        self.guard = SessionGuard()  # instrument halts and unreconciled fills (``_safety``)
        # The ledger snapshot of the current event time, made when the first intent of that
        # time needs one for the risk gates (``None``: not made yet; see ``_snapshot``).
        self._snap: PortfolioSnapshot | None = None
        # The kill switch's records already logged, and the state they left (it is replaced
        # on every engage or release, so an identity check finds a change).
        self._kill_logged = 0
        self._kill_seen = kill_switch.state if kill_switch is not None else None

    # --- orders and fills ---------------------------------------------------------------

    def _apply(self, event: OrderEvent) -> bool:
        oid = event.client_order_id
        if isinstance(event, OrderFilled):
            self.last_trade_id = event.trade_id
        current = self.orders.get(oid) or self.done.get(oid)  # a fill may follow a cancel
        try:
            state = apply(current, event) if current is not None else None
        except OrderError as error:  # never a crash (see ``_safety``): flagged and logged
            return self._refused(oid, current, event, error)
        if state is None:
            return self._refused(oid, current, event, None)
        # ``apply`` returns the state itself only for a fill it already has (by trade id).
        self.log.add_order(self.clock.now_ns(), event, state.status, duplicate=state is current)
        if state.is_open:
            self.orders[oid] = state
        else:  # done: it no longer reserves cash, quantity or exposure
            self.orders.pop(oid, None)
            self.done[oid] = state
        if not isinstance(event, OrderFilled):
            return False
        try:
            booked = self.ledger.apply(event) is not None
        except LedgerError as error:  # the venue filled what the ledger cannot fold
            return self.guard.unbooked(self.log, self.clock.now_ns(), event, error)
        if booked:
            self.fills.append(fill_record(event, self.order_reason[oid]))
        return booked

    def _refused(
        self, oid: str, current: OrderState | None, event: OrderEvent, error: OrderError | None
    ) -> bool:
        log, ledger, now = self.log, self.ledger, self.clock.now_ns()
        state, booked = self.guard.refused(log, ledger, now, current, event, error, self.fills)
        if state is not None:  # an overfilled order is done
            self.orders.pop(oid, None)
            self.done[oid] = state
        return booked

    def _working(self, instrument: Instrument) -> bool:
        return any(s.order.instrument == instrument for s in self.orders.values())

    def _kill_state(self) -> KillSwitchState:
        return self.kill_switch.state if self.kill_switch is not None else KillSwitchState()

    def _snapshot(self) -> PortfolioSnapshot:
        """The ledger snapshot every risk check of the current event time reads.

        Made lazily, on the first intent of the event time: only an approved order's venue
        events change the ledger, and those come after that first check, so the snapshot is
        the one that would have been taken before any evaluation. Most bars have no intent
        and so copy no marks.
        """
        snap = self._snap
        if snap is None:
            snap = self._snap = self.ledger.snapshot()
        return snap

    def catch_up(self, now_ns: int) -> None:
        """Book the venue's news now, between bars (an execution arrived on a live stream).

        Args:
            now_ns: the session's time (never behind its clock).
        """
        self._catch_up(now_ns)

    def _catch_up(self, now_ns: int) -> None:
        """Move the clock to ``now_ns`` and book the venue events that fell due by then."""
        self.clock.advance_to(now_ns)
        for event in self.venue.poll():
            self._apply(event)
        if self._pulled:
            self._pulled = verify_pulled(self.venue, self.log, self.clock.now_ns(), self._pulled)

    def reconcile(self) -> Reconciliation:
        """Reconcile with the venue on start: adopt, resend once, or flag (decision 0101).

        Call it before the first bar: the venue's view of each carried order, its fills
        since the last trade seen, its working orders and balances against the session's
        books; each finding a ``risk`` line with its reason code. Nothing is sent twice.
        """
        return reconcile(self, self.policy)

    def _note_kill_switch(self, now_ns: int) -> None:
        """Log the kill switch's engages and releases since the last look (one line each).

        When the switch is engaged, the session's working orders are pulled as well (a
        cancel request for each, in the order they were made; fills that reach the venue
        first still count), listed under the engage line's ``cancel_requested``; then the
        venue's open orders verify the cancels (a ``kill_switch_verify`` risk line,
        ``KILL_SWITCH_VERIFIED`` or ``KILL_SWITCH_CANCEL_PENDING`` until they are gone).
        """
        switch = self.kill_switch
        if switch is None or switch.state is self._kill_seen:
            return
        self._kill_seen = switch.state
        records = switch.records
        working = self.orders.items() if switch.engaged else ()
        pulled = [oid for oid, state in working if state.status is not OrderStatus.INITIALIZED]
        for i, record in enumerate(records[self._kill_logged :], start=self._kill_logged):
            details: dict[str, Any] = {"kill_switch": record.to_audit()}
            if i == len(records) - 1 and pulled:
                details["cancel_requested"] = pulled
            self.log.add_risk(now_ns, RiskChange.KILL_SWITCH, details)
        self._kill_logged = len(records)
        if pulled:
            pull_orders(self.venue, pulled, self._apply)
            self._pulled = verify_pulled(self.venue, self.log, now_ns, pulled)

    # --- one evaluation -----------------------------------------------------------------

    def _evaluate(
        self,
        instrument: Instrument,
        book: Book,
        trigger: Trigger,
        ts: int,
        new_bar: bool,
        valuation: tuple[Decimal, Mapping[str, Position], Decimal],
    ) -> None:
        """Evaluate ``instrument`` on the event time's ``(cash, positions, PV)``."""
        cash, positions, portfolio_value = valuation
        position = book.position_view(positions.get(instrument.base))
        context = MarketContext(
            book.history[-1].close,
            portfolio_value,
            cash,
            book.lot,
            bool(self.orders) and self._working(instrument),  # most bars: nothing is working
        )
        prediction = self.latest.get(instrument)
        outcome = decide(
            book.state, position, context, prediction, self.profile, new_bar=new_bar, memo=self.memo
        )
        book.state = outcome.state
        if outcome.intent is None:  # "no action", most evaluations: logged here, in one call
            model_id = prediction.model_id if prediction is not None else None
            codes = (outcome.reason_code,)
            self.log.add(ts, trigger, book.name, Action.NONE, codes, self.label, outcome.inputs,
                         None, None, model_id)  # fmt: skip
            return
        self._act(instrument, book.name, trigger, ts, outcome, outcome.intent, prediction)

    def _act(
        self,
        instrument: Instrument,
        name: str,
        trigger: Trigger,
        ts: int,
        outcome: Evaluation,
        intent: Intent,
        prediction: Prediction | None,
    ) -> None:
        """Check ``intent`` with the risk gates; submit it if approved; log either way."""
        log = self.log
        model_id = prediction.model_id if prediction is not None else None
        self.sequence += 1
        order = Order.create(
            instrument,
            intent.side,
            intent.quantity,
            ts_init=ts,
            sequence=self.sequence,
            profile_version=self.config.risk.version,
            tag=intent.reason_code,
        )
        context = RiskContext(
            profile=self.config.risk,
            portfolio=self._snapshot(),
            kill_switch=self._kill_state(),
            venue=self.config.venue,
            clusters=self.config.clusters,
            fees=self.config.fees,
            open_orders=tuple(self.orders.values()),
            market_buffer_bps=self.config.market_buffer_bps,
        )
        refusal = self.guard.halted.get(instrument)  # EXTERNAL_FILL / OVERFILL halts it
        if refusal is None and order.side is Side.BUY:  # stale market data: exits only
            refusal = self.stale.get(instrument)
        if refusal is None:
            decision = check_order(order, context)
            refusal = None if isinstance(decision, Approved) else decision.reason_code
        if refusal is not None:
            self.rejections += 1
            log.add(
                ts,
                trigger,
                name,
                Action.REJECTED,
                (outcome.reason_code, refusal),
                self.label,
                outcome.inputs,
                quantity=intent.quantity,
                model_id=model_id,
            )
            return
        # The decision goes in the log before the venue's answer to it (its order lines).
        oid = order.client_order_id
        self.orders[oid] = new_state(order)
        self.order_reason[oid] = intent.reason_code
        log.add(
            ts,
            trigger,
            name,
            intent.side,
            (outcome.reason_code,),
            self.label,
            outcome.inputs,
            quantity=intent.quantity,
            order_id=oid,
            model_id=model_id,
        )
        if self.journal is not None:  # the intent is durable before the order leaves
            self.journal()
        for event in self.venue.submit(order):
            self._apply(event)

    # --- the loop -----------------------------------------------------------------------

    def heartbeat(self, now_ns: int) -> None:
        """A liveness heartbeat at ``now_ns``: re-evaluate the open positions.

        Each is evaluated on its latest prediction; with nothing held the heartbeat logs
        ``HEARTBEAT_IDLE``. Acknowledgements and cancels that fell due are booked first.
        """
        self._catch_up(now_ns)
        self._note_kill_switch(now_ns)
        held = [i for i in self.history if self.ledger.positions.get(i.base) is not None]
        if not held:
            self.log.append(
                DecisionRecord(
                    ts_ns=now_ns,
                    trigger=Trigger.HEARTBEAT,
                    instrument=None,
                    action=Action.NONE,
                    reason_codes=(reasons.HEARTBEAT_IDLE,),
                    profile=self.label,
                    inputs={},
                )
            )
        self._snap = None
        if held:
            valuation = self.ledger.valuation()
            for instrument in held:
                book = self.books[instrument]
                self._evaluate(instrument, book, Trigger.HEARTBEAT, now_ns, False, valuation)

    def warm(self, bars: Sequence[Bar]) -> None:
        """Give the predictor history before the session starts: ``bars`` are not evaluated.

        A paper session loads the bars its features look back on from the store this way, so
        its first live bar is predicted on the same history a backtest would have seen. No
        decision is logged, nothing is marked or traded.

        Args:
            bars: closed bars of the session's instruments, oldest first per instrument.

        Raises:
            EngineInputError: a bar was already processed, an instrument is unknown, or an
                instrument's bars are not in open-time order (after any it already has).

        Examples:
            >>> from quant_exec.session import example_inputs
            >>> feed, predictor = example_inputs(n_bars=30)
            >>> session = TradingSession(feed.instruments, feed.timeframe, predictor,
            ...                          BacktestConfig.defaults())
            >>> session.warm(list(feed.bars(0, 2**62))[:10])
            >>> session.bars_seen, len(session.log.records)
            (0, 0)
        """
        if self.bars_seen:
            raise EngineInputError("warm up a session before its first bar")
        last = {i: b.history[-1].open_time_ns for i, b in self.books.items() if b.history}
        for bar in bars:  # all checked before any is kept: a refused call changes nothing
            if bar.instrument not in self.books:
                raise EngineInputError(f"warm-up bar of unknown {bar.instrument}")
            if last.get(bar.instrument, -1) >= bar.open_time_ns:
                raise EngineInputError(f"warm-up bars of {bar.instrument} are out of order")
            last[bar.instrument] = bar.open_time_ns
        for bar in bars:
            self.books[bar.instrument].history.append(bar)

    def on_bars(self, bars: Sequence[Bar], *, now_ns: int | None = None) -> None:
        """Process the bars that closed at one instant.

        Args:
            bars: bars of distinct instruments, all closing at the same time, in event order.
            now_ns: when they were observed (default: their close time; never earlier).

        Raises:
            EngineInputError: no bars, bars closing at different times, an unknown instrument,
                or ``now_ns`` before the close.
        """
        # One pass validates the bars and finds each one's book (a single lookup per bar).
        bar_ns, books = self.bar_ns, self.books
        work: list[tuple[Bar, Book]] = []
        prices: dict[str, Decimal] = {}
        unknown: list[Instrument] = []
        ts: int | None = None
        mixed = False
        for bar in bars:
            close = bar.open_time_ns + bar_ns
            if ts is None:
                ts = close
            mixed = mixed or close != ts
            book = books.get(bar.instrument)
            if book is None:
                unknown.append(bar.instrument)
            else:
                work.append((bar, book))
                prices[bar.instrument.base] = bar.close
        if ts is None or mixed:
            raise EngineInputError("on_bars needs bars that all close at one time")
        now = ts if now_ns is None else now_ns
        if unknown or now < ts:
            raise EngineInputError(f"bars of unknown {unknown} or observed before their close")
        self._catch_up(now)
        venue, ledger, apply_event = self.venue, self.ledger, self._apply
        filled: set[Instrument] = set()
        for bar, book in work:
            for event in venue.on_bar(bar, cash_available=ledger.cash):
                if apply_event(event):
                    filled.add(bar.instrument)
            book.history.append(bar)
            book.closes.append((ts, bar.close))
        self.bars_seen += len(work)
        ledger.mark(prices)
        latest = self.latest
        for prediction in self.predictor.predict(ts, self.history):
            latest[prediction.instrument] = prediction
        # Only fills change the ledger, and they all came above: one valuation (and one
        # snapshot, made for the first intent) serves every evaluation at this event time
        # (working orders go to the gates apart).
        valuation = ledger.valuation()
        self._snap = None
        if self.kill_switch is not None:  # the common case skips the call on this per-bar path
            self._note_kill_switch(now)
        evaluate = self._evaluate
        for bar, book in work:
            instrument = bar.instrument
            trigger = Trigger.FILL if filled and instrument in filled else Trigger.BAR
            evaluate(instrument, book, trigger, now, True, valuation)
        self.equity.append((ts, valuation[2]))

    def result(self) -> BacktestResult:
        """The session so far: decision log, equity, closes, fills, metrics.

        Raises:
            EngineInputError: no bars were processed.
        """
        if self.bars_seen == 0:
            raise EngineInputError("no bars were processed")
        return session_result(self)

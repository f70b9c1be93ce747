"""The session's controls between bars: a risk change, and market data marked stale (internal).

:class:`SessionControls` is the part of :class:`~quant_exec.session.TradingSession` an
operator or a live data feed calls between bars: :meth:`~SessionControls.on_risk_change` (a
kill-switch change or a newer profile: logged, then every instrument re-evaluated) and
:meth:`~SessionControls.market_stale` (no new risk on a pair whose market data cannot be
trusted; decision 0113). The state they touch is the session's own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from quant_core import Instrument, SimClock
from quant_core.profiles import ProfileVersion, RiskProfile, StrategyProfile
from quant_exec.decisions._log import DecisionLog, RiskChange, Trigger
from quant_exec.errors import EngineInputError
from quant_exec.ledger._books import Ledger, PortfolioSnapshot
from quant_exec.session._book import Book
from quant_exec.session._config import BacktestConfig

if TYPE_CHECKING:
    from collections.abc import Mapping
    from decimal import Decimal

    from quant_exec.ledger._books import Position

__all__ = ["MARKET_STALE", "SessionControls"]

MARKET_STALE = "market_stale"
"""The ``change`` of a risk line that marks an instrument's market data stale or valid."""


class SessionControls:
    """The controls between bars that :class:`~quant_exec.session.TradingSession` mixes in."""

    books: dict[Instrument, Book]
    stale: dict[Instrument, str]
    log: DecisionLog
    config: BacktestConfig
    clock: SimClock
    ledger: Ledger
    label: str
    profile: StrategyProfile
    _snap: PortfolioSnapshot | None

    if TYPE_CHECKING:

        def _catch_up(self, now_ns: int) -> None: ...

        def _note_kill_switch(self, now_ns: int) -> None: ...

        def _evaluate(
            self,
            instrument: Instrument,
            book: Book,
            trigger: Trigger,
            ts: int,
            new_bar: bool,
            valuation: tuple[Decimal, Mapping[str, Position], Decimal],
        ) -> None: ...

    def market_stale(
        self, instrument: Instrument, stale: bool, reason: str, *, now_ns: int
    ) -> bool:
        """Mark ``instrument``'s market data stale (no new risk on it) or valid again.

        While it is stale every buy intent on it is refused with ``reason`` (a ``rejected``
        decision); sells (exits) still go, as they reduce risk. Each change is one ``risk``
        line (``change: "market_stale"``, the instrument, ``stale`` and ``reason_code``); a
        call that changes nothing logs nothing, so a session whose data is never stale logs
        exactly what it did before.

        Args:
            instrument: one of the session's instruments.
            stale: whether its market data is stale now.
            reason: the reason code (``MARKET_DATA_STALE`` / ``MARKET_DATA_VALID``).
            now_ns: when the session saw the change (its clock).

        Returns:
            Whether the state changed (a line was logged).

        Raises:
            EngineInputError: ``instrument`` is not traded by the session.

        Examples:
            >>> from quant_core import Timeframe
            >>> from quant_exec import reasons
            >>> from quant_exec.session import RecordedPredictor, example_bars
            >>> from quant_exec.session import BacktestConfig, TradingSession, example_predictions
            >>> bars = example_bars(n_bars=30)
            >>> btc = bars[0].instrument
            >>> session = TradingSession([btc], Timeframe.H1,
            ...                          RecordedPredictor(example_predictions(bars)),
            ...                          BacktestConfig.defaults())
            >>> session.market_stale(btc, True, reasons.MARKET_DATA_STALE, now_ns=1)
            True
            >>> session.market_stale(btc, True, reasons.MARKET_DATA_STALE, now_ns=2)
            False
            >>> [(r["stale"], r["reason_code"]) for r in session.log.risk]
            [(True, 'MARKET_DATA_STALE')]
        """
        if instrument not in self.books:
            raise EngineInputError(f"the session does not trade {instrument}")
        if stale == (instrument in self.stale):
            return False
        if stale:
            self.stale[instrument] = reason
        else:
            del self.stale[instrument]
        details = {"instrument": str(instrument), "stale": stale, "reason_code": reason}
        self.log.add_risk(now_ns, MARKET_STALE, details)
        return True

    def on_risk_change(
        self,
        now_ns: int,
        *,
        strategy: ProfileVersion[StrategyProfile] | None = None,
        risk: ProfileVersion[RiskProfile] | None = None,
    ) -> None:
        """A risk change at ``now_ns``: log it and re-evaluate every instrument at once.

        Call it after engaging or releasing the kill switch, or with a newer version of the
        strategy or risk profile (a governed settings change). The new versions are logged as
        a ``risk`` line (``change: "profile"``, with the new label and both profile records)
        and apply from this moment: every later decision carries the new label, every later
        order the new risk version. Kill-switch engages and releases are logged as ``risk``
        lines too (``change: "kill_switch"``; a bar or heartbeat logs them as well, so none
        is missed). Then each instrument that has a bar is evaluated with trigger ``"risk"``
        on its latest prediction: a held position may be exited under the new thresholds,
        and an entry now allowed is made (or refused by the gates, with the reason).

        Args:
            now_ns: when the change took effect (not before the session's clock).
            strategy: a newer strategy profile version, if it changed.
            risk: a newer risk profile version, if it changed.

        Raises:
            EngineInputError: ``now_ns`` is before the session's clock, or a profile version
                is not newer than the active one.

        Examples:
            >>> from quant_core.profiles import ProfileHistory, RiskProfile
            >>> from quant_core import SimClock
            >>> from quant_exec.session import example_bars, example_predictions
            >>> from quant_core import Timeframe
            >>> from quant_exec.session import BacktestConfig, RecordedPredictor, TradingSession
            >>> bars = example_bars(n_bars=30)
            >>> config = BacktestConfig.defaults()
            >>> session = TradingSession(sorted({b.instrument for b in bars}), Timeframe.H1,
            ...                          RecordedPredictor(example_predictions(bars)), config)
            >>> session.on_bars([b for b in bars if b.open_time_ns == bars[0].open_time_ns])
            >>> history = ProfileHistory.create(RiskProfile(), author="ops", reason="defaults",
            ...                                 clock=SimClock(0))
            >>> newer = history.change({"max_concurrent_positions": 1}, author="ops",
            ...                        reason="fewer positions", clock=SimClock(1)).active
            >>> session.on_risk_change(session.clock.now_ns(), risk=newer)
            >>> [str(line["change"]) for line in session.log.risk]
            ['profile']
            >>> [str(r.trigger) for r in session.log.records][-2:], session.label.split(" / ")[1]
            (['risk', 'risk'], 'risk v2')
        """
        config = self.config
        if now_ns < self.clock.now_ns():
            raise EngineInputError("a risk change before the session's clock")
        for new, old in ((strategy, config.strategy), (risk, config.risk)):
            if new is not None and new.version <= old.version:
                raise EngineInputError(
                    f"profile version {new.version} is not newer than the active {old.version}"
                )
        self._catch_up(now_ns)
        if strategy is not None or risk is not None:
            self.config = config = attrs.evolve(
                config, strategy=strategy or config.strategy, risk=risk or config.risk
            )
            self.profile, self.label = config.strategy.profile, config.profile_label()
            details = {
                "profile": self.label,
                "strategy_profile": config.strategy.to_record(),
                "risk_profile": config.risk.to_record(),
            }
            self.log.add_risk(now_ns, RiskChange.PROFILE, details)
        self._note_kill_switch(now_ns)
        self._snap = None
        valuation = self.ledger.valuation()
        for instrument, book in self.books.items():
            if book.history:
                self._evaluate(instrument, book, Trigger.RISK, now_ns, False, valuation)

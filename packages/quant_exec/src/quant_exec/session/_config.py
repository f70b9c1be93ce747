"""What a session runs under: :class:`BacktestConfig` (profiles, cash, costs, venue rules)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from quant_core import Instrument, SimClock, content_hash, structure, to_decimal, unstructure
from quant_core.errors import QuantError
from quant_core.profiles import (
    ProfileHistory,
    ProfileVersion,
    RiskProfile,
    StrategyProfile,
    version_from_record,
)
from quant_exec.errors import EngineInputError
from quant_exec.risk._clusters import DEFAULT_CLUSTERS, ClusterMap
from quant_exec.venues._fees import KRAKEN_SPOT_FEES, FeeSchedule
from quant_exec.venues._rules import KRAKEN_SPOT_RULES, VenueRulebook, VenueRules
from quant_exec.venues._slippage import SlippageModel

_SYSTEM_CLOCK_START = 0


def _positive_cash(_inst: object, _attr: object, value: Decimal) -> None:
    if value <= 0:
        raise EngineInputError(f"initial cash must be positive, got {value}")


def _version(profile: Any, name: str) -> Any:
    return ProfileHistory.create(
        profile, author="system", reason=f"{name} defaults", clock=SimClock(_SYSTEM_CLOCK_START)
    ).active


@attrs.frozen
class BacktestConfig:
    """What a backtest runs under (all of it goes into the decision log's session header).

    Attributes:
        strategy: the active strategy profile version.
        risk: the active risk profile version.
        initial_cash: starting cash in the quote currency.
        fees: the fee schedule (risk's cash gate reserves its taker fee).
        slippage: the paper broker's slippage model.
        latency_ns: the paper broker's one-way latency.
        max_volume_share: the largest share of a bar's volume filled per bar.
        seed: the paper broker's root seed (latency jitter, trade ids).
        venue: exchange rules (lot, tick, minimums).
        clusters: the asset clusters for cluster exposure.
        dataset_hash: the dataset's content hash, when the bars come from one.
        heartbeat_ns: a liveness heartbeat fires when no market event arrived for this long
            (``None``: no heartbeats).
        market_buffer_bps: headroom the cash gate keeps for a market buy's price move.
    """

    strategy: ProfileVersion[StrategyProfile]
    risk: ProfileVersion[RiskProfile]
    initial_cash: Decimal = attrs.field(
        default=Decimal(10_000), converter=to_decimal, validator=_positive_cash
    )
    fees: FeeSchedule = KRAKEN_SPOT_FEES
    slippage: SlippageModel = attrs.field(factory=SlippageModel)
    latency_ns: int = 0
    max_volume_share: Decimal = attrs.field(default=Decimal("0.1"), converter=to_decimal)
    seed: int = 0
    venue: VenueRulebook = KRAKEN_SPOT_RULES
    clusters: ClusterMap = DEFAULT_CLUSTERS
    dataset_hash: str | None = None
    heartbeat_ns: int | None = None
    market_buffer_bps: Decimal = attrs.field(default=Decimal(100), converter=to_decimal)

    @classmethod
    def defaults(cls, **overrides: Any) -> BacktestConfig:
        """The governed default profiles (as version 1 of each) and default settings."""
        return cls(
            strategy=_version(StrategyProfile(), "strategy"),
            risk=_version(RiskProfile(), "risk"),
            **overrides,
        )

    @classmethod
    def from_profiles(
        cls, strategy: StrategyProfile, risk: RiskProfile, **overrides: Any
    ) -> BacktestConfig:
        """Use explicit profiles (each becomes version 1 of its history)."""
        return cls(
            strategy=_version(strategy, "strategy"), risk=_version(risk, "risk"), **overrides
        )

    def execution_record(self, instruments: Sequence[Instrument]) -> dict[str, Any]:
        """The execution settings, as plain data: the session header's ``execution``.

        Venue rules and cluster names are those of ``instruments`` (what the session can
        trade); everything else is recorded whole, so :meth:`from_session` gives back a
        configuration that replays the session byte for byte.
        """
        bases = sorted({i.base for i in instruments})
        rules = {i.base: self.venue.for_instrument(i) for i in instruments}
        # Hand-shaped: the header records rules and clusters of the traded bases only, not the
        # whole rulebook and map the converter would write.
        return {
            "fees": unstructure(self.fees),
            "slippage": unstructure(self.slippage),
            "latency_ns": self.latency_ns,
            "max_volume_share": str(self.max_volume_share),
            "seed": self.seed,
            "venue": {b: unstructure(r) for b, r in sorted(rules.items()) if r is not None},
            "clusters": {b: self.clusters.cluster_of(b) for b in bases},
            "heartbeat_ns": self.heartbeat_ns,
            "market_buffer_bps": str(self.market_buffer_bps),
        }

    @classmethod
    def from_session(cls, header: Mapping[str, Any]) -> BacktestConfig:
        """The configuration a decision log's session header records (to replay the run).

        The inverse of what :class:`TradingSession` writes: both profile versions (values,
        author, reason, diff), the initial cash, the dataset hash and the ``execution``
        settings (:meth:`execution_record`).

        Raises:
            EngineInputError: ``ENGINE_INPUT_INVALID`` when the header lacks any of them or
                a value is refused (a log written before the header recorded its execution
                settings cannot be replayed from the log alone).

        Examples:
            >>> from quant_exec.session import example_inputs, run_backtest
            >>> config = BacktestConfig.defaults(latency_ns=10**9, seed=7)
            >>> result = run_backtest(*example_inputs(n_bars=48), config)
            >>> again = run_backtest(*example_inputs(n_bars=48),
            ...                      BacktestConfig.from_session(result.session))
            >>> again.log.to_bytes() == result.log.to_bytes()
            True
        """
        try:
            execution = header["execution"]
            return cls(
                strategy=version_from_record(header["strategy_profile"], StrategyProfile),
                risk=version_from_record(header["risk_profile"], RiskProfile),
                initial_cash=header["initial_cash"],
                fees=structure(execution["fees"], FeeSchedule),
                slippage=structure(execution["slippage"], SlippageModel),
                latency_ns=int(execution["latency_ns"]),
                max_volume_share=execution["max_volume_share"],
                seed=int(execution["seed"]),
                venue=VenueRulebook(
                    {b: structure(r, VenueRules) for b, r in execution["venue"].items()}
                ),
                clusters=ClusterMap(dict(execution["clusters"])),
                dataset_hash=header["dataset_hash"],
                heartbeat_ns=execution["heartbeat_ns"],
                market_buffer_bps=execution["market_buffer_bps"],
            )
        except (KeyError, TypeError, ValueError, AttributeError, QuantError) as exc:
            raise EngineInputError(
                f"the session header does not record a replayable configuration: {exc}"
            ) from None

    def profile_label(self) -> str:
        """``"strategy v<n> / risk v<n> / <hash of both>"``: goes into every decision."""
        digest = content_hash(
            {"strategy": self.strategy.to_record(), "risk": self.risk.to_record()}
        )
        return f"strategy v{self.strategy.version} / risk v{self.risk.version} / {digest}"

"""The training configuration: horizons, features, families, folds, calibration and gates."""

from __future__ import annotations

import json
import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

import attrs

from quant_core import content_hash, structure, unstructure
from quant_models._calibration import METHODS
from quant_models._errors import ConfigError
from quant_models.families._trees import FAMILIES, get_family
from quant_models.features import FeatureConfig
from quant_models.sequence._config import SequenceConfig
from quant_models.training._gates import GateConfig
from quant_models.training._targets import HorizonSpec

__all__ = [
    "SCOPES",
    "Combine",
    "EnsembleConfig",
    "FoldConfig",
    "FoldMode",
    "Scope",
    "TrainConfig",
    "load_config",
]


class Scope(StrEnum):
    """What one model covers: every coin (``global``) or one coin (``specialist``)."""

    GLOBAL = "global"
    SPECIALIST = "specialist"


class FoldMode(StrEnum):
    """How the walk-forward training range moves: it grows, or it slides at a fixed length."""

    EXPANDING = "expanding"
    SLIDING = "sliding"


class Combine(StrEnum):
    """What a run serves per horizon: the single best candidate, or the stacked ensemble."""

    BEST = "best"
    STACK = "stack"


SCOPES = tuple(Scope)
HEADS = ("auto", "stack", "average")
"""The choices of :attr:`EnsembleConfig.head`."""


def _combine(value: Any) -> Combine:
    try:
        return Combine(value)
    except ValueError:
        raise ConfigError(
            f"combine must be among {[c.value for c in Combine]}, got {value!r}"
        ) from None


def _mode(value: Any) -> FoldMode:
    try:
        return FoldMode(value)
    except ValueError:
        raise ConfigError(f"unknown walk-forward mode {value!r}") from None


def _scopes(value: Any) -> tuple[Scope, ...]:
    try:
        return tuple(Scope(v) for v in value)
    except ValueError:
        raise ConfigError(f"scopes must be among {[s.value for s in Scope]}, got {value}") from None


def _horizons(value: Any) -> tuple[HorizonSpec, ...]:
    return tuple(v if isinstance(v, HorizonSpec) else HorizonSpec(**v) for v in value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value)


def _sequences(value: Any) -> tuple[SequenceConfig, ...]:
    return tuple(v if isinstance(v, SequenceConfig) else SequenceConfig.from_dict(v) for v in value)


@attrs.frozen
class FoldConfig:
    """Walk-forward layout (sizes in bars).

    Attributes:
        n_folds: number of test blocks.
        test_size: bars per test block.
        embargo: bars dropped between training and test, on top of the purge (the longest
            horizon).
        mode: ``"expanding"`` or ``"sliding"``.
        min_train: shortest training range (exact length when sliding).
    """

    n_folds: int = 3
    test_size: int = 168
    embargo: int = 24
    mode: FoldMode = attrs.field(default=FoldMode.EXPANDING, converter=_mode)
    min_train: int = 500


@attrs.frozen
class EnsembleConfig:
    """How a ``combine = "stack"`` run builds its ensemble (decision 0118).

    Attributes:
        regime_window: bars of return history per regime feature row.
        regime_lookback: bars before ``t`` the regime filter starts from its prior to give
            the posterior at ``t`` (the same truncated filter in training and serving).
        meta_l2: the meta-learner's ridge toward the plain average of the member logits.
        bootstrap_block: bars per block of the block bootstrap of the evidence.
        bootstrap_draws: bootstrap resamples of the evidence's 95% intervals.
        head: each head's combiner (decision 0122): ``"auto"`` serves, per horizon and
            member group, whichever of the learned stack and the plain average of the
            members has the lower nested out-of-fold log loss (a tie serves the average);
            ``"stack"`` or ``"average"`` forces one.
    """

    regime_window: int = 24
    regime_lookback: int = 48
    meta_l2: float = 1e-3
    bootstrap_block: int = 168
    bootstrap_draws: int = 1000
    head: str = "auto"

    def __attrs_post_init__(self) -> None:
        """Refuse windows, blocks, draws or a head combiner that cannot work."""
        if self.regime_window < 2 or self.regime_lookback < 0:
            raise ConfigError("regime_window must be >= 2 and regime_lookback >= 0")
        if self.meta_l2 <= 0 or self.bootstrap_block < 1 or self.bootstrap_draws < 1:
            raise ConfigError("meta_l2 must be > 0; bootstrap block and draws >= 1")
        if self.head not in HEADS:
            raise ConfigError(f"head must be among {list(HEADS)}, got {self.head!r}")


@attrs.frozen
class TrainConfig:
    """A training run's configuration (JSON or TOML on disk; see :func:`load_config`).

    Attributes:
        horizons: forecast horizons, ascending.
        features: feature windows.
        families: model families to train (see :data:`quant_models.families.FAMILIES`).
        scopes: ``"global"`` and/or ``"specialist"``.
        params: per family, hyperparameter overrides (e.g. ``n_estimators``).
        folds: walk-forward layout.
        calibration_fraction: newest share of each training range used for calibration.
        calibration_methods: methods the out-of-sample choice considers.
        search_budget: hyperparameter trials per family and horizon (1 = defaults only).
        seed: the run's root seed.
        threads: threads per model fit (fixed for determinism).
        fee: fee per side in the utility simulation (0.26% = Kraken taker).
        threshold: probability at which the simulation goes long.
        gates: promotion-gate thresholds.
        combine: ``"best"`` serves the best candidate per horizon; ``"stack"`` serves every
            family's global model, the specialists, a regime model and a stacking
            meta-learner (decision 0118).
        min_specialist_bars: a coin gets a specialist only with at least this many labelled
            bars in the fit's range (0: every coin).
        ensemble: the ensemble's settings (read with ``combine = "stack"``).
        sequence: sequence models that join the stacked ensemble as ``<family>/global``
            members (decision 0115): one per family, each with the run's horizons; only with
            ``combine = "stack"``.
        checks: after training, record the hindcast, forward and rolling checks (data spec
            §5.3, decision 0124) in the run record as ``metrics["checks"]``; the hindcast
            retrains on the data to ``T - 2d``, so a run with checks costs about twice one
            without.
    """

    horizons: tuple[HorizonSpec, ...] = attrs.field(
        default=(
            HorizonSpec(1, (-0.005, 0.0, 0.005)),
            HorizonSpec(4, (-0.01, 0.0, 0.01)),
            HorizonSpec(24, (-0.03, 0.0, 0.03)),
        ),
        converter=_horizons,
    )
    features: FeatureConfig = attrs.field(factory=FeatureConfig)
    families: tuple[str, ...] = attrs.field(
        default=("lightgbm", "xgboost", "random_forest"), converter=_strings
    )
    scopes: tuple[Scope, ...] = attrs.field(default=SCOPES, converter=_scopes)
    params: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    folds: FoldConfig = attrs.field(factory=FoldConfig)
    calibration_fraction: float = 0.3
    calibration_methods: tuple[str, ...] = attrs.field(default=METHODS, converter=_strings)
    search_budget: int = 1
    seed: int = 0
    threads: int = 1
    fee: float = 0.0026
    threshold: float = 0.55
    gates: GateConfig = attrs.field(factory=GateConfig)
    combine: Combine = attrs.field(default=Combine.BEST, converter=_combine)
    min_specialist_bars: int = 0
    ensemble: EnsembleConfig = attrs.field(factory=EnsembleConfig)
    sequence: tuple[SequenceConfig, ...] = attrs.field(default=(), converter=_sequences)
    checks: bool = False

    def __attrs_post_init__(self) -> None:
        bars = [h.bars for h in self.horizons]
        if not bars or bars != sorted(set(bars)):
            raise ConfigError(f"horizons must be non-empty, ascending and unique, got {bars}")
        unknown = sorted(set(self.families) - set(FAMILIES))
        if not self.families or unknown:
            raise ConfigError(f"unknown or no model families {unknown}; known {sorted(FAMILIES)}")
        if not self.scopes:
            raise ConfigError("scopes must not be empty")
        if not 0.0 < self.calibration_fraction < 1.0:
            raise ConfigError("calibration_fraction must be within (0, 1)")
        if not set(self.calibration_methods) <= set(METHODS) or not self.calibration_methods:
            raise ConfigError(f"calibration methods must be among {METHODS}")
        if self.folds.test_size <= bars[-1]:
            raise ConfigError("test_size must exceed the longest horizon (else no test labels)")
        if self.search_budget < 1 or self.threads < 1:
            raise ConfigError("search_budget and threads must be at least 1")
        for family, overrides in self.params.items():
            get_family(family).build(overrides, seed=0)
        if self.min_specialist_bars < 0:
            raise ConfigError("min_specialist_bars must be >= 0")
        if self.combine is Combine.STACK and (
            Scope.GLOBAL not in self.scopes or self.folds.n_folds < 2
        ):
            raise ConfigError(
                'combine = "stack" needs the "global" scope (every coin\'s members) and two or '
                "more folds (its nested evidence)"
            )
        self._check_sequence(bars)

    def _check_sequence(self, bars: list[int]) -> None:
        families = [s.family for s in self.sequence]
        if families and self.combine is not Combine.STACK:
            raise ConfigError('sequence members need combine = "stack"')
        if len(set(families)) != len(families):
            raise ConfigError(f"one sequence model per family, got {families}")
        for s in self.sequence:
            if list(s.horizons) != bars:
                raise ConfigError(
                    f"the {s.family} member's horizons {list(s.horizons)} must be the run's {bars}"
                )

    @property
    def config_hash(self) -> str:
        """Content hash of the configuration (later fields left out while at their defaults)."""
        # added after the first shipped bundle: left out while at their defaults, so a config
        # that does not use them keeps its hash (and the shipped run record its bytes)
        data = unstructure(self)
        defaults = {
            "combine": Combine.BEST.value,
            "min_specialist_bars": 0,
            "ensemble": unstructure(EnsembleConfig()),
            "sequence": [],
            "checks": False,
        }
        for key, default in defaults.items():
            if data[key] == default:
                del data[key]
        return content_hash(data)


def load_config(path: Path) -> TrainConfig:
    """Read a :class:`TrainConfig` from a ``.json`` or ``.toml`` file.

    Raises:
        ConfigError: unreadable file, bad syntax, unknown key or invalid value.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8")) if path.suffix == ".toml" else json.loads(raw)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    try:
        return structure(data, TrainConfig)
    except ConfigError:
        raise
    except Exception as exc:  # cattrs wraps every field error; re-raise as ours
        raise ConfigError(f"invalid config {path}: {exc}") from exc

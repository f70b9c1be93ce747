"""Promotion gates: a pure function from evidence to a promote/reject decision.

:func:`decide` takes the candidate's evidence, the active champion's evidence (or ``None``)
and a :class:`GateConfig`, and returns a :class:`GateDecision` with every failed gate's reason
code. It reads nothing else, so the same evidence always gives the same decision.

Evidence carries a ``sample`` tag. Only ``"oos"`` (walk-forward out-of-sample) evidence can
promote: in-sample evidence is rejected with ``GATE_IN_SAMPLE_EVIDENCE`` whatever its numbers
say, and a champion whose evidence is not out-of-sample cannot be compared against.

Examples:
    >>> h = HorizonEvidence("1h", n=500, bss=0.01, ece=0.01, log_loss=0.69, accuracy=0.53,
    ...                     utility=0.0001, max_position=1.0, min_position=0.0)
    >>> good = Evidence("oos", (h,), artifacts_complete=True)
    >>> decide(good, None, GateConfig()).promote
    True
    >>> import attrs
    >>> decide(attrs.evolve(good, sample="in_sample"), None, GateConfig()).reasons
    ('GATE_IN_SAMPLE_EVIDENCE',)
"""

from __future__ import annotations

from typing import Any

import attrs

from quant_models import reasons

__all__ = ["Evidence", "GateConfig", "GateDecision", "HorizonEvidence", "decide"]

OUT_OF_SAMPLE = "oos"


@attrs.frozen
class HorizonEvidence:
    """Pooled metrics of one horizon's served model.

    Attributes:
        horizon: horizon label (``"4h"``).
        n: scored predictions.
        bss: Brier skill vs climatology.
        ece: expected calibration error.
        log_loss: log loss.
        accuracy: directional accuracy.
        utility: mean net log return per decision point of the long-only simulation.
        max_position: largest simulated position (units).
        min_position: smallest simulated position (negative = a short).
    """

    horizon: str
    n: int
    bss: float
    ece: float
    log_loss: float
    accuracy: float
    utility: float
    max_position: float
    min_position: float


def _horizons(value: Any) -> tuple[HorizonEvidence, ...]:
    return tuple(value)


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen
class Evidence:
    """What a training run offers the gates.

    Attributes:
        sample: ``"oos"`` for walk-forward out-of-sample metrics, anything else (e.g.
            ``"in_sample"``) is inadmissible.
        horizons: per-horizon metrics.
        artifacts_complete: every artifact and the run record were written and hash-verified.
        missing: what is missing when incomplete.
        model_id: the candidate's model-set hash.
    """

    sample: str
    horizons: tuple[HorizonEvidence, ...] = attrs.field(converter=_horizons)
    artifacts_complete: bool
    missing: tuple[str, ...] = attrs.field(default=(), converter=_strings)
    model_id: str = ""


@attrs.frozen
class GateConfig:
    """Gate thresholds (governed configuration).

    Attributes:
        min_samples: scored predictions required per horizon.
        min_bss: lowest acceptable Brier skill per horizon.
        max_ece: highest acceptable calibration error per horizon.
        min_utility: lowest acceptable simulated utility per horizon (``None``: not gated).
        max_position: risk rule — largest simulated position, in units.
        champion_margin: how much the candidate's mean BSS must exceed the champion's.
    """

    min_samples: int = 100
    min_bss: float = 0.0
    max_ece: float = 0.05
    min_utility: float | None = None
    max_position: float = 1.0
    champion_margin: float = 0.0


@attrs.frozen
class GateDecision:
    """The outcome.

    Attributes:
        promote: whether the candidate becomes the active model set.
        reasons: reason codes: ``("GATE_PASSED",)`` or every failed gate, in gate order.
        details: one human line per failure.
    """

    promote: bool
    reasons: tuple[str, ...] = attrs.field(converter=_strings)
    details: tuple[str, ...] = attrs.field(default=(), converter=_strings)


def _mean_bss(evidence: Evidence) -> float:
    return sum(h.bss for h in evidence.horizons) / max(len(evidence.horizons), 1)


def decide(candidate: Evidence, champion: Evidence | None, config: GateConfig) -> GateDecision:
    """Apply every gate to ``candidate``; promote only if all pass.

    Gates, in order: evidence is out-of-sample; artifact completeness; per horizon sample
    size, Brier skill, calibration error, utility, risk rules; beats the champion.
    """
    if candidate.sample != OUT_OF_SAMPLE:
        return GateDecision(
            False,
            (reasons.GATE_IN_SAMPLE_EVIDENCE,),
            (f"evidence sample is {candidate.sample!r}; only out-of-sample evidence counts",),
        )
    failed: dict[str, list[str]] = {}

    def fail(code: str, detail: str) -> None:
        failed.setdefault(code, []).append(detail)

    if not candidate.artifacts_complete or not candidate.horizons:
        fail(reasons.GATE_ARTIFACTS_INCOMPLETE, f"missing: {list(candidate.missing) or 'all'}")
    for h in candidate.horizons:
        if h.n < config.min_samples:
            fail(reasons.GATE_TOO_FEW_SAMPLES, f"{h.horizon}: {h.n} < {config.min_samples}")
        if h.bss < config.min_bss:
            fail(reasons.GATE_BSS_BELOW_MIN, f"{h.horizon}: BSS {h.bss:.5f} < {config.min_bss}")
        if h.ece > config.max_ece:
            fail(reasons.GATE_ECE_ABOVE_MAX, f"{h.horizon}: ECE {h.ece:.5f} > {config.max_ece}")
        if config.min_utility is not None and h.utility < config.min_utility:
            fail(
                reasons.GATE_UTILITY_BELOW_MIN,
                f"{h.horizon}: utility {h.utility:.6f} < {config.min_utility}",
            )
        if h.min_position < 0 or h.max_position > config.max_position:
            fail(
                reasons.GATE_RISK_VIOLATION,
                f"{h.horizon}: positions [{h.min_position}, {h.max_position}] outside"
                f" [0, {config.max_position}]",
            )
    if champion is not None and champion.sample == OUT_OF_SAMPLE:
        ours, theirs = _mean_bss(candidate), _mean_bss(champion)
        if ours <= theirs + config.champion_margin:
            fail(
                reasons.GATE_NOT_BETTER_THAN_CHAMPION,
                f"mean BSS {ours:.5f} <= champion {theirs:.5f} + {config.champion_margin}",
            )
    if failed:
        return GateDecision(
            False, tuple(failed), tuple(d for details in failed.values() for d in details)
        )
    return GateDecision(True, (reasons.GATE_PASSED,))

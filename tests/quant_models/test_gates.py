"""Promotion gates: pure, every failure has its reason code, in-sample can never promote."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_models import Evidence, GateConfig, HorizonEvidence, decide, reasons

GOOD = HorizonEvidence(
    "h4",
    n=1000,
    bss=0.01,
    ece=0.01,
    log_loss=0.69,
    accuracy=0.53,
    utility=0.0002,
    max_position=1.0,
    min_position=0.0,
)


def _evidence(**changes: Any) -> Evidence:
    return Evidence(
        "oos", (attrs.evolve(GOOD, **changes),), artifacts_complete=True, model_id="sha256:c"
    )


def test_good_oos_evidence_promotes() -> None:
    decision = decide(_evidence(), None, GateConfig())
    assert decision.promote
    assert decision.reasons == (reasons.GATE_PASSED,)


@pytest.mark.parametrize(
    ("change", "config", "code"),
    [
        ({"n": 10}, GateConfig(), reasons.GATE_TOO_FEW_SAMPLES),
        ({"bss": -0.001}, GateConfig(), reasons.GATE_BSS_BELOW_MIN),
        ({"ece": 0.2}, GateConfig(), reasons.GATE_ECE_ABOVE_MAX),
        ({"utility": -0.01}, GateConfig(min_utility=0.0), reasons.GATE_UTILITY_BELOW_MIN),
        ({"min_position": -1.0}, GateConfig(), reasons.GATE_RISK_VIOLATION),
        ({"max_position": 2.0}, GateConfig(), reasons.GATE_RISK_VIOLATION),
    ],
)
def test_each_gate_rejects_with_its_code(
    change: dict[str, object], config: GateConfig, code: str
) -> None:
    decision = decide(_evidence(**change), None, config)
    assert not decision.promote
    assert decision.reasons == (code,)
    assert decision.details


def test_utility_is_not_gated_by_default_and_failures_accumulate() -> None:
    assert decide(_evidence(utility=-1.0), None, GateConfig()).promote
    decision = decide(_evidence(bss=-1.0, ece=1.0), None, GateConfig())
    assert decision.reasons == (reasons.GATE_BSS_BELOW_MIN, reasons.GATE_ECE_ABOVE_MAX)


def test_incomplete_artifacts_reject() -> None:
    incomplete = attrs.evolve(_evidence(), artifacts_complete=False, missing=("run.json",))
    decision = decide(incomplete, None, GateConfig())
    assert decision.reasons == (reasons.GATE_ARTIFACTS_INCOMPLETE,)
    assert "run.json" in decision.details[0]
    empty = Evidence("oos", (), artifacts_complete=True)
    assert decide(empty, None, GateConfig()).reasons == (reasons.GATE_ARTIFACTS_INCOMPLETE,)


def test_champion_must_be_beaten() -> None:
    champion = _evidence(bss=0.02)
    assert decide(_evidence(bss=0.01), champion, GateConfig()).reasons == (
        reasons.GATE_NOT_BETTER_THAN_CHAMPION,
    )
    assert decide(_evidence(bss=0.03), champion, GateConfig()).promote
    assert not decide(_evidence(bss=0.03), champion, GateConfig(champion_margin=0.02)).promote
    # a champion whose evidence is in-sample is no yardstick
    in_sample_champion = attrs.evolve(champion, sample="in_sample")
    assert decide(_evidence(bss=0.01), in_sample_champion, GateConfig()).promote


finite = st.floats(-10, 10, allow_nan=False)


@given(
    n=st.integers(0, 10**6),
    bss=finite,
    ece=finite,
    utility=finite,
    sample=st.sampled_from(["in_sample", "train", "", "OOS", "insample"]),
)
def test_in_sample_metrics_can_never_justify_a_promotion(
    n: int, bss: float, ece: float, utility: float, sample: str
) -> None:
    """Whatever the numbers - even perfect ones - non-OOS evidence is rejected."""
    evidence = attrs.evolve(_evidence(n=n, bss=bss, ece=ece, utility=utility), sample=sample)
    decision = decide(evidence, None, GateConfig(min_samples=0, min_bss=-100, max_ece=100))
    assert not decision.promote
    assert decision.reasons == (reasons.GATE_IN_SAMPLE_EVIDENCE,)


def test_decide_is_pure() -> None:
    ev, cfg = _evidence(), GateConfig()
    assert decide(ev, None, cfg) == decide(ev, None, cfg)
    assert ev == _evidence()

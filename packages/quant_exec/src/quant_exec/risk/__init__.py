"""Risk: the pre-trade gates every order passes, the kill switch, the asset clusters."""

from quant_exec.risk._clusters import DEFAULT_CLUSTERS, ClusterMap
from quant_exec.risk._gates import (
    Approved,
    Rejected,
    RiskContext,
    RiskDecision,
    RiskReport,
    check_order,
    evaluate,
)
from quant_exec.risk._killswitch import KillSwitch, KillSwitchRecord, KillSwitchState

__all__ = [
    "DEFAULT_CLUSTERS",
    "Approved",
    "ClusterMap",
    "KillSwitch",
    "KillSwitchRecord",
    "KillSwitchState",
    "Rejected",
    "RiskContext",
    "RiskDecision",
    "RiskReport",
    "check_order",
    "evaluate",
]

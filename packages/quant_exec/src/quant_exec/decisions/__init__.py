"""The decision log (every decision, order event and risk change) and reading it back."""

from quant_exec.decisions._log import (
    Action,
    DecisionLog,
    DecisionRecord,
    LineKind,
    RiskChange,
    Trigger,
    log_hash,
)
from quant_exec.decisions._read import (
    LogRun,
    read_decision_log,
    read_log,
    replay_difference,
    replay_ledger,
)

__all__ = [
    "Action",
    "DecisionLog",
    "DecisionRecord",
    "LineKind",
    "LogRun",
    "RiskChange",
    "Trigger",
    "log_hash",
    "read_decision_log",
    "read_log",
    "replay_difference",
    "replay_ledger",
]

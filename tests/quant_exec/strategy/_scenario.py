"""Strategy thresholds the hand-derived scenario tests are written against."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# The first governed defaults, pinned so that retuning the defaults does not move the
# scenarios' hand-derived expectations.
SCENARIO_THRESHOLDS: dict[str, Any] = {
    "entry_min_up_probability": Decimal("0.58"),
    "entry_max_downside_probability": Decimal("0.40"),
    "dip_min_recovery_probability": Decimal("0.6"),
    "exit_min_negative_probability": Decimal("0.62"),
    "exit_max_rebound_probability": Decimal("0.35"),
    "severe_loss_min_rebound_probability": Decimal("0.45"),
}

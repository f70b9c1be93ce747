"""The promotion champion: the last trained run that passed the gates, the next one's yardstick.

It is not the active model. What trades is the bundle installed in the bundle store
(``quant bundle install`` / ``quant bundle update``; the runtime loads its model set), and only
the bundle store says which model is active (decision 0069). :class:`ChampionRecord` answers
a narrower question for ``quant train --registry DIR``: which earlier run must a new candidate
beat to be promoted.

:meth:`ChampionRecord.submit` takes a finished run directory and its gate decision. A promoted
run becomes the champion (the pointer file is replaced atomically); a rejected run leaves the
prior champion unchanged (historical data spec §6). Every submission is appended to
``history.jsonl``.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from quant_models.training._gates import GateDecision
    >>> record = ChampionRecord(Path(tempfile.mkdtemp()))
    >>> record.champion() is None
    True
    >>> record.submit(Path("/runs/a"), "sha256:a", GateDecision(True, ("GATE_PASSED",)))
    True
    >>> record.submit(Path("/runs/b"), "sha256:b", GateDecision(False, ("GATE_BSS_BELOW_MIN",)))
    False
    >>> record.champion()["model_id"]
    'sha256:a'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from quant_core import canonical_json, structure
from quant_models.training._gates import Evidence, GateDecision

__all__ = ["ChampionRecord"]


class ChampionRecord:
    """A directory holding ``champion.json`` and ``history.jsonl`` (their formats are fixed)."""

    def __init__(self, root: Path) -> None:
        """Use (and create) ``root``."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @property
    def _pointer(self) -> Path:
        return self.root / "champion.json"

    def champion(self) -> dict[str, Any] | None:
        """The champion's pointer (``run_dir``, ``model_id``), or ``None``."""
        if not self._pointer.exists():
            return None
        value: dict[str, Any] = json.loads(self._pointer.read_bytes())
        return value

    def champion_evidence(self) -> Evidence | None:
        """The champion run's ``evidence.json``, or ``None`` without a champion."""
        current = self.champion()
        if current is None:
            return None
        data = json.loads((Path(current["run_dir"]) / "evidence.json").read_bytes())
        return structure(data, Evidence)

    def submit(self, run_dir: Path, model_id: str, decision: GateDecision) -> bool:
        """Record a decision; make ``run_dir`` the champion only if it was promoted."""
        entry = {
            "run_dir": str(run_dir),
            "model_id": model_id,
            "promote": decision.promote,
            "reasons": list(decision.reasons),
        }
        with open(self.root / "history.jsonl", "ab") as log:
            log.write(canonical_json(entry) + b"\n")
        if decision.promote:
            staging = self.root / ".champion.json.tmp"
            staging.write_bytes(canonical_json({"run_dir": str(run_dir), "model_id": model_id}))
            os.replace(staging, self._pointer)
        return decision.promote

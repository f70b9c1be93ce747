"""Calibrated member probabilities for a whole bar at once (decision 0123).

:class:`MemberEvaluator` answers a list of requests ``(entry, rows)`` — the probabilities
``entry.calibrator.apply(entry.model.predict_proba(x[rows]))`` — with the same bytes, but
without a library call per request: every LightGBM member that
:func:`~quant_models.families._tree_eval.compile_lightgbm` compiles is evaluated in one
:class:`~quant_models.families._tree_eval.TreeBank` traversal for all requests, and the
calibrations run through :func:`~quant_models._calibration.apply_each`. A member that does not
compile (another family, a categorical split, a feature count other than the set's) is asked
through its own ``predict_proba``, as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

import numpy as np

from quant_models._calibration import apply_each
from quant_models._panel import FloatArray
from quant_models._persistence import ModelEntry
from quant_models.families._tree_eval import CompiledBooster, TreeBank, compile_lightgbm
from quant_models.families._trees import LightGBMClassifier

__all__ = ["MemberEvaluator"]

Request = tuple[ModelEntry, Sequence[int]]


class MemberEvaluator:
    """Evaluates many members' calibrated probabilities on feature rows in one pass.

    Examples:
        >>> import numpy as np
        >>> from quant_models._calibration import Calibrator
        >>> from quant_models.families._trees import get_family
        >>> model = get_family("lightgbm").build({"n_estimators": 3, "min_data_in_leaf": 2},
        ...                                      seed=1)
        >>> x = np.arange(40.0).reshape(20, 2)
        >>> model.fit(x, (x[:, 0] > 20).astype(float))
        >>> entry = ModelEntry(1, "lightgbm", "global", None, {}, Calibrator("identity"), model)
        >>> evaluator = MemberEvaluator([entry], n_features=2)
        >>> evaluator.compiled
        1
        >>> got, offsets = evaluator.calibrated([(entry, [0, 19])], x)
        >>> offsets
        [0, 2]
        >>> bool(np.array_equal(got, entry.calibrator.apply(model.predict_proba(x[[0, 19]]))))
        True
    """

    def __init__(self, entries: Iterable[ModelEntry], *, n_features: int) -> None:
        """Compile every member that can be compiled exactly.

        Args:
            entries: the members that requests may name.
            n_features: the feature count of the rows the requests read.
        """
        compiled: list[CompiledBooster] = []
        self._position: dict[ModelEntry, int] = {}
        for entry in entries:
            if not isinstance(entry.model, LightGBMClassifier):
                continue
            booster = compile_lightgbm(entry.model.booster)
            if booster is not None and booster.n_features == n_features:
                self._position[entry] = len(compiled)
                compiled.append(booster)
        self._bank = TreeBank(compiled) if compiled else None

    @property
    def compiled(self) -> int:
        """How many members are evaluated by the compiled form."""
        return len(self._position)

    def calibrated(
        self, requests: Sequence[Request], x: FloatArray
    ) -> tuple[FloatArray, list[int]]:
        """Every request's calibrated probabilities, one request after another.

        Args:
            requests: ``(entry, rows)``: a member and the rows of ``x`` it predicts.
            x: ``(rows, features)`` float64 feature rows.

        Returns:
            The values and the requests' offsets into them (one more than the requests):
            request ``k``'s are ``values[offsets[k]:offsets[k + 1]]``, equal to
            ``entry.calibrator.apply(entry.model.predict_proba(x[rows]))``.
        """
        sizes = [len(rows) for _, rows in requests]
        offsets = [0, *itertools.accumulate(sizes)]
        raw = np.empty(offsets[-1])
        which: list[int] = []
        rows: list[int] = []
        slots: list[int] = []
        for k, (entry, members) in enumerate(requests):
            position = self._position.get(entry)
            if position is None:
                raw[offsets[k] : offsets[k + 1]] = entry.model.predict_proba(x[list(members)])
            else:
                which += [position] * len(members)
                rows += members
                slots += range(offsets[k], offsets[k + 1])
        if self._bank is not None and which:
            raw[slots] = self._bank.predict(np.array(which, dtype=np.int64), x[rows])
        values = apply_each([entry.calibrator for entry, _ in requests], raw, sizes)
        return values, offsets

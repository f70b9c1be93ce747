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

from quant_models._calibration import SegmentCalibration
from quant_models._panel import FloatArray
from quant_models._persistence import ModelEntry
from quant_models.families._tree_eval import CompiledBooster, TreeBank, compile_lightgbm
from quant_models.families._trees import LightGBMClassifier

__all__ = ["MemberBatch", "MemberEvaluator"]

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

    def batch(self, requests: Sequence[Request]) -> MemberBatch:
        """Prepare ``requests`` once for :meth:`MemberBatch.run` on bar after bar.

        Args:
            requests: ``(entry, rows)``: a member and the rows of ``x`` it predicts.
        """
        return MemberBatch(self, requests)

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
        batch = self.batch(requests)
        return batch.run(x), batch.offsets


class MemberBatch:
    """A fixed list of member requests, prepared to be evaluated on each bar's rows."""

    def __init__(self, evaluator: MemberEvaluator, requests: Sequence[Request]) -> None:
        """Sort the requests into the compiled ones and the library's, once.

        Args:
            evaluator: the evaluator whose compiled members to use.
            requests: ``(entry, rows)``: a member and the rows it predicts.
        """
        sizes = [len(rows) for _, rows in requests]
        self.offsets = [0, *itertools.accumulate(sizes)]
        """Request ``k``'s values are ``values[offsets[k]:offsets[k + 1]]``."""
        which: list[int] = []
        rows: list[int] = []
        slots: list[int] = []
        self._library: list[tuple[ModelEntry, list[int], slice]] = []
        for k, (entry, members) in enumerate(requests):
            position = evaluator._position.get(entry)
            span = slice(self.offsets[k], self.offsets[k + 1])
            if position is None:
                self._library.append((entry, list(members), span))
            else:
                which += [position] * len(members)
                rows += members
                slots += range(span.start, span.stop)
        self._bank = evaluator._bank if which else None
        self._which = np.array(which, dtype=np.int64)
        self._rows = np.array(rows, dtype=np.int64)
        self._slots = np.array(slots, dtype=np.int64)
        self._calibration = SegmentCalibration.of(
            [entry.calibrator for entry, _ in requests], sizes
        )

    def run(self, x: FloatArray) -> FloatArray:
        """The requests' calibrated probabilities on the feature rows ``x``, request by request.

        Args:
            x: ``(rows, features)`` feature rows.

        Returns:
            Equal to ``entry.calibrator.apply(entry.model.predict_proba(x[rows]))`` per request,
            request ``k``'s at ``offsets[k]:offsets[k + 1]``.
        """
        raw = np.empty(self.offsets[-1])
        for entry, members, span in self._library:
            raw[span] = entry.model.predict_proba(x[members])
        if self._bank is not None:
            raw[self._slots] = self._bank.predict(self._which, x[self._rows])
        return self._calibration.apply(raw)

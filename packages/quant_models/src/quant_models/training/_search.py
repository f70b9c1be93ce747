"""Deterministic hyperparameter search: seeded, fixed budget, every trial logged.

Trial 0 is always the family's defaults; trials ``1 .. budget - 1`` draw one value per
parameter from the search space with a generator derived from the run seed and the search's
name, so the same seed and space give the same trials in every process. The objective is
minimised; ties go to the earliest trial.

Examples:
    >>> space = {"depth": (2, 3, 4), "rate": (0.1, 0.3)}
    >>> result = grid_free_search(space, lambda p: abs(p.get("depth", 3) - 4), budget=5,
    ...                           seed=7, name=("demo",))
    >>> len(result.trials), result.trials[0].params
    (5, {})
    >>> again = grid_free_search(space, lambda p: 0.0, budget=5, seed=7, name=("demo",))
    >>> [t.params for t in again.trials] == [t.params for t in result.trials]
    True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from quant_core import generator
from quant_models._errors import ConfigError

__all__ = ["SearchResult", "Trial", "grid_free_search"]


@attrs.frozen
class Trial:
    """One evaluated parameter set.

    Attributes:
        index: trial number (0 = defaults).
        params: parameters tried (overrides of the defaults).
        score: objective value (lower is better).
    """

    index: int
    params: dict[str, Any]
    score: float


@attrs.frozen
class SearchResult:
    """All trials of a search and the best one."""

    trials: tuple[Trial, ...]

    @property
    def best(self) -> Trial:
        """The lowest-scoring trial (earliest on ties)."""
        return min(self.trials, key=lambda t: (t.score, t.index))


def grid_free_search(
    space: Mapping[str, tuple[Any, ...]],
    objective: Callable[[dict[str, Any]], float],
    *,
    budget: int,
    seed: int,
    name: tuple[str, ...],
) -> SearchResult:
    """Evaluate ``budget`` parameter sets drawn deterministically from ``space``.

    Raises:
        ConfigError: ``budget`` below 1.
    """
    if budget < 1:
        raise ConfigError(f"a search needs a budget of at least 1 trial, got {budget}")
    rng = generator(seed, "search", *name)
    trials = [Trial(0, {}, float(objective({})))]
    for index in range(1, budget):
        params = {
            key: values[int(rng.integers(len(values)))] for key, values in sorted(space.items())
        }
        trials.append(Trial(index, params, float(objective(params))))
    return SearchResult(tuple(trials))

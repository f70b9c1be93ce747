"""Task runners: the seam where a pipeline hands out independent pieces of work.

A pipeline that has independent pieces of work (for training: one walk-forward fold and
horizon, or one final fit) gives them to a :class:`TaskRunner` as a function and a list of
inputs, and gets the results back in the order of the inputs. Each piece must be a pure
function of its input (its seed derived from its own name, never from a counter shared between
pieces), so any runner — the :class:`SerialRunner` here, a thread pool, or a distributed
executor such as Dask later — gives the same results, whatever order the pieces ran in.

Examples:
    >>> SerialRunner().map(lambda x: x * x, [3, 1, 2])
    [9, 1, 4]
    >>> isinstance(SerialRunner(), TaskRunner)
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar, runtime_checkable

__all__ = ["SerialRunner", "TaskRunner"]

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class TaskRunner(Protocol):
    """Runs a function over inputs; the results come back in the order of the inputs."""

    def map(self, fn: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        """``[fn(item) for item in items]``, each call run wherever and whenever the runner likes.

        Args:
            fn: a pure function of its input.
            items: the inputs.

        Returns:
            The results, in the order of ``items``.
        """
        ...  # pragma: no cover - a protocol


class SerialRunner:
    """Runs every task in the calling thread, one after another, in order."""

    def map(self, fn: Callable[[T], R], items: Sequence[T], /) -> list[R]:
        """``[fn(item) for item in items]``."""
        return [fn(item) for item in items]

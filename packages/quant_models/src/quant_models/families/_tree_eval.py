"""LightGBM binary boosters compiled to arrays, many evaluated in one numpy pass (decision 0123).

Serving a stacked set asks every bar for one row from each of dozens of specialist boosters;
one ``Booster.predict`` call each costs far more in Python and ctypes overhead than the trees
themselves. :func:`compile_lightgbm` reads a booster's text model once into flat node arrays
(:class:`CompiledBooster`); :class:`TreeBank` concatenates several and evaluates any list of
``(booster, feature row)`` requests in one vectorised traversal.

**Exact, not approximate.** The answer is bit for bit what ``Booster.predict`` returns, because
every step is LightGBM's own, in the same floating-point operations:

- the input: float32 rows widen to double exactly (other types are read as float32, as the
  library reads them); a value with ``|v| <= kZeroThreshold`` (``1e-35f``) that is not NaN is
  read as 0, as LightGBM's dense-row reader drops it (so ``-0.0`` and denormals are 0);
- each split (``Tree::NumericalDecision``): NaN becomes 0 unless the node's missing type is
  NaN; a zero under missing type Zero, or a NaN under missing type NaN, goes to the default
  side; otherwise ``value <= threshold`` goes left. Thresholds and leaf values are parsed from
  the text model, which writes them with 17 significant digits, so they are the booster's
  doubles;
- the raw score: the trees' leaf values added in tree order to a double starting at 0
  (``GBDT::PredictRaw``), here one tree column at a time, never a pairwise ``sum``;
- the probability: ``1.0 / (1.0 + exp(-sigmoid * raw))`` with the C library's ``exp``
  (:func:`math.exp` per value: numpy's vectorised ``exp`` may differ in the last bit).

Anything else is not compiled — :func:`compile_lightgbm` answers ``None`` and the caller uses
the library: categorical splits, linear trees, objectives other than ``binary``, several
trees per iteration, random-forest averaging.

Examples:
    >>> import lightgbm as lgb
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3)); y = (x[:, 0] + 0.3 * rng.normal(size=200) > 0)
    >>> booster = lgb.train({"objective": "binary", "num_leaves": 5, "verbosity": -1},
    ...                     lgb.Dataset(x, label=y.astype(float)), num_boost_round=5)
    >>> bank = TreeBank((compile_lightgbm(booster),))
    >>> p = bank.predict(np.zeros(10, dtype=np.int64), x[:10])
    >>> bool(np.array_equal(p, booster.predict(x[:10])))
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_models._panel import FloatArray

__all__ = ["ZERO_THRESHOLD", "CompiledBooster", "TreeBank", "compile_lightgbm"]

IntArray = npt.NDArray[np.int64]

ZERO_THRESHOLD = float(np.float32(1e-35))
"""LightGBM's ``kZeroThreshold`` (the float ``1e-35f``, widened to double)."""

_DEFAULT_LEFT = 2
_MISSING_ZERO = 1
_MISSING_NAN = 2
# bits of a value's state, matched against a node's missing mask: 1 plain, 2 zero (or a NaN
# read as zero), 4 NaN; a Zero node sends states 2 and 4 to its default side, a NaN node 4
_ZERO_BIT, _NAN_BIT = 2, 4
_MASKS = {0: 0, _MISSING_ZERO: _ZERO_BIT | _NAN_BIT, _MISSING_NAN: _NAN_BIT}


@attrs.frozen(eq=False)
class CompiledBooster:
    """A LightGBM binary booster as flat arrays: internal nodes then leaves, tree by tree.

    A leaf is a node whose two children are itself, so a traversal of ``depth`` steps from a
    root always ends on a leaf, whatever path it takes.

    Attributes:
        n_features: the feature count the booster takes.
        sigmoid: the binary objective's ``sigmoid`` parameter.
        feature: each node's split feature (0 for a leaf).
        threshold: each node's threshold (``value <= threshold`` goes left).
        missing: each node's missing mask (see the module's bit layout).
        default_right: whether a missing value goes right.
        children: ``(nodes, 2)``: the left and the right child.
        value: each leaf's output (0 for an internal node).
        roots: each tree's root node, in tree order.
        depth: the longest root-to-leaf path, in splits.
    """

    n_features: int
    sigmoid: float
    feature: IntArray
    threshold: FloatArray
    missing: IntArray
    default_right: npt.NDArray[np.bool_]
    children: IntArray
    value: FloatArray
    roots: IntArray
    depth: int


def _fields(block: str) -> dict[str, str]:
    """``key=value`` lines by key; a bare line (the ``average_output`` flag) maps to ``""``."""
    return {key: value for key, _, value in (line.partition("=") for line in block.splitlines())}


def _header(text: str) -> dict[str, str]:
    return _fields(text.split("\nTree=", 1)[0])


def _trees(text: str) -> list[dict[str, str]]:
    return [_fields(block) for block in text.split("end of trees", 1)[0].split("\nTree=")[1:]]


def _numbers(field: str, kind: type[float] | type[int]) -> list[Any]:
    return [kind(v) for v in field.split()]


def _sigmoid(header: dict[str, str]) -> float | None:
    """The ``sigmoid`` of a plain binary booster; ``None`` for anything else."""
    objective = header.get("objective", "").split()
    if (
        objective[:1] != ["binary"]
        or header.get("num_tree_per_iteration") != "1"
        or "average_output" in header
    ):
        return None
    params = dict(item.split(":", 1) for item in objective[1:] if ":" in item)
    return float(params.get("sigmoid", "1"))


def _depth(left: list[int], right: list[int]) -> int:
    deepest, stack = 0, [(0, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in (left[node], right[node]) if child >= 0)
    return deepest


def compile_lightgbm(booster: Any) -> CompiledBooster | None:
    """Compile a LightGBM booster for :class:`TreeBank`, or ``None`` where it cannot be exact.

    Reads the trees ``booster.predict`` uses by default (``model_to_string`` without
    arguments keeps the same ones: every tree, or up to the best iteration when the booster
    has one).

    Args:
        booster: a ``lightgbm.Booster``.

    Returns:
        The compiled form, or ``None`` for what it does not support (see the module
        docstring).
    """
    text = str(booster.model_to_string())
    header = _header(text)
    sigmoid = _sigmoid(header)
    trees = _trees(text)
    if sigmoid is None or any(tree["num_cat"] != "0" or tree["is_linear"] != "0" for tree in trees):
        return None
    feature: list[int] = []
    threshold: list[float] = []
    missing: list[int] = []
    default_right: list[bool] = []
    children: list[tuple[int, int]] = []
    value: list[float] = []
    roots: list[int] = []
    depth = 0
    for tree in trees:
        base, leaves = len(feature), _numbers(tree["leaf_value"], float)
        roots.append(base)
        splits = len(leaves) - 1
        left = _numbers(tree["left_child"], int)
        right = _numbers(tree["right_child"], int)
        kinds = _numbers(tree["decision_type"], int)

        def node(child: int, base: int = base, splits: int = splits) -> int:
            return base + (child if child >= 0 else splits + ~child)

        feature += _numbers(tree["split_feature"], int)
        threshold += _numbers(tree["threshold"], float)
        missing += [_MASKS[(k >> 2) & 3] for k in kinds]
        default_right += [not k & _DEFAULT_LEFT for k in kinds]
        children += [(node(a), node(b)) for a, b in zip(left, right, strict=True)]
        value += [0.0] * splits
        for leaf, output in enumerate(leaves):  # a leaf's children are itself
            me = base + splits + leaf
            feature.append(0)
            threshold.append(0.0)
            missing.append(0)
            default_right.append(False)
            children.append((me, me))
            value.append(output)
        if splits:
            depth = max(depth, _depth(left, right))
    return CompiledBooster(
        n_features=int(header["max_feature_idx"]) + 1,
        sigmoid=sigmoid,
        feature=np.array(feature, dtype=np.int64),
        threshold=np.array(threshold, dtype=np.float64),
        missing=np.array(missing, dtype=np.int64),
        default_right=np.array(default_right, dtype=bool),
        children=np.array(children, dtype=np.int64).reshape(-1, 2),
        value=np.array(value, dtype=np.float64),
        roots=np.array(roots, dtype=np.int64),
        depth=depth,
    )


class TreeBank:
    """Several compiled boosters in one set of node arrays, evaluated together.

    Examples:
        >>> import lightgbm as lgb
        >>> x = np.arange(60.0).reshape(20, 3); y = (x[:, 0] > 25).astype(float)
        >>> params = {"objective": "binary", "min_data_in_leaf": 2, "verbosity": -1}
        >>> a = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=3)
        >>> b = lgb.train(params, lgb.Dataset(x, label=1 - y), num_boost_round=2)
        >>> bank = TreeBank([compile_lightgbm(a), compile_lightgbm(b)])
        >>> p = bank.predict(np.array([0, 1, 1]), x[[0, 0, 19]])
        >>> bool(p[0] < 0.5 < p[1] and p[2] < 0.5)
        True
    """

    def __init__(self, boosters: Sequence[CompiledBooster]) -> None:
        """Concatenate ``boosters`` (a request names one by its position here).

        Args:
            boosters: the compiled boosters; they must all take the same feature count.

        Raises:
            ValueError: no booster, or boosters of different feature counts.
        """
        widths = {b.n_features for b in boosters}
        if len(widths) != 1:
            raise ValueError(f"a bank needs boosters of one feature count, got {sorted(widths)}")
        self.n_features = widths.pop()
        self.sigmoids = [b.sigmoid for b in boosters]
        offsets = np.cumsum([0] + [len(b.feature) for b in boosters])
        pad = int(offsets[-1])  # one extra leaf of output 0 pads the shorter boosters
        width = max(len(b.roots) for b in boosters)
        self._roots = np.full((len(boosters), width), pad, dtype=np.int64)
        for k, b in enumerate(boosters):
            self._roots[k, : len(b.roots)] = b.roots + offsets[k]
        self._feature = np.concatenate([b.feature for b in boosters] + [np.zeros(1, np.int64)])
        self._threshold = np.concatenate([b.threshold for b in boosters] + [np.zeros(1)])
        self._missing = np.concatenate([b.missing for b in boosters] + [np.zeros(1, np.int64)])
        self._default_right = np.concatenate(
            [b.default_right for b in boosters] + [np.zeros(1, bool)]
        )
        self._children = np.concatenate(
            [b.children + offsets[k] for k, b in enumerate(boosters)]
            + [np.full((1, 2), pad, np.int64)]
        ).ravel()
        self._value = np.concatenate([b.value for b in boosters] + [np.zeros(1)])
        self._depth = max(b.depth for b in boosters)
        self._any_missing = bool(self._missing.any())

    def raw(self, which: IntArray, x: npt.ArrayLike) -> FloatArray:
        """The raw score of row ``i`` of ``x`` under booster ``which[i]``, for every ``i``.

        Args:
            which: booster positions, one per row.
            x: ``(len(which), n_features)`` feature rows (float32 or float64; anything else is
                read as float32, as the library reads it).
        """
        n = len(which)
        x = np.asarray(x)
        if x.dtype not in (np.float32, np.float64):  # the library reads other types as float32
            x = x.astype(np.float32)
        x = x.astype(np.float64)  # float32 widens exactly, as the library's row reader does
        x = np.where(np.abs(x) <= ZERO_THRESHOLD, 0.0, x)  # NaN stays NaN
        nan = np.isnan(x)
        flat = np.where(nan, 0.0, x).ravel()  # NaN read as 0 unless a NaN node says otherwise
        state = np.where(nan, _NAN_BIT, np.where(flat.reshape(x.shape) == 0.0, _ZERO_BIT, 1))
        state = state.ravel()
        nodes = self._roots[which].ravel()
        base = np.repeat(np.arange(n, dtype=np.int64) * self.n_features, self._roots.shape[1])
        for _ in range(self._depth):
            at = base + self._feature[nodes]
            right = flat[at] > self._threshold[nodes]
            if self._any_missing:
                default = (self._missing[nodes] & state[at]) != 0
                right = np.where(default, self._default_right[nodes], right)
            nodes = self._children[2 * nodes + right]
        leaves = self._value[nodes].reshape(n, -1)
        total = np.zeros(n)
        for column in leaves.T:  # tree order, one double accumulator per row: GBDT::PredictRaw
            total += column
        return total

    def predict(self, which: IntArray, x: npt.ArrayLike) -> FloatArray:
        """The probability ``Booster.predict`` gives row ``i`` of ``x`` under booster ``which[i]``.

        Args:
            which: booster positions, one per row.
            x: ``(len(which), n_features)`` feature rows, as :meth:`raw` reads them.
        """
        raw = self.raw(which, x)
        out = [
            1.0 / (1.0 + _exp(-self.sigmoids[k] * r))
            for k, r in zip(which.tolist(), raw.tolist(), strict=True)
        ]
        return np.array(out, dtype=np.float64)


def _exp(z: float) -> float:
    """The C library's ``exp``: ``inf`` where it overflows (Python raises instead)."""
    try:
        return math.exp(z)
    except OverflowError:
        return math.inf

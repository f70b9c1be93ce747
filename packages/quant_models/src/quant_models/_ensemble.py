"""The stacked ensemble a ``combine = "stack"`` model set serves (decision 0118).

Per horizon the set holds *members* (every configured family's global model and, per coin
with enough history, each family's specialist), keyed by ``family/scope`` with a ``kind``
(``"tree"``, or ``"sequence"``: an LSTM or Transformer global member, decision 0115), and
*heads*: one per member group. The ``globals`` group combines the global members and predicts
every coin; the ``full`` group combines the globals and the specialists and predicts the coins
that have every specialist. A head's *combiner* (decision 0122) is ``"stack"``, a
:class:`~quant_models.families.MetaLearner`, or ``"average"``: the plain mean of its members'
calibrated probabilities (it fits nothing). A group of one member has no learner (its
member's calibrated probability is served as it is).

Every head is gated by the regime posterior: :func:`truncated_posterior` runs the regime
model's forward filter from its prior over the ``lookback`` bars before ``t`` and returns
the filtered posterior at ``t``. It is a pure function of bars ``t - lookback - window .. t``,
so training (all bars at once, vectorised over ``t``) and serving (the last bar of a short
tail) compute it with the same element-wise arithmetic and give equal bytes, and a serving
call costs O(lookback), not O(history). A streaming filter would carry state across calls
and give a posterior that depends on where the history handed to the predictor starts; the
truncated filter does not (its memory beyond ``lookback`` bars is negligible: the transition
matrix mixes within tens of bars).

Examples:
    >>> import numpy as np
    >>> from quant_models.families import fit_regimes, regime_features
    >>> rng = np.random.default_rng(0)
    >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 400)), axis=1))
    >>> model = fit_regimes(close, seed=1, window=12)
    >>> rows = regime_features(close, window=12)
    >>> grid = truncated_posterior(model, rows, 30)
    >>> tail = truncated_posterior(model, rows[300 - 30 : 301], 30, last_only=True)[0]
    >>> grid.shape, tail.tobytes() == grid[300].tobytes()
    ((400, 4), True)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_models import reasons
from quant_models._errors import ArtifactError, DataError, ModelFamilyError
from quant_models._panel import FloatArray
from quant_models.families import REGIME_LABELS, MetaLearner, RegimeModel, get_family
from quant_models.families._regime_features import window_features

if TYPE_CHECKING:
    from quant_models.families import Classifier
    from quant_models.sequence import SequenceModel

__all__ = [
    "AVERAGE",
    "COMBINERS",
    "FULL",
    "GLOBALS",
    "MEMBER_KINDS",
    "STACK",
    "RegimeContext",
    "RegimeRows",
    "SequenceMember",
    "StackHead",
    "group_members",
    "load_member",
    "truncated_posterior",
]

GLOBALS = "globals"
FULL = "full"
STACK = "stack"
AVERAGE = "average"
COMBINERS = (STACK, AVERAGE)
"""A head's combiners: the learned stack, or the plain average (decision 0122)."""
_LOG_2PI = float(np.log(2 * np.pi))


class SequenceMember:
    """A sequence model serving as a ``kind = "sequence"`` ensemble member (decision 0115).

    It reads bar windows (:func:`quant_models.sequence.build_windows`), not feature rows, so
    the predictor runs :attr:`model` on windows it builds from the bars; the
    :class:`~quant_models.families.Classifier` methods that take feature rows refuse.

    Attributes:
        model: the sequence model (one for every horizon it forecasts).
        family: its family (``"lstm"`` or ``"transformer"``).
    """

    def __init__(self, model: SequenceModel) -> None:
        """Wrap ``model``.

        Args:
            model: the fitted sequence model.
        """
        self.model = model
        self.family = model.config.family

    def fit(self, x: Any, y: Any) -> None:
        """Refused: a sequence member is fitted by :func:`quant_models.sequence.fit_sequence`."""
        raise DataError(
            "a sequence member is fit on bar windows", reason_code=reasons.SEQUENCE_INPUT_INVALID
        )

    def predict_proba(self, x: Any) -> FloatArray:
        """Refused: a sequence member reads bar windows, not feature rows."""
        raise DataError(
            "a sequence member reads bar windows, not feature rows",
            reason_code=reasons.SEQUENCE_INPUT_INVALID,
        )

    def files(self) -> dict[str, bytes]:
        """``sequence.json`` and ``weights.safetensors`` by name."""
        return self.model.to_files()

    def to_bytes(self) -> bytes:
        """``sequence.json`` (which pins the weights file by its SHA-256)."""
        return self.files()["sequence.json"]


def _tree(family: str, data: bytes, sibling: Callable[[str], bytes]) -> Classifier:
    return get_family(family).load(data)


def _sequence(family: str, data: bytes, sibling: Callable[[str], bytes]) -> Classifier:
    from quant_models.sequence import FAMILIES, SequenceModel

    if family not in FAMILIES:
        raise ArtifactError(
            f"unknown sequence family {family!r}", reason_code=reasons.SEQUENCE_FAMILY_UNKNOWN
        )
    model = SequenceModel.from_files(
        {"sequence.json": data, "weights.safetensors": sibling("weights.safetensors")}
    )
    if model.config.family != family:
        raise ArtifactError(
            f"the member is declared {family!r} but its files hold {model.config.family!r}",
            reason_code=reasons.SEQUENCE_FAMILY_UNKNOWN,
        )
    return SequenceMember(model)


MemberLoader = Callable[[str, bytes, Callable[[str], bytes]], "Classifier"]

MEMBER_KINDS: dict[str, MemberLoader] = {"tree": _tree, "sequence": _sequence}
"""Loaders of ensemble members by ``kind``: ``(family, file bytes, sibling) -> classifier``;
``sibling(name)`` reads another file of the member's directory (hash-pinned by the first)."""


def _no_sibling(name: str) -> bytes:
    raise ArtifactError(f"no file {name!r} beside the member", reason_code=reasons.ARTIFACT_MISSING)


def load_member(
    kind: str,
    family: str,
    data: bytes,
    sibling: Callable[[str], bytes] = _no_sibling,
) -> Classifier:
    """Load one member's model from its file bytes.

    Args:
        kind: the member's kind (a key of :data:`MEMBER_KINDS`).
        family: its family within that kind.
        data: the file bytes.
        sibling: reads another file of the member's directory by name (a sequence member's
            ``weights.safetensors``).

    Raises:
        ArtifactError: ``MODEL_FAMILY_UNKNOWN`` for an unknown kind or tree family;
            ``SEQUENCE_FAMILY_UNKNOWN`` or another ``SEQUENCE_*`` code for a sequence member.
    """
    loader = MEMBER_KINDS.get(kind)
    if loader is None:
        raise ArtifactError(
            f"unknown member kind {kind!r}", reason_code=reasons.MODEL_FAMILY_UNKNOWN
        )
    try:
        return loader(family, data, sibling)
    except ModelFamilyError as exc:
        raise ArtifactError(str(exc), reason_code=reasons.MODEL_FAMILY_UNKNOWN) from exc


def group_members(
    families: tuple[str, ...], specialists: bool, sequence: tuple[str, ...] = ()
) -> dict[str, tuple[str, ...]]:
    """The member names of each head group.

    Args:
        families: the configured tree families, in order.
        specialists: whether the run fits specialists.
        sequence: the sequence families (global members only), in order.

    Examples:
        >>> group_members(("lightgbm", "xgboost"), True)["full"]
        ('lightgbm/global', 'xgboost/global', 'lightgbm/specialist', 'xgboost/specialist')
        >>> group_members(("lightgbm",), False, ("lstm",))["globals"]
        ('lightgbm/global', 'lstm/global')
    """
    globals_ = tuple(f"{f}/global" for f in (*families, *sequence))
    groups = {GLOBALS: globals_}
    if specialists:
        groups[FULL] = globals_ + tuple(f"{f}/specialist" for f in families)
    return groups


@attrs.frozen(eq=False)
class StackHead:
    """One horizon's combination of one member group.

    Attributes:
        horizon_bars: the horizon.
        group: ``"globals"`` or ``"full"``.
        members: the member names, in the learner's column order.
        learner: the meta-learner (``None`` for a group of one member and for an
            ``"average"`` head).
        raw: the learner's file bytes as loaded (kept so a loaded set hashes as saved).
        combiner: ``"stack"`` (the learner) or ``"average"`` (the members' mean, decision
            0122).

    Examples:
        >>> import numpy as np
        >>> head = StackHead(1, "globals", ("a/global", "b/global"), None, combiner="average")
        >>> head.predict(np.array([[0.6, 0.7], [0.2, 0.4]]), np.full(4, 0.25)).round(4).tolist()
        [0.65, 0.3]
    """

    horizon_bars: int
    group: str
    members: tuple[str, ...]
    learner: MetaLearner | None
    raw: bytes | None = attrs.field(default=None, repr=False)
    combiner: str = STACK

    @property
    def file(self) -> str | None:
        """Relative path of the learner's file (``None`` without a learner)."""
        return None if self.learner is None else f"meta/h{self.horizon_bars}-{self.group}.json"

    def file_bytes(self) -> bytes:
        """The learner's canonical JSON (what :attr:`file` holds)."""
        assert self.learner is not None  # only called for heads with a file
        return self.raw if self.raw is not None else self.learner.to_json()

    def predict(self, p: FloatArray, posterior: FloatArray) -> FloatArray:
        """The head's probabilities for member columns ``p`` under the regime ``posterior``.

        Args:
            p: ``(rows, len(members))`` calibrated member probabilities.
            posterior: the regime posterior ``(4,)`` of the bar (an average head ignores it).
        """
        if self.combiner == AVERAGE:
            return np.asarray(np.mean(p, axis=1), dtype=np.float64)
        if self.learner is None:
            return np.asarray(p[:, 0], dtype=np.float64)
        context = np.broadcast_to(posterior, (p.shape[0], len(REGIME_LABELS)))
        return self.learner.predict(p, context).p


@attrs.frozen(eq=False)
class RegimeContext:
    """The regime model a stacked set gates its heads with, and the filter's lookback.

    Attributes:
        model: the fitted regime model.
        lookback: bars before ``t`` the truncated filter starts at.
        raw: the model's file bytes as loaded.
    """

    model: RegimeModel
    lookback: int
    raw: bytes | None = attrs.field(default=None, repr=False)

    FILE = "regime.json"

    def file_bytes(self) -> bytes:
        """The model's canonical JSON."""
        return self.raw if self.raw is not None else self.model.to_bytes()

    @property
    def bars_needed(self) -> int:
        """Grid bars before ``t`` that the posterior at ``t`` reads."""
        return self.lookback + self.model.window


def truncated_posterior(
    model: RegimeModel, rows: Any, lookback: int, *, last_only: bool = False
) -> FloatArray:
    """The regime posterior at every bar, each filtered from the prior ``lookback`` bars back.

    Args:
        model: the regime model.
        rows: its feature rows ``(n, 4)`` (:func:`~quant_models.families.regime_features`);
            a ``NaN`` row is a missing observation.
        lookback: bars before ``t`` the filter starts at (bars before the first row are
            absent: the filter then starts at the first row).
        last_only: compute the last bar's posterior only (serving): ``(1, 4)``, equal in
            bytes to the last row of the full answer.

    Returns:
        ``(n, 4)``, rows summing to 1, columns :data:`~quant_models.families.REGIME_LABELS`.
    """
    x = np.asarray(rows, dtype=np.float64)
    n, k = x.shape[0], len(REGIME_LABELS)
    observed: npt.NDArray[np.bool_] = np.asarray(np.isfinite(x).all(axis=1))
    z = np.where(observed[:, None], (x - model.feature_mean) / model.feature_scale, 0.0)
    terms = (z[:, None, :] - model.means[None]) ** 2 / model.variances
    log_b = -0.5 * (terms + np.log(model.variances) + _LOG_2PI).sum(axis=2)
    likelihood = np.exp(
        log_b - log_b.max(axis=1, keepdims=True)
    )  # each row's densities up to a factor (it cancels)
    if last_only:
        return _last_posterior(model, likelihood, observed, lookback)
    t = np.arange(n)
    pred = np.tile(model.start, (len(t), 1))
    post = pred
    trans = model.transition[None]
    for back in range(lookback, -1, -1):
        src = np.maximum(t - back, 0)
        valid: npt.NDArray[np.bool_] = np.asarray(t - back >= 0)[:, None]
        weighted = pred * likelihood[src]
        post = np.where(
            valid & observed[src][:, None], weighted / weighted.sum(axis=1, keepdims=True), pred
        )
        if back:
            pred = np.where(valid, (post[:, :, None] * trans).sum(axis=1), pred)
    out: FloatArray = np.ascontiguousarray(post.reshape(len(t), k))
    return out


def _last_posterior(
    model: RegimeModel, likelihood: FloatArray, observed: Any, lookback: int
) -> FloatArray:
    """The filter of :func:`truncated_posterior` at the last bar only, on Python floats.

    One bar's filter is 49 steps on 4 states, where numpy's per-call overhead dominates. The
    steps here are the same IEEE operations in the same order as the vectorised path's (each
    product rounded, then the 4 terms added left to right, as numpy reduces a 4-long axis),
    so the bytes are equal (tested against the vectorised filter).
    """
    n, k = likelihood.shape
    rows, seen = likelihood.tolist(), observed.tolist()
    trans = model.transition.tolist()
    post = pred = model.start.tolist()
    for back in range(lookback, -1, -1):
        s = n - 1 - back
        if s < 0:
            continue  # before the first row: the prior carries over
        post = pred
        if seen[s]:
            w = [p * v for p, v in zip(pred, rows[s], strict=True)]
            total = ((w[0] + w[1]) + w[2]) + w[3]
            post = [x / total for x in w]
        if back:
            pred = [
                ((post[0] * trans[0][j] + post[1] * trans[1][j]) + post[2] * trans[2][j])
                + post[3] * trans[3][j]
                for j in range(k)
            ]
    return np.array([post], dtype=np.float64)


class RegimeRows:
    """Regime feature rows of the last bars of a close panel, each window computed once.

    A row is a pure function of its window of closes, so rows are cached by the window's
    bytes (only the last call's rows are kept): a new bar costs one window, not ``lookback``.
    """

    def __init__(self, window: int) -> None:
        """Rows of ``window``-bar return windows.

        Args:
            window: the regime model's window.
        """
        self._window = window
        self._cache: dict[bytes, FloatArray] = {}

    def last(self, close: FloatArray, count: int) -> FloatArray:
        """The feature rows of the last ``count`` bars of ``close`` (``NaN`` before a window).

        Args:
            close: closes ``(n_coins, n_bars)``, coins sorted, ``NaN`` for a gap.
            count: how many of the last bars.
        """
        n_bars = close.shape[1]
        fresh: dict[bytes, FloatArray] = {}
        out = np.full((count, 4), np.nan)
        for i, t in enumerate(range(n_bars - count, n_bars)):
            if t < self._window:
                continue
            window = np.ascontiguousarray(close[:, t - self._window : t + 1])
            key = window.tobytes()
            row = self._cache.get(key)
            if row is None:
                row = window_features(window)
            fresh[key] = out[i] = row
        self._cache = fresh
        return out

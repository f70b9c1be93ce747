"""Model wrappers and the model-family registry.

A *family* (``"xgboost"``, ``"lightgbm"``, ``"random_forest"``) knows how to build a
deterministic binary classifier from parameters and a seed, and how to save and load it in
the library's own safe format — never pickle:

=================  ===========================================  ===========
family             format                                       file
=================  ===========================================  ===========
``xgboost``        XGBoost JSON (``Booster.save_raw("json")``)  ``.json``
``lightgbm``       LightGBM text model                          ``.txt``
``random_forest``  skops, normalised to stable bytes             ``.skops``
=================  ===========================================  ===========

Determinism: thread counts are fixed (``nthread`` / ``num_threads`` / ``n_jobs``), seeds come
from :func:`quant_core.derive_seed`, LightGBM runs ``deterministic`` and
``force_row_wise``. Later families (sequence models, regime classifier, meta-learner)
register themselves with :func:`register_family` and slot into the same pipeline.

Examples:
    >>> sorted(FAMILIES)
    ['lightgbm', 'random_forest', 'xgboost']
    >>> import numpy as np
    >>> x = np.arange(400, dtype=float).reshape(200, 2); y = (x[:, 0] > 199).astype(float)
    >>> m = get_family("xgboost").build({"n_estimators": 5}, seed=1, threads=1)
    >>> m.fit(x, y)
    >>> p = m.predict_proba(x); bool(p[-1] > p[0])
    True
    >>> again = get_family("xgboost").load(m.to_bytes())
    >>> bool(np.array_equal(again.predict_proba(x), p))
    True
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import attrs
import numpy as np

from quant_models import reasons
from quant_models._errors import ArtifactError, ModelFamilyError
from quant_models._panel import FeatureMatrix, FloatArray

Params = Mapping[str, Any]


class Classifier(Protocol):
    """A fitted-or-not binary classifier giving the probability of class 1."""

    family: str

    def fit(self, x: FeatureMatrix, y: FloatArray) -> None:
        """Train on the design matrix ``x`` and 0/1 labels ``y``."""
        ...

    def predict_proba(self, x: FeatureMatrix) -> FloatArray:
        """Probability of class 1 for each row of ``x``."""
        ...

    def to_bytes(self) -> bytes:
        """The fitted model in the family's safe on-disk format."""
        ...


@attrs.frozen
class ModelFamily:
    """A registered model family.

    Attributes:
        name: registry key.
        suffix: file suffix of its artifacts.
        defaults: default hyperparameters.
        space: hyperparameter search space, name → allowed values.
        build: ``(params, seed, threads) -> Classifier``, unfitted.
        load: ``bytes -> Classifier``, fitted.
    """

    name: str
    suffix: str
    defaults: Mapping[str, Any]
    space: Mapping[str, tuple[Any, ...]]
    build_fn: Callable[[dict[str, Any], int, int], Classifier]
    load_fn: Callable[[bytes], Classifier]

    def build(self, params: Params, *, seed: int, threads: int = 1) -> Classifier:
        """An unfitted classifier with ``defaults`` overridden by ``params``."""
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise ModelFamilyError(
                f"{self.name} has no parameters {unknown}", reason_code=reasons.CONFIG_INVALID
            )
        return self.build_fn({**self.defaults, **params}, seed, threads)

    def load(self, data: bytes) -> Classifier:
        """A fitted classifier from its saved bytes."""
        return self.load_fn(data)


FAMILIES: dict[str, ModelFamily] = {}
"""The model-family registry."""


def register_family(family: ModelFamily) -> ModelFamily:
    """Add ``family`` to :data:`FAMILIES` (a name can be registered once)."""
    if family.name in FAMILIES:
        raise ModelFamilyError(
            f"model family {family.name!r} is already registered",
            reason_code=reasons.CONFIG_INVALID,
        )
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> ModelFamily:
    """The registered family ``name``.

    Raises:
        ModelFamilyError: ``MODEL_FAMILY_UNKNOWN``.
    """
    try:
        return FAMILIES[name]
    except KeyError:
        raise ModelFamilyError(
            f"unknown model family {name!r}; known: {sorted(FAMILIES)}"
        ) from None


# --- XGBoost --------------------------------------------------------------------------------


class XGBoostClassifier:
    """Gradient-boosted trees through ``xgboost.train`` (the native API)."""

    family = "xgboost"
    SUFFIX: ClassVar[str] = ".json"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "n_estimators": 50,
        "max_depth": 3,
        "learning_rate": 0.05,
        "subsample": 1.0,
        "min_child_weight": 20.0,
    }
    SPACE: ClassVar[dict[str, tuple[Any, ...]]] = {
        "max_depth": (2, 3, 4),
        "learning_rate": (0.03, 0.05, 0.1),
        "subsample": (0.8, 1.0),
    }

    def __init__(self, params: dict[str, Any], seed: int, threads: int) -> None:
        self.rounds = int(params["n_estimators"])
        self.threads = threads
        self.params = {
            "objective": "binary:logistic",
            "tree_method": "hist",
            "max_depth": int(params["max_depth"]),
            "eta": float(params["learning_rate"]),
            "subsample": float(params["subsample"]),
            "min_child_weight": float(params["min_child_weight"]),
            "nthread": threads,
            "seed": seed % 2**31,
            "verbosity": 0,
        }
        self.booster: Any = None

    def fit(self, x: FeatureMatrix, y: FloatArray) -> None:
        """Train ``n_estimators`` rounds."""
        import xgboost as xgb

        matrix = xgb.DMatrix(x, label=y, nthread=self.threads)
        self.booster = xgb.train(self.params, matrix, self.rounds)

    def predict_proba(self, x: FeatureMatrix) -> FloatArray:
        """Probability of an up move (on the model's fixed thread count, cheap for one row)."""
        import xgboost as xgb

        matrix = xgb.DMatrix(x, nthread=self.threads)
        return np.asarray(self.booster.predict(matrix), dtype=np.float64)

    def to_bytes(self) -> bytes:
        """XGBoost JSON."""
        return bytes(self.booster.save_raw("json"))

    @classmethod
    def from_bytes(cls, data: bytes) -> XGBoostClassifier:
        """Load XGBoost JSON (predicting on one thread: the file does not keep a thread count)."""
        import xgboost as xgb

        model = cls(dict(cls.DEFAULTS), 0, 1)
        booster = xgb.Booster({"nthread": model.threads})
        try:
            booster.load_model(bytearray(data))
        except xgb.core.XGBoostError as exc:
            raise ArtifactError(f"not an XGBoost model: {exc}") from exc
        model.booster = booster
        return model


# --- LightGBM -------------------------------------------------------------------------------

_LGB_THREADS = re.compile(r"^\[num_threads: \d+\]$", re.MULTILINE)


class LightGBMClassifier:
    """Gradient-boosted trees through ``lightgbm.train``, deterministic row-wise mode."""

    family = "lightgbm"
    SUFFIX: ClassVar[str] = ".txt"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "n_estimators": 50,
        "num_leaves": 7,
        "learning_rate": 0.05,
        "min_data_in_leaf": 50,
        "feature_fraction": 1.0,
    }
    SPACE: ClassVar[dict[str, tuple[Any, ...]]] = {
        "num_leaves": (3, 7, 15),
        "learning_rate": (0.03, 0.05, 0.1),
        "min_data_in_leaf": (20, 50),
    }

    def __init__(self, params: dict[str, Any], seed: int, threads: int) -> None:
        self.rounds = int(params["n_estimators"])
        self.params = {
            "objective": "binary",
            "num_leaves": int(params["num_leaves"]),
            "learning_rate": float(params["learning_rate"]),
            "min_data_in_leaf": int(params["min_data_in_leaf"]),
            "feature_fraction": float(params["feature_fraction"]),
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": threads,
            "seed": seed % 2**31,
            "verbosity": -1,
        }
        self.booster: Any = None

    def fit(self, x: FeatureMatrix, y: FloatArray) -> None:
        """Train ``n_estimators`` rounds."""
        import lightgbm as lgb

        data = lgb.Dataset(x, label=y, params={"verbosity": -1})
        self.booster = lgb.train(self.params, data, num_boost_round=self.rounds)

    def predict_proba(self, x: FeatureMatrix) -> FloatArray:
        """Probability of an up move."""
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def to_bytes(self) -> bytes:
        """LightGBM text model, with the thread count written as 1 whatever the fit used.

        The text records the run's parameters, ``num_threads`` among them; trees and
        predictions do not depend on it (``deterministic`` and ``force_row_wise``), so the
        saved bytes, and the model id that hashes them, must not either (decision 0121).
        """
        text = str(self.booster.model_to_string())
        return _LGB_THREADS.sub("[num_threads: 1]", text).encode("utf-8")

    @classmethod
    def from_bytes(cls, data: bytes) -> LightGBMClassifier:
        """Load a LightGBM text model."""
        import lightgbm as lgb

        model = cls(dict(cls.DEFAULTS), 0, 1)
        try:
            model.booster = lgb.Booster(model_str=data.decode("utf-8"))
        except (lgb.basic.LightGBMError, UnicodeDecodeError) as exc:
            raise ArtifactError(f"not a LightGBM model: {exc}") from exc
        return model


# --- Random forest (scikit-learn, saved with skops) ------------------------------------------

SKOPS_TRUSTED_TYPES = ("sklearn.tree._tree.Tree",)
"""The only non-default types a saved random forest may contain (checked before loading)."""

_SKOPS_ID = re.compile(rb'"__id__": (\d+)|"(\d+)\.npy"')


def stable_skops_bytes(data: bytes) -> bytes:
    """Rewrite a skops archive so its bytes depend only on the model.

    skops names array files and memo entries after CPython object ids and stamps zip entries
    with the wall clock. Ids are renumbered in order of first appearance in ``schema.json``,
    entries are written sorted, uncompressed, with a fixed 1980-01-01 timestamp.
    """
    source = zipfile.ZipFile(io.BytesIO(data))
    schema = source.read("schema.json")
    mapping: dict[bytes, bytes] = {}
    for match in _SKOPS_ID.finditer(schema):
        key = match.group(1) or match.group(2)
        mapping.setdefault(key, str(len(mapping) + 1).encode())

    def rename(match: re.Match[bytes]) -> bytes:
        if match.group(1):
            return b'"__id__": ' + mapping[match.group(1)]
        return b'"' + mapping[match.group(2)] + b'.npy"'

    files = {"schema.json": _SKOPS_ID.sub(rename, schema)}
    for name in source.namelist():
        if name != "schema.json":
            stem = name.removesuffix(".npy").encode()
            files[mapping[stem].decode() + ".npy"] = source.read(name)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            target.writestr(info, files[name])
    return out.getvalue()


class RandomForestModel:
    """scikit-learn's ``RandomForestClassifier`` with fixed ``n_jobs`` and ``random_state``."""

    family = "random_forest"
    SUFFIX: ClassVar[str] = ".skops"
    DEFAULTS: ClassVar[dict[str, Any]] = {
        "n_estimators": 50,
        "max_depth": 6,
        "min_samples_leaf": 50,
        "max_features": 0.5,
    }
    SPACE: ClassVar[dict[str, tuple[Any, ...]]] = {
        "max_depth": (4, 6, 8),
        "min_samples_leaf": (20, 50),
        "max_features": (0.3, 0.5),
    }

    def __init__(self, params: dict[str, Any], seed: int, threads: int) -> None:
        from sklearn.ensemble import RandomForestClassifier

        self.model: Any = RandomForestClassifier(
            n_estimators=int(params["n_estimators"]),
            max_depth=int(params["max_depth"]),
            min_samples_leaf=int(params["min_samples_leaf"]),
            max_features=float(params["max_features"]),
            random_state=seed % 2**32,
            n_jobs=threads,
        )

    def fit(self, x: FeatureMatrix, y: FloatArray) -> None:
        """Grow the forest."""
        self.model.fit(x, y.astype(np.int64))

    def predict_proba(self, x: FeatureMatrix) -> FloatArray:
        """Probability of an up move (0 when training saw no up move)."""
        classes = list(self.model.classes_)
        if 1 not in classes:
            return np.zeros(x.shape[0])
        return np.asarray(self._forest_proba(x)[:, classes.index(1)], dtype=np.float64)

    def _forest_proba(self, x: FeatureMatrix) -> FloatArray:
        """``RandomForestClassifier.predict_proba``, minus its per-call overhead.

        scikit-learn validates the input, then adds up every tree's class probabilities in
        tree order through a thread pool and divides by the number of trees. For the input it
        would accept as is (2-D, the fitted width, no infinity) this does the same sums in the
        same order — the same bits, several times faster for the one-row calls of a predictor.
        Anything else goes through scikit-learn, and its errors.
        """
        forest = self.model
        x32 = np.asarray(x, dtype=np.float32)
        if x32.ndim != 2 or x32.shape[1] != forest.n_features_in_ or np.isinf(x32).any():
            return np.asarray(forest.predict_proba(x), dtype=np.float64)
        x32 = np.ascontiguousarray(x32)
        total = np.zeros((x32.shape[0], forest.n_classes_))
        for tree in forest.estimators_:
            total += tree.predict_proba(x32, check_input=False)
        total /= len(forest.estimators_)
        return total

    def to_bytes(self) -> bytes:
        """The skops archive, normalised with :func:`stable_skops_bytes`.

        ``n_jobs`` is saved as 1 whatever the fit used: it changes neither the trees nor the
        predictions, so it must not change the bytes or the model id (decision 0121).
        """
        import skops.io as sio

        threads = self.model.n_jobs
        self.model.n_jobs = 1
        try:
            return stable_skops_bytes(sio.dumps(self.model))
        finally:
            self.model.n_jobs = threads

    @classmethod
    def from_bytes(cls, data: bytes) -> RandomForestModel:
        """Load a skops archive, refusing any type outside :data:`SKOPS_TRUSTED_TYPES`."""
        import skops.io as sio

        try:
            untrusted = set(sio.get_untrusted_types(data=data))
        except (zipfile.BadZipFile, KeyError, ValueError) as exc:
            raise ArtifactError(f"not a skops archive: {exc}") from exc
        if not untrusted <= set(SKOPS_TRUSTED_TYPES):
            raise ArtifactError(f"skops archive holds untrusted types {sorted(untrusted)}")
        model = cls(dict(cls.DEFAULTS), 0, 1)
        model.model = sio.loads(data, trusted=list(SKOPS_TRUSTED_TYPES))
        return model


_TREE_MODELS: tuple[type[XGBoostClassifier | LightGBMClassifier | RandomForestModel], ...] = (
    XGBoostClassifier,
    LightGBMClassifier,
    RandomForestModel,
)
for _model in _TREE_MODELS:  # each class declares its family's name, suffix, defaults and space
    register_family(
        ModelFamily(
            _model.family, _model.SUFFIX, _model.DEFAULTS, _model.SPACE, _model, _model.from_bytes
        )
    )

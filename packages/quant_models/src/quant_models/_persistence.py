"""Saving and loading a model set without pickle.

A model set directory holds one file per fitted model in its library's native format (see
:mod:`quant_models.families._trees`) and ``metadata.json``, canonical JSON with the feature schema
(and its hash), the horizons with their bucket tables, and for every model its family, scope,
symbol, parameters, calibration map and the SHA-256 of its file. The ``model_id`` is the
content hash of that metadata, so it pins every byte of the set. Loading re-hashes every file
and refuses a mismatch.

Two formats: ``quant.modelset/1`` serves one model per coin and horizon; ``quant.modelset/2``
(a stacked ensemble, :mod:`quant_models._ensemble`, decision 0118) adds each member's
``name`` and ``kind``, the heads (one meta-learner file per horizon and member group, canonical
JSON) and the regime model (``regime.json``). A version 1 set is written and read exactly as
before. Loading a version 2 set also refuses: a schema whose hash or names differ from what
this runtime computes for its feature config (``SCHEMA_MISMATCH``), an unknown member kind or
family (``MODEL_FAMILY_UNKNOWN``), a model that does not take the schema's feature count or a
head whose learner does not match its members or the regime columns, a head whose
``combiner`` is unknown, and an ``"average"`` head with a learner file or fewer than two
members (``MODEL_SHAPE_MISMATCH``), and a head naming a member the set lacks
(``ENSEMBLE_MEMBER_MISSING``). A head's ``combiner`` (decision 0122) is absent for a stacking
meta-learner (every set written before it loads and re-saves as it was) and ``"average"``
for the plain mean of its members' calibrated probabilities (it has no file).

A ``kind = "sequence"`` member (decision 0115) is one directory,
``models/<family>-global-all/``, holding ``sequence.json`` and ``weights.safetensors``; one
model forecasts every horizon, so each horizon's entry names the same files. The member's
``file``/``sha256`` pin ``sequence.json``, which pins the weights by their SHA-256; loading
refuses a sequence family it does not know (``SEQUENCE_FAMILY_UNKNOWN``), weights unlike the
declared shapes (``SEQUENCE_SHAPE_MISMATCH``) and a model without the entry's horizon
(``MODEL_SHAPE_MISMATCH``).

Examples:
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from quant_models.features import FeatureConfig, FeatureSchema
    >>> from quant_models.families._trees import get_family
    >>> from quant_models._calibration import Calibrator
    >>> cfg = FeatureConfig()
    >>> m = get_family("lightgbm").build({"n_estimators": 3, "min_data_in_leaf": 2}, seed=1)
    >>> X = np.arange(60.0).reshape(20, 3); m.fit(X, (X[:, 0] > 30).astype(float))
    >>> entry = ModelEntry(1, "lightgbm", "global", None, {}, Calibrator("identity"), m)
    >>> ms = ModelSet(FeatureSchema.of(cfg, "1h"), cfg, "USD", ("BTC",), "sha256:d",
    ...               (HorizonTable(1, (0.0,), (1.0,), (1.0,)),), (entry,))
    >>> d = Path(tempfile.mkdtemp())
    >>> write_files(d, artifact_files(ms))
    >>> load_model_set(d).model_id == ms.model_id
    True
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from quant_core import canonical_json, content_hash, sha256_hex, structure, unstructure
from quant_core.files import write_files_synced
from quant_models import reasons
from quant_models._calibration import Calibrator
from quant_models._ensemble import (
    AVERAGE,
    COMBINERS,
    STACK,
    RegimeContext,
    SequenceMember,
    StackHead,
    load_member,
)
from quant_models._errors import ArtifactError
from quant_models.families import REGIME_LABELS, MetaArtifactError, MetaLearner, RegimeModel
from quant_models.families._trees import Classifier, get_family
from quant_models.features import FeatureConfig, FeatureSchema

__all__ = [
    "METADATA_FILE",
    "MODELSET_FORMAT",
    "STACKED_FORMAT",
    "HorizonTable",
    "ModelEntry",
    "ModelSet",
    "artifact_files",
    "load_model_set",
    "write_files",
]

MODELSET_FORMAT = "quant.modelset/1"
STACKED_FORMAT = "quant.modelset/2"
METADATA_FILE = "metadata.json"


def _floats(value: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in value)


@attrs.frozen
class HorizonTable:
    """A horizon with its return buckets.

    Attributes:
        bars: horizon in bars.
        bucket_edges: inner bucket edges (include 0).
        up_table: P(bucket | up) over all buckets (0 for the down buckets).
        down_table: P(bucket | down) over all buckets (0 for the up buckets).
    """

    bars: int
    bucket_edges: tuple[float, ...] = attrs.field(converter=_floats)
    up_table: tuple[float, ...] = attrs.field(converter=_floats)
    down_table: tuple[float, ...] = attrs.field(converter=_floats)


@attrs.frozen(eq=False)
class ModelEntry:
    """One served model.

    Attributes:
        horizon_bars: the horizon it predicts.
        family: model family name.
        scope: ``"global"`` (all coins) or ``"specialist"`` (one coin).
        symbol: the coin of a specialist; ``None`` for a global model.
        params: hyperparameters (overrides of the family defaults).
        calibrator: its calibration map.
        model: the fitted classifier.
        raw: the bytes it was loaded from (kept so a loaded set hashes exactly as saved).
        kind: the member kind (``"tree"`` or ``"sequence"``; written by the stacked format
            only).
    """

    horizon_bars: int
    family: str
    scope: str
    symbol: str | None
    params: dict[str, Any]
    calibrator: Calibrator
    model: Classifier
    raw: bytes | None = attrs.field(default=None, repr=False)
    kind: str = "tree"

    @property
    def name(self) -> str:
        """The member name a meta-learner column refers to (``family/scope``)."""
        return f"{self.family}/{self.scope}"

    @property
    def file(self) -> str:
        """Relative path of the model file (a sequence member's ``sequence.json``)."""
        who = self.symbol or "all"
        if self.kind == "sequence":
            return f"models/{self.family}-{self.scope}-{who}/sequence.json"
        return (
            f"models/h{self.horizon_bars}/{self.family}-{self.scope}-{who}"
            + get_family(self.family).suffix
        )

    def files(self) -> dict[str, bytes]:
        """Every file of the member by relative path (:attr:`file` first)."""
        if isinstance(self.model, SequenceMember):
            folder = self.file.rsplit("/", 1)[0]
            return {f"{folder}/{k}": v for k, v in sorted(self.model.files().items())}
        return {self.file: self.raw if self.raw is not None else self.model.to_bytes()}


@attrs.frozen(eq=False)
class ModelSet:
    """Everything a predictor needs: schema, horizons and fitted, calibrated models.

    A stacked set (``heads`` not empty) also holds its heads and regime model.
    """

    schema: FeatureSchema
    feature_config: FeatureConfig
    quote: str
    symbols: tuple[str, ...]
    dataset_hash: str
    horizons: tuple[HorizonTable, ...]
    entries: tuple[ModelEntry, ...]
    heads: tuple[StackHead, ...] = ()
    regime: RegimeContext | None = None

    @property
    def stacked(self) -> bool:
        """Whether the set is a stacked ensemble (``quant.modelset/2``)."""
        return bool(self.heads)

    def model_bytes(self) -> dict[str, bytes]:
        """Each model's file bytes by relative path (heads and regime model included)."""
        files = {path: data for entry in self.entries for path, data in entry.files().items()}
        for head in self.heads:
            if head.file is not None:
                files[head.file] = head.file_bytes()
        if self.regime is not None:
            files[RegimeContext.FILE] = self.regime.file_bytes()
        return files

    def metadata(self, files: Mapping[str, bytes] | None = None) -> dict[str, Any]:
        """The metadata document (without ``model_id``).

        Built by hand around the converter's output: the ``quant.modelset/1`` file format adds
        each model file's hash and fixes the layout that ``model_id`` hashes.
        """
        files = self.model_bytes() if files is None else files
        if self.stacked:
            return self._stacked_metadata(files)
        return {
            "format": MODELSET_FORMAT,
            **self._shared_metadata(),
            "models": [self._entry_metadata(e, files) for e in self.entries],
        }

    def _shared_metadata(self) -> dict[str, Any]:
        """What both formats record about the set as a whole."""
        return {
            "feature_schema": unstructure(self.schema),
            "feature_schema_hash": self.schema.schema_hash,
            "quote": self.quote,
            "symbols": list(self.symbols),
            "dataset_hash": self.dataset_hash,
            "horizons": [unstructure(h) for h in self.horizons],
        }

    @staticmethod
    def _entry_metadata(e: ModelEntry, files: Mapping[str, bytes]) -> dict[str, Any]:
        """What both formats record about one model (format 2 adds its name and kind)."""
        return {
            "horizon_bars": e.horizon_bars,
            "family": e.family,
            "scope": e.scope,
            "symbol": e.symbol,
            "params": e.params,
            "calibrator": unstructure(e.calibrator),
            "file": e.file,
            "sha256": sha256_hex(files[e.file]),
        }

    def _stacked_metadata(self, files: Mapping[str, bytes]) -> dict[str, Any]:
        assert self.regime is not None  # a stacked set always has its regime model
        return {
            "format": STACKED_FORMAT,
            "combine": "stack",
            **self._shared_metadata(),
            "members": [
                {"name": e.name, "kind": e.kind, **self._entry_metadata(e, files)}
                for e in self.entries
            ],
            "heads": [_head_metadata(h, files) for h in self.heads],
            "regime": {
                "file": RegimeContext.FILE,
                "lookback": self.regime.lookback,
                "sha256": sha256_hex(files[RegimeContext.FILE]),
            },
        }

    @property
    def model_id(self) -> str:
        """Content hash of the metadata (which pins every model file's bytes)."""
        return content_hash(self.metadata())


def _head_metadata(head: StackHead, files: Mapping[str, bytes]) -> dict[str, Any]:
    """One head's record; a non-stack combiner adds its name (decision 0122).

    A ``"stack"`` head has no ``combiner`` field (one spelling, as written since 0118).
    """
    out: dict[str, Any] = {
        "horizon_bars": head.horizon_bars,
        "group": head.group,
        "members": list(head.members),
        "file": head.file,
        "sha256": None if head.file is None else sha256_hex(files[head.file]),
    }
    if head.combiner != STACK:
        out["combiner"] = head.combiner
    return out


def artifact_files(model_set: ModelSet) -> dict[str, bytes]:
    """Every file of the saved model set, by relative path (metadata included)."""
    files = model_set.model_bytes()
    meta = model_set.metadata(files)
    meta["model_id"] = content_hash(meta)
    return {**files, METADATA_FILE: canonical_json(meta) + b"\n"}


def write_files(directory: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` under ``directory`` (which should be a fresh staging directory)."""
    write_files_synced(directory, files)


def _entry(item: Mapping[str, Any], model: Any, data: bytes, **extra: Any) -> ModelEntry:
    """The :class:`ModelEntry` a metadata record describes, around its loaded ``model``."""
    return ModelEntry(
        item["horizon_bars"],
        item["family"],
        item["scope"],
        item["symbol"],
        item["params"],
        structure(item["calibrator"], Calibrator),
        model,
        raw=data,
        **extra,
    )


def load_model_set(directory: Path) -> ModelSet:
    """Load and verify a model set written by :func:`artifact_files`.

    Raises:
        ArtifactError: ``ARTIFACT_MISSING`` for a missing file, ``ARTIFACT_INVALID`` for bad
            metadata or a file whose hash differs from the metadata.
    """
    directory = Path(directory)
    try:
        meta = json.loads((directory / METADATA_FILE).read_bytes())
        stated_id = meta.pop("model_id")
        if meta.get("format") not in (MODELSET_FORMAT, STACKED_FORMAT):
            raise ValueError(f"unsupported format {meta.get('format')!r}")
    except FileNotFoundError as exc:
        raise ArtifactError(
            f"{directory} has no {METADATA_FILE}", reason_code=reasons.ARTIFACT_MISSING
        ) from exc
    except (ValueError, KeyError, AttributeError) as exc:
        raise ArtifactError(f"{directory / METADATA_FILE} is malformed: {exc}") from exc
    if content_hash(meta) != stated_id:
        raise ArtifactError(f"{METADATA_FILE} does not hash to its model_id {stated_id}")
    if meta["format"] == STACKED_FORMAT:
        try:
            return _load_stacked(directory, meta)
        except (KeyError, TypeError) as exc:
            raise ArtifactError(f"{directory / METADATA_FILE} is malformed: {exc!r}") from exc
    schema = structure(meta["feature_schema"], FeatureSchema)
    entries = []
    for item in meta["models"]:
        data = _read_checked(directory, item["file"], item["sha256"])
        entries.append(_entry(item, get_family(item["family"]).load(data), data))
    return ModelSet(
        schema,
        structure(schema.config, FeatureConfig),
        meta["quote"],
        tuple(meta["symbols"]),
        meta["dataset_hash"],
        tuple(structure(h, HorizonTable) for h in meta["horizons"]),
        tuple(entries),
    )


def _read(path: Path) -> bytes:
    if not path.is_file():
        raise ArtifactError(f"missing model file {path}", reason_code=reasons.ARTIFACT_MISSING)
    return path.read_bytes()


def _sibling(folder: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        return _read(folder / name)

    return read


def _read_checked(directory: Path, name: str, digest: str) -> bytes:
    path = directory / name
    data = _read(path)
    if sha256_hex(data) != digest:
        raise ArtifactError(f"{path} does not match its hash in {METADATA_FILE}")
    return data


def _shape_error(message: str) -> ArtifactError:
    return ArtifactError(message, reason_code=reasons.MODEL_SHAPE_MISMATCH)


def _average_head(item: Mapping[str, Any], members: tuple[str, ...]) -> StackHead:
    """The ``"average"`` head a metadata record describes (decision 0122)."""
    h, group = item["horizon_bars"], item["group"]
    if item["file"] is not None or len(members) < 2:
        raise _shape_error(
            f"the h{h} {group} average head has a learner file or fewer than two members"
        )
    return StackHead(h, group, members, None, combiner=AVERAGE)


def _load_stacked(directory: Path, meta: dict[str, Any]) -> ModelSet:
    """Load the ``quant.modelset/2`` body of ``meta`` (its id already checked)."""
    schema = structure(meta["feature_schema"], FeatureSchema)
    config = structure(schema.config, FeatureConfig)
    horizons = tuple(structure(h, HorizonTable) for h in meta["horizons"])
    members, heads, regime = meta["members"], meta["heads"], meta["regime"]
    runtime = FeatureSchema.of(config, schema.timeframe)
    if schema.schema_hash != meta["feature_schema_hash"] or runtime != schema:
        raise ArtifactError(
            "the set's feature schema differs from the one this runtime computes for it",
            reason_code=reasons.SCHEMA_MISMATCH,
        )
    probe = np.zeros((1, len(schema.names)))
    entries = []
    for item in members:
        data = _read_checked(directory, item["file"], item["sha256"])
        folder = (directory / item["file"]).parent
        model = load_member(item["kind"], item["family"], data, _sibling(folder))
        if isinstance(model, SequenceMember):
            if item["horizon_bars"] not in model.model.horizons:
                raise _shape_error(f"{item['file']} does not forecast h{item['horizon_bars']}")
        else:
            try:
                model.predict_proba(probe)
            except Exception as exc:  # each library words a wrong feature count its own way
                raise _shape_error(
                    f"{item['file']} does not take {probe.shape[1]} features"
                ) from exc
        entries.append(_entry(item, model, data, kind=item["kind"]))
    names = {(e.horizon_bars, e.name) for e in entries}
    stack = []
    for item in heads:
        h, group, wanted = item["horizon_bars"], item["group"], tuple(item["members"])
        absent = [m for m in wanted if (h, m) not in names]
        if absent:
            raise ArtifactError(
                f"the h{h} {group} head expects members {absent} the set does not hold",
                reason_code=reasons.ENSEMBLE_MEMBER_MISSING,
            )
        combiner = item.get("combiner", STACK)
        if "combiner" in item and combiner != AVERAGE:
            raise _shape_error(
                f"the h{h} {group} head's combiner {combiner!r} is unknown (known: "
                f"{list(COMBINERS)}; a stack head is written without the field)"
            )
        if combiner == AVERAGE:
            stack.append(_average_head(item, wanted))
            continue
        learner = raw = None
        if item["file"] is not None:
            raw = _read_checked(directory, item["file"], item["sha256"])
            try:
                learner = MetaLearner.from_json(raw)
            except MetaArtifactError as exc:
                raise ArtifactError(f"{item['file']}: {exc}") from exc
            if learner.models != wanted or learner.horizon_bars != h:
                raise _shape_error(f"{item['file']} stacks {list(learner.models)}, not {wanted}")
            if learner.context_columns != len(REGIME_LABELS):
                raise _shape_error(
                    f"{item['file']} is not gated by the {len(REGIME_LABELS)} regimes"
                )
        elif len(wanted) != 1:
            raise _shape_error(f"the h{h} {group} head of {len(wanted)} members has no learner")
        stack.append(StackHead(h, group, wanted, learner, raw=raw))
    regime_raw = _read_checked(directory, regime["file"], regime["sha256"])
    context = RegimeContext(RegimeModel.from_bytes(regime_raw), regime["lookback"], raw=regime_raw)
    return ModelSet(
        schema,
        config,
        meta["quote"],
        tuple(meta["symbols"]),
        meta["dataset_hash"],
        horizons,
        tuple(entries),
        tuple(stack),
        context,
    )

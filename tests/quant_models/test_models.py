"""Model wrappers, the family registry, safe persistence and byte-identical artifacts."""

from __future__ import annotations

import fractions
import hashlib
import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from quant_core import generator
from quant_models import ArtifactError, ModelFamilyError, reasons
from quant_models._persistence import (
    HorizonTable,
    ModelEntry,
    ModelSet,
    artifact_files,
    load_model_set,
    write_files,
)
from quant_models.families import FAMILIES, ModelFamily, get_family, register_family
from quant_models.features import FeatureConfig, FeatureSchema
from quant_models.training import Calibrator

ROOT = Path(__file__).resolve().parents[2]


def _xy(n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rng = generator(5, "models-test")
    x = rng.normal(size=(n, 4))
    x[::17, 2] = np.nan
    y = (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(float)
    return x, y


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_learns_saves_and_loads_identically(family: str) -> None:
    x, y = _xy()
    model = get_family(family).build({"n_estimators": 10}, seed=3)
    model.fit(x, y)
    p = model.predict_proba(x)
    assert p.shape == (400,)
    assert np.all((p >= 0) & (p <= 1))
    assert np.mean((p > 0.5) == (y > 0.5)) > 0.75
    data = model.to_bytes()
    assert b"pickle" not in data[:64]
    again = get_family(family).load(data)
    np.testing.assert_array_equal(again.predict_proba(x), p)
    # same seed, same data -> same bytes; another seed -> (for sampled families) other bytes
    twin = get_family(family).build({"n_estimators": 10}, seed=3)
    twin.fit(x, y)
    assert twin.to_bytes() == data


def test_random_forest_fast_path_is_scikit_learns_answer_bit_for_bit() -> None:
    x, y = _xy()
    x = x.copy()
    x[::7, 1] = np.nan  # gaps in the features reach the model as NaN
    model = get_family("random_forest").build({"n_estimators": 7, "min_samples_leaf": 5}, seed=4)
    model.fit(x, y)
    forest = model.model  # type: ignore[attr-defined]
    reference = forest.predict_proba(x)[:, list(forest.classes_).index(1)]
    assert np.array_equal(model.predict_proba(x), reference)
    assert np.array_equal(model.predict_proba(x[5:6]), reference[5:6])  # one row
    assert np.array_equal(model.predict_proba(np.asfortranarray(x)), reference)
    # input scikit-learn refuses is refused the same way
    with pytest.raises(ValueError, match="features"):
        model.predict_proba(x[:, :2])
    bad = x[:3].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        model.predict_proba(bad)


def test_saved_formats_are_the_native_ones() -> None:
    x, y = _xy()
    fams = {name: get_family(name).build({"n_estimators": 3}, seed=1) for name in FAMILIES}
    for m in fams.values():
        m.fit(x, y)
    assert fams["xgboost"].to_bytes().startswith(b"{")  # XGBoost JSON
    assert fams["lightgbm"].to_bytes().startswith(b"tree\nversion=")  # LightGBM text
    archive = zipfile.ZipFile(io.BytesIO(fams["random_forest"].to_bytes()))
    assert "schema.json" in archive.namelist()  # skops, no pickle stream
    assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_loading_refuses_garbage_and_untrusted_types() -> None:
    for name in FAMILIES:
        with pytest.raises(ArtifactError):
            get_family(name).load(b"not a model")
    import skops.io as sio
    from sklearn.linear_model import LogisticRegression

    x, y = _xy()
    evil = sio.dumps(LogisticRegression().fit(np.nan_to_num(x), y))
    bad = sio.dumps(fractions.Fraction(1, 3))  # a type outside the trusted list
    with pytest.raises(ArtifactError):
        get_family("random_forest").load(bad)
    get_family("random_forest").load(evil)  # default-trusted sklearn types load


def test_registry_rejects_unknown_and_duplicates() -> None:
    with pytest.raises(ModelFamilyError) as exc:
        get_family("lstm")
    assert exc.value.reason_code == reasons.MODEL_FAMILY_UNKNOWN
    with pytest.raises(ModelFamilyError):
        register_family(FAMILIES["xgboost"])
    with pytest.raises(ModelFamilyError):
        get_family("xgboost").build({"colour": 1}, seed=0)


def test_a_new_family_slots_in() -> None:
    class Constant:
        family = "constant"

        def __init__(self, params: dict[str, object], seed: int, threads: int) -> None:
            self.value = float(params["value"])  # type: ignore[arg-type]

        def fit(self, x: np.ndarray, y: np.ndarray) -> None:
            self.value = float(y.mean())

        def predict_proba(self, x: np.ndarray) -> np.ndarray:
            return np.full(x.shape[0], self.value)

        def to_bytes(self) -> bytes:
            return repr(self.value).encode()

    family = ModelFamily(
        "constant",
        ".txt",
        {"value": 0.5},
        {},
        Constant,
        lambda b: Constant({"value": float(b)}, 0, 1),
    )
    register_family(family)
    try:
        m = get_family("constant").build({}, seed=0)
        m.fit(np.zeros((4, 1)), np.array([1.0, 0.0, 1.0, 1.0]))
        assert get_family("constant").load(m.to_bytes()).predict_proba(np.zeros((1, 1)))[0] == 0.75
    finally:
        del FAMILIES["constant"]


def _model_set() -> ModelSet:
    x, y = _xy()
    cfg = FeatureConfig()
    entries = []
    for i, name in enumerate(sorted(FAMILIES)):
        m = get_family(name).build({"n_estimators": 3}, seed=i)
        m.fit(x, y)
        entries.append(
            ModelEntry(1, name, "specialist", f"C{i}", {}, Calibrator("platt", 0.9, 0.1), m)
        )
    table = HorizonTable(1, (0.0,), (0.0, 1.0), (1.0, 0.0))
    return ModelSet(
        FeatureSchema.of(cfg, "1h"),
        cfg,
        "USD",
        ("C0", "C1", "C2"),
        "sha256:d",
        (table,),
        tuple(entries),
    )


def test_model_set_round_trip_and_tamper_detection(tmp_path: Path) -> None:
    ms = _model_set()
    files = artifact_files(ms)
    write_files(tmp_path / "a", files)
    loaded = load_model_set(tmp_path / "a")
    assert loaded.model_id == ms.model_id
    assert loaded.schema.schema_hash == ms.schema.schema_hash
    assert [e.calibrator for e in loaded.entries] == [e.calibrator for e in ms.entries]
    assert artifact_files(loaded) == files
    # tamper with a model file
    victim = next(n for n in files if n.endswith(".txt"))
    (tmp_path / "a" / victim).write_bytes(files[victim] + b" ")
    with pytest.raises(ArtifactError) as exc:
        load_model_set(tmp_path / "a")
    assert exc.value.reason_code == reasons.ARTIFACT_INVALID
    (tmp_path / "a" / victim).unlink()
    with pytest.raises(ArtifactError) as exc:
        load_model_set(tmp_path / "a")
    assert exc.value.reason_code == reasons.ARTIFACT_MISSING
    with pytest.raises(ArtifactError) as exc:
        load_model_set(tmp_path / "nowhere")
    assert exc.value.reason_code == reasons.ARTIFACT_MISSING
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "metadata.json").write_text('{"format": "other", "model_id": "x"}')
    with pytest.raises(ArtifactError):
        load_model_set(tmp_path / "b")
    meta = files["metadata.json"].replace(b'"USD"', b'"CAD"')
    write_files(tmp_path / "c", {**files, "metadata.json": meta})
    with pytest.raises(ArtifactError):
        load_model_set(tmp_path / "c")


_SCRIPT = """
import hashlib, sys
sys.path.insert(0, {tests!r})
import numpy as np
from helpers import dataset_from_frame, synthetic_frame, tiny_config
from quant_core import generator
from quant_models.families import FAMILIES, get_family
from quant_models.training import train
ds = dataset_from_frame(synthetic_frame(("BTC", "ETH"), n=380, momentum=0.15))
cfg = tiny_config(families=("lightgbm", "xgboost"), search_budget=2)
result = train(ds, cfg, out=__import__("pathlib").Path(sys.argv[1]))
print(result.model_set.model_id)
rng = generator(1, "determinism")
x = rng.normal(size=(300, 4)); y = (x[:, 0] > 0).astype(float)
for name in sorted(FAMILIES):
    model = get_family(name).build({{"n_estimators": 5}}, seed=9)
    model.fit(x, y)
    print(name, hashlib.sha256(model.to_bytes()).hexdigest())
"""


def _start(out: Path, hash_seed: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    script = _SCRIPT.format(tests=str(Path(__file__).parent))
    return subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    return stdout


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_training_is_byte_identical_across_processes(tmp_path: Path) -> None:
    first, second = _start(tmp_path / "a", "1"), _start(tmp_path / "b", "987")
    a, b = _finish(first), _finish(second)
    assert a == b
    assert a.startswith("sha256:")
    # every family's saved bytes, not only the served ones
    assert {line.split()[0] for line in a.splitlines()[1:]} == set(FAMILIES)
    tree = _tree(tmp_path / "a")
    assert tree == _tree(tmp_path / "b")
    assert {"metadata.json", "run.json", "oof.csv", "decision.json", "evidence.json"} <= set(tree)
    assert any(name.startswith("models/") for name in tree)

"""Serving on numpy: parity with torch, files, the stream, and every refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import attrs
import numpy as np
import pytest
from safetensors.numpy import save
from tests.quant_models.sequence._data import tiny_config

from quant_core import sha256_hex
from quant_models import ArtifactError, DataError, Panel, reasons
from quant_models._panel import FIELDS
from quant_models.sequence import (
    SequenceModel,
    SequenceStream,
    build_windows,
    load_sequence,
    network_from_weights,
    run_network,
    torch_network,
)
from quant_models.sequence._model import normalise

WEIGHTS, META = "weights.safetensors", "sequence.json"


def test_numpy_forward_matches_torch_on_the_same_weights(
    model: SequenceModel, panel: Panel
) -> None:
    w = build_windows(panel, model.config, np.arange(900, 1200))
    w = w.take(w.valid)
    ours = model.predict(w.inputs)
    x = normalise(w.inputs, model.norm_mean, model.norm_std)
    logit, move, risk = run_network(network_from_weights(model.config, model.weights), x)
    assert np.abs(ours.p_up - 1 / (1 + np.exp(-logit))).max() < 1e-5
    assert np.abs(ours.move - move * model.move_scale).max() < 1e-5 * model.move_scale.max()
    expected_risk = np.exp(risk * model.risk_std + model.risk_mean)
    assert np.abs(ours.risk / expected_risk - 1).max() < 1e-5
    assert ((ours.p_up > 0) & (ours.p_up < 1)).all()
    assert (ours.risk > 0).all()
    assert ours.horizons == model.horizons == (1, 4)


@pytest.mark.parametrize("family", ["lstm", "transformer"])
def test_numpy_matches_torch_with_two_layers_and_random_weights(family: str) -> None:
    import torch

    config = tiny_config(family=family, layers=2, hidden=8, heads=4)
    with torch.random.fork_rng():
        torch.manual_seed(9)
        net = torch_network(config)
        weights = {k: v.numpy() for k, v in net.state_dict().items()}
    model = SequenceModel(
        config, weights, np.zeros((3, 3)), np.ones((3, 3)), np.ones(2), 0.0, 1.0, np.ones(2) / 2
    )
    rng = np.random.default_rng(1)
    x = [rng.normal(size=(5, r.steps, 3)) for r in config.resolutions]
    logit, move, risk = run_network(network_from_weights(config, weights), tuple(x))
    out = model.predict(x)
    assert np.abs(out.p_up - 1 / (1 + np.exp(-logit))).max() < 1e-5
    assert np.abs(out.move - move).max() < 1e-5
    assert np.abs(np.log(out.risk) - risk).max() < 1e-5


def test_save_and_load_give_the_same_model(model: SequenceModel, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    loaded = load_sequence(tmp_path / "m")
    assert loaded.to_files() == model.to_files()
    doc = json.loads(model.to_files()[META])
    assert doc["family"] == model.config.family
    assert doc["serving_float"] == "float64"
    assert doc["weights_sha256"] == sha256_hex(model.to_files()[WEIGHTS])


def _missing(panel: Panel, bars: list[int]) -> Panel:
    """``panel`` with ``bars`` missing for every coin."""
    fields = [panel.field(name).copy() for name in FIELDS]
    for values in fields:
        values[:, bars] = np.nan
    return Panel(panel.symbols, panel.quote, panel.timeframe, panel.open_times_ns, *fields)


def test_the_stream_forecasts_each_new_bar_like_the_batch(
    model: SequenceModel, panel: Panel
) -> None:
    stream = SequenceStream(model)
    config = model.config
    warm = config.lookback - 1 - config.gap_fill_bars
    long_gap = list(range(1050, 1051 + config.gap_fill_bars))
    gaps = [1000, *long_gap]
    got = {}
    for t in range(900, 1200):
        if t in gaps:
            continue  # a missing bar: filled as a bar without trades; a long gap silences
        for s, symbol in enumerate(panel.symbols):
            bar = (panel.high[s, t], panel.low[s, t], panel.close[s, t], panel.volume[s, t])
            got[(s, t)] = stream.update(symbol, int(panel.open_times_ns[t]), *bar)
    after = long_gap[-1] + 1
    silent = [*range(900, 900 + warm), *range(after, after + warm)]
    assert all(got[(s, t)] is None for s in range(3) for t in silent)
    gapped = _missing(panel, gaps)
    for t in (900 + warm, 999, 1001, 1049, after + warm, 1199):
        windows = build_windows(gapped, config, np.array([t]))
        for s in range(3):
            one, batch = got[(s, t)], model.predict([x[s : s + 1] for x in windows.inputs])
            assert one is not None
            for name in ("p_up", "move", "risk"):
                assert getattr(one, name).tobytes() == getattr(batch, name).tobytes()
    with pytest.raises(DataError, match="is not after") as err:
        stream.update("BTC", int(panel.open_times_ns[1100]), 1.0, 1.0, 1.0, 1.0)
    assert err.value.reason_code == reasons.SEQUENCE_INPUT_INVALID


def test_a_bar_off_the_grid_restarts_the_coin(model: SequenceModel) -> None:
    stream = SequenceStream(model, bar_ns=10)
    warm = model.config.lookback - model.config.gap_fill_bars
    outs = [stream.update("X", 10 * t, 1.01, 0.99, 1.0 + t / 100, 1.0) for t in range(warm)]
    assert outs[-1] is not None
    assert all(o is None for o in outs[:-1])
    assert stream.update("X", 10 * warm + 5, 1.01, 0.99, 1.0, 1.0) is None


def test_a_nan_bar_in_the_stream_is_a_gap(model: SequenceModel) -> None:
    stream = SequenceStream(model, bar_ns=10)
    fill = model.config.gap_fill_bars
    n = model.config.lookback - fill
    bad = set(range(n, n + fill + 1))  # one more NaN bar than the fill bridges
    outs = [
        stream.update("X", 10 * t, 1.01, 0.99, float("nan") if t in bad else 1.0 + t / 100, 1.0)
        for t in range(n + fill + 3)
    ]
    assert outs[n - 1] is not None
    assert all(o is None for o in outs[: n - 1] + outs[n:])
    short = SequenceStream(model, bar_ns=10)
    nan = float("nan")
    outs = [
        short.update("X", 10 * t, 1.01, 0.99, nan if t == n else 1.0 + t / 100, 1.0)
        for t in range(n + 3)
    ]
    assert outs[n] is None  # the decision bar itself has no close
    assert outs[n + 1] is not None
    assert outs[n + 2] is not None


def _windows(model: SequenceModel, n: int = 2) -> list[np.ndarray]:
    return [np.zeros((n, r.steps, 3)) for r in model.config.resolutions]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda w: w[:-1],
        lambda w: [w[0][:, :, :2], *w[1:]],
        lambda w: [w[0][:, :-1], *w[1:]],
        lambda w: [w[0][:1], *w[1:]],
        lambda w: [w[0][0], *w[1:]],
        lambda w: [np.where(np.arange(3) == 1, np.nan, w[0]), *w[1:]],
    ],
    ids=["resolutions", "features", "steps", "rows", "ndim", "nan"],
)
def test_predict_refuses_bad_windows(model: SequenceModel, mutate: object) -> None:
    with pytest.raises(DataError) as err:
        model.predict(mutate(_windows(model)))  # type: ignore[operator]
    assert err.value.reason_code == reasons.SEQUENCE_INPUT_INVALID


def _tampered(model: SequenceModel, **changes: object) -> dict[str, bytes]:
    files = model.to_files()
    doc = json.loads(files[META])
    blob = changes.pop("blob", files[WEIGHTS])
    assert isinstance(blob, bytes)
    doc["weights_sha256"] = sha256_hex(blob)
    for key, value in changes.items():
        doc[key] = value
    return {WEIGHTS: blob, META: json.dumps(doc).encode()}


def _refused(files: dict[str, bytes], code: str) -> None:
    with pytest.raises(ArtifactError) as err:
        SequenceModel.from_files(files)
    assert err.value.reason_code == code, err.value


def test_loading_refuses_an_unknown_family(model: SequenceModel) -> None:
    _refused(_tampered(model, family="gru"), reasons.SEQUENCE_FAMILY_UNKNOWN)
    doc = json.loads(model.to_files()[META])
    other = "lstm" if model.config.family == "transformer" else "transformer"
    _refused(_tampered(model, family=other), reasons.SEQUENCE_FAMILY_UNKNOWN)
    _refused(
        _tampered(model, config=doc["config"] | {"family": "gru"}, family="gru"),
        reasons.SEQUENCE_FAMILY_UNKNOWN,
    )


def test_loading_refuses_weights_whose_shapes_differ_from_the_config(model: SequenceModel) -> None:
    weights = dict(model.weights)
    weights["trunk.bias"] = np.zeros(model.config.hidden + 1, dtype=np.float32)
    _refused(_tampered(model, blob=save(weights)), reasons.SEQUENCE_SHAPE_MISMATCH)
    doc = json.loads(model.to_files()[META])
    shapes = doc["shapes"] | {"trunk.bias": [99]}
    _refused(_tampered(model, shapes=shapes), reasons.SEQUENCE_SHAPE_MISMATCH)
    bigger = doc["config"] | {"hidden": model.config.hidden * 2}
    _refused(_tampered(model, config=bigger), reasons.SEQUENCE_SHAPE_MISMATCH)


def test_loading_refuses_a_hash_mismatch_and_unreadable_weights(model: SequenceModel) -> None:
    files = model.to_files()
    blob = files[WEIGHTS]
    _refused({WEIGHTS: blob[:-1], META: files[META]}, reasons.SEQUENCE_ARTIFACT_INVALID)
    _refused(_tampered(model, blob=blob[: len(blob) // 2]), reasons.SEQUENCE_ARTIFACT_INVALID)
    _refused(_tampered(model, blob=b"\x00garbage" * 9), reasons.SEQUENCE_ARTIFACT_INVALID)
    as64 = save({k: v.astype(np.float64) for k, v in model.weights.items()})
    _refused(_tampered(model, blob=as64), reasons.SEQUENCE_ARTIFACT_INVALID)


@pytest.mark.parametrize(
    "change",
    [
        {"format": "quant-sequence/0"},
        {"config": {"hidden": "x"}, "family": None},
        {"targets": {"move_scale": [1.0]}},
        {"normalisation": {"mean": [[0.0]], "std": [[1.0]]}},
        {"targets": None},
    ],
    ids=["format", "config", "targets", "normalisation", "missing"],
)
def test_loading_refuses_malformed_metadata(
    model: SequenceModel, change: dict[str, object]
) -> None:
    doc = json.loads(model.to_files()[META])
    if change.get("family", "") is None:
        change = {"config": doc["config"] | {"hidden": "x"}}
    if change.get("targets", "") is None:
        change = {}
        files = _tampered(model)
        text = json.loads(files[META])
        del text["targets"]
        files[META] = json.dumps(text).encode()
        _refused(files, reasons.SEQUENCE_ARTIFACT_INVALID)
        return
    if "targets" in change:
        assert isinstance(change["targets"], dict)
        change = {"targets": doc["targets"] | change["targets"]}
    _refused(_tampered(model, **change), reasons.SEQUENCE_ARTIFACT_INVALID)


def test_loading_refuses_garbage_json_and_missing_files(
    model: SequenceModel, tmp_path: Path
) -> None:
    files = model.to_files()
    _refused({WEIGHTS: files[WEIGHTS], META: b"[1, 2"}, reasons.SEQUENCE_ARTIFACT_INVALID)
    _refused({WEIGHTS: files[WEIGHTS], META: b"[]"}, reasons.SEQUENCE_ARTIFACT_INVALID)
    _refused({META: files[META]}, reasons.ARTIFACT_MISSING)
    (tmp_path / META).write_bytes(files[META])
    with pytest.raises(ArtifactError) as err:
        load_sequence(tmp_path)
    assert err.value.reason_code == reasons.ARTIFACT_MISSING


def test_the_model_checks_its_own_statistics(model: SequenceModel) -> None:
    with pytest.raises(ArtifactError, match="normalisation"):
        attrs.evolve(model, norm_mean=model.norm_mean[:1])
    with pytest.raises(ArtifactError, match="target scales"):
        attrs.evolve(model, up_rate=model.up_rate[:1])
    assert tiny_config().horizons == model.horizons


_NO_TORCH = """
import sys


class NoTorch:  # any import of torch now fails, and torch is not in sys.modules
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed here")
        return None


sys.meta_path.insert(0, NoTorch())
from pathlib import Path
import numpy as np
from quant_models.sequence import SequenceStream, load_sequence
model = load_sequence(Path(sys.argv[1]))
x = [np.load(sys.argv[2])[f"arr_{i}"] for i in range(len(model.config.resolutions))]
out = model.predict(x)
SequenceStream(model).update("X", 0, 1.01, 0.99, 1.0, 1.0)
sys.stdout.write(out.p_up.tobytes().hex())
"""


def test_serving_needs_no_torch(model: SequenceModel, panel: Panel, tmp_path: Path) -> None:
    model.save(tmp_path / "m")
    windows = build_windows(panel, model.config, np.array([1100, 1199]))
    np.savez(tmp_path / "x.npz", *windows.inputs)
    child = subprocess.run(
        [sys.executable, "-c", _NO_TORCH, str(tmp_path / "m"), str(tmp_path / "x.npz")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert child.stdout == model.predict(windows.inputs).p_up.tobytes().hex()


def test_a_model_saved_before_gap_filling_never_fills(model: SequenceModel) -> None:
    files = model.to_files()
    doc = json.loads(files[META])
    assert doc["config"]["gap_fill_bars"] == model.config.gap_fill_bars > 0
    del doc["config"]["gap_fill_bars"]  # what a model saved before decision 0125 holds
    old = SequenceModel.from_files({**files, META: json.dumps(doc).encode()})
    assert old.config.gap_fill_bars == 0
    assert old.config == attrs.evolve(model.config, gap_fill_bars=0)

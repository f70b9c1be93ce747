"""The network's parameter layout and its forward pass in numpy (float64), without torch.

One encoder per resolution (an LSTM, or a small pre-norm Transformer over a linear input
projection plus sinusoidal positions, with a causal mask); the encoders' last states are
concatenated, pass one ReLU trunk layer and feed three linear heads: direction logits and
scaled expected moves per horizon, and the scaled log risk. Parameter names are the torch
module's ``state_dict`` keys, so both sides read one safetensors file.

Examples:
    >>> from quant_models.sequence import Resolution, SequenceConfig
    >>> config = SequenceConfig(resolutions=(Resolution("short", 4, 1),), hidden=4, heads=2)
    >>> shapes = expected_shapes(config)
    >>> shapes["encoders.0.weight_hh_l0"], shapes["direction.weight"]
    ((16, 4), (3, 4))
"""

from __future__ import annotations

import numpy as np

from quant_models._panel import FloatArray
from quant_models.sequence._config import FEATURES, SequenceConfig

__all__ = ["LN_EPS", "expected_shapes", "forward", "positions", "prepare"]

LN_EPS = 1e-5
_F = len(FEATURES)


def positions(steps: int, width: int) -> FloatArray:
    """Sinusoidal position codes ``(steps, width)`` (fixed, not learned)."""
    pos = np.arange(steps, dtype=np.float64)[:, None]
    rate = np.exp(-np.log(10000.0) * (np.arange(0, width, 2, dtype=np.float64) / width))
    out = np.zeros((steps, width))
    out[:, 0::2] = np.sin(pos * rate)
    out[:, 1::2] = np.cos(pos * rate[: width // 2])
    return out


def expected_shapes(config: SequenceConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter's name and shape that ``config`` implies."""
    d = config.hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(len(config.resolutions)):
        p = f"encoders.{i}."
        if config.family == "lstm":
            shapes |= {
                p + "weight_ih_l0": (4 * d, _F),
                p + "weight_hh_l0": (4 * d, d),
                p + "bias_ih_l0": (4 * d,),
                p + "bias_hh_l0": (4 * d,),
            }
            continue
        shapes |= {p + "proj.weight": (d, _F), p + "proj.bias": (d,)}
        for j in range(config.layers):
            q = f"{p}layers.{j}."
            shapes |= {
                q + "ln1.weight": (d,),
                q + "ln1.bias": (d,),
                q + "qkv.weight": (3 * d, d),
                q + "qkv.bias": (3 * d,),
                q + "out.weight": (d, d),
                q + "out.bias": (d,),
                q + "ln2.weight": (d,),
                q + "ln2.bias": (d,),
                q + "ff1.weight": (2 * d, d),
                q + "ff1.bias": (2 * d,),
                q + "ff2.weight": (d, 2 * d),
                q + "ff2.bias": (d,),
            }
        shapes |= {p + "norm.weight": (d,), p + "norm.bias": (d,)}
    n_h = len(config.horizons)
    return shapes | {
        "trunk.weight": (d, d * len(config.resolutions)),
        "trunk.bias": (d,),
        "direction.weight": (n_h, d),
        "direction.bias": (n_h,),
        "move.weight": (n_h, d),
        "move.bias": (n_h,),
        "risk.weight": (1, d),
        "risk.bias": (1,),
    }


def _linear(x: FloatArray, w: dict[str, FloatArray], name: str) -> FloatArray:
    out: FloatArray = x @ w[name + ".weight"].T + w[name + ".bias"]
    return out


def _norm(x: FloatArray, w: dict[str, FloatArray], name: str) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    out: FloatArray = (x - mean) / np.sqrt(var + LN_EPS) * w[name + ".weight"] + w[name + ".bias"]
    return out


def prepare(weights: dict[str, FloatArray], config: SequenceConfig) -> dict[str, FloatArray]:
    """``weights`` plus the derived arrays :func:`forward` reads (computed once per model).

    For an LSTM: the input and recurrent matrices transposed, the two biases summed, and the
    input, forget and output gate columns halved, so one ``tanh`` of the gate pre-activations
    gives ``2 * sigmoid - 1`` for those gates and ``tanh`` for the cell gate. For a
    Transformer: the position codes and the additive causal mask of each resolution.
    """
    out = dict(weights)
    d = config.hidden
    half = np.full(4 * d, 0.5)
    half[2 * d : 3 * d] = 1.0
    for i, r in enumerate(config.resolutions):
        p = f"encoders.{i}."
        if config.family == "lstm":
            out[p + "~w_ih"] = weights[p + "weight_ih_l0"].T * half
            out[p + "~w_hh"] = weights[p + "weight_hh_l0"].T * half
            out[p + "~bias"] = (weights[p + "bias_ih_l0"] + weights[p + "bias_hh_l0"]) * half
        else:
            out[p + "~pos"] = positions(r.steps, d)
            future = np.triu(np.ones((r.steps, r.steps), dtype=bool), k=1)
            out[p + "~mask"] = np.where(future, -np.inf, 0.0)
    return out


def _lstm(x: FloatArray, w: dict[str, FloatArray], p: str) -> FloatArray:
    n, steps, _ = x.shape
    w_hh = w[p + "~w_hh"]
    d = w_hh.shape[0]
    pre = x @ w[p + "~w_ih"] + w[p + "~bias"]
    h = np.zeros((n, d))
    c = np.zeros((n, d))
    for t in range(steps):
        z = np.tanh(pre[:, t] + h @ w_hh)
        gate = 0.5 * z + 0.5  # sigmoid of the input, forget and output gates
        c = gate[:, d : 2 * d] * c + gate[:, :d] * z[:, 2 * d : 3 * d]
        h = gate[:, 3 * d :] * np.tanh(c)
    return h


def _transformer(
    x: FloatArray, w: dict[str, FloatArray], p: str, config: SequenceConfig
) -> FloatArray:
    n, steps, _ = x.shape
    d, heads = config.hidden, config.heads
    dh = d // heads
    h = _linear(x, w, p + "proj") + w[p + "~pos"]
    for j in range(config.layers):
        q = f"{p}layers.{j}."
        qkv = _linear(_norm(h, w, q + "ln1"), w, q + "qkv").reshape(n, steps, 3, heads, dh)
        ks, vs = (qkv[:, :, k].transpose(0, 2, 1, 3) for k in (1, 2))
        if j == config.layers - 1:
            # only the last step's output is read: its query alone, which sees every step
            qs = qkv[:, -1:, 0].transpose(0, 2, 1, 3)
            scores = qs @ ks.transpose(0, 1, 3, 2) / np.sqrt(dh)
            h = h[:, -1:]
        else:
            qs = qkv[:, :, 0].transpose(0, 2, 1, 3)
            scores = qs @ ks.transpose(0, 1, 3, 2) / np.sqrt(dh) + w[p + "~mask"]
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        attn = (scores / scores.sum(axis=-1, keepdims=True)) @ vs
        rows = attn.shape[2]
        h = h + _linear(attn.transpose(0, 2, 1, 3).reshape(n, rows, d), w, q + "out")
        ff = np.maximum(_linear(_norm(h, w, q + "ln2"), w, q + "ff1"), 0.0)
        h = h + _linear(ff, w, q + "ff2")
    return _norm(h[:, -1], w, p + "norm")


def forward(
    weights: dict[str, FloatArray], config: SequenceConfig, inputs: tuple[FloatArray, ...]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Direction logits ``(N, H)``, scaled moves ``(N, H)`` and scaled log risk ``(N,)``.

    Args:
        weights: float64 parameters by name (see :func:`expected_shapes`), with the derived
            arrays of :func:`prepare`.
        config: the architecture.
        inputs: normalised windows, one ``(N, steps, 3)`` array per resolution.
    """
    states = []
    for i, x in enumerate(inputs):
        p = f"encoders.{i}."
        if config.family == "lstm":
            states.append(_lstm(x, weights, p))
        else:
            states.append(_transformer(x, weights, p, config))
    z = np.maximum(_linear(np.concatenate(states, axis=1), weights, "trunk"), 0.0)
    return (
        _linear(z, weights, "direction"),
        _linear(z, weights, "move"),
        _linear(z, weights, "risk")[:, 0],
    )

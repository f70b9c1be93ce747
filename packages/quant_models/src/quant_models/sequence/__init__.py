"""Sequence models: LSTM and Transformer encoders over causal multi-resolution windows.

Training runs in torch (imported only inside :func:`fit_sequence`; torch is not a dependency
of quant_models, decision 0061); serving runs on numpy from ``weights.safetensors`` and
``sequence.json`` (decision 0114). One model forecasts, per horizon, the probability of an up
move and the expected move, plus the risk (realised volatility) ahead.

Examples:
    >>> import numpy as np
    >>> from quant_core import Timeframe
    >>> from quant_models import Panel
    >>> rng = np.random.default_rng(0)
    >>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (2, 300)), axis=1))
    >>> panel = Panel(("A", "B"), "USD", Timeframe.H1, np.arange(300) * Timeframe.H1.ns,
    ...               close, close * 1.01, close * 0.99, close, rng.lognormal(3, 0.5, (2, 300)))
    >>> config = SequenceConfig(family="transformer", hidden=4, heads=2, horizons=(1, 4),
    ...     risk_bars=4, max_epochs=2, resolutions=(Resolution("short", 6, 1),
    ...     Resolution("medium", 4, 6)))
    >>> model = fit_sequence(panel, config, train_start=0, train_end=250, seed=7)
    >>> windows = build_windows(panel, config, np.array([260, 299]))
    >>> out = model.predict(windows.inputs)
    >>> out.p_up.shape, out.move.shape, out.risk.shape
    ((4, 2), (4, 2), (4,))
    >>> files = model.to_files()
    >>> sorted(files), SequenceModel.from_files(files).to_files() == files
    (['sequence.json', 'weights.safetensors'], True)
    >>> stream = SequenceStream(model)
    >>> for t in range(300):
    ...     got = stream.update("B", int(panel.open_times_ns[t]), panel.high[1, t],
    ...                         panel.low[1, t], panel.close[1, t], panel.volume[1, t])
    >>> bool(np.allclose(got.p_up, out.p_up[3], rtol=0, atol=1e-12))
    True
"""

from quant_models.sequence._config import FAMILIES, FEATURES, Resolution, SequenceConfig
from quant_models.sequence._evaluate import evaluate_sequence
from quant_models.sequence._fit import (
    DEVICES,
    TrainingData,
    choose_sequence,
    fit_sequence,
    resolve_device,
    training_data,
)
from quant_models.sequence._model import (
    FORMAT,
    SequenceModel,
    SequenceOutput,
    SequenceStream,
    load_sequence,
)
from quant_models.sequence._net import expected_shapes
from quant_models.sequence._torch import network as torch_network
from quant_models.sequence._torch import network_from_weights, run_network
from quant_models.sequence._windows import Labels, Windows, build_windows, labels

__all__ = [
    "DEVICES",
    "FAMILIES",
    "FEATURES",
    "FORMAT",
    "Labels",
    "Resolution",
    "SequenceConfig",
    "SequenceModel",
    "SequenceOutput",
    "SequenceStream",
    "TrainingData",
    "Windows",
    "build_windows",
    "choose_sequence",
    "evaluate_sequence",
    "expected_shapes",
    "fit_sequence",
    "labels",
    "load_sequence",
    "network_from_weights",
    "resolve_device",
    "run_network",
    "torch_network",
    "training_data",
]

"""The same network in torch, for training only; torch is imported inside these functions.

torch is not a dependency of quant_models (decision 0061): importing this module costs
nothing, and serving never calls it (decision 0114).

Examples:
    >>> import numpy as np
    >>> import torch
    >>> from quant_models.sequence import Resolution, SequenceConfig, SequenceModel
    >>> config = SequenceConfig(family="transformer", hidden=4, horizons=(1, 4),
    ...                         resolutions=(Resolution("short", 5, 1),))
    >>> with torch.random.fork_rng():
    ...     _ = torch.manual_seed(0)
    ...     weights = {k: v.numpy() for k, v in network(config).state_dict().items()}
    >>> model = SequenceModel(config, weights, np.zeros((1, 3)), np.ones((1, 3)), np.ones(2),
    ...                       0.0, 1.0, np.full(2, 0.5))
    >>> x = (np.random.default_rng(0).normal(size=(3, 5, 3)),)
    >>> logit, _, _ = run_network(network_from_weights(config, weights), x)
    >>> bool(np.allclose(model.predict(x).p_up, 1 / (1 + np.exp(-logit)), atol=1e-6))
    True
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from quant_models._panel import FloatArray
from quant_models.sequence._config import FEATURES, SequenceConfig
from quant_models.sequence._net import LN_EPS, positions

if TYPE_CHECKING:
    import torch

__all__ = ["network", "network_from_weights", "run_network"]


def network(config: SequenceConfig) -> torch.nn.Module:
    """A fresh torch module for ``config``, initialised from torch's current RNG state.

    Its ``state_dict`` keys and shapes are :func:`quant_models.sequence._net.expected_shapes`.
    Calling it on a tuple of ``(N, steps, 3)`` float32 tensors returns the direction logits,
    the scaled moves and the scaled log risk.
    """
    import torch
    from torch import nn

    d, heads, n_f = config.hidden, config.heads, len(FEATURES)

    class Layer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d, eps=LN_EPS)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.ln2 = nn.LayerNorm(d, eps=LN_EPS)
            self.ff1 = nn.Linear(d, 2 * d)
            self.ff2 = nn.Linear(2 * d, d)
            self.drop = nn.Dropout(config.dropout)

        def forward(self, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            n, steps, _ = h.shape
            qkv = self.qkv(self.ln1(h)).reshape(n, steps, 3, heads, d // heads)
            q, k, v = (qkv[:, :, i].transpose(1, 2) for i in range(3))
            scores = q @ k.transpose(2, 3) / math.sqrt(d // heads)
            attn = torch.softmax(scores.masked_fill(mask, float("-inf")), dim=-1) @ v
            h = h + self.drop(self.out(attn.transpose(1, 2).reshape(n, steps, d)))
            ff = self.ff2(self.drop(torch.relu(self.ff1(self.ln2(h)))))
            out: torch.Tensor = h + self.drop(ff)
            return out

    class Transformer(nn.Module):
        def __init__(self, steps: int) -> None:
            super().__init__()
            self.proj = nn.Linear(n_f, d)
            self.layers = nn.ModuleList([Layer() for _ in range(config.layers)])
            self.norm = nn.LayerNorm(d, eps=LN_EPS)
            pos = torch.from_numpy(positions(steps, d).astype(np.float32))
            self.register_buffer("pos", pos, persistent=False)
            mask = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.proj(x) + self.pos
            for layer in self.layers:
                h = layer(h, self.mask)
            out: torch.Tensor = self.norm(h[:, -1])
            return out

    class Lstm(nn.LSTM):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
            _, (h, _) = super().forward(x)
            out: torch.Tensor = h[-1]
            return out

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            encoders: list[nn.Module] = [
                Lstm(n_f, d, batch_first=True) if config.family == "lstm" else Transformer(r.steps)
                for r in config.resolutions
            ]
            self.encoders = nn.ModuleList(encoders)
            self.trunk = nn.Linear(d * len(encoders), d)
            self.drop = nn.Dropout(config.dropout)
            self.direction = nn.Linear(d, len(config.horizons))
            self.move = nn.Linear(d, len(config.horizons))
            self.risk = nn.Linear(d, 1)

        def forward(
            self, inputs: tuple[torch.Tensor, ...]
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            states = [enc(x) for enc, x in zip(self.encoders, inputs, strict=True)]
            z = self.drop(torch.relu(self.trunk(torch.cat(states, dim=1))))
            return self.direction(z), self.move(z), self.risk(z)[:, 0]

    return Net()


def network_from_weights(config: SequenceConfig, weights: dict[str, Any]) -> torch.nn.Module:
    """A torch module in eval mode holding ``weights`` (numpy arrays, cast to float32)."""
    import torch

    module = network(config)
    state = {
        k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in weights.items()
    }
    module.load_state_dict(state, strict=True)
    return module.eval()


def run_network(
    module: torch.nn.Module, inputs: tuple[FloatArray, ...]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """``module``'s outputs on normalised numpy windows, as float64 numpy arrays."""
    import torch

    with torch.no_grad():
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)) for x in inputs)
        out = module(tensors)
    logit, move, risk = (o.double().numpy() for o in out)
    return logit, move, risk

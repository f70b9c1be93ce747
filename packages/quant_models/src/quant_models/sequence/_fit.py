"""Training a sequence model in torch: seeded, deterministic, early-stopped on the newest span.

:func:`training_data` cuts a fold's training range ``[train_start, train_end)`` in two: the
older part fits the weights, the newest ``validation_fraction`` decides early stopping. Labels
never read a bar past their own part (the fit part's labels stop before the validation part
starts; the validation part's before ``train_end``), so a fold's test span is never touched.
Input normalisation and target scales come from the fit part only.

:func:`fit_sequence` then trains with AdamW (weight decay) and dropout, batches in an order
drawn from a generator seeded by ``seed``, under ``torch.use_deterministic_algorithms`` and a
fixed thread count, and keeps the weights of the best validation epoch. Torch's global RNG,
thread count and determinism flag are restored afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_models import reasons
from quant_models._errors import ConfigError, DataError
from quant_models._panel import FloatArray, Panel
from quant_models.sequence._config import FEATURES, SequenceConfig
from quant_models.sequence._model import SequenceModel, normalise
from quant_models.sequence._torch import network
from quant_models.sequence._windows import build_windows, labels

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEVICES",
    "TrainingData",
    "choose_sequence",
    "fit_sequence",
    "resolve_device",
    "training_data",
]

DEVICES = ("cpu", "cuda", "auto")
"""The ``device`` settings: ``auto`` takes a GPU when torch sees one."""

_RISK_FLOOR = 1e-8


def resolve_device(device: str, cuda_available: bool) -> str:
    """The torch device a ``device`` setting means.

    Args:
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        cuda_available: whether torch sees a GPU.

    Examples:
        >>> resolve_device("auto", False), resolve_device("auto", True)
        ('cpu', 'cuda')
    """
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
    if device == "cuda" and not cuda_available:
        raise ConfigError("device 'cuda' asked for, but torch sees no GPU")
    if device == "auto":
        return "cuda" if cuda_available else "cpu"
    return device


@attrs.frozen(eq=False)
class TrainingData:
    """A fold's training rows, normalised and scaled, split into fit and validation parts.

    Attributes:
        inputs: normalised windows, one float32 ``(N, steps, 3)`` array per resolution.
        direction: ``(N, H)`` 1 where the forward log return is above zero, else 0.
        move: ``(N, H)`` forward log returns divided by ``move_scale``.
        risk: ``(N,)`` standardised log realised volatility.
        n_fit: the first ``n_fit`` rows fit; the rest validate.
        norm_mean: ``(R, 3)`` input means (fit part).
        norm_std: ``(R, 3)`` input standard deviations (fit part).
        move_scale: ``(H,)`` standard deviation of each horizon's forward return (fit part).
        risk_mean: mean log realised volatility (fit part).
        risk_std: its standard deviation.
        up_rate: ``(H,)`` share of up moves (fit part).
    """

    inputs: tuple[npt.NDArray[np.float32], ...]
    direction: npt.NDArray[np.float32]
    move: npt.NDArray[np.float32]
    risk: npt.NDArray[np.float32]
    n_fit: int
    norm_mean: FloatArray
    norm_std: FloatArray
    move_scale: FloatArray
    risk_mean: float
    risk_std: float
    up_rate: FloatArray


def _part(
    panel: Panel, config: SequenceConfig, start: int, end: int
) -> tuple[tuple[FloatArray, ...], FloatArray, FloatArray]:
    """Valid windows in ``[start, end)`` with labels read from bars ``< end`` only."""
    windows = build_windows(panel, config, np.arange(start, end, dtype=np.int64))
    lab = labels(panel, config, windows, end - 1)
    keep = windows.valid & np.isfinite(lab.forward).all(axis=1) & np.isfinite(lab.risk)
    return tuple(a[keep] for a in windows.inputs), lab.forward[keep], lab.risk[keep]


def training_data(
    panel: Panel, config: SequenceConfig, *, train_start: int, train_end: int
) -> TrainingData:
    """The training rows of the range ``[train_start, train_end)`` of ``panel``'s grid.

    Args:
        panel: the bars.
        config: resolutions, horizons and the validation share.
        train_start: first training bar.
        train_end: one past the last training bar (a fold's ``train_end``).

    Raises:
        DataError: ``INSUFFICIENT_DATA`` when either part has fewer than 2 labelled windows.
    """
    if not 0 <= train_start < train_end <= panel.n_times:
        raise ConfigError(
            f"bad training range [{train_start}, {train_end}) of {panel.n_times} bars"
        )
    split = train_end - int((train_end - train_start) * config.validation_fraction)
    fit_x, fit_fwd, fit_risk = _part(panel, config, train_start, split)
    val_x, val_fwd, val_risk = _part(panel, config, split, train_end)
    if fit_fwd.shape[0] < 2 or val_fwd.shape[0] < 2:
        raise DataError(
            f"too few labelled windows in [{train_start}, {train_end}): {fit_fwd.shape[0]} to fit,"
            f" {val_fwd.shape[0]} to validate (lookback {config.lookback},"
            f" label span {config.label_bars})",
            reason_code=reasons.INSUFFICIENT_DATA,
        )
    flat = [x.reshape(-1, len(FEATURES)) for x in fit_x]
    mean = np.stack([f.mean(axis=0) for f in flat])
    std = np.maximum(np.stack([f.std(axis=0) for f in flat]), 1e-8)
    move_scale = np.maximum(fit_fwd.std(axis=0), 1e-8)
    log_risk = np.log(np.concatenate([fit_risk, val_risk]) + _RISK_FLOOR)
    risk_mean = float(log_risk[: fit_risk.shape[0]].mean())
    risk_std = max(float(log_risk[: fit_risk.shape[0]].std()), 1e-8)
    inputs = tuple(
        np.concatenate([a, b]).astype(np.float32)
        for a, b in zip(normalise(fit_x, mean, std), normalise(val_x, mean, std), strict=True)
    )
    fwd = np.concatenate([fit_fwd, val_fwd])
    return TrainingData(
        inputs,
        (fwd > 0).astype(np.float32),
        (fwd / move_scale).astype(np.float32),
        ((log_risk - risk_mean) / risk_std).astype(np.float32),
        int(fit_fwd.shape[0]),
        mean,
        std,
        move_scale,
        risk_mean,
        risk_std,
        (fit_fwd > 0).mean(axis=0),
    )


def _loss(
    out: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    target: tuple[torch.Tensor, ...],
    config: SequenceConfig,
) -> torch.Tensor:
    from torch.nn import functional

    logit, move, risk = out
    bce = functional.binary_cross_entropy_with_logits(logit, target[0], reduction="none")
    loss: torch.Tensor = (
        bce.sum(dim=1).mean()
        + config.move_weight * functional.huber_loss(move, target[1])
        + config.risk_weight * functional.huber_loss(risk, target[2])
    )
    return loss


def _train(
    data: TrainingData, config: SequenceConfig, seed: int, dev: str
) -> tuple[dict[str, Any], list[float]]:
    """The best validation epoch's weights (numpy float32) and every epoch's validation loss."""
    import torch

    torch.manual_seed(seed)
    net = network(config).to(dev)
    order = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        net.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    x = tuple(torch.from_numpy(a).to(dev) for a in data.inputs)
    y = tuple(torch.from_numpy(a).to(dev) for a in (data.direction, data.move, data.risk))
    n_fit, n = data.n_fit, data.direction.shape[0]
    val = torch.arange(n_fit, n, device=dev)
    best_state: dict[str, Any] = {}
    best, history, waited = float("inf"), [], 0
    for _ in range(config.max_epochs):
        net.train()
        perm = torch.randperm(n_fit, generator=order).to(dev)
        for i in range(0, n_fit, config.batch_size):
            rows = perm[i : i + config.batch_size]
            opt.zero_grad()
            loss = _loss(net(tuple(a[rows] for a in x)), tuple(a[rows] for a in y), config)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        net.eval()
        with torch.no_grad():
            score = float(_loss(net(tuple(a[val] for a in x)), tuple(a[val] for a in y), config))
        history.append(score)
        improved = score < best or not best_state
        if improved:
            best = score
            best_state = {k: v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}
        waited = 0 if improved else waited + 1
        if waited >= config.patience:
            break
    return best_state, history


def fit_sequence(
    panel: Panel,
    config: SequenceConfig,
    *,
    train_start: int,
    train_end: int,
    seed: int,
    threads: int = 1,
    device: str = "cpu",
) -> SequenceModel:
    """Train a sequence model on ``panel``'s bars ``[train_start, train_end)``.

    Needs torch (not a dependency of quant_models: decision 0061). Same panel, config, range,
    seed and threads give the same weight bytes on CPU.

    Args:
        panel: the bars.
        config: the model and its training settings.
        train_start: first training bar.
        train_end: one past the last training bar (labels never read past it).
        seed: seeds the initial weights, dropout and batch order.
        threads: torch's intra-op threads while fitting.
        device: ``"cpu"`` (default), ``"cuda"`` or ``"auto"`` (a GPU when there is one; GPU
            runs are not promised to give the CPU's bytes).

    Raises:
        ConfigError: a bad range, thread count or device.
        DataError: ``INSUFFICIENT_DATA`` (see :func:`training_data`).
    """
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"threads must be a positive integer, got {threads!r}")
    dev = resolve_device(device, torch.cuda.is_available())
    data = training_data(panel, config, train_start=train_start, train_end=train_end)
    threads_before = torch.get_num_threads()
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    warn_only_before = torch.is_deterministic_algorithms_warn_only_enabled()
    try:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(True, warn_only=dev != "cpu")
        with torch.random.fork_rng(devices=[] if dev == "cpu" else None):
            weights, _ = _train(data, config, seed, dev)
    finally:
        torch.set_num_threads(threads_before)
        torch.use_deterministic_algorithms(deterministic_before, warn_only=warn_only_before)
    return SequenceModel(
        config,
        weights,
        data.norm_mean,
        data.norm_std,
        data.move_scale,
        data.risk_mean,
        data.risk_std,
        data.up_rate,
    )


_SHARED = ("resolutions", "horizons", "risk_bars", "validation_fraction")


def choose_sequence(
    panel: Panel,
    candidates: Sequence[SequenceConfig],
    *,
    train_start: int,
    train_end: int,
    seed: int,
    threads: int = 1,
    device: str = "cpu",
) -> tuple[SequenceModel, tuple[float, ...]]:
    """Fit every candidate on a fold's training range; keep the best on its validation part.

    The criterion is the direction heads' log loss (mean over rows and horizons) on the
    newest ``validation_fraction`` of ``[train_start, train_end)``, the part early stopping
    already uses, so regularisation (dropout, weight decay, width, family) is chosen without
    the fold's test span. Candidates must share the windows and labels (resolutions,
    horizons, risk span, validation share); ties keep the earlier candidate.

    Args:
        panel: the bars.
        candidates: the configs to compare.
        train_start: first training bar.
        train_end: one past the last training bar.
        seed: the training seed of every candidate.
        threads: torch threads while fitting.
        device: see :func:`fit_sequence`.

    Returns:
        The chosen model and every candidate's validation log loss, in order.

    Raises:
        ConfigError: no candidate, or candidates whose windows or labels differ.
    """
    if not candidates:
        raise ConfigError("choose_sequence needs at least one candidate config")
    first = candidates[0]
    for c in candidates[1:]:
        differ = [name for name in _SHARED if getattr(c, name) != getattr(first, name)]
        if differ:
            raise ConfigError(f"candidates must share {', '.join(differ)}")
    split = train_end - int((train_end - train_start) * first.validation_fraction)
    val_x, val_fwd, _ = _part(panel, first, split, train_end)
    y = val_fwd > 0
    models: list[SequenceModel] = []
    losses: list[float] = []
    for config in candidates:
        model = fit_sequence(
            panel,
            config,
            train_start=train_start,
            train_end=train_end,
            seed=seed,
            threads=threads,
            device=device,
        )
        p = np.clip(model.predict(val_x).p_up, 1e-12, 1 - 1e-12)
        losses.append(float(-np.mean(np.where(y, np.log(p), np.log1p(-p)))))
        models.append(model)
    return models[int(np.argmin(losses))], tuple(losses)

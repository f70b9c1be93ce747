"""Training in stages: features → splits → fit → out-of-fold table → calibrate → gates.

Each stage is its own module: ``_data`` (features and targets, one fit), ``_stages`` (splits,
the out-of-fold fits with calibration inside each, the final fits), ``_oof`` (the
out-of-fold table and the metric package), and ``_pipeline``, which runs them in order and
decides the gates. The fits are tasks run by a :class:`quant_core.TaskRunner`;
:class:`OofTable` is the public out-of-fold table a stacking meta-learner reads.
"""

from quant_models.training._config import SCOPES, FoldConfig, TrainConfig, load_config
from quant_models.training._oof import OofBlock, OofTable
from quant_models.training._pipeline import TrainResult, fit_model_set, train, train_panel

__all__ = [
    "SCOPES",
    "FoldConfig",
    "OofBlock",
    "OofTable",
    "TrainConfig",
    "TrainResult",
    "fit_model_set",
    "load_config",
    "train",
    "train_panel",
]

"""The quant_models branch of the quant error tree.

Examples:
    >>> from quant_models._errors import ConfigError
    >>> ConfigError("bad").reason_code
    'CONFIG_INVALID'
"""

from __future__ import annotations

from quant_core.errors import IntegrityError, QuantUsageError, ValidationError
from quant_models import reasons

__all__ = ["ArtifactError", "ConfigError", "DataError", "ModelFamilyError"]


class ConfigError(ValidationError, reason=reasons.CONFIG_INVALID):
    """A training configuration is malformed (exit 3, ``CONFIG_INVALID``)."""


class DataError(ValidationError, reason=reasons.INSUFFICIENT_DATA):
    """The data cannot support the request (bad grid, too few bars)."""


class ModelFamilyError(QuantUsageError, reason=reasons.MODEL_FAMILY_UNKNOWN):
    """An unknown model family was asked for."""


class ArtifactError(IntegrityError, reason=reasons.ARTIFACT_INVALID):
    """A saved artifact set is missing a file, or a file does not match its hash."""

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


class ConfigError(ValidationError):
    """A training configuration is malformed (exit 3, ``CONFIG_INVALID``)."""

    default_reason = reasons.CONFIG_INVALID


class DataError(ValidationError):
    """The data cannot support the request (bad grid, too few bars)."""

    default_reason = reasons.INSUFFICIENT_DATA


class ModelFamilyError(QuantUsageError):
    """An unknown model family was asked for."""

    default_reason = reasons.MODEL_FAMILY_UNKNOWN


class ArtifactError(IntegrityError):
    """A saved artifact set is missing a file, or a file does not match its hash."""

    default_reason = reasons.ARTIFACT_INVALID

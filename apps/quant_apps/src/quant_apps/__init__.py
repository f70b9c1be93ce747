"""quant_apps: the ``quant`` command and the runtime behind it.

:mod:`quant_apps.runtime` composes the libraries into sessions, models and runs without the
CLI; :mod:`quant_apps.cli` is the ``quant`` command (argument parsing and rendering only).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]

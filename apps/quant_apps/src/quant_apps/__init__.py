"""quant_apps: the ``quant`` command and the runtime behind it.

:mod:`quant_apps.runtime` composes the libraries into sessions, models and runs without the
CLI; :mod:`quant_apps.cli` is the ``quant`` command (argument parsing and rendering only).

Importing it first pins the CPU kernels of the numerical libraries (see
:mod:`quant_apps._kernels`), so a trained artifact's bytes do not depend on the machine.
"""

import os as _os
import platform as _platform

from quant_apps._kernels import pin_cpu_kernels as _pin
from quant_apps._kernels import read_cpu_flags as _flags

_pin(_os.environ, machine=_platform.machine(), cpu_flags=_flags())

__version__ = "0.1.0"
__all__ = ["__version__"]

"""Pin the CPU kernels numerical libraries pick at load time, so bytes match across machines.

OpenBLAS (under NumPy, SciPy and scikit-learn) and PyTorch choose their compute kernels by the
CPU's instruction set when they load. An AVX-512 kernel sums in another order than the AVX2
one, so a logistic fit or a calibration map differs in its last bits from one machine to
the next, and with it every hash that covers them (decision 0121). On x86-64 Linux machines
with AVX2 the ``quant`` process asks both for their AVX2 kernels, unless the operator chose
otherwise; it must happen before either library loads, so :mod:`quant_apps` does it on import.

Examples:
    >>> env: dict[str, str] = {}
    >>> pin_cpu_kernels(env, machine="x86_64", cpu_flags="fpu sse2 avx avx2 avx512f")
    True
    >>> env["OPENBLAS_CORETYPE"], env["ATEN_CPU_CAPABILITY"]
    ('Haswell', 'avx2')
    >>> pin_cpu_kernels({}, machine="arm64", cpu_flags="")
    False
"""

from __future__ import annotations

from collections.abc import MutableMapping

__all__ = ["KERNELS", "pin_cpu_kernels", "read_cpu_flags"]

KERNELS = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"}
"""The settings written: OpenBLAS's Haswell (AVX2) kernels, PyTorch's AVX2 code path."""


def read_cpu_flags(path: str = "/proc/cpuinfo") -> str:
    """The first ``flags`` line of ``path`` (Linux), or ``""`` where there is none.

    Examples:
        >>> read_cpu_flags("/nonexistent")
        ''
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return line.partition(":")[2]
    except OSError:
        return ""
    return ""


def pin_cpu_kernels(environ: MutableMapping[str, str], *, machine: str, cpu_flags: str) -> bool:
    """Ask for the AVX2 kernels where the CPU has them; keep whatever the operator set.

    Args:
        environ: the process environment (written to only where a setting is absent).
        machine: ``platform.machine()``.
        cpu_flags: the CPU's feature flags, space separated (see :func:`read_cpu_flags`).

    Returns:
        Whether this is a machine where the kernels are pinned (x86-64 with AVX2).
    """
    if machine.lower() not in {"x86_64", "amd64"} or "avx2" not in cpu_flags.split():
        return False
    for name, value in KERNELS.items():
        environ.setdefault(name, value)
    return True

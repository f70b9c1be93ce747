"""The quant process pins the numerical libraries' CPU kernels (decision 0121)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from quant_apps._kernels import KERNELS, pin_cpu_kernels, read_cpu_flags


def test_flags_come_from_the_first_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 sse2\nflags\t\t: other\n")
    assert read_cpu_flags(str(info)).split() == ["fpu", "avx2", "sse2"]
    info.write_text("processor\t: 0\n")
    assert read_cpu_flags(str(info)) == ""
    assert read_cpu_flags(str(tmp_path / "missing")) == ""


def test_only_x86_with_avx2_is_pinned_and_an_operator_choice_stays() -> None:
    env = {"OPENBLAS_CORETYPE": "Zen"}
    assert pin_cpu_kernels(env, machine="AMD64", cpu_flags="sse2 avx2")
    assert env == {
        "OPENBLAS_CORETYPE": "Zen",
        "ATEN_CPU_CAPABILITY": KERNELS["ATEN_CPU_CAPABILITY"],
    }
    untouched: dict[str, str] = {}
    assert not pin_cpu_kernels(untouched, machine="x86_64", cpu_flags="sse2 avx")
    assert not pin_cpu_kernels(untouched, machine="aarch64", cpu_flags="avx2")
    assert untouched == {}


def test_importing_quant_apps_pins_before_numpy_loads() -> None:
    code = (
        "import os, sys, quant_apps\n"
        "print('numpy' in sys.modules, os.environ.get('OPENBLAS_CORETYPE', ''), sep='|')\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in KERNELS}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded, coretype = done.stdout.strip().split("|")
    assert loaded == "False"
    pinned = pin_cpu_kernels({}, machine=os.uname().machine, cpu_flags=read_cpu_flags())
    assert (coretype == KERNELS["OPENBLAS_CORETYPE"]) == pinned

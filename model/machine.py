"""The machine a benchmark ran on, printed at the top of every benchmark: timings only compare
within one run, and the CPU (AVX2 only, or AVX-512 / VNNI / AMX) changes between machines."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# Instruction-set extensions that change the speed of the networks and the fit.
_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (/proc/cpuinfo's first "flags" line); empty when unreadable."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "flags":
                return set(value.split())
    except OSError:
        pass
    return set()


def has_int8_dot(flags: set[str] | None = None) -> bool:
    """True when the CPU multiplies int8 in hardware dot products (AVX512-VNNI, AVX-VNNI or
    AMX-INT8): where an int8 network beats float32 without saturating 16-bit sums."""
    flags = cpu_flags() if flags is None else flags
    return bool(flags & {"avx512_vnni", "avx_vnni", "amx_int8"})


def describe_machine(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """One line: CPU model, logical cores, the extensions of _FLAGS it has, Python version."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    have = [f for f in _FLAGS if f in flags] or ["none of " + "/".join(_FLAGS)]
    return (f"machine: {model}, {os.cpu_count()} logical cores, {', '.join(have)}; "
            f"Python {platform.python_version()}")

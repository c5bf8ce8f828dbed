"""The CPU a speed or int8 decision was made on: model, cores and the instruction sets that matter.

Why it is recorded: int8 speed and even int8 accuracy depend on the CPU. onnxruntime runs
u8 x s8 products with VNNI (AVX-512 VNNI / AVX-VNNI / AMX) where the CPU has it and falls back
to slower paths (with possible saturation) where it does not, so a variant chosen as fastest on
the export machine may not be the fastest, or may not pass, on a deployer's. ``report.json`` and
the model card carry this, and ``hub validate --rebench`` re-judges on the machine it runs on.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

#: The flags (as /proc/cpuinfo names them) that decide which kernels onnxruntime's MLAS picks.
ISA_FLAGS = ("sse4_1", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
             "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_bf16", "amx_int8", "asimd", "asimddp", "i8mm",
             "bf16", "sve")


def _cpuinfo() -> tuple[str, set[str]]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")[:1 << 20]
    except OSError:
        return platform.processor() or platform.machine(), set()
    model, flags = "", set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key in ("model name", "hardware", "cpu model") and not model:
            model = value.strip()
        elif key in ("flags", "features") and not flags:
            flags = set(value.split())
    return model or platform.processor() or platform.machine(), flags


def describe() -> dict[str, Any]:
    """JSON-ready facts about this machine's CPU and onnxruntime."""
    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    model, flags = _cpuinfo()
    return {"cpu": model, "arch": platform.machine(), "cores": os.cpu_count(),
            "isa": [f for f in ISA_FLAGS if f in flags], "onnxruntime": ort_version}


def int8_units(machine: dict[str, Any]) -> str:
    """What runs int8 products fast on this CPU, in words (for the card and the report's reasons)."""
    isa = set(machine.get("isa", ()))
    for flag, words in (("amx_int8", "AMX int8"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
                        ("asimddp", "Arm dot-product"), ("i8mm", "Arm i8mm")):
        if flag in isa:
            return words
    return "no int8 dot-product unit (int8 may be slower than fp32 here)"

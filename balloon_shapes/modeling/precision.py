"""Inference precision that fits the hardware: ``amp=auto`` picks bf16 only on CPUs with bf16
units (AMX or AVX512-BF16), fp16 on a GPU, fp32 otherwise. A CPU without bf16 units emulates
bf16 slower than fp32, so forcing it there earns a one-line warning."""

from __future__ import annotations

import functools
import logging
import os
import platform

import torch

from balloon_shapes.errors import ConfigError

BF16_UNITS = frozenset({"amx_bf16", "avx512_bf16"})
CHOICES = ("auto", True, False)
log = logging.getLogger(__name__)


# oneDNN ISA caps (ONEDNN_MAX_CPU_ISA) under which its kernels use no bf16 units, or no AMX
NO_BF16_ISAS = frozenset({"SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE",
                          "AVX512_CORE_VNNI"})  # fmt: skip


def cpu_model(path: str = "/proc/cpuinfo") -> str:
    """The CPU's model name (Linux), else the machine's architecture: benchmarks print it."""
    if os.path.isfile(path):
        with open(path) as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
        if names:
            return names[0]
    return platform.machine()


@functools.lru_cache(maxsize=1)
def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags (Linux) as oneDNN may use them: AMX and bf16 units dropped where
    ``ONEDNN_MAX_CPU_ISA`` caps them off (OpenVINO cannot build bf16 kernels then); empty
    where /proc/cpuinfo is not there."""
    flags: frozenset[str] = frozenset()
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except FileNotFoundError:
        pass
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL").upper()
    if cap in NO_BF16_ISAS:
        return flags - BF16_UNITS - {"amx_tile", "amx_int8"}
    return flags if "AMX" in cap or cap == "ALL" else flags - {"amx_bf16", "amx_tile", "amx_int8"}


def autocast_dtype(
    amp: str | bool, device: torch.device, flags: frozenset[str] | None = None
) -> torch.dtype | None:
    """The autocast dtype for ``amp`` (auto | true | false) on ``device``; None means fp32."""
    if amp not in CHOICES:
        raise ConfigError(f"amp={amp!r}: expected auto, true or false")
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.float16
    has_units = bool(BF16_UNITS & (cpu_flags() if flags is None else flags))
    if amp == "auto":
        return torch.bfloat16 if has_units else None
    if not has_units:
        log.warning(
            "amp=true: this CPU has no bf16 units (AMX or AVX512-BF16); bf16 is emulated and "
            "usually slower than fp32 (amp=auto picks fp32 here)"
        )
    return torch.bfloat16


def training_precision(
    precision: str | int, accelerator: str, flags: frozenset[str] | None = None
) -> str | int:
    """Lightning's ``precision`` for ``trainer.precision``: ``auto`` is bf16-mixed on a CPU with
    bf16 units (AMX or AVX512-BF16: 1.4x fp32 per `make train` step on an EPYC Zen 4), fp32
    elsewhere (emulated bf16 is slower; GPUs not measured); any other value is Lightning's."""
    if precision != "auto":
        return precision
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not torch.cuda.is_available())
    units = BF16_UNITS & (cpu_flags() if flags is None else flags)
    chosen = "bf16-mixed" if on_cpu and units else "32-true"
    log.info("trainer.precision=auto: %s", chosen)
    return chosen


def precision_name(dtype: torch.dtype | None) -> str:
    """ "fp32", "bf16" or "fp16": what metrics.json records."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(dtype: torch.dtype | None, device: torch.device) -> torch.autocast:
    """``torch.autocast`` for ``autocast_dtype``'s answer (disabled for fp32)."""
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

"""How the model runs on this machine: device, numeric precision and torch's thread count."""

import contextlib
import copy
import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch

from app.cpu_features import CpuFeatures, read_cpu_features
from app.errors import ModelLoadError

logger = logging.getLogger(__name__)

Precision = Literal["fp32", "bf16", "fp16", "int8"]
PrecisionChoice = Literal["auto", "fp32", "bf16", "fp16", "int8"]
QuantizedEngine = Literal["onednn", "x86"]
# bf16 must beat fp32 by this much on the probe batch for `auto` to pick it on a CPU without AMX.
BF16_MARGIN = 1.2
DeviceChoice = Literal["auto", "cpu", "cuda"]


def select_device(choice: DeviceChoice) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("DEVICE=cuda, but torch sees no CUDA device; use DEVICE=cpu or auto.")
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def cpu_supports_bf16() -> bool:
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(
    choice: PrecisionChoice,
    device: torch.device,
    cpu: CpuFeatures,
    bf16_speedup: Callable[[], float] | None = None,
) -> Precision:
    """`auto`: the fastest mode this machine runs natively. bf16 on a GPU that has it and on a CPU
    with AMX; on a CPU with AVX512-BF16 but no AMX it depends on the chip (measured: 2x fp32 on an
    AMD EPYC, slower than fp32 on an earlier Xeon), so `bf16_speedup` times both and bf16 must win
    by BF16_MARGIN; fp32 elsewhere."""
    if choice != "auto":
        return choice
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if cpu.amx:
        return "bf16"
    if cpu.avx512_bf16 and bf16_speedup is not None and cpu_supports_bf16():
        speedup = bf16_speedup()
        logger.info("PRECISION=auto: bf16 ran %.2fx the speed of fp32 on a probe batch", speedup)
        return "bf16" if speedup >= BF16_MARGIN else "fp32"
    return "fp32"


@torch.inference_mode()
def measure_bf16_speedup(model: torch.nn.Module, rows: int = 8, tokens: int = 64) -> float:
    """fp32 time over bf16 time of the encoder on one random batch, the best of three runs each."""
    encoder: torch.nn.Module = getattr(model, getattr(model, "base_model_prefix", ""), model)
    inputs = probe_batch(model, rows, tokens)
    bf16 = copy.deepcopy(encoder).to(torch.bfloat16)
    speedup = best_time(encoder, inputs) / best_time(bf16, inputs)
    del bf16
    return speedup


def probe_batch(model: torch.nn.Module, rows: int, tokens: int) -> dict[str, torch.Tensor]:
    """A random batch of `rows` unpadded rows of `tokens` token ids, the same on every call."""
    vocab = int(getattr(getattr(model, "config", None), "vocab_size", 1000))
    generator = torch.Generator().manual_seed(0)
    return {
        "input_ids": torch.randint(0, vocab, (rows, tokens), generator=generator),
        "attention_mask": torch.ones(rows, tokens, dtype=torch.long),
    }


def best_time(module: torch.nn.Module, inputs: dict[str, torch.Tensor], runs: int = 3) -> float:
    """The fastest of `runs` calls, after one call for one-time costs (kernel selection, compiling)."""
    module(**inputs)
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        module(**inputs)
        timings.append(time.perf_counter() - started)
    return min(timings)


def quantized_engine_for(cpu: CpuFeatures) -> QuantizedEngine:
    """int8 matmuls: oneDNN where AMX runs them (fbgemm has no AMX kernels); torch's default x86
    (fbgemm) engine elsewhere — on AVX512-VNNI alone the two measured equal within noise."""
    return "onednn" if cpu.amx else "x86"


def apply_precision(
    model: torch.nn.Module, precision: Precision, device: torch.device, cpu: CpuFeatures | None = None
) -> torch.nn.Module:
    """fp32 is exact; bf16/fp16 halve the weights; int8 quantizes Linear layers dynamically (CPU)."""
    if precision == "fp32":
        return model.to(device)
    if precision == "int8":
        if device.type != "cpu":
            raise ModelLoadError(
                "PRECISION=int8 is dynamic quantization for CPUs; on a GPU use fp16 or bf16."
            )
        engine = quantized_engine_for(cpu or read_cpu_features())
        if engine in torch.backends.quantized.supported_engines:
            torch.backends.quantized.engine = engine
        logger.info("int8 uses the %s quantized engine", torch.backends.quantized.engine)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.ao points to torchao; its dynamic int8 path still works
            quantized: torch.nn.Module = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        return quantized
    if precision == "fp16" and device.type != "cuda":
        raise ModelLoadError("PRECISION=fp16 needs a GPU; on a CPU use bf16 or int8.")
    if precision == "bf16" and device.type == "cpu" and not cpu_supports_bf16():
        raise ModelLoadError("PRECISION=bf16 needs a CPU with AVX512-BF16 or AMX; use fp32 or int8.")
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return model.to(device=device, dtype=dtype)


def available_cpus() -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (containers)."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cpu_max = Path("/sys/fs/cgroup/cpu.max")
    if cpu_max.is_file():
        quota, _, period = cpu_max.read_text().partition(" ")
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    return count


def intra_op_threads(torch_threads: int | None) -> int:
    """TORCH_THREADS, else every CPU this process may use."""
    return torch_threads or available_cpus()


def configure_threads(torch_threads: int | None) -> int:
    """One batch runs at a time, so torch gets every usable core and no inter-op pool on top."""
    threads = intra_op_threads(torch_threads)
    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):  # already set, or parallel work already started
        torch.set_num_interop_threads(1)
    # The Rust tokenizer's own thread pool would compete with torch for the same cores.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    logger.info("torch uses %d threads", threads)
    return threads

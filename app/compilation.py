"""Compiled models: the encoder through torch.compile's inductor, with frozen weights.

Freezing turns the weights into constants the compiler packs for oneDNN, and dynamic shapes make
one graph serve every batch and sequence size, so steady traffic never recompiles. With a symbolic
batch size inductor runs fp32 Linear layers on oneDNN rather than MKL's sgemm, which on AMD EPYC
is the difference between ~155 and ~360 GFLOP/s on two cores (measured, see docs/performance.md).
The task heads stay eager: they are a few small matmuls on the rows that need them.

`COMPILE=auto` compiles where this machine can (a C++ compiler for inductor's kernels, a CPU,
fp32 or bf16) and keeps the compiled encoder only if a probe batch runs faster with it.
"""

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any, Literal

import torch

from app.errors import ModelLoadError
from app.runtime import Precision, best_time, probe_batch

logger = logging.getLogger(__name__)

CompileChoice = Literal["auto", "on", "off"]
# The compiled encoder must beat eager by this much on the probe batch for `auto` to keep it.
COMPILE_MARGIN = 1.1
COMPILABLE: tuple[Precision, ...] = ("fp32", "bf16")


class GraphCounter:
    """Graphs inductor compiled in this process: the warm-up's, then one per recompilation."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


COMPILED_GRAPHS = GraphCounter()


def cpp_compiler() -> str | None:
    """The C++ compiler inductor builds CPU kernels with ($CXX, else c++, g++ or clang++)."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return next((path for name in candidates if (path := shutil.which(name))), None)


def _counting_inductor(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Any:
    from torch._inductor.compile_fx import compile_fx

    COMPILED_GRAPHS.add()
    return compile_fx(graph, example_inputs)


def encoder_of(model: torch.nn.Module) -> tuple[str, torch.nn.Module]:
    """The attribute holding the model's encoder (`bert`, ...) and the encoder itself."""
    prefix = str(getattr(model, "base_model_prefix", ""))
    encoder = getattr(model, prefix, None)
    if not prefix or not isinstance(encoder, torch.nn.Module):
        raise ModelLoadError(f"{type(model).__name__} has no separable encoder to compile.")
    return prefix, encoder


def compile_encoder(model: torch.nn.Module) -> None:
    """Swap the model's encoder for its compiled form, in place; the compile itself happens on the
    first call of each kind of input (the warm-up's)."""
    import torch._inductor.config as inductor_config

    inductor_config.freezing = True  # read when each graph compiles, so it stays set
    prefix, encoder = encoder_of(model)
    setattr(model, prefix, torch.compile(encoder, backend=_counting_inductor, dynamic=True))


def uncompile_encoder(model: torch.nn.Module) -> None:
    prefix, encoder = encoder_of(model)
    setattr(model, prefix, getattr(encoder, "_orig_mod", encoder))


def check_compilable(precision: Precision, device: torch.device) -> str | None:
    """Why this model cannot be compiled here, or None."""
    if device.type != "cpu":
        return "compiling is measured and supported on CPUs only"
    if precision not in COMPILABLE:
        return f"{precision} has no compiled path (compiled precisions: {', '.join(COMPILABLE)})"
    if cpp_compiler() is None:
        return "inductor needs a C++ compiler (c++, g++ or clang++ on PATH, or $CXX) and none was found"
    return None


def apply_compile(
    model: torch.nn.Module,
    choice: CompileChoice,
    precision: Precision,
    device: torch.device,
    speedup: Callable[[torch.nn.Module], float] | None = None,
) -> bool:
    """Whether the served model runs compiled. `on` refuses what cannot be compiled; `auto`
    compiles where it can and keeps it where `speedup` (eager time over compiled) is COMPILE_MARGIN."""
    if choice == "off":
        return False
    reason = check_compilable(precision, device)
    if reason is not None:
        if choice == "on":
            raise ModelLoadError(f"COMPILE=on, but {reason}; use COMPILE=auto or off.")
        logger.info("COMPILE=auto: serving eager, %s", reason)
        return False
    started = time.perf_counter()
    compile_encoder(model)
    if choice == "on" or speedup is None:
        return True
    ratio = speedup(model)
    keep = ratio >= COMPILE_MARGIN
    logger.info(
        "COMPILE=auto: the compiled encoder ran %.2fx the speed of eager on a probe batch (%.0f s); %s",
        ratio,
        time.perf_counter() - started,
        "serving it" if keep else "serving eager",
    )
    if not keep:
        uncompile_encoder(model)
    return keep


@torch.inference_mode()
def measure_compile_speedup(model: torch.nn.Module, rows: int = 8, tokens: int = 32) -> float:
    """Eager time over compiled time of the encoder on one random batch, the best of three each.
    The first compiled call compiles the graph that warm-up and traffic then reuse."""
    _, compiled = encoder_of(model)
    eager = getattr(compiled, "_orig_mod", compiled)
    inputs = probe_batch(model, rows, tokens)
    return best_time(eager, inputs) / best_time(compiled, inputs)

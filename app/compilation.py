"""Whether and how the served encoder runs compiled (`COMPILE=auto|on|off`).

Compiling is AOTInductor's (`app.compiled_package`): the encoder exported once with a dynamic batch
size and length, its weights frozen into constants inductor packs for oneDNN, into one package.
Packages land in a cache keyed by torch, the CPU's instruction sets, the precision and the weights,
so a restart (or a second replica sharing the cache) loads in seconds what the first start compiled.
One exported graph serves every shape: traffic never recompiles.

Why it pays on AMD EPYC: eager fp32 Linear layers run on MKL's sgemm (~155 GFLOP/s on two cores
for a BERT-sized Linear), the frozen graph on oneDNN's (~358 GFLOP/s); see docs/performance.md.
The task heads stay eager: a few small matmuls on the rows that need them.

`auto` compiles where this machine can (a C++ compiler for inductor's kernels, a CPU, fp32 or bf16)
and keeps the compiled encoder only if a probe batch runs faster with it.
"""

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from transformers import PreTrainedModel

from app.compiled_package import (
    KEY_FILE,
    PackageKey,
    encoder_of,
    load_package,
    own_weights,
    write_package,
)
from app.errors import ModelLoadError
from app.runtime import Precision, best_time, probe_batch
from app.tasks.packing import packed

logger = logging.getLogger(__name__)

CompileChoice = Literal["auto", "on", "off"]
# The compiled encoder must beat eager by this much on the probe batch for `auto` to keep it.
COMPILE_MARGIN = 1.1
COMPILABLE: tuple[Precision, ...] = ("fp32", "bf16")
Speedup = Callable[[PreTrainedModel, torch.nn.Module], float]


class CompilationCounter:
    """Encoders this process compiled (not those it loaded from a package or the cache)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def add(self) -> None:
        with self._lock:
            self._count += 1

    @property
    def count(self) -> int:
        return self._count


COMPILATIONS = CompilationCounter()


def default_cache_dir() -> Path:
    """$XDG_CACHE_HOME/bert-fill-mask/compiled, else ~/.cache/bert-fill-mask/compiled."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bert-fill-mask" / "compiled"


def cpp_compiler() -> str | None:
    """The C++ compiler inductor builds CPU kernels with ($CXX, else c++, g++ or clang++)."""
    candidates = [os.environ["CXX"]] if os.environ.get("CXX") else ["c++", "g++", "clang++"]
    return next((path for name in candidates if (path := shutil.which(name))), None)


def check_compilable(model: PreTrainedModel, precision: Precision, device: torch.device) -> str | None:
    """Why this model cannot be compiled here, or None. Packages replace the encoder a model holds
    (a head model's, or the one `BareEncoder` holds for feature extraction)."""
    try:
        encoder_of(model)
    except ModelLoadError as exc:
        return exc.message.rstrip(".")
    if device.type != "cpu":
        return "compiling is measured and supported on CPUs only"
    if precision not in COMPILABLE:
        return f"{precision} has no compiled path (compiled precisions: {', '.join(COMPILABLE)})"
    if cpp_compiler() is None:
        return "inductor needs a C++ compiler (c++, g++ or clang++ on PATH, or $CXX) and none was found"
    return None


def package_folder(model_folder: Path, precision: Precision) -> Path:
    """Where `python -m app compile` puts a local model's package by default, and `serve` looks."""
    return model_folder / "compiled" / precision


def compile_cached(model: PreTrainedModel, key: PackageKey, cache_dir: Path) -> Path:
    """The cache's package for this key, compiled into it first when absent."""
    folder = cache_dir / key.digest()
    if (folder / KEY_FILE).is_file():
        logger.info("Compiled encoder found in the cache: %s", folder)
        return folder
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    write_package(model, key, staging)
    COMPILATIONS.add()
    try:
        staging.replace(folder)  # whole or absent: a start that dies mid-compile leaves no package
    except OSError:
        if not (folder / KEY_FILE).is_file():
            raise
        shutil.rmtree(staging)  # another process sharing the cache finished first
    return folder


def prepare_encoder(
    model: PreTrainedModel,
    choice: CompileChoice,
    precision: Precision,
    device: torch.device,
    untrained: frozenset[str] = frozenset(),
    *,
    package: Path | None = None,
    model_folder: Path | None = None,
    cache_dir: Path | None = None,
    speedup: Speedup | None = None,
) -> bool:
    """Whether the served model runs compiled, and from where: `package` when given (its key must
    match); else, unless `choice` is off, the local model folder's package when it matches (a
    warning when it does not); else compiled as `choice` says."""
    if package is None and choice != "off" and model_folder is not None:
        found = package_folder(model_folder, precision)
        package = found if (found / KEY_FILE).is_file() else None
        explicit = False
    else:
        explicit = package is not None
    key, compiled = None, False
    if package is not None:
        key = PackageKey.of(encoder_of(model)[1], precision, untrained)
        try:
            load_package(model, key, package)
            compiled = True
        except ModelLoadError as exc:
            if explicit:
                raise
            logger.warning("Not using the compiled package in the model folder: %s", exc.message)
    compiled = compiled or apply_compile(
        model, choice, precision, device, untrained, key=key, cache_dir=cache_dir, speedup=speedup
    )
    if compiled:
        own_weights(model)  # the eager encoder is gone; what remains must not keep its pages
    return compiled


def apply_compile(
    model: PreTrainedModel,
    choice: CompileChoice,
    precision: Precision,
    device: torch.device,
    untrained: frozenset[str] = frozenset(),
    *,
    key: PackageKey | None = None,
    cache_dir: Path | None = None,
    speedup: Speedup | None = None,
) -> bool:
    """Whether the served model runs compiled (from the cache). `on` refuses what cannot be
    compiled; `auto` compiles where it can and keeps it where `speedup` (eager time over compiled)
    is COMPILE_MARGIN. `key`: the encoder's, where the caller has it already."""
    if choice == "off":
        return False
    reason = check_compilable(model, precision, device)
    if reason is not None:
        if choice == "on":
            raise ModelLoadError(f"COMPILE=on, but {reason}; use COMPILE=auto or off.")
        logger.info("COMPILE=auto: serving eager, %s", reason)
        return False
    started = time.perf_counter()
    prefix, eager = encoder_of(model)
    key = key or PackageKey.of(eager, precision, untrained)
    load_package(model, key, compile_cached(model, key, cache_dir or default_cache_dir()))
    if choice == "on" or speedup is None:
        return True
    ratio = speedup(model, packed(eager))  # both run packed, as they would serve
    keep = ratio >= COMPILE_MARGIN
    logger.info(
        "COMPILE=auto: the compiled encoder ran %.2fx the speed of eager on a probe batch (%.0f s); %s",
        ratio,
        time.perf_counter() - started,
        "serving it" if keep else "serving eager",
    )
    if not keep:
        setattr(model, prefix, eager)
    return keep


@torch.inference_mode()
def measure_compile_speedup(
    model: PreTrainedModel, eager: torch.nn.Module, rows: int = 8, tokens: int = 32
) -> float:
    """Eager time over compiled time of the encoder on one random batch, the best of three each."""
    _, compiled = encoder_of(model)
    inputs = probe_batch(model, rows, tokens)
    return best_time(eager, inputs) / best_time(compiled, inputs)

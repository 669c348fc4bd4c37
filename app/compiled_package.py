"""Compiled encoders made ahead of time, so a restart, a second replica or an image that carries
one starts in seconds instead of compiling again.

`python -m app compile` exports the encoder with dynamic batch and sequence sizes
(`torch.export`) and compiles it with AOTInductor into a package (`encoder.pt2`, frozen weights
and kernels in one shared library) beside `key.json`: what the package is only valid for — this
torch, these CPU instruction sets, this precision and these weights. `serve` loads a package whose
key matches and refuses, saying which part differs, one that does not. Loading needs no C++
compiler, so the serving image can run what the build stage compiled.
"""

import ctypes
import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from app.cpu_features import CpuFeatures, read_cpu_features
from app.errors import ModelLoadError
from app.runtime import Precision, probe_batch
from app.tasks.packing import ROW_TOKENS, PackedEncoder, SegmentEncoder, pack

logger = logging.getLogger(__name__)

PACKAGE_FILE = "encoder.pt2"
KEY_FILE = "key.json"
# The instruction sets inductor's kernels may be compiled for: a package built where one is
# present does not run where it is absent.
ISA_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512dq",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
)
# Export traces with sizes above 1 so that neither dimension is specialized.
EXAMPLE_ROWS, EXAMPLE_TOKENS = 2, 16
PACKED_LAYOUT = "packed-rows"


def encoder_of(model: torch.nn.Module) -> tuple[str, torch.nn.Module]:
    """The attribute holding the model's encoder (`bert`, ...) and the encoder itself."""
    prefix = str(getattr(model, "base_model_prefix", ""))
    encoder = getattr(model, prefix, None)
    if not prefix or not isinstance(encoder, torch.nn.Module):
        raise ModelLoadError(f"{type(model).__name__} has no separable encoder to compile.")
    return prefix, encoder


@dataclass(frozen=True)
class PackageKey:
    torch_version: str
    isa: tuple[str, ...]
    precision: str
    weights: str  # a digest of the encoder's weights that the checkpoint holds
    # What the package takes: packed rows (app.tasks.packing); packages made before packing took
    # padded batches and cannot run here.
    layout: str = PACKED_LAYOUT

    @classmethod
    def of(
        cls,
        encoder: torch.nn.Module,
        precision: Precision,
        untrained: frozenset[str] = frozenset(),
        cpu: CpuFeatures | None = None,
    ) -> "PackageKey":
        flags = (cpu or read_cpu_features()).flags
        isa = tuple(flag for flag in ISA_FLAGS if flag in flags)
        return cls(torch.__version__, isa, precision, weights_digest(encoder, untrained))

    def digest(self) -> str:
        """A folder name for this key in the compile cache."""
        return hashlib.blake2b(json.dumps(asdict(self)).encode(), digest_size=8).hexdigest()

    def differences(self, other: "PackageKey") -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [
            f"{name}: package {_shown(theirs[name])}, here {_shown(mine[name])}"
            for name in mine
            if mine[name] != theirs[name]
        ]


def _shown(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(value) or "none"
    return str(value)


def weights_digest(encoder: torch.nn.Module, untrained: frozenset[str] = frozenset()) -> str:
    """Over the weights loaded from the checkpoint; `untrained` ones (a fill-mask checkpoint's
    pooler, which transformers initialises at random on every load) would change it each time."""
    digest = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(encoder.state_dict().items()):
        if name in untrained:
            continue
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().cpu().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _example_rows(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Two rows of two inputs each, as `pack` lays them out."""
    inputs = probe_batch(model, EXAMPLE_ROWS * 2, EXAMPLE_TOKENS // 2)
    packed = pack(inputs["input_ids"], inputs["attention_mask"], None, row_tokens=EXAMPLE_TOKENS)
    return {
        "input_ids": packed.input_ids,
        "token_type_ids": packed.token_type_ids,
        "position_ids": packed.position_ids,
        "segments": packed.segments,
    }


def write_package(model: PreTrainedModel, key: PackageKey, output: Path) -> Path:
    """Export and compile the model's encoder into `output` (created), under `key` (the encoder's,
    here: `PackageKey.of`); returns the package path."""
    import torch._inductor

    _, encoder = encoder_of(model)
    output.mkdir(parents=True, exist_ok=True)
    # Every row holds [CLS] and [SEP], so at least 2 tokens; at most a row's (or one input's) worth.
    rows = torch.export.Dim("rows", min=1)
    widest = max(ROW_TOKENS, int(model.config.max_position_embeddings))
    tokens = torch.export.Dim("tokens", min=2, max=widest)
    example = _example_rows(model)
    shapes = {name: {0: rows, 1: tokens} for name in example}
    started = time.perf_counter()
    with torch.inference_mode():
        exported = torch.export.export(
            SegmentEncoder(encoder), (), example, dynamic_shapes=shapes, strict=False
        )
    package = output / PACKAGE_FILE
    # Inductor freezes weights only with gradients off; else the Linear layers stay on MKL's sgemm
    # (measured: no faster than eager).
    with torch.no_grad(), torch._inductor.config.patch(freezing=True):
        torch._inductor.aoti_compile_and_package(exported, package_path=str(package))
    (output / KEY_FILE).write_text(json.dumps(asdict(key), indent=2) + "\n")
    logger.info(
        "Compiled %s into %s in %.0f s", type(encoder).__name__, package, time.perf_counter() - started
    )
    return package


# AOTInductor's runner holds the GIL for the whole of a call, so the event loop waits as long as the
# call computes: 4.7 s for 8 rows of 511 tokens of bert-base on two Zen 4 cores, where eager lets go
# of it. A batch goes in calls of at most this many tokens (about 0.5 s there; at least one row),
# and the loop gets its turn between them.
CALL_TOKENS = 512


class PackagedRows(torch.nn.Module):
    """Stands where `SegmentEncoder` was: the same call, answered by the compiled package."""

    def __init__(self, runner: Any) -> None:
        super().__init__()
        self.runner = runner

    def forward(self, **rows: torch.Tensor) -> torch.Tensor:
        rows_per_call = max(1, CALL_TOKENS // rows["input_ids"].shape[1])
        if rows["input_ids"].shape[0] <= rows_per_call:
            hidden: torch.Tensor = self.runner(**rows)
            return hidden
        parts = []
        for start in range(0, rows["input_ids"].shape[0], rows_per_call):
            time.sleep(0)  # lets go of the GIL: whoever waited for it through the last call goes first
            parts.append(
                self.runner(**{name: value[start : start + rows_per_call] for name, value in rows.items()})
            )
        return torch.cat(parts)


def load_package(model: torch.nn.Module, key: PackageKey, folder: Path) -> None:
    """Put the package in `folder` where the model's encoder is, once its key matches `key` (the
    encoder's, here: `PackageKey.of`)."""
    import torch._inductor

    key_file, package = folder / KEY_FILE, folder / PACKAGE_FILE
    if not key_file.is_file() or not package.is_file():
        raise ModelLoadError(
            f"'{folder}' holds no compiled package ({KEY_FILE} and {PACKAGE_FILE}); make one with "
            f"python -m app compile --model <model> --precision {key.precision} --output {folder}"
        )
    prefix, encoder = encoder_of(model)
    try:
        raw = json.loads(key_file.read_text())
        packaged = PackageKey(
            raw["torch_version"],
            tuple(raw["isa"]),
            raw["precision"],
            raw["weights"],
            raw.get("layout", "padded"),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"'{key_file}' is not a compiled package's key: {exc}.") from exc
    differences = key.differences(packaged)
    if differences:
        raise ModelLoadError(
            f"The compiled package in '{folder}' was made for another setting ({'; '.join(differences)}). "
            "Compile it again here with python -m app compile, or serve without it."
        )
    started = time.perf_counter()
    libraries = _mapped_libraries()
    runner = torch._inductor.aoti_load_package(str(package))
    for library in _mapped_libraries() - libraries:
        _drop_embedded_constants(library)
        _remove_unpacked(Path(library))
    pooler = getattr(encoder, "pooler", None)
    setattr(model, prefix, PackedEncoder(PackagedRows(runner), encoder.config, pooler))
    logger.info("Loaded the compiled encoder from %s in %.1f s", package, time.perf_counter() - started)


def _mapped_libraries() -> set[str]:
    """The shared libraries this process has mapped (Linux; none elsewhere)."""
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:
        return set()
    return {fields[5] for line in lines if len(fields := line.split(maxsplit=5)) == 6 and ".so" in fields[5]}


_MADV_DONTNEED = 4


def _drop_embedded_constants(library: str) -> None:
    """Give back the pages of the weights embedded in a package's shared library, once loaded.

    AOTInductor's runner copies them (between the library's `_binary_constants_bin_start` and
    `_bin_end`) into memory of its own and never reads them again, but the pages the copy read stay
    resident: a second copy of the weights in the server's RSS (411 MB of bert-base's fp32). They
    are read-only, so dropping them loses nothing; a later read would fault them in from the file."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.dlopen.restype, libc.dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
    libc.dlsym.restype, libc.dlsym.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_char_p]
    libc.dlclose.argtypes = [ctypes.c_void_p]
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    handle = libc.dlopen(library.encode(), os.RTLD_LAZY | os.RTLD_NOLOAD)  # loaded already: no new load
    if not handle:
        return
    try:
        start = libc.dlsym(handle, b"_binary_constants_bin_start")
        end = libc.dlsym(handle, b"_binary_constants_bin_end")
        if not start or not end:
            return  # not an AOTInductor library with embedded constants
        page = os.sysconf("SC_PAGE_SIZE")
        first, last = -(-start // page) * page, end // page * page  # whole pages inside the constants
        if last > first and libc.madvise(first, last - first, _MADV_DONTNEED) != 0:
            logger.debug("madvise of %s's constants failed: errno %d", library, ctypes.get_errno())
    finally:
        libc.dlclose(handle)


def _remove_unpacked(library: Path) -> None:
    """Remove the folder AOTInductor's loader unpacked the package into (`aotinductor_*` in the
    temporary directory: bert-base's fp32 is 414 MB of it), which it leaves behind: one more for
    every start, on a disk or in a tmpfs's memory. What runs is mapped already; Linux keeps a
    removed file's pages for as long as they are mapped."""
    for folder in library.parents:
        if folder.name.startswith("aotinductor_"):
            shutil.rmtree(folder, ignore_errors=True)
            return


def own_weights(model: torch.nn.Module) -> None:
    """Copy what the model keeps beside a compiled encoder (its heads, the pooler) into memory of
    its own.

    transformers maps a safetensors checkpoint whole, its weights views of the mapping: once the
    package stood in for the eager encoder, the MLM head's decoder (tied to the word embeddings) alone
    kept the file mapped, the eager encoder's pages resident (413 MB of bert-base's fp32)."""
    for tensor in (*model.parameters(), *model.buffers()):
        tensor.data = tensor.data.clone()

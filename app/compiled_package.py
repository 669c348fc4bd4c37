"""Compiled encoders made ahead of time, so a restart, a second replica or an image that carries
one starts in seconds instead of compiling again.

`python -m app compile` exports the encoder with dynamic batch and sequence sizes
(`torch.export`) and compiles it with AOTInductor into a package (`encoder.pt2`, frozen weights
and kernels in one shared library) beside `key.json`: what the package is only valid for — this
torch, these CPU instruction sets, this precision and these weights. `serve` loads a package whose
key matches and refuses, saying which part differs, one that does not. Loading needs no C++
compiler, so the serving image can run what the build stage compiled.
"""

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import PreTrainedModel

from app.cpu_features import CpuFeatures, read_cpu_features
from app.errors import ModelLoadError
from app.runtime import Precision, probe_batch

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


def _example_inputs(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    inputs = probe_batch(model, EXAMPLE_ROWS, EXAMPLE_TOKENS)
    return inputs | {"token_type_ids": torch.zeros_like(inputs["input_ids"])}


def write_package(model: PreTrainedModel, key: PackageKey, output: Path) -> Path:
    """Export and compile the model's encoder into `output` (created), under `key` (the encoder's,
    here: `PackageKey.of`); returns the package path."""
    import torch._inductor

    _, encoder = encoder_of(model)
    output.mkdir(parents=True, exist_ok=True)
    # Every row holds [CLS] and [SEP], so at least 2 tokens; at most the position embeddings.
    batch = torch.export.Dim("batch", min=1)
    tokens = torch.export.Dim("tokens", min=2, max=int(model.config.max_position_embeddings))
    shapes = {name: {0: batch, 1: tokens} for name in ("input_ids", "attention_mask", "token_type_ids")}
    started = time.perf_counter()
    with torch.inference_mode():
        exported = torch.export.export(
            encoder, (), _example_inputs(model), dynamic_shapes=shapes, strict=False
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
# of it. A batch goes in calls of at most this many padded tokens (about 0.5 s there), and the loop
# gets its turn between them.
CALL_TOKENS = 512


class PackagedEncoder(torch.nn.Module):
    """Stands where the model's encoder was: the same call, answered by the compiled package."""

    def __init__(self, runner: Any, config: Any) -> None:
        super().__init__()
        self.runner = runner
        self.config = config

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        **unused: Any,  # the heads' forward passes return_dict, output_attentions, ... as None or defaults
    ) -> Any:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        rows_per_call = max(1, CALL_TOKENS // input_ids.shape[1])
        if input_ids.shape[0] <= rows_per_call:
            return self.runner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
        parts = []
        for ids, mask, types in zip(
            input_ids.split(rows_per_call),
            attention_mask.split(rows_per_call),
            token_type_ids.split(rows_per_call),
            strict=True,
        ):
            time.sleep(0)  # lets go of the GIL: whoever waited for it through the last call goes first
            parts.append(self.runner(input_ids=ids, attention_mask=mask, token_type_ids=types))
        fields = {
            name: torch.cat([part[name] for part in parts]) if value is not None else None
            for name, value in parts[0].items()
        }
        return type(parts[0])(**fields)


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
        packaged = PackageKey(raw["torch_version"], tuple(raw["isa"]), raw["precision"], raw["weights"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ModelLoadError(f"'{key_file}' is not a compiled package's key: {exc}.") from exc
    differences = key.differences(packaged)
    if differences:
        raise ModelLoadError(
            f"The compiled package in '{folder}' was made for another setting ({'; '.join(differences)}). "
            "Compile it again here with python -m app compile, or serve without it."
        )
    started = time.perf_counter()
    runner = torch._inductor.aoti_load_package(str(package))
    setattr(model, prefix, PackagedEncoder(runner, encoder.config))
    logger.info("Loaded the compiled encoder from %s in %.1f s", package, time.perf_counter() - started)

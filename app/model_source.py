"""Where the checkpoint comes from: --model / MODEL_ID, else AZUREML_MODEL_DIR, else bert-base-cased."""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from app.config import DEFAULT_MODEL_ID, Settings

logger = logging.getLogger(__name__)

WEIGHT_PATTERNS = ("*.safetensors", "*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt")


@dataclass(frozen=True)
class ModelSource:
    """A hub id or folder for the model, and where its tokenizer lives (usually the same place).

    Azure's MLflow packaging of bert-base-cased keeps them apart: `model/` holds config.json and
    the weights, `components/tokenizer/` the tokenizer.
    """

    model: str
    tokenizer: str

    @classmethod
    def single(cls, location: str) -> "ModelSource":
        return cls(model=location, tokenizer=location)

    def __str__(self) -> str:
        return self.model


def _depth_first_order(paths: list[Path]) -> list[Path]:
    return sorted(paths, key=lambda path: (len(path.parts), str(path)))


def find_checkpoint_dir(root: Path) -> Path | None:
    """The shallowest folder under root holding config.json, preferring one with weights beside it."""
    configs = _depth_first_order(list(root.rglob("config.json")))
    with_weights = [c for c in configs if any(any(c.parent.glob(p)) for p in WEIGHT_PATTERNS)]
    found = with_weights or configs
    return found[0].parent if found else None


def find_tokenizer_dir(root: Path, checkpoint_dir: Path) -> Path:
    if any((checkpoint_dir / name).is_file() for name in TOKENIZER_FILES):
        return checkpoint_dir
    candidates = _depth_first_order([p.parent for name in TOKENIZER_FILES for p in root.rglob(name)])
    return candidates[0] if candidates else checkpoint_dir


def first_unreadable(folder: Path) -> Path | None:
    """The first path under a local folder (or above it) that this process may not read, else None.

    A container's user often cannot read what another uid saved (`save_pretrained` writes 0600);
    unchecked, the loaders below report such a folder as missing or empty.
    """
    folder = folder.expanduser().absolute()
    for above in reversed(folder.parents):  # from / down: a folder one cannot enter hides the rest
        if not above.is_dir():
            return None  # missing: a question for the loaders, not of permissions
        if not os.access(above, os.X_OK):
            return above
    if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
        return folder
    denied: list[Path] = []
    for directory, subdirectories, files in os.walk(
        folder, onerror=lambda e: denied.append(Path(e.filename))
    ):
        subdirectories.sort()
        for name in sorted(files):
            try:
                with open(os.path.join(directory, name), "rb"):
                    pass
            except PermissionError:
                return Path(directory, name)
            except OSError:  # a broken link and the like: not a question of permissions
                continue
    return denied[0] if denied else None


def source_in_folder(root: Path) -> ModelSource | None:
    """The checkpoint somewhere under `root` and its tokenizer (Azure's MLflow layout keeps them in
    model/ and components/tokenizer/), else None."""
    checkpoint_dir = find_checkpoint_dir(root)
    if checkpoint_dir is None:
        return None
    return ModelSource(str(checkpoint_dir), str(find_tokenizer_dir(root, checkpoint_dir)))


def resolve_model_source(settings: Settings) -> ModelSource:
    if settings.model_id:
        return ModelSource.single(settings.model_id)
    root = settings.azureml_model_dir
    if root is not None and root.exists() and first_unreadable(root) is not None:
        return ModelSource.single(str(root))  # loading it names what cannot be read
    if root is not None:
        found = source_in_folder(root)
        if found is not None:
            return found
        logger.warning(
            "AZUREML_MODEL_DIR=%s holds no config.json; falling back to %s", root, DEFAULT_MODEL_ID
        )
    return ModelSource.single(DEFAULT_MODEL_ID)


def looks_like_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or Path(source).exists()


def local_folder(source: ModelSource) -> Path | None:
    """The model's folder, where the model is one (not a hub id)."""
    return Path(source.model).expanduser() if looks_like_path(source.model) else None


# What sentence-transformers reads besides the weights: its modules, their configs, its settings.
SENTENCE_TRANSFORMERS_FILES = [
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "*Pooling/config.json",
]


def embedding_config_folder(source: ModelSource) -> Path | None:
    """Where the model's sentence-transformers configuration is: its folder, or for a hub id the
    hub cache's snapshot with those files fetched (transformers fetches only config, weights and
    tokenizer). None where the hub cannot be asked: the model then pools as a plain checkpoint."""
    folder = local_folder(source)
    if folder is not None:
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source.model, allow_patterns=SENTENCE_TRANSFORMERS_FILES))
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        logger.warning(
            "No sentence-transformers configuration for %s (%s): pooling as a plain checkpoint", source, exc
        )
        return None

"""How a checkpoint turns token vectors into one sentence vector, as sentence-transformers says it.

A sentence-transformers folder configures itself: `modules.json` lists its modules, the Pooling
module's `config.json` names the pooling (CLS token, mean, max, last token), a Normalize module
means unit vectors, `sentence_bert_config.json` has `max_seq_length` and `do_lower_case`, and
`config_sentence_transformers.json` holds named prompts. A plain checkpoint (bert-base-cased
itself) has none of these: it pools as `--pooling` says (mean by default) and is not normalized.
"""

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from app.errors import ModelLoadError

PoolingMode = Literal["cls", "mean", "max", "lasttoken"]
POOLING_MODES: tuple[PoolingMode, ...] = ("cls", "mean", "max", "lasttoken")
# Pooling config keys of sentence-transformers, for each mode this server implements.
POOLING_KEYS: dict[str, PoolingMode] = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class EmbeddingConfig:
    pooling: PoolingMode = "mean"
    normalize: bool = False
    max_tokens: int | None = None  # max_seq_length; None: the model's position embeddings
    lowercase: bool = False
    prompts: dict[str, str] = field(default_factory=dict)
    default_prompt_name: str | None = None
    from_sentence_transformers: bool = False


def read_embedding_config(folder: Path | None, pooling: PoolingMode | None = None) -> EmbeddingConfig:
    """The folder's sentence-transformers configuration, or a plain one pooling by `pooling`.

    `pooling`, when given, overrides what the folder says (the server's --pooling)."""
    modules_file = folder / "modules.json" if folder is not None else None
    if folder is None or modules_file is None or not modules_file.is_file():
        return EmbeddingConfig(pooling=pooling or "mean")
    modules = _read_json(modules_file)
    types = {str(module.get("type", "")).rsplit(".", 1)[-1]: module for module in modules}
    config = EmbeddingConfig(
        pooling=pooling or _folder_pooling(folder, types.get("Pooling")),
        normalize="Normalize" in types,
        from_sentence_transformers=True,
    )
    sentence_bert = folder / "sentence_bert_config.json"
    if sentence_bert.is_file():
        settings = _read_json(sentence_bert)
        config = replace(
            config, max_tokens=settings.get("max_seq_length"), lowercase=bool(settings.get("do_lower_case"))
        )
    prompts_file = folder / "config_sentence_transformers.json"
    if prompts_file.is_file():
        settings = _read_json(prompts_file)
        config = replace(
            config,
            prompts={str(k): str(v) for k, v in (settings.get("prompts") or {}).items()},
            default_prompt_name=settings.get("default_prompt_name"),
        )
    return config


def _folder_pooling(folder: Path, module: dict[str, Any] | None) -> PoolingMode:
    if module is None:
        return "mean"
    settings = _read_json(folder / str(module.get("path", "")) / "config.json")
    chosen = [mode for key, mode in POOLING_KEYS.items() if settings.get(key)]
    unsupported = [
        key
        for key, value in settings.items()
        if key.startswith("pooling_mode_") and value and key not in POOLING_KEYS
    ]
    if unsupported or len(chosen) != 1:
        asked = ", ".join(unsupported + list(chosen)) or "no pooling"
        raise ModelLoadError(
            f"The Pooling module of '{folder}' asks for {asked}; "
            f"this server pools by exactly one of {', '.join(POOLING_MODES)}."
        )
    return chosen[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not read '{path}': {exc}") from exc

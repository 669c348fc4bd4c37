"""Which models a server serves, and under which names: MODEL_ID (or AZUREML_MODEL_DIR) alone, or
the models of MODELS (`--model NAME=PATH`, repeated) and of MODEL_REPOSITORY (one per subfolder).

A LoRA adapter folder names its base in adapter_config.json; where that base is another model here
(the same folder once links are resolved, or the same hub id), the two share its weights.
"""

from dataclasses import dataclass
from pathlib import Path

from app.config import Settings
from app.errors import ModelLoadError
from app.model_source import ModelSource, looks_like_path, resolve_model_source, source_in_folder
from app.tasks.adapters import adapter_base, is_adapter_folder


@dataclass(frozen=True)
class ModelSpec:
    name: str
    source: ModelSource
    adapter_base: str | None = None  # an adapter's base, as its adapter_config.json names it

    @property
    def base_key(self) -> str:
        """What names the weights it runs on: the base's, for an adapter."""
        return location_key(self.adapter_base or self.source.model)


def location_key(location: str) -> str:
    """One key per set of weights: a folder by its resolved path, a hub id as it is."""
    return str(Path(location).expanduser().resolve()) if looks_like_path(location) else location


def default_model_name(source: ModelSource) -> str:
    """`bert-base-cased` for the hub's `google-bert/bert-base-cased`; a folder's own name."""
    path = Path(source.model)
    return path.name or path.resolve().name


def model_spec(name: str, source: ModelSource) -> ModelSpec:
    """A checkpoint, or an adapter folder naming its base."""
    folder = Path(source.model).expanduser()
    if looks_like_path(source.model) and is_adapter_folder(folder):
        return ModelSpec(name, source, adapter_base(folder))
    return ModelSpec(name, source)


def located(location: str) -> ModelSource:
    """A folder's checkpoint, also one it holds deeper (Azure's MLflow layout); else the location."""
    folder = Path(location).expanduser()
    plain = ModelSource.single(location)
    if not looks_like_path(location) or not folder.is_dir() or is_adapter_folder(folder):
        return plain
    return plain if (folder / "config.json").is_file() else source_in_folder(folder) or plain


def named_spec(location: str, name: str | None = None) -> ModelSpec:
    """The model at `location`, by `name`, else by its folder or hub name."""
    source = located(location)
    return model_spec(name or default_model_name(ModelSource.single(location)), source)


def model_specs(settings: Settings) -> list[ModelSpec]:
    """Every model, in order (the first answers unnamed routes unless DEFAULT_MODEL says otherwise)."""
    if not settings.models and settings.model_repository is None:
        source = resolve_model_source(settings)
        return [model_spec(settings.model_name or default_model_name(source), source)]
    specs = [named_spec(settings.model_id)] if settings.model_id else []
    for item in settings.models:
        name, separator, location = item.partition("=")
        if not separator:
            name, location = "", item
        elif not name or not location:
            raise ModelLoadError(f"--model {item!r} (MODELS): give NAME=PATH, e.g. emotion=./out/adapter.")
        specs.append(named_spec(location, name or None))
    if settings.model_repository is not None:
        specs.extend(repository_specs(settings.model_repository))
    names = [spec.name for spec in specs]
    if duplicated := sorted({name for name in names if names.count(name) > 1}):
        raise ModelLoadError(f"Two models are named {', '.join(duplicated)}; each name must be unique.")
    if settings.default_model is not None and settings.default_model not in names:
        raise ModelLoadError(
            f"DEFAULT_MODEL={settings.default_model} is none of the served models ({', '.join(names)})."
        )
    return specs


def repository_specs(root: Path) -> list[ModelSpec]:
    root = root.expanduser()
    if not root.is_dir():
        raise ModelLoadError(
            f"MODEL_REPOSITORY={root} is not a folder: give a folder with one model per subfolder."
        )
    folders = sorted(path for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))
    if not folders:
        raise ModelLoadError(f"MODEL_REPOSITORY={root} holds no model folder.")
    return [named_spec(str(folder), folder.name) for folder in folders]

"""The optional install sets: what a command needs beyond the serving set, and the line that says so."""

import importlib.util

# `finetune` and `evaluate`: Trainer + accelerate, datasets, metrics and charts (the `train` extra).
# (accelerate comes with peft in the serving set: the server loads LoRA adapters with it.)
TRAIN_EXTRA_MODULES = ("datasets", "sklearn", "seqeval", "matplotlib")


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:  # a broken install counts as none
        return False


def missing_train_extra(command: str) -> str | None:
    """None when the train extra is installed, else one line naming it and what is missing."""
    missing = [module for module in TRAIN_EXTRA_MODULES if not _installed(module)]
    if not missing:
        return None
    return (
        f"python -m app {command} needs the train extra: pip install 'bert-fill-mask[train]' "
        f"(or the image's train target); missing: {', '.join(missing)}"
    )

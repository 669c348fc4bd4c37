"""`python -m app compile`: the encoder compiled ahead of time into a package `serve` loads."""

import argparse
import logging
import time
from pathlib import Path

from app.compilation import check_compilable
from app.compiled_package import write_package
from app.config import Settings
from app.errors import ModelLoadError
from app.model_source import resolve_model_source
from app.runtime import configure_threads
from app.tasks.checkpoint import default_package_folder, load_runnable_model

logger = logging.getLogger(__name__)


def compile_command(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    try:
        configure_threads(settings.torch_threads)
        source = resolve_model_source(settings)
        loaded = load_runnable_model(source, settings.device, settings.precision, settings.task)
        reason = check_compilable(loaded.precision, loaded.device)
        if reason is not None:
            raise ModelLoadError(f"Cannot compile {loaded.source}: {reason}.")
        output: Path | None = args.output or default_package_folder(loaded.source, loaded.precision)
        if output is None:
            raise ModelLoadError(f"'{loaded.source}' is not a local folder: say where with --output DIR.")
        package = write_package(loaded.model, loaded.precision, output, loaded.untrained_encoder_weights)
    except ModelLoadError as exc:
        logger.error("%s", exc.message)
        return 1
    print(
        f"Compiled the {loaded.precision} encoder of {loaded.source} into {package} in "
        f"{time.perf_counter() - started:.0f} s; serve it with --compiled-package {output}"
    )
    return 0

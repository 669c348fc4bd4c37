"""`python -m app compile`: the encoder compiled ahead of time into a package `serve` loads."""

import argparse
import logging
import time
from pathlib import Path

from app.compilation import check_compilable, package_folder
from app.compiled_package import PackageKey, encoder_of, write_package
from app.config import Settings
from app.errors import ModelLoadError
from app.model_source import local_folder, resolve_model_source
from app.runtime import configure_threads
from app.tasks.loading import load_runnable_model

logger = logging.getLogger(__name__)


def compile_command(args: argparse.Namespace, settings: Settings) -> int:
    started = time.perf_counter()
    try:
        configure_threads(settings.torch_threads)
        source = resolve_model_source(settings)
        loaded = load_runnable_model(source, settings.device, settings.precision, settings.task)
        reason = check_compilable(loaded.model, loaded.precision, loaded.device)
        if reason is not None:
            raise ModelLoadError(f"Cannot compile {loaded.source}: {reason}.")
        folder = local_folder(loaded.source)
        output: Path | None = args.output or (folder and package_folder(folder, loaded.precision))
        if output is None:
            raise ModelLoadError(f"'{loaded.source}' is not a local folder: say where with --output DIR.")
        key = PackageKey.of(encoder_of(loaded.model)[1], loaded.precision, loaded.untrained_encoder_weights)
        package = write_package(loaded.model, key, output)
    except ModelLoadError as exc:
        logger.error("%s", exc.message)
        return 1
    print(
        f"Compiled the {loaded.precision} encoder of {loaded.source} into {package} in "
        f"{time.perf_counter() - started:.0f} s; serve it with --compiled-package {output}"
    )
    return 0

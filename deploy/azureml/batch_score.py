"""Azure ML batch endpoint entry script.

Azure calls `init()` once in each worker process, then `run(mini_batch)` with a list of input file
paths (`mini_batch_size` of them); it spreads mini-batches over `max_concurrency_per_instance`
workers on each of `instance_count` nodes, which is how a job scales past one machine. Each input
row gets one result row, `[row_number_per_file, prediction, batch_input_file_name]`, which Azure's
`append_row` action gathers into predictions.csv. A bad row keeps its place with an empty
prediction, and its reason goes to the job's log.
"""

import logging
from pathlib import Path
from typing import Any

from app.batch.inputs import read_rows
from app.batch.job import BatchOptions, chunks, score_rows
from app.config import Settings
from app.tasks.azure_answers import top1
from app.tasks.checkpoint import load_configured_model
from app.tasks.fill_mask import FillMaskModel

logger = logging.getLogger("batch_score")
COLUMNS = ["row_number_per_file", "prediction", "batch_input_file_name"]
model: FillMaskModel | None = None
settings: Settings | None = None


def init() -> None:
    """Load the model from AZUREML_MODEL_DIR (or MODEL_ID), once per worker."""
    global model, settings
    settings = Settings()
    model = load_configured_model(settings).tasks["fill-mask"]  # type: ignore[assignment]


def run(mini_batch: list[str]) -> Any:
    assert model is not None and settings is not None, "init() must run first"
    options = BatchOptions(
        output_dir=Path("."),
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
    )
    results: list[list[Any]] = []
    for path in mini_batch:
        file = Path(path)
        for chunk in chunks(read_rows(file), options.mini_batch_rows):
            for item in score_rows(model, chunk, options):
                if item.error is not None:
                    logger.warning("%s row %d: %s", file.name, item.source.row, item.error)
                results.append([item.source.row, top1(item.masks) if item.masks else "", file.name])
    try:
        import pandas as pd
    except ImportError:
        return results
    return pd.DataFrame(results, columns=COLUMNS)

"""Azure ML batch endpoint entry script, for whichever task the model serves.

Azure calls `init()` once in each worker process, then `run(mini_batch)` with a list of input file
paths (`mini_batch_size` of them); it spreads mini-batches over `max_concurrency_per_instance`
workers on each of `instance_count` nodes, which is how a job scales past one machine. Each input
row gets one result row, `[row_number_per_file, prediction, batch_input_file_name]`, which Azure's
`append_row` action gathers into predictions.csv; the prediction is the string /score answers
(fill-mask: the masks' top tokens joined by ","; classification and next-sentence prediction: the
label; NER: the list of tags; QA: the answer's text). A bad row keeps its place with an empty
prediction, and its reason goes to the job's log.

Environment (set in the deployment's `environment_variables`):
- `AZUREML_MODEL_DIR` (set by Azure) or `MODEL_ID`: the checkpoint; `TASK`: the task, when the
  checkpoint's architecture should not decide.
- `BATCH_COLUMNS`: the columns to read, comma-separated in the task's order (e.g.
  `question,context`). Unset, each task reads its default names: fill-mask `input_string`;
  text-classification `text` (or `input_string`) and an optional `text_pair`; token-classification
  `tokens` (a JSON list) or `input_string`/`text` (words split at spaces); question-answering
  `question`, `context`; next-sentence-prediction `sentence1`, `sentence2`. Two columns on a
  checkpoint that fills masks and predicts next sentences mean next-sentence prediction.
"""

import logging
import os
from pathlib import Path
from typing import Any

from app.batch.job import BatchOptions, chunks, score_rows
from app.batch.task_rows import RowLayout, batch_task, check_file, layout_for, read_rows
from app.config import Settings
from app.tasks.azure_answers import azure_answer
from app.tasks.base import Task
from app.tasks.checkpoint import load_configured_model

logger = logging.getLogger("batch_score")
COLUMNS = ["row_number_per_file", "prediction", "batch_input_file_name"]
task: Task[Any] | None = None
layout: RowLayout | None = None
options: BatchOptions | None = None


def init() -> None:
    """Load the model from AZUREML_MODEL_DIR (or MODEL_ID), once per worker."""
    global task, layout, options
    settings = Settings()
    columns = [name.strip() for name in os.environ.get("BATCH_COLUMNS", "").split(",") if name.strip()]
    task = batch_task(load_configured_model(settings), columns)
    layout = layout_for(task.name, columns)
    options = BatchOptions(
        output_dir=Path("."),
        columns=columns,
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
    )


def run(mini_batch: list[str]) -> Any:
    assert task is not None and layout is not None and options is not None, "init() must run first"
    results: list[list[Any]] = []
    for path in mini_batch:
        file = Path(path)
        check_file(layout, file)
        for chunk in chunks(read_rows(file, layout), options.mini_batch_rows):
            for item in score_rows(task, chunk, options):
                if item.error is not None:
                    logger.warning("%s row %d: %s", file.name, item.source.row, item.error)
                prediction = azure_answer(task.name, item.answer) if item.error is None else ""
                results.append([item.source.row, prediction, file.name])
    try:
        import pandas as pd
    except ImportError:
        return results
    return pd.DataFrame(results, columns=COLUMNS)

"""`python -m app batch`: load the model, run the job, print a summary, choose the exit status."""

import argparse
import sys

from app.batch.inputs import InputFileError, expand_inputs
from app.batch.job import BatchOptions, ErrorThresholdExceededError, run_batch_job
from app.batch.task_rows import batch_task
from app.config import Settings
from app.errors import ModelLoadError
from app.tasks.checkpoint import load_configured_model


def batch(args: argparse.Namespace, settings: Settings) -> int:
    options = BatchOptions(
        output_dir=args.output,
        columns=args.columns,
        output_format=args.output_format,
        top_k=args.top_k,
        error_threshold=args.error_threshold,
        mini_batch_rows=args.mini_batch_rows,
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
    )
    try:
        files = expand_inputs(args.inputs)
        task = batch_task(load_configured_model(settings), options.columns)
        summary = run_batch_job(task, files, options)
    except InputFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModelLoadError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ErrorThresholdExceededError as exc:
        print(f"stopped: {exc}", file=sys.stderr)
        return 1
    print(
        f"done: {summary.files} files ({summary.files_skipped} already done), "
        f"{summary.rows} rows scored ({task.name}), {summary.errors} bad rows "
        f"({options.output_dir / 'errors.csv'}), {summary.seconds:.1f} s, {summary.rows_per_s:.1f} rows/s; "
        f"answers in {', '.join(str(options.output_dir / name) for name in options.output_names(task.name))}",
        file=sys.stderr,
    )
    return 0

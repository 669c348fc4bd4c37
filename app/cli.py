"""Command line: `python -m app serve|batch|evaluate|finetune ...`; the work lives in the packages."""

import argparse
import os
import signal
import sys
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from app.config import TASK_NAMES, Settings, settings_error
from app.finetuning.cli import add_finetune_parser
from app.install_sets import missing_train_extra
from app.logs import configure_logging, configure_request_log
from app.workers.sizing import front_ends_of

PRECISION_CHOICES = ["auto", "fp32", "bf16", "fp16", "int8"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bert-fill-mask", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="Serve /score over HTTP.")
    serve.add_argument(
        "--model",
        dest="model_args",
        action="append",
        metavar="[NAME=]PATH",
        help="Hub id or local folder (env MODEL_ID); repeat NAME=PATH for more models on one server, "
        "a checkpoint or a LoRA adapter folder each (env MODELS).",
    )
    serve.add_argument(
        "--model-repository",
        type=Path,
        help="A folder with one model per subfolder, named by it (env MODEL_REPOSITORY).",
    )
    serve.add_argument(
        "--default-model", help="The model the routes without a model name use (env DEFAULT_MODEL)."
    )
    serve.add_argument(
        "--max-loaded-models",
        type=int,
        help="Models in memory at most; the least recently used is unloaded (env MAX_LOADED_MODELS).",
    )
    serve.add_argument(
        "--task",
        choices=TASK_NAMES,
        help="Task to serve (env TASK); unset: the checkpoint's config.architectures[0] decides.",
    )
    serve.add_argument(
        "--model-name",
        help="Name on /v2/models/<name> (env MODEL_NAME); unset: the checkpoint's folder or hub name.",
    )
    serve.add_argument("--host", help="Address to listen on (env HOST, default 0.0.0.0).")
    serve.add_argument("--port", type=int, help="Port (env PORT, default 5001).")
    serve.add_argument("--grpc-port", type=int, help="gRPC port (env GRPC_PORT; unset: off).")
    serve.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        help="fp32 (exact, default), auto (fastest native), bf16, fp16 (GPU), int8 (CPU) (env PRECISION).",
    )
    serve.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="Where to run (env DEVICE, default auto)."
    )
    serve.add_argument(
        "--compiled-package",
        type=Path,
        help="A folder made by python -m app compile (env COMPILED_PACKAGE).",
    )
    serve.add_argument(
        "--workers",
        help="Front-end processes around one engine process: a count, or auto (env WORKERS, default 1: "
        "one process).",
    )
    serve.add_argument(
        "--compile",
        choices=["auto", "on", "off"],
        help="Compile the encoder: auto (where it is faster here, default), on, off (env COMPILE).",
    )
    serve.add_argument(
        "--instances",
        help="Batches run at once over one copy of the weights: a count, or auto (env INSTANCES, default 1).",
    )

    compile_parser = commands.add_parser(
        "compile", help="Compile the encoder ahead of time into a package serve loads in seconds."
    )
    compile_parser.add_argument("--model", dest="model_id", help="Hub id or local folder (env MODEL_ID).")
    compile_parser.add_argument("--task", choices=TASK_NAMES, help="As for serve.")
    compile_parser.add_argument("--precision", choices=PRECISION_CHOICES, help="As for serve (fp32 or bf16).")
    compile_parser.add_argument(
        "--output",
        type=Path,
        help="Folder for the package; default: the model folder's compiled/<precision>/, where serve looks.",
    )

    batch = commands.add_parser(
        "batch", help="Score files of inputs; write predictions.csv in Azure's layout."
    )
    batch.add_argument("inputs", nargs="+", type=Path, help="CSV, JSONL or text files, or folders of them.")
    batch.add_argument(
        "--output", required=True, type=Path, help="Folder for predictions, errors and progress."
    )
    batch.add_argument("--model", dest="model_id", help="Hub id or local folder (env MODEL_ID).")
    batch.add_argument(
        "--task",
        choices=TASK_NAMES,
        help="Task to score (env TASK); unset: the checkpoint's config.architectures[0] decides.",
    )
    batch.add_argument("--precision", choices=PRECISION_CHOICES, help="As for serve.")
    batch.add_argument("--compile", choices=["auto", "on", "off"], help="As for serve.")
    batch.add_argument("--device", choices=["auto", "cpu", "cuda"], help="As for serve.")
    batch.add_argument(
        "--column",
        dest="columns",
        action="append",
        help="CSV column or JSONL field to read, repeated in the task's order (question, context); "
        "unset: the task's default names (docs/batch-scoring.md).",
    )
    batch.add_argument("--format", dest="output_format", choices=["csv", "jsonl"], default="csv")
    batch.add_argument(
        "--top-k", type=int, default=1, help="Candidates per row (per mask) in --format jsonl."
    )
    batch.add_argument(
        "--error-threshold",
        type=int,
        default=-1,
        help="Bad rows tolerated; -1 (default) ignores all, as Azure.",
    )
    batch.add_argument(
        "--mini-batch-rows", type=int, default=512, help="Rows read, scored and saved together."
    )

    evaluate = commands.add_parser(
        "evaluate", help="The served task's metrics on labelled data (metrics.json, report.md, a chart)."
    )
    evaluate.add_argument(
        "data",
        nargs="?",
        type=Path,
        help="Labelled data: CSV/JSONL, CoNLL column file or SQuAD JSON, per task (docs/evaluation.md).",
    )
    evaluate.add_argument("--model", dest="model_id", help="Hub id or local folder (env MODEL_ID).")
    evaluate.add_argument(
        "--task",
        choices=TASK_NAMES,
        help="Task to evaluate (env TASK); unset: the checkpoint's first task, or NSP with --nsp-from-text.",
    )
    evaluate.add_argument("--precision", choices=PRECISION_CHOICES, help="As for serve.")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], help="As for serve.")
    evaluate.add_argument("--output", type=Path, default=Path("evaluation"), help="Folder for the results.")
    evaluate.add_argument(
        "--top-k", type=int, default=10, help="Fill-mask: candidates per mask; MRR is MRR@top-k."
    )
    evaluate.add_argument(
        "--pseudo-perplexity", action="store_true", help="Fill-mask: also the unmasked texts' PPPL."
    )
    evaluate.add_argument(
        "--format",
        dest="data_format",
        choices=["auto", "azure", "lama", "generic"],
        default="auto",
        help="Fill-mask: the data's layout (auto tells Azure's and LAMA's apart).",
    )
    evaluate.add_argument(
        "--nsp-from-text",
        type=Path,
        metavar="FILE",
        help="Next-sentence prediction on pairs built from FILE: one sentence per line, blank lines "
        "between documents; half the pairs true, half with a random sentence.",
    )
    evaluate.add_argument("--seed", type=int, default=42, help="Seeds the pairs of --nsp-from-text.")
    columns = evaluate.add_argument_group("columns of CSV/JSONL data (unset: the shared datasets' names)")
    columns.add_argument(
        "--text-column", help="Classification/NSP: the text (text). Fill-mask: the masked text."
    )
    columns.add_argument(
        "--text-pair-column", help="Classification: the second text of a pair (none). NSP: (text_pair)."
    )
    columns.add_argument(
        "--label-column",
        help="Classification/NSP: the label, an id of the model's id2label or a name (label). "
        "Fill-mask: the gold string, or a list with one per mask.",
    )
    columns.add_argument("--tokens-column", help="NER: the list of words (tokens).")
    columns.add_argument(
        "--tags-column", help="NER: a tag per word, ids or names (ner_tags_str when present, else ner_tags)."
    )
    columns.add_argument("--question-column", help="QA: the question (question).")
    columns.add_argument("--context-column", help="QA: the passage (context).")
    columns.add_argument(
        "--answers-column", help="QA: the gold answers, SQuAD's {text: [...]} or a list (answers)."
    )
    add_finetune_parser(commands)
    return parser


SETTINGS_FLAGS = (
    "model_id",
    "models",
    "model_repository",
    "default_model",
    "max_loaded_models",
    "model_name",
    "task",
    "host",
    "workers",
    "instances",
    "port",
    "grpc_port",
    "precision",
    "device",
    "compile",
    "compiled_package",
)


def settings_from(args: argparse.Namespace) -> Settings:
    """Flags win over their environment twins; unset flags leave the environment's value."""
    overrides = {
        name: getattr(args, name) for name in SETTINGS_FLAGS if getattr(args, name, None) is not None
    }
    models = getattr(args, "model_args", None) or []
    if len(models) == 1 and "=" not in models[0]:
        overrides["model_id"] = models[0]  # the one model, as ever
    elif models:
        overrides["models"] = models
    return Settings(**overrides)


# oneDNN caches a compiled kernel per tensor shape, 1024 of them by default. Batches of varied
# lengths make nearly every shape new, so the cache only grows RSS (about 3 MB/s under load);
# 16 keeps memory flat at the same throughput (bench/overload.py). Read when torch first runs.
ONEDNN_CACHE_DEFAULT = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16"}


def serve(settings: Settings) -> int:
    front_ends = front_ends_of(settings)
    if front_ends > 1:
        from app.workers.supervisor import serve_with_workers

        return serve_with_workers(settings, front_ends)
    from app.serving.app import create_app  # imported here so `--help` stays fast
    from app.serving.connections import server_config

    configure_request_log()

    server: uvicorn.Server | None = None

    def stop_server() -> None:
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_fatal=stop_server)
    server = uvicorn.Server(server_config(app, settings))
    # uvicorn re-raises the signal that stopped it once it has drained; a stop asked for by
    # SIGTERM or Ctrl-C is a clean exit, so let that re-raised signal land on a no-op.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    server.run()
    serving = app.state.serving
    return 1 if serving.load_error is not None or (serving.engine and serving.engine.failure) else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name, value in ONEDNN_CACHE_DEFAULT.items():
        os.environ.setdefault(name, value)  # before torch first runs
    try:
        settings = settings_from(args)
    except ValidationError as exc:
        print(settings_error(exc), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        return serve(settings)
    if args.command == "compile":
        from app.compile_command import compile_command

        return compile_command(args, settings)
    if args.command == "batch":
        from app.batch.cli import batch  # torch loads only for the subcommands that need it

        return batch(args, settings)
    if args.command in ("finetune", "evaluate") and (missing := missing_train_extra(args.command)):
        print(missing, file=sys.stderr)
        return 2
    if args.command == "finetune":
        from app.finetuning.cli import finetune_command

        return finetune_command(args)
    if args.command == "evaluate":
        from app.evaluation.cli import evaluate_command

        return evaluate_command(args, settings)
    return 2

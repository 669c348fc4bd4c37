"""`python -m app evaluate`: read the data, load the model, evaluate, print the headline."""

import argparse
import sys

from app.config import Settings
from app.errors import ModelLoadError
from app.evaluation.fill_mask import EvalOptions, evaluate
from app.evaluation.fill_mask_data import EvalDataError, load_examples
from app.tasks.checkpoint import load_configured_model


def evaluate_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        examples, skipped = load_examples(args.data, args.data_format, args.text_column, args.label_column)
        model = load_configured_model(settings).tasks["fill-mask"]
    except (EvalDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ModelLoadError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    options = EvalOptions(
        output_dir=args.output,
        top_k=args.top_k,
        pseudo_perplexity=args.pseudo_perplexity,
        max_batch_tokens=settings.max_batch_tokens,
        max_batch_size=settings.max_batch_size,
    )
    metrics = evaluate(model, examples, options, skipped)
    headline = f"top-1 {metrics['top1_accuracy']:.4f}, MRR@{args.top_k} {metrics['mrr']:.4f}"
    if "pseudo_perplexity" in metrics:
        headline += f", pseudo-perplexity {metrics['pseudo_perplexity']:.3f}"
    counts = f"{metrics['examples']} examples, {metrics['masks_scored']} masks scored"
    print(f"{counts}: {headline}; in {args.output}")
    return 0

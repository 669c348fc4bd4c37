"""The files every evaluation writes: metrics.json, predictions.jsonl and report.md."""

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.errors import InvalidInputError

# Task errors name the input's index ("Input 3: ..."); counted by reason, the index goes.
INPUT_INDEX = re.compile(r"^Input \d+:?\s*")


def write_results(
    output_dir: Path, metrics: dict[str, Any], predictions: Iterable[dict[str, Any]], report: list[str]
) -> None:
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    with (output_dir / "predictions.jsonl").open("w", encoding="utf-8") as stream:
        for record in predictions:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
    (output_dir / "report.md").write_text("\n".join(report) + "\n")


def skipped_line(skipped: dict[str, int]) -> list[str]:
    """The report line for examples left out, or none when every example was scored."""
    counted = {reason: count for reason, count in skipped.items() if count}
    return [f"- examples skipped: {counted}"] if counted else []


def skip_reason(error: InvalidInputError) -> str:
    return INPUT_INDEX.sub("", error.message) or error.message

"""README must stay true: its commands, examples and settings match the code."""

import json
import re
from pathlib import Path

from app.config import Settings
from app.serving.contract import parse_request_table
from app.serving.task_requests import parse_task_request

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_curl_example_posts_sample_request_to_score_on_5001() -> None:
    assert "curl -s -X POST http://localhost:5001/score" in README
    assert "-d @sample_request.json" in README
    assert Settings.model_fields["port"].default == 5001


def test_readme_request_examples_are_accepted() -> None:
    examples = re.findall(r"Request:\n```json\n(.*?)\n```", README, re.DOTALL)
    assert examples
    for example in examples:
        table = parse_request_table(json.loads(example))
        parse_task_request(table, "fill-mask", Settings.model_fields["max_top_k"].default)


def test_readme_configuration_table_names_real_settings() -> None:
    table = README.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    variables = re.findall(r"\| `([A-Z_]+)` \|", table)
    assert set(variables) == {name.upper() for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        if field.default is not None:
            assert f"`{name.upper()}` | `{field.default}`" in table, name


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README

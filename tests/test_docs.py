"""README and docs/ must stay true: their commands, examples and settings match the code."""

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from app.serving.azure.contract import parse_request_table
from app.serving.task_columns import parse_task_request
from bench.server_process import free_port
from tests.conftest import wait_until_ready
from tests.live_server import live_server
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
README = (ROOT / "README.md").read_text()
OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
CLIENTS = (ROOT / "docs" / "clients.md").read_text()


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


def test_configuration_table_names_real_settings() -> None:
    table = OPERATIONS.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    variables = re.findall(r"\| `([A-Z_]+)` \|", table)
    assert set(variables) == {name.upper() for name in Settings.model_fields}
    for name, field in Settings.model_fields.items():
        if field.default is not None and field.default_factory is None:
            assert f"`{name.upper()}` | `{field.default}`" in table, name


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in README


TASK_SECTIONS = {
    "Text classification": "text-classification",
    "Named-entity recognition": "token-classification",
    "Extractive question answering": "question-answering",
    "Next-sentence prediction": "next-sentence-prediction",
}


def _shape(value: object) -> object:
    """The structure of a JSON value: keys and nesting, not the words."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def _task_examples() -> list[tuple[str, str, str]]:
    """(section title, curl's JSON body, the documented answer) for each task section."""
    section = README.split("## Tasks", 1)[1].split("\n## ", 1)[0]
    examples = []
    for subsection in section.split("\n### ")[1:]:
        title = subsection.split("\n", 1)[0].split(" (")[0]
        found = re.search(r"-d '(.*?)'\n```\n```json\n(.*?)\n```", subsection, re.S)
        if found:
            examples.append((title, found.group(1), found.group(2)))
    return examples


def test_readme_task_examples_answer_in_the_documented_shape(tiny_task_dir: Callable[[str], Path]) -> None:
    examples = _task_examples()
    assert {title for title, _, _ in examples} == set(TASK_SECTIONS)
    for title, body, answer in examples:
        task = TASK_SECTIONS[title]
        checkpoint = tiny_task_dir("pretraining" if task == "next-sentence-prediction" else task)
        with TestClient(create_app(Settings(model_id=str(checkpoint)))) as client:
            wait_until_ready(client)
            response = client.post("/score", json=json.loads(body))
        assert response.status_code == 200, (title, response.json())
        assert _shape(response.json()) == _shape(json.loads(answer)), title


def test_openapi_tags_every_route_and_shows_an_example_body_for_every_inference_route() -> None:
    spec = create_app(Settings(model_id="unused"), on_fatal=lambda: None).openapi()
    operations = [
        (method.upper(), path, operation)
        for path, by_method in spec["paths"].items()
        for method, operation in by_method.items()
    ]
    tags = {tag for _, _, operation in operations for tag in operation.get("tags", [])}
    assert tags == {"azure", "huggingface", "v2", "v1", "text-embeddings-inference", "openai", "health"}
    assert all(len(operation.get("tags", [])) == 1 for _, _, operation in operations)
    posts = [(path, operation) for method, path, operation in operations if method == "POST"]
    assert {path for path, _ in posts} >= {
        "/score",
        "/",
        "/v2/models/{model_name}/infer",
        "/v1/models/{model_name}:predict",
    }
    for path, operation in posts:
        contents = operation["requestBody"]["content"].values()
        assert any("example" in content or "examples" in content for content in contents), path
    # A schema in openapi_extra cannot point into its model's own $defs: they are not in the document.
    assert "#/$defs/" not in json.dumps(spec)


@pytest.mark.e2e
def test_client_snippets_run_against_a_live_server(tiny_bert_dir: Path) -> None:
    """The Python snippets of docs/clients.md, run as written but for the server's port."""
    snippets = re.findall(r"```python\n(.*?)```", CLIENTS, re.DOTALL)
    assert len(snippets) == 3, "InferenceClient, tritonclient.http and tritonclient.grpc"
    grpc_port = free_port()
    with live_server(
        model_id=str(tiny_bert_dir), model_name="bert-base-cased", grpc_port=grpc_port
    ) as base_url:
        host = base_url.removeprefix("http://")
        for snippet in snippets:
            assert "localhost:5001" in snippet or "localhost:8081" in snippet
            exec(
                snippet.replace("localhost:5001", host).replace("localhost:8081", f"127.0.0.1:{grpc_port}"),
                {},
            )


@pytest.mark.e2e
def test_readme_embedding_snippet_runs_against_a_live_server() -> None:
    """The Python snippet of README's Embeddings section, run as written but for the server's port."""
    from tests.minilm import minilm_folder

    section = README.split("### Embeddings", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, re.DOTALL)
    with live_server(model_id=str(minilm_folder()), model_name="bert-base-cased") as base_url:
        exec(snippet.replace("localhost:5001", base_url.removeprefix("http://")), {})


def test_readme_embedding_curls_are_answered() -> None:
    from tests.minilm import minilm_folder

    section = README.split("### Embeddings", 1)[1].split("\n## ", 1)[0]
    curls = re.findall(r"curl -s -X POST http://localhost:5001(\S+) .*?-d '(.*?)'", section, re.DOTALL)
    assert {path for path, _ in curls} >= {"/embed", "/similarity", "/v1/embeddings", "/score", "/tokenize"}
    with TestClient(
        create_app(Settings(model_id=str(minilm_folder()), model_name="bert-base-cased"))
    ) as client:
        wait_until_ready(client)
        for path, body in curls:
            answer = client.post(path, json=json.loads(body))
            assert answer.status_code == 200, (path, answer.text)

"""LoRA adapters served from one shared base answer as their merged checkpoints served alone (fp32:
labels equal, scores within 1e-4) through every protocol, with their rows batched per adapter; they
hold no copy of the base's weights; an adapter folder serves by itself, its base loaded unnamed."""

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from safetensors import safe_open

from app.config import Settings
from app.serving.app import create_app
from tests.conftest import wait_until_ready
from tests.finetuning_runs import finetune, ner_rows, qa_rows, tagged_sentences, topic_rows, write_jsonl
from tests.serving.asgi_clients import running

TEXTS = ["the dog is in the river", "Paris is a city of France", "the king saw the queen in London"]
QUESTIONS = [
    {
        "question": "where is the king ?",
        "context": "the dog of the night the king is in Berlin and the cat .",
    },
    {"question": "where is the king ?", "context": "a river the king is in Paris ."},
]
# Per task: the Hugging Face body, KServe v1's instances, and Open Inference's input tensors.
REQUESTS: dict[str, tuple[dict[str, Any], list[Any], list[dict[str, Any]]]] = {
    "text-classification": (
        {"inputs": TEXTS, "parameters": {"top_k": 2}},
        TEXTS,
        [{"name": "text", "shape": [3], "datatype": "BYTES", "data": TEXTS}],
    ),
    "token-classification": (
        {"inputs": TEXTS},
        TEXTS,
        [{"name": "text", "shape": [3], "datatype": "BYTES", "data": TEXTS}],
    ),
    "question-answering": (
        {"inputs": QUESTIONS[0], "parameters": {"top_k": 2}},
        QUESTIONS,
        [
            {
                "name": "question",
                "shape": [2],
                "datatype": "BYTES",
                "data": [q["question"] for q in QUESTIONS],
            },
            {"name": "context", "shape": [2], "datatype": "BYTES", "data": [q["context"] for q in QUESTIONS]},
        ],
    ),
}
ADAPTERS = {
    "topics": "text-classification",
    "topics-b": "text-classification",
    "ner": "token-classification",
    "qa": "question-answering",
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, trainable_bert_dir: Path) -> dict[str, Path]:
    """name -> the finetune output of each adapter (DIR/adapter and, merged, DIR/model)."""
    data = tmp_path_factory.mktemp("shared-base-data")
    rows = {
        "topics": topic_rows(48, seed=1),
        "topics-b": topic_rows(48, seed=5),
        "ner": ner_rows(tagged_sentences(24, seed=1)),
        "qa": qa_rows(24, seed=1),
    }
    learning_rates = {"topics": "2e-2", "topics-b": "5e-2", "ner": "2e-2", "qa": "2e-2"}
    outputs = {}
    for name, task in ADAPTERS.items():
        train = write_jsonl(data / f"{name}.jsonl", rows[name])
        output = tmp_path_factory.mktemp(name) / "out"
        arguments = [
            "--epochs",
            "2",
            "--batch-size",
            "8",
            "--learning-rate",
            learning_rates[name],
            "--lora",
            "--merge",
        ]
        assert finetune(task, trainable_bert_dir, output, *arguments, train=train) == 0
        outputs[name] = output
    return outputs


@pytest.fixture(scope="module")
def client(trained: dict[str, Path], trainable_bert_dir: Path) -> Any:
    """One server: the base, each adapter over it, and each merged checkpoint, by name."""
    models = [f"base={trainable_bert_dir}"]
    models += [f"{name}={output / 'adapter'}" for name, output in trained.items()]
    models += [f"{name}-merged={output / 'model'}" for name, output in trained.items()]
    with TestClient(create_app(Settings(models=models, default_model="topics", compile="off"))) as client:
        wait_until_ready(client)
        yield client


def assert_close(adapter: Any, merged: Any, where: str = "") -> None:
    """Equal, but for floats within 1e-4."""
    if isinstance(adapter, float) or isinstance(merged, float):
        assert math.isclose(adapter, merged, abs_tol=1e-4), f"{where}: {adapter} != {merged}"
    elif isinstance(adapter, dict):
        assert adapter.keys() == merged.keys(), where
        for key in adapter:
            assert_close(adapter[key], merged[key], f"{where}.{key}")
    elif isinstance(adapter, (list, tuple)):
        assert len(adapter) == len(merged), where
        for index, (a, m) in enumerate(zip(adapter, merged, strict=True)):
            assert_close(a, m, f"{where}[{index}]")
    else:
        assert adapter == merged, f"{where}: {adapter!r} != {merged!r}"


def test_the_adapters_learned_something_their_base_did_not_know(trained: dict[str, Path]) -> None:
    for name, output in trained.items():
        with safe_open(str(output / "adapter" / "adapter_model.safetensors"), "pt") as weights:
            lora_b = [weights.get_tensor(key) for key in weights.keys() if "lora_B" in key]  # noqa: SIM118
        assert lora_b and all(tensor.abs().max() > 1e-3 for tensor in lora_b), name  # LoRA's B starts at 0


@pytest.mark.parametrize("name", list(ADAPTERS))
def test_each_adapter_answers_as_its_merged_checkpoint_through_every_protocol(
    client: TestClient, name: str
) -> None:
    huggingface, instances, tensors = REQUESTS[ADAPTERS[name]]
    answers = {}
    for model in (name, f"{name}-merged"):
        hf = client.post(f"/models/{model}", json=huggingface)
        v1 = client.post(f"/v1/models/{model}:predict", json={"instances": instances})
        v2 = client.post(f"/v2/models/{model}/infer", json={"id": "1", "inputs": tensors})
        assert hf.status_code == v1.status_code == v2.status_code == 200, (hf.text, v1.text, v2.text)
        v2_outputs = {output["name"]: output["data"] for output in v2.json()["outputs"]}
        answers[model] = (hf.json(), v1.json(), v2_outputs)
    assert_close(answers[name], answers[f"{name}-merged"], name)


def test_score_answers_with_the_default_adapter_as_its_merged_checkpoint_alone(
    client: TestClient, trained: dict[str, Path]
) -> None:
    body = {"input_data": {"input_string": TEXTS}}
    shared = client.post("/score", json=body)
    with TestClient(create_app(Settings(model_id=str(trained["topics"] / "model"), compile="off"))) as alone:
        wait_until_ready(alone)
        merged = alone.post("/score", json=body)
    assert shared.status_code == merged.status_code == 200
    assert shared.json() == merged.json()
    assert {answer["0"] for answer in shared.json()} <= {"zebra", "apple"}  # the labels finetune saved


def test_requests_to_two_adapters_at_once_each_get_their_own_answers(
    trained: dict[str, Path], trainable_bert_dir: Path
) -> None:
    models = [f"base={trainable_bert_dir}"] + [
        f"{name}{suffix}={trained[name] / folder}"
        for name in ("topics", "topics-b")
        for suffix, folder in (("", "adapter"), ("-merged", "model"))
    ]
    body = {"inputs": TEXTS, "parameters": {"top_k": 2}}

    async def scenario() -> dict[str, list[Any]]:
        app = create_app(Settings(models=models, compile="off"), on_fatal=lambda: None)
        async with running(app) as client:
            names = ["topics", "topics-b", "base"] * 8
            bodies = [body if name != "base" else {"inputs": "the [MASK] is in the river"} for name in names]
            answers = await asyncio.gather(
                *(client.post(f"/models/{n}", json=b) for n, b in zip(names, bodies, strict=True))
            )
            merged = {
                name: (await client.post(f"/models/{name}-merged", json=body)).json()
                for name in ("topics", "topics-b")
            }
        by_name: dict[str, list[Any]] = {}
        for name, answer in zip(names, answers, strict=True):
            assert answer.status_code == 200
            by_name.setdefault(name, []).append(answer.json())
        return {"merged": [merged], **by_name}

    answers = asyncio.run(scenario())
    merged = answers["merged"][0]
    assert merged["topics"] != merged["topics-b"]  # two different adapters, else this proves nothing
    for name in ("topics", "topics-b"):
        for answer in answers[name]:
            assert_close(answer, merged[name], name)
    assert all(answer == answers["base"][0] for answer in answers["base"])  # the base runs with none


def test_the_adapters_hold_no_copy_of_the_base_weights(client: TestClient) -> None:
    repository = client.app.state.serving.repository  # type: ignore[attr-defined]
    base_encoder = {
        tensor.data_ptr() for tensor in repository.entries["base"].served.network.bert.parameters()
    }
    for name in ADAPTERS:
        network = repository.entries[name].served.network
        weights = {tensor.data_ptr() for tensor in network.parameters()}
        assert base_encoder <= weights, name  # the very tensors, not copies
    merged = repository.entries["topics-merged"].served.network
    assert not base_encoder & {tensor.data_ptr() for tensor in merged.parameters()}  # a checkpoint of its own


def test_an_adapter_folder_serves_alone_on_the_base_it_names(
    trained: dict[str, Path], trainable_bert_dir: Path
) -> None:
    adapter = trained["ner"] / "adapter"
    with TestClient(create_app(Settings(model_id=str(adapter), compile="off"))) as client:
        wait_until_ready(client)
        ready = client.get("/health/ready").json()
        answer = client.post("/", json={"inputs": TEXTS[2]})
        v2_index = client.post("/v2/repository/index").json()
    # the base's folder by its name: EXPOSE_DETAILS is off
    assert (ready["tasks"], ready["adapter_of"]) == (["token-classification"], trainable_bert_dir.name)
    assert answer.status_code == 200
    assert [entry["name"] for entry in v2_index] == ["adapter"]  # the base serves nothing of its own


def test_batch_scoring_an_adapter_folder_names_its_merged_checkpoint(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    rows = write_jsonl(tmp_path / "rows.jsonl", [{"text": text} for text in TEXTS])
    adapter = trained["topics"] / "adapter"
    assert main(["batch", str(rows), "--output", str(tmp_path / "out"), "--model", str(adapter)]) == 1
    error = capsys.readouterr().err
    assert "is a LoRA adapter folder" in error and "(finetune --merge)" in error


def test_an_adapter_answers_the_same_while_another_joins_and_leaves_the_base_in_a_loop(
    trained: dict[str, Path], trainable_bert_dir: Path
) -> None:
    """Joining and leaving change the shared encoder's modules: on the inference thread, between
    batches, they never touch a batch of another adapter in flight."""
    models = [f"base={trainable_bert_dir}", f"topics={trained['topics'] / 'adapter'}"]
    models += [f"topics-b={trained['topics-b'] / 'adapter'}"]
    body = {"inputs": TEXTS, "parameters": {"top_k": 2}}

    async def scenario() -> tuple[Any, list[Any], list[int]]:
        settings = Settings(models=models, compile="off", model_control="explicit", api_key="k")
        app = create_app(settings, on_fatal=lambda: None)
        async with running(app) as client:
            expected = (await client.post("/models/topics", json=body)).json()
            answers: list[Any] = []
            stop = asyncio.Event()

            async def keep_asking() -> None:
                while not stop.is_set():
                    answer = await client.post("/models/topics", json=body)
                    answers.append((answer.status_code, answer.json()))

            askers = [asyncio.create_task(keep_asking()) for _ in range(3)]
            cycles = []
            for _ in range(5):
                cycles.append((await client.post("/v2/repository/models/topics-b/unload")).status_code)
                cycles.append((await client.post("/v2/repository/models/topics-b/load")).status_code)
                cycles.append((await client.post("/models/topics-b", json=body)).status_code)
            stop.set()
            await asyncio.gather(*askers)
        return expected, answers, cycles

    expected, answers, cycles = asyncio.run(scenario())
    assert set(cycles) == {200}
    assert len(answers) >= 10
    for status, answer in answers:
        assert status == 200
        assert_close(answer, expected, "topics")


def test_an_adapter_over_an_embedding_model_reads_the_checkpoints_own_pooler(
    tmp_path: Path, trainable_bert_dir: Path
) -> None:
    """A bare encoder serves embeddings without BERT's pooler; a classifier trained over the
    checkpoint's pooler (not trained whole, so not in the adapter) gets it back from the checkpoint."""
    import torch
    from transformers import AutoConfig, AutoTokenizer, BertModel

    torch.manual_seed(0)
    encoder_dir = tmp_path / "encoder"
    config = AutoConfig.from_pretrained(str(trainable_bert_dir))
    config.architectures = ["BertModel"]
    BertModel(config).save_pretrained(str(encoder_dir))  # with a pooler, as sentence-transformers' folders
    AutoTokenizer.from_pretrained(str(trainable_bert_dir)).save_pretrained(str(encoder_dir))
    train = write_jsonl(tmp_path / "train.jsonl", topic_rows(32, seed=2))
    arguments = ["--epochs", "1", "--batch-size", "8", "--learning-rate", "2e-2", "--lora", "--merge"]
    assert finetune("text-classification", encoder_dir, tmp_path / "out", *arguments, train=train) == 0
    with safe_open(str(tmp_path / "out" / "adapter" / "adapter_model.safetensors"), "pt") as weights:
        assert not any("pooler" in key for key in weights.keys())  # noqa: SIM118
    models = [f"encoder={encoder_dir}", f"topics={tmp_path / 'out' / 'adapter'}"]
    models.append(f"merged={tmp_path / 'out' / 'model'}")
    with TestClient(create_app(Settings(models=models, compile="off"))) as client:
        wait_until_ready(client)
        tasks = [model["tasks"] for model in client.get("/health/ready").json()["models"]]
        adapter = client.post("/models/topics", json={"inputs": TEXTS, "parameters": {"top_k": 2}})
        merged = client.post("/models/merged", json={"inputs": TEXTS, "parameters": {"top_k": 2}})
    assert tasks == [["feature-extraction"], ["text-classification"], ["text-classification"]]
    assert adapter.status_code == merged.status_code == 200
    assert_close(adapter.json(), merged.json(), "topics")

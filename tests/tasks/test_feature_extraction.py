"""Sentence embeddings: equal to sentence-transformers on real weights, to a direct pooling of
`last_hidden_state` on random ones; the options (truncate, dimensions, prompts) and their errors."""

import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from app.errors import InvalidInputError, ModelLoadError
from app.tasks.checkpoint import load_served_model
from app.tasks.embedding_config import read_embedding_config
from app.tasks.feature_extraction import EmbeddingOptions, FeatureExtractionTask
from tests.minilm import minilm_folder

MINILM = minilm_folder()

VARIED_TEXTS = [
    "Paris is the capital of France.",
    "a",
    "Héllo wörld, ça va? 日本語のテキストと絵文字 🙂",
    "   spaces   around   ",
    "Tabs\tand\nnewlines, and a zero-width\u200bspace.",
    " ".join(["The city of Paris is the capital of France."] * 12),
    "word " * 400,  # over MiniLM's 256 tokens: truncated when asked
]


def embed(task: FeatureExtractionTask, texts: list[str], options: EmbeddingOptions) -> np.ndarray:
    encoded = task.encode(texts, options)
    assert not any(isinstance(item, InvalidInputError) for item in encoded), encoded
    valid = [item for item in encoded if not isinstance(item, InvalidInputError)]
    outputs = task.forward([item.features[0] for item in valid])
    return np.array(
        [task.decode(item, [out], options).vector for item, out in zip(valid, outputs, strict=True)]
    )


@pytest.fixture(scope="module")
def minilm() -> FeatureExtractionTask:
    task = load_served_model(str(MINILM), device="cpu").tasks["feature-extraction"]
    assert isinstance(task, FeatureExtractionTask)
    return task


def test_a_sentence_transformers_folder_configures_itself() -> None:
    config = read_embedding_config(MINILM)
    assert (config.pooling, config.normalize, config.max_tokens) == ("mean", True, 256)


def test_embeddings_equal_sentence_transformers_on_real_weights(minilm: FeatureExtractionTask) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(MINILM), device="cpu").encode(VARIED_TEXTS, convert_to_numpy=True)
    ours = embed(minilm, VARIED_TEXTS, EmbeddingOptions(truncate=True))
    cosines = (
        (ours * reference).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(reference, axis=1)
    )
    assert cosines.min() >= 0.99999
    assert np.abs(ours - reference).max() <= 1e-5


def test_an_input_over_the_length_is_an_error_naming_it_unless_truncated(
    minilm: FeatureExtractionTask,
) -> None:
    encoded = minilm.encode(["short", "word " * 400], EmbeddingOptions())
    assert not isinstance(encoded[0], InvalidInputError)
    assert isinstance(encoded[1], InvalidInputError)
    assert "Input 1" in encoded[1].message and "256" in encoded[1].message


def test_dimensions_keep_the_first_and_renormalize(minilm: FeatureExtractionTask) -> None:
    full = embed(minilm, VARIED_TEXTS[:3], EmbeddingOptions())
    short = embed(minilm, VARIED_TEXTS[:3], EmbeddingOptions(dimensions=64))
    assert short.shape == (3, 64)
    np.testing.assert_allclose(np.linalg.norm(short, axis=1), 1, atol=1e-6)
    expected = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(short, expected, atol=1e-6)
    (error,) = minilm.encode(["x"], EmbeddingOptions(dimensions=385))
    assert isinstance(error, InvalidInputError) and "384" in error.message


def test_named_prompts_go_before_the_text(tmp_path: Path, minilm: FeatureExtractionTask) -> None:
    folder = tmp_path / "with-prompts"
    shutil.copytree(MINILM, folder)
    (folder / "config_sentence_transformers.json").write_text(
        json.dumps({"prompts": {"query": "query: ", "passage": "passage: "}, "default_prompt_name": None})
    )
    task = load_served_model(str(folder), device="cpu").tasks["feature-extraction"]
    assert isinstance(task, FeatureExtractionTask)
    prompted = embed(task, ["what is Paris?"], EmbeddingOptions(prompt_name="query"))
    written_out = embed(minilm, ["query: what is Paris?"], EmbeddingOptions())
    np.testing.assert_allclose(prompted, written_out, atol=1e-6)
    (error,) = task.encode(["x"], EmbeddingOptions(prompt_name="nope"))
    assert isinstance(error, InvalidInputError) and "query, passage" in error.message


def test_an_unsupported_pooling_is_a_load_error(tmp_path: Path) -> None:
    folder = tmp_path / "weighted"
    shutil.copytree(MINILM, folder)
    pooling = folder / "1_Pooling" / "config.json"
    settings = json.loads(pooling.read_text())
    pooling.write_text(
        json.dumps(settings | {"pooling_mode_mean_tokens": False, "pooling_mode_weightedmean_tokens": True})
    )
    with pytest.raises(ModelLoadError, match="weightedmean"):
        read_embedding_config(folder)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max", "lasttoken"])
def test_a_plain_masked_lm_pools_its_last_hidden_state(
    tiny_task_dir: Callable[[str], Path], pooling: str
) -> None:
    source = tiny_task_dir("fill-mask")
    served = load_served_model(str(source), device="cpu", task="feature-extraction", pooling=pooling)  # type: ignore[arg-type]
    task = served.tasks["feature-extraction"]
    assert isinstance(task, FeatureExtractionTask) and not task.config.normalize
    texts = ["the king sat in the house", "Paris", "a dog ran to the river and the cat sat"]
    ours = embed(task, texts, EmbeddingOptions())

    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source, add_pooling_layer=False).eval()
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    expected = {
        "mean": (hidden * mask).sum(1) / mask.sum(1),
        "cls": hidden[:, 0],
        "max": hidden.masked_fill(mask == 0, -1e9).max(1).values,
        "lasttoken": hidden[torch.arange(3), batch["attention_mask"].sum(1) - 1],
    }[pooling]
    np.testing.assert_allclose(ours, expected.numpy(), atol=1e-5)


def test_per_token_vectors_are_the_last_hidden_state(tiny_task_dir: Callable[[str], Path]) -> None:
    source = tiny_task_dir("fill-mask")
    task = load_served_model(str(source), device="cpu", task="feature-extraction").tasks["feature-extraction"]
    options = EmbeddingOptions(per_token=True)
    (encoded,) = task.encode(["the king sat"], options)
    (output,) = task.forward(encoded.features)  # type: ignore[union-attr]
    tokens = task.decode(encoded, [output], options).tokens  # type: ignore[arg-type]
    tokenizer = AutoTokenizer.from_pretrained(source)
    encoder = AutoModel.from_pretrained(source, add_pooling_layer=False).eval()
    with torch.no_grad():
        hidden = encoder(**tokenizer(["the king sat"], return_tensors="pt")).last_hidden_state[0]
    np.testing.assert_allclose(np.array(tokens), hidden.numpy(), atol=1e-5)


def test_a_lowercasing_model_lowercases_the_prompt_with_the_text(
    tmp_path: Path, tiny_task_dir: Callable[[str], Path]
) -> None:
    """On a cased vocabulary ('Paris' is a word, 'paris' is not), as sentence-transformers does."""
    from sentence_transformers import SentenceTransformer

    folder = tmp_path / "lowercase"
    shutil.copytree(tiny_task_dir("fill-mask"), folder)
    shutil.copytree(MINILM / "1_Pooling", folder / "1_Pooling")
    shutil.copy(MINILM / "modules.json", folder)
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True})
    )
    (folder / "sentence_bert_config.json").write_text(
        json.dumps({"max_seq_length": 64, "do_lower_case": True})
    )
    (folder / "config_sentence_transformers.json").write_text(json.dumps({"prompts": {"city": "Paris "}}))
    task = load_served_model(str(folder), device="cpu", task="feature-extraction").tasks["feature-extraction"]
    assert isinstance(task, FeatureExtractionTask)
    ours = embed(task, ["the King sat"], EmbeddingOptions(prompt_name="city"))
    reference = SentenceTransformer(str(folder), device="cpu").encode(["the King sat"], prompt_name="city")
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    cased = FeatureExtractionTask(task.model, task.tokenizer, replace(task.config, lowercase=False))
    prompt_kept_as_written = embed(cased, ["Paris the king sat"], EmbeddingOptions())
    assert np.abs(ours - prompt_kept_as_written).max() > 1e-3, "the prompt's case must matter here"


def test_a_hub_model_reads_its_sentence_transformers_files_from_the_hub_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub

    from app.model_source import ModelSource, embedding_config_folder

    asked: list[tuple[str, list[str]]] = []

    def snapshot(repo_id: str, allow_patterns: list[str]) -> str:
        asked.append((repo_id, allow_patterns))
        return str(MINILM)  # what the cache holds once the files are fetched

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot)
    folder = embedding_config_folder(ModelSource.single("sentence-transformers/all-MiniLM-L6-v2"))
    assert read_embedding_config(folder).normalize is True
    ((repo, patterns),) = asked
    assert repo == "sentence-transformers/all-MiniLM-L6-v2"
    assert "modules.json" in patterns and not any("safetensors" in pattern for pattern in patterns)

    def offline(repo_id: str, allow_patterns: list[str]) -> str:
        raise huggingface_hub.errors.LocalEntryNotFoundError("offline, not cached")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    assert embedding_config_folder(ModelSource.single("org/model")) is None

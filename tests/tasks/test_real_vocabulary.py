"""With ../shared present: the real bert-base-cased vocabulary and tokenizer, through our loader."""

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from app.tasks.checkpoint import load_fill_mask_model
from app.tasks.fill_mask import FillMaskTask
from tests.conftest import SHARED, wait_until_ready

REFTESTS = SHARED / "data" / "bert-base-cased" / "reftests"
MAKE_CHECKPOINT = SHARED / "tools" / "make_checkpoint.py"

pytestmark = pytest.mark.skipif(not MAKE_CHECKPOINT.is_file(), reason="../shared is not beside this checkout")


@pytest.fixture(scope="module")
def real_vocab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("real-vocab") / "tiny"
    subprocess.run(
        [sys.executable, str(MAKE_CHECKPOINT), str(out), "--size", "tiny", "--init-range", "1.0"],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def real_vocab_model(real_vocab_dir: Path) -> FillMaskTask:
    return load_fill_mask_model(str(real_vocab_dir))


@pytest.fixture(scope="module")
def real_vocab_client(real_vocab_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(model_id=str(real_vocab_dir)))) as client:
        wait_until_ready(client)
        yield client


def test_known_ids_decode_to_real_words(real_vocab_model: FillMaskTask) -> None:
    assert real_vocab_model.mask_token_id == 103
    known = {2123: "Paris", 2364: "capital", 2712: "beautiful"}
    assert {token: real_vocab_model.token_string(token) for token in known} == known


@pytest.mark.parametrize("spelling", ["[MASK]", "[mask]", "[Mask]", "<mask>"])
def test_every_mask_spelling_reaches_the_model_as_id_103(
    real_vocab_client: TestClient, real_vocab_model: FillMaskTask, spelling: str
) -> None:
    answer = real_vocab_client.post("/score", json={"inputs": [f"Paris is the {spelling} of France."]}).json()
    expected = real_vocab_model.predict(["Paris is the [MASK] of France."])[0][0][0].token_str
    assert answer == [expected]


def test_real_words_decode_as_the_pipeline_decodes_them(
    real_vocab_dir: Path, real_vocab_client: TestClient
) -> None:
    from transformers import pipeline

    oracle: Any = pipeline("fill-mask", model=str(real_vocab_dir), device="cpu")
    texts = [
        "Paris is the [MASK] of France.",
        "Today is a [MASK] day!",
        "The [MASK] of the United States lives in the White House.",
        "She said \\'d go to the [MASK] tomorrow.",
        "It was w[MASK] okay.",
    ]
    answer = real_vocab_client.post("/score", json={"inputs": texts, "parameters": {"top_k": 10}}).json()
    for text, masks in zip(texts, answer, strict=True):
        expected = oracle(text, top_k=10)
        assert [c["token_str"] for c in masks[0]] == [c["token_str"] for c in expected]
        assert [c["score"] for c in masks[0]] == pytest.approx([c["score"] for c in expected], abs=1e-4)


def test_tokenizer_matches_the_reference_tokenization(real_vocab_model: FillMaskTask) -> None:
    references = sorted(REFTESTS.glob("*.json"))
    assert references, f"no reference tokenizations in {REFTESTS}"
    for reference in references:
        expected = json.loads(reference.read_text())
        text = (REFTESTS.parent / expected["input_file"]).read_text()
        assert real_vocab_model.tokenizer(text)["input_ids"] == expected["token_ids"], reference.name

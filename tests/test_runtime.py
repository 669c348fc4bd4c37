from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

from app.engine.offline import predict_all
from app.errors import ModelLoadError
from app.runtime import available_cpus, configure_threads, select_device
from app.tasks.checkpoint import load_fill_mask_model, load_served_model
from app.tasks.next_sentence import NextSentenceOptions
from app.tasks.question_answering import QuestionAnsweringOptions
from app.tasks.text_classification import ClassificationOptions
from app.tasks.token_classification import TokenClassificationOptions, Words
from tests.conftest import needs_bf16
from tests.tasks.test_model import INPUTS, _normalized

needs_cuda_absent = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only answers")


@needs_cuda_absent
def test_auto_device_is_cpu_without_cuda_and_cuda_is_refused_clearly() -> None:
    assert select_device("auto") == torch.device("cpu")
    with pytest.raises(ModelLoadError, match="no CUDA device"):
        select_device("cuda")


@needs_cuda_absent
def test_fp16_on_cpu_is_refused_with_advice(tiny_bert_dir: Path) -> None:
    with pytest.raises(ModelLoadError, match="fp16 needs a GPU"):
        load_fill_mask_model(str(tiny_bert_dir), device="cpu", precision="fp16")


def test_int8_quantizes_linear_layers_and_mostly_agrees_with_fp32(tiny_bert_dir: Path) -> None:
    fp32 = load_fill_mask_model(str(tiny_bert_dir), device="cpu", precision="fp32")
    int8 = load_fill_mask_model(str(tiny_bert_dir), device="cpu", precision="int8")
    quantized = [m for m in int8.model.modules() if type(m).__module__.startswith("torch.ao.nn.quantized")]
    assert quantized, "no Linear layer was quantized"
    texts = [_normalized(text) for text in INPUTS]
    top1 = [[mask[0].token for mask in masks] for masks in fp32.predict(texts)]
    top1_int8 = [[mask[0].token for mask in masks] for masks in int8.predict(texts)]
    agreement = sum(a == b for a, b in zip(top1, top1_int8, strict=True)) / len(texts)
    # A random tiny model with huge weights is touchy; chance agreement would be under 1%.
    assert agreement >= 0.5


@needs_bf16
def test_bf16_keeps_weights_in_bfloat16(tiny_bert_dir: Path) -> None:
    bf16 = load_fill_mask_model(str(tiny_bert_dir), device="cpu", precision="bf16")
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    answer = bf16.predict(["the [MASK] sat on the dog ."], top_k=3)
    assert len(answer[0][0]) == 3 and all(0 <= c.score <= 1 for c in answer[0][0])


def test_threads_default_to_the_cpus_this_process_may_use() -> None:
    before = torch.get_num_threads()
    try:
        assert configure_threads(None) == available_cpus() == torch.get_num_threads()
        assert configure_threads(1) == 1 == torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


TASK_EXAMPLES: dict[str, tuple[list[Any], Any]] = {
    "text-classification": ([("the king sat", None), ("a dog", "ran home")], ClassificationOptions(2)),
    "token-classification": ([Words.from_text("Paris is in France")], TokenClassificationOptions()),
    "question-answering": ([("where is Paris ?", "Paris is in France .")], QuestionAnsweringOptions(top_k=2)),
    "next-sentence-prediction": ([("the king sat .", "the queen ran .")], NextSentenceOptions(2)),
}
PRECISIONS = ["int8", pytest.param("bf16", marks=needs_bf16)]


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("task", list(TASK_EXAMPLES))
def test_every_task_runs_in_every_cpu_precision(
    tiny_task_dir: Callable[[str], Path], task: str, precision: str
) -> None:
    checkpoint = str(tiny_task_dir(task))
    examples, options = TASK_EXAMPLES[task]
    served = load_served_model(checkpoint, device="cpu", precision=precision)  # type: ignore[arg-type]
    reference = load_served_model(checkpoint, device="cpu")
    assert served.precision == precision
    answers = predict_all(served.tasks[task], examples, options, 4096, 32)  # type: ignore[index]
    exact = predict_all(reference.tasks[task], examples, options, 4096, 32)  # type: ignore[index]
    assert len(answers) == len(exact) == len(examples)
    for answer, expected in zip(answers, exact, strict=True):
        assert type(answer) is type(expected) and len(answer) == len(expected)
        assert all(0 <= item.score <= 1 for item in answer)

"""Compiled models: answers equal eager's and the pipeline's, a restart loads the cache instead of
compiling again, and `COMPILE` refuses or falls back where compiling cannot run. Compiling costs
seconds even on a tiny BERT, so only a few tests here compile."""

import json
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from transformers import pipeline

from app import compilation, compiled_package
from app.cli import main
from app.compilation import COMPILATIONS, apply_compile
from app.compiled_package import encoder_of
from app.engine.offline import predict_all
from app.errors import ModelLoadError
from app.tasks.checkpoint import load_served_model
from app.tasks.feature_extraction import EmbeddingOptions
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.question_answering import QuestionAnsweringOptions
from tests.tasks.test_model import INPUTS, _normalized

needs_cpp_compiler = pytest.mark.skipif(
    compilation.cpp_compiler() is None, reason="inductor needs a C++ compiler to compile on a CPU"
)
CPU = torch.device("cpu")


@needs_cpp_compiler
def test_compiled_fill_mask_equals_eager_and_the_pipeline_and_a_restart_loads_the_cache(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = COMPILATIONS.count
    compiled = load_served_model(str(tiny_bert_dir), device="cpu", compile="on", compile_cache=tmp_path)
    assert COMPILATIONS.count == before + 1
    restarted = load_served_model(str(tiny_bert_dir), device="cpu", compile="on", compile_cache=tmp_path)
    assert restarted.compiled and COMPILATIONS.count == before + 1, "the restart compiled again"
    eager = load_served_model(str(tiny_bert_dir), device="cpu")
    assert compiled.compiled and not eager.compiled
    assert compiled.describe()["compiled"] is True
    texts = [_normalized(text) for text in INPUTS]
    options = FillMaskOptions(top_k=3)
    task, reference = restarted.tasks["fill-mask"], eager.tasks["fill-mask"]
    packed_encoder = restarted.network.bert
    for batch_size, call_tokens, row_tokens in (
        (1, 512, 512),
        (2, 512, 512),
        (3, 512, 512),
        (7, 512, 512),
        (32, 512, 512),
        (32, 512, 16),  # rows of about one input each
        (7, 1, 0),  # a row per input, a call of the runner per row
    ):
        monkeypatch.setattr(compiled_package, "CALL_TOKENS", call_tokens)
        monkeypatch.setattr(packed_encoder, "row_tokens", row_tokens)
        answers = predict_all(task, texts, options, 4096, batch_size)
        expected = predict_all(reference, texts, options, 4096, batch_size)
        for answer, exact in zip(answers, expected, strict=True):
            assert [[c.token for c in mask] for mask in answer] == [[c.token for c in mask] for mask in exact]
            for mask, exact_mask in zip(answer, exact, strict=True):
                assert [c.score for c in mask] == pytest.approx([c.score for c in exact_mask], abs=1e-4)
    fill_mask = pipeline("fill-mask", model=str(tiny_bert_dir), device=-1, top_k=1)
    single_mask = [text for text in texts if text.count("[MASK]") == 1]
    assert single_mask
    ours = predict_all(task, single_mask, FillMaskOptions(top_k=1), 4096, 32)
    expected_tokens = [fill_mask(text)[0]["token_str"] for text in single_mask]
    assert [masks[0][0].token_str for masks in ours] == expected_tokens
    assert COMPILATIONS.count == before + 1, "no shape compiles anything at run time"


@needs_cpp_compiler
def test_compiled_question_answering_equals_eager(
    tiny_task_dir: Callable[[str], Path], tmp_path: Path
) -> None:
    """A pair task: segment ids go through the compiled encoder too."""
    checkpoint = str(tiny_task_dir("question-answering"))
    compiled = load_served_model(checkpoint, device="cpu", compile="on", compile_cache=tmp_path)
    eager = load_served_model(checkpoint, device="cpu")
    examples = [
        ("where is Paris ?", "Paris is in France ."),
        ("who sat ?", "the king sat on the dog and the queen ran home ."),
        ("what ran ?", "a dog ran ."),
    ]
    options = QuestionAnsweringOptions(top_k=2)
    for batch_size in (1, 3):
        answers = predict_all(compiled.tasks["question-answering"], examples, options, 4096, batch_size)
        expected = predict_all(eager.tasks["question-answering"], examples, options, 4096, batch_size)
        for answer, exact in zip(answers, expected, strict=True):
            assert [(span.answer, span.start, span.end) for span in answer] == [
                (span.answer, span.start, span.end) for span in exact
            ]
            assert [span.score for span in answer] == pytest.approx([span.score for span in exact], abs=1e-4)


@needs_cpp_compiler
def test_a_compiled_bare_encoder_embeds_as_eager_does(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Feature extraction: the encoder BareEncoder holds is compiled in its place."""
    compiled = load_served_model(
        str(tiny_bert_dir), device="cpu", task="feature-extraction", compile="on", compile_cache=tmp_path
    )
    eager = load_served_model(str(tiny_bert_dir), device="cpu", task="feature-extraction")
    assert compiled.compiled and not eager.compiled
    texts = [_normalized(text).replace("[MASK]", "dog") for text in INPUTS]
    for batch_size in (1, 5, 32):
        answers = predict_all(
            compiled.tasks["feature-extraction"], texts, EmbeddingOptions(), 4096, batch_size
        )
        expected = predict_all(eager.tasks["feature-extraction"], texts, EmbeddingOptions(), 4096, batch_size)
        for answer, exact in zip(answers, expected, strict=True):
            assert answer.vector == pytest.approx(exact.vector, abs=1e-4)


@dataclass(frozen=True)
class _Mapping:
    start: int
    end: int
    path: str
    resident_kb: int


def _file_mappings() -> list[_Mapping]:
    """This process's mappings of files, from /proc/self/smaps."""
    mappings: list[_Mapping] = []
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if re.fullmatch(r"[0-9a-f]+-[0-9a-f]+", fields[0]):
            start, end = (int(address, 16) for address in fields[0].split("-"))
            mappings.append(_Mapping(start, end, fields[5] if len(fields) > 5 else "", 0))
        elif fields[0] == "Rss:" and mappings:
            mappings[-1] = replace(mappings[-1], resident_kb=int(fields[1]))
    return [mapping for mapping in mappings if mapping.path.startswith("/")]


@needs_cpp_compiler
@pytest.mark.skipif(not Path("/proc/self/smaps").is_file(), reason="reads the mappings Linux lists")
def test_a_compiled_model_holds_one_copy_of_its_weights(tiny_bert_dir: Path, tmp_path: Path) -> None:
    """Once the package stands in for the eager encoder, nothing keeps the checkpoint file mapped
    (the MLM head's decoder, tied to the word embeddings, did, and with it every eager weight), and
    the weights embedded in the package's library, copied into the runner as it loads, are not
    resident a second time."""
    libraries = {mapping.path for mapping in _file_mappings()}
    served = load_served_model(str(tiny_bert_dir), device="cpu", compile="on", compile_cache=tmp_path)
    assert served.compiled and served.network is not None
    mappings = _file_mappings()
    checkpoint = [mapping for mapping in mappings if mapping.path.startswith(str(tiny_bert_dir))]
    for name, tensor in (*served.network.named_parameters(), *served.network.named_buffers()):
        address = tensor.untyped_storage().data_ptr()
        assert not any(m.start <= address < m.end for m in checkpoint), f"{name} views the checkpoint file"
    package = [m for m in mappings if m.path not in libraries and m.path.endswith(".wrapper.so")]
    assert package, "the package's library (AOTInductor's <hash>.wrapper.so) is mapped"
    first = package[0]  # removed from the disk by now (below); still open through its mapping
    library_kb = os.stat(f"/proc/self/map_files/{first.start:x}-{first.end:x}").st_size // 1024
    resident_kb = sum(mapping.resident_kb for mapping in package)
    assert resident_kb < library_kb // 3, f"{resident_kb} kB of the {library_kb} kB library resident"
    # The folder the loader unpacked the package into is gone; the model still answers.
    assert not any(Path(mapping.path).exists() for mapping in package)
    [answer] = predict_all(
        served.tasks["fill-mask"], ["Paris is the [MASK] of France."], FillMaskOptions(), 4096, 1
    )
    assert answer[0][0].token_str


def _package_sources(package: Path) -> str:
    """The C++ AOTInductor generated, to see which kernels the Linear layers run on."""
    with zipfile.ZipFile(package) as archive:
        return "".join(archive.read(name).decode() for name in archive.namelist() if name.endswith(".cpp"))


def _tiny_model(tiny_bert_dir: Path) -> torch.nn.Module:
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(str(tiny_bert_dir)).eval()


def test_off_leaves_the_model_eager(tiny_bert_dir: Path) -> None:
    model = _tiny_model(tiny_bert_dir)
    _, encoder = encoder_of(model)
    assert apply_compile(model, "off", "fp32", CPU) is False
    assert encoder_of(model)[1] is encoder


def test_on_refuses_what_has_no_compiled_path_and_auto_falls_back(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _tiny_model(tiny_bert_dir)
    with pytest.raises(ModelLoadError, match="COMPILE=on, but int8 has no compiled path"):
        apply_compile(model, "on", "int8", CPU)
    assert apply_compile(model, "auto", "int8", CPU) is False
    monkeypatch.setattr(compilation, "cpp_compiler", lambda: None)
    with pytest.raises(ModelLoadError, match=r"needs a C\+\+ compiler"):
        apply_compile(model, "on", "fp32", CPU)
    _, encoder = encoder_of(model)
    assert apply_compile(model, "auto", "fp32", CPU) is False
    assert encoder_of(model)[1] is encoder


def test_auto_keeps_the_compiled_encoder_only_where_the_probe_is_faster(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe's verdict decides. Compiling and loading are stand-ins here: the probe is the subject."""
    monkeypatch.setattr(compilation, "cpp_compiler", lambda: "/usr/bin/c++")
    monkeypatch.setattr(compilation, "compile_cached", lambda *_: tmp_path)
    stand_in = torch.nn.Identity()
    monkeypatch.setattr(compilation, "load_package", lambda model, *_: setattr(model, "bert", stand_in))
    model = _tiny_model(tiny_bert_dir)
    _, encoder = encoder_of(model)
    assert apply_compile(model, "auto", "fp32", CPU, speedup=lambda *_: 0.9) is False
    assert encoder_of(model)[1] is encoder, "a slower compiled encoder is swapped back out"
    assert apply_compile(model, "auto", "fp32", CPU, speedup=lambda *_: 2.0) is True
    assert encoder_of(model)[1] is stand_in


@needs_cpp_compiler
def test_a_package_compiled_ahead_of_time_serves_equal_answers_and_a_stale_one_is_refused(
    tiny_bert_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    model_dir = tmp_path / "model"
    shutil.copytree(tiny_bert_dir, model_dir)
    assert main(["compile", "--model", str(model_dir), "--precision", "fp32"]) == 0
    package = model_dir / "compiled" / "fp32"
    assert (package / "encoder.pt2").is_file() and (package / "key.json").is_file()
    kernels = _package_sources(package / "encoder.pt2")
    assert "linear_pointwise" in kernels and "aoti_torch_cpu_addmm_out" not in kernels, (
        "frozen weights on oneDNN's Linear"
    )

    compilations = COMPILATIONS.count
    packaged = load_served_model(str(model_dir), device="cpu", compile="auto")  # found in the model folder
    assert packaged.compiled
    assert not load_served_model(str(model_dir), device="cpu", compile="off").compiled
    eager = load_served_model(str(tiny_bert_dir), device="cpu")
    texts = [_normalized(text) for text in INPUTS]
    for batch_size in (1, 5, 32):
        answers = predict_all(packaged.tasks["fill-mask"], texts, FillMaskOptions(top_k=3), 4096, batch_size)
        expected = predict_all(eager.tasks["fill-mask"], texts, FillMaskOptions(top_k=3), 4096, batch_size)
        for answer, exact in zip(answers, expected, strict=True):
            assert [[c.token for c in mask] for mask in answer] == [[c.token for c in mask] for mask in exact]
            for mask, exact_mask in zip(answer, exact, strict=True):
                assert [c.score for c in mask] == pytest.approx([c.score for c in exact_mask], abs=1e-4)
    assert COMPILATIONS.count == compilations, "a loaded package compiles nothing"

    key = json.loads((package / "key.json").read_text())
    (package / "key.json").write_text(json.dumps(key | {"torch_version": "1.0.0", "isa": ["avx2"]}))
    with pytest.raises(ModelLoadError) as refused:
        load_served_model(str(model_dir), device="cpu", compiled_package=package)
    assert "made for another setting (torch_version: package 1.0.0, here " in refused.value.message
    assert "isa: package avx2, here " in refused.value.message
    # Found in the model folder rather than asked for: a warning, then COMPILE=auto as without one
    # (here, with no compiler to find, eager).
    monkeypatch.setattr(compilation, "cpp_compiler", lambda: None)
    with caplog.at_level(logging.WARNING):
        assert not load_served_model(str(model_dir), device="cpu", compile="auto").compiled
    assert any("Not using the compiled package" in record.getMessage() for record in caplog.records)

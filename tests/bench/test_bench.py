"""The benchmark's own logic: its report arithmetic and its sentences."""

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.offline_maximum import offline_rates
from bench.report import write_markdown
from bench.run import ENGINE_SERIES, checkpoint_for, engine_outcome, server_command
from bench.sentences import SQUAD, masked_sentences


def _load(concurrency: int, per_s: float, p50: float, p99: float) -> dict[str, float]:
    return {
        "concurrency": concurrency,
        "sentences_per_s": per_s,
        "p50_ms": p50,
        "p90_ms": p50,
        "p99_ms": p99,
        "errors": 0,
    }


def test_report_gives_throughput_ratios_against_the_baseline(tmp_path: Path) -> None:
    results = {
        "machine": "test machine",
        "seconds": 5,
        "load_client": "wrk",
        "modes": {
            "baseline": {"loads": [_load(32, 10.0, 100, 150)], "equal_to_fp32": 1.0},
            "fp32": {
                "loads": [_load(32, 25.0, 40, 100) | {"mean_batch_size": 12.5, "mean_batch_tokens": 240.0}],
                "offline_maximum": 30.0,
                "offline": {"sorted_padded": 20.0, "unsorted_padded": 15.0, "packed": 30.0},
            },
            "bf16": {"unavailable": "PRECISION=bf16 needs a CPU with AVX512-BF16 or AMX"},
            "int8@text-classification": {"loads": [_load(32, 90.0, 20, 30)]},
            "int8": {
                "loads": [_load(1, 20.0, 20, 30), _load(32, 61.0, 20, 30)],
                "top1_agreement_with_fp32": 0.875,
                "offline_maximum": 80.0,
            },
        },
    }
    text = write_markdown(results, tmp_path / "results.md")
    assert (tmp_path / "results.md").read_text() == text
    assert "| fp32 | 32 | 25.0 | 2.50 | 40 | 40 | 100 | 2.50 | 0 |" in text
    assert "| int8 | 32 | 61.0 | 6.10 |" in text
    assert "| int8@text-classification | 32 | 90.0 | - |" in text  # another task: no ratio
    assert "unavailable: PRECISION=bf16 needs" in text
    assert "int8 top-1 agreement with fp32: 87.5%" in text
    assert "baseline answers equal to fp32's: 100.0%" in text
    assert "int8 offline maximum 80.0 sentences/s; the server's best load reached 76% of it" in text
    assert (
        "fp32 offline maximum 30.0 sentences/s (sorted padded 20.0, unsorted padded 15.0, packed 30.0); "
        "the server's best load reached 83% of it, batches of 12.5 inputs and 240 tokens on average"
    ) in text


@pytest.mark.parametrize("task", ["fill-mask", "text-classification"])
def test_offline_rates_time_the_model_alone_padded_and_packed(
    tiny_task_dir: Callable[[str], Path], task: str
) -> None:
    rates = offline_rates(tiny_task_dir(task), "fp32", ["the [MASK] sat on the dog .", "a [MASK] ran"] * 20)
    assert all(0 < rate < 1e6 for rate in (rates.sorted_padded, rates.unsorted_padded, rates.packed))
    assert rates.maximum == max(rates.sorted_padded, rates.unsorted_padded, rates.packed)


def test_a_task_mode_serves_a_checkpoint_with_that_head(tmp_path: Path) -> None:
    fill_mask = tmp_path / "bert-base-random"
    assert checkpoint_for("int8", fill_mask) == fill_mask
    classifier = tmp_path / "bert-base-random-text-classification"
    classifier.mkdir()
    (classifier / "config.json").write_text("{}")  # already built: nothing to make
    assert checkpoint_for("int8@text-classification", fill_mask) == classifier
    command = server_command("cuda-fp16@text-classification", classifier, 5000)
    assert command[command.index("--precision") + 1] == "fp16"
    assert command[command.index("--device") + 1] == "cuda"


def test_a_mode_names_its_precision_and_whether_the_server_compiles() -> None:
    def flags(mode: str) -> tuple[str, str, str]:
        command = server_command(mode, Path("ckpt"), 5000)
        return tuple(command[command.index(flag) + 1] for flag in ("--precision", "--device", "--compile"))  # type: ignore[return-value]

    assert flags("fp32") == ("fp32", "cpu", "auto")
    assert flags("bf16:eager") == ("bf16", "cpu", "off")
    assert flags("cuda-fp16:eager@text-classification") == ("fp16", "cuda", "off")


def test_a_mode_names_its_front_ends_and_instances() -> None:
    def processes(mode: str) -> tuple[str, str]:
        command = server_command(mode, Path("ckpt"), 5000)
        return command[command.index("--workers") + 1], command[command.index("--instances") + 1]

    assert processes("int8") == ("1", "1")
    assert processes("int8:eager+w2+k2") == ("2", "2")
    assert processes("fp32+kauto") == ("1", "auto")
    command = server_command("bf16@text-classification+w2", Path("ckpt"), 5000)
    assert command[command.index("--precision") + 1] == "bf16" and processes("bf16+w2") == ("2", "1")


@pytest.mark.skipif(not SQUAD.is_dir(), reason="../shared is not beside this checkout")
def test_sentences_are_varied_masked_and_deterministic() -> None:
    sentences = masked_sentences(300)
    assert sentences == masked_sentences(300)
    assert len(set(sentences)) == 300
    assert all(6 <= len(sentence.split()) <= 40 for sentence in sentences)
    mask_counts = [sentence.count("[MASK]") for sentence in sentences]
    assert set(mask_counts) == {1, 2}
    assert 0.15 < mask_counts.count(2) / len(sentences) < 0.35


def test_engine_outcome_gives_the_loads_busy_share_and_mean_batch() -> None:
    before = dict.fromkeys(ENGINE_SERIES, 10.0)
    after = {
        "bert_serving_model_busy_seconds_total": 19.0,
        "bert_serving_batch_size_sum": 110.0,
        "bert_serving_batch_size_count": 14.0,
        "bert_serving_batch_tokens_sum": 1210.0,
    }
    assert engine_outcome(before, after, seconds=10) == {
        "model_busy": 0.9,
        "mean_batch_size": 25.0,
        "mean_batch_tokens": 300.0,
    }

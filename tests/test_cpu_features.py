"""Precision and int8 engine chosen by CPU flags, tested with the flags faked."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from fastapi.testclient import TestClient

from app import runtime
from app.config import Settings
from app.cpu_features import CpuFeatures, read_cpu_features
from app.runtime import measure_bf16_speedup, quantized_engine_for, resolve_precision
from app.serving.app import create_app
from app.tasks import checkpoint, loading
from tests.conftest import needs_bf16, wait_until_ready

SAPPHIRE_RAPIDS = CpuFeatures(
    "Intel(R) Xeon(R) Platinum 8480+",
    frozenset({"avx512f", "avx512_bf16", "avx512_vnni", "amx_tile", "amx_bf16"}),
)
ICE_LAKE = CpuFeatures("Intel(R) Xeon(R) Platinum 8375C", frozenset({"avx512f", "avx512_vnni"}))
OLD_CPU = CpuFeatures("Intel(R) Xeon(R) CPU E5-2680 v4", frozenset({"avx2"}))
ZEN4 = CpuFeatures("AMD EPYC 9R14", frozenset({"avx512f", "avx512_bf16", "avx512_vnni"}))
CPU = torch.device("cpu")


def test_cpuinfo_gives_the_model_and_the_first_processors_flags(tmp_path: Path) -> None:
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8480+\n"
        "flags\t\t: fpu avx512f avx512_bf16 avx512_vnni amx_bf16 amx_tile amx_int8\n\n"
        "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n"
    )
    features = read_cpu_features(cpuinfo)
    assert features.model == "Intel(R) Xeon(R) Platinum 8480+"
    assert features.amx and features.avx512_bf16 and features.avx512_vnni
    assert features.describe() == "Intel(R) Xeon(R) Platinum 8480+ (AMX, AVX512-BF16, AVX512-VNNI)"
    assert read_cpu_features(tmp_path / "absent") == CpuFeatures("unknown CPU", frozenset())


def test_amx_needs_both_tile_and_bf16_flags() -> None:
    assert not CpuFeatures("x", frozenset({"amx_tile"})).amx
    assert SAPPHIRE_RAPIDS.amx and not ICE_LAKE.amx


@pytest.mark.parametrize(
    ("cpu", "expected"), [(SAPPHIRE_RAPIDS, "bf16"), (ICE_LAKE, "fp32"), (OLD_CPU, "fp32")]
)
def test_auto_is_bf16_only_where_amx_runs_it(cpu: CpuFeatures, expected: str) -> None:
    assert resolve_precision("auto", CPU, cpu) == expected


@pytest.mark.parametrize(("speedup", "expected"), [(2.0, "bf16"), (1.05, "fp32")])
def test_auto_without_amx_but_with_avx512_bf16_measures(
    monkeypatch: pytest.MonkeyPatch, speedup: float, expected: str
) -> None:
    monkeypatch.setattr(runtime, "cpu_supports_bf16", lambda: True)  # the probe is faked too
    probes: list[str] = []

    def probe() -> float:
        probes.append("ran")
        return speedup

    assert resolve_precision("auto", CPU, ZEN4, probe) == expected
    assert probes == ["ran"]
    assert resolve_precision("auto", CPU, SAPPHIRE_RAPIDS, probe) == "bf16"
    assert probes == ["ran"], "AMX needs no probe"


@needs_bf16
def test_the_bf16_probe_times_both_precisions_on_a_real_encoder(tiny_bert_dir: Path) -> None:
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(tiny_bert_dir).eval()
    speedup = measure_bf16_speedup(model, rows=2, tokens=8)
    assert 0 < speedup < 1000
    assert next(model.parameters()).dtype == torch.float32, "the probe must not change the model"


@pytest.mark.parametrize("choice", ["fp32", "bf16", "int8"])
def test_an_explicit_precision_is_kept(choice: str) -> None:
    assert resolve_precision(choice, CPU, SAPPHIRE_RAPIDS) == choice  # type: ignore[arg-type]


def test_auto_on_a_gpu_follows_its_bf16_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", torch.device("cuda"), OLD_CPU) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto", torch.device("cuda"), OLD_CPU) == "fp32"


@pytest.mark.parametrize(
    ("cpu", "engine"), [(SAPPHIRE_RAPIDS, "onednn"), (ICE_LAKE, "x86"), (OLD_CPU, "x86")]
)
def test_int8_engine_follows_amx(cpu: CpuFeatures, engine: str) -> None:
    assert quantized_engine_for(cpu) == engine


@pytest.fixture
def restore_engine() -> Iterator[None]:
    engine = torch.backends.quantized.engine
    yield
    torch.backends.quantized.engine = engine


@pytest.mark.parametrize(("cpu", "engine"), [(SAPPHIRE_RAPIDS, "onednn"), (ICE_LAKE, "x86")])
def test_loading_int8_sets_the_engine_for_this_cpu(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch, restore_engine: None, cpu: CpuFeatures, engine: str
) -> None:
    monkeypatch.setattr(loading, "read_cpu_features", lambda: cpu)
    served = checkpoint.load_served_model(str(tiny_bert_dir), device="cpu", precision="int8")
    assert torch.backends.quantized.engine == engine
    answer = served.tasks["fill-mask"].predict(["the [MASK] sat ."], top_k=2)  # type: ignore[attr-defined]
    assert len(answer[0][0]) == 2


@pytest.mark.parametrize(
    ("cpu", "expected"), [pytest.param(SAPPHIRE_RAPIDS, "bf16", marks=needs_bf16), (ICE_LAKE, "fp32")]
)
def test_ready_reports_the_precision_auto_chose(
    tiny_bert_dir: Path, monkeypatch: pytest.MonkeyPatch, cpu: CpuFeatures, expected: str
) -> None:
    monkeypatch.setattr(loading, "read_cpu_features", lambda: cpu)
    with TestClient(
        create_app(Settings(model_id=str(tiny_bert_dir), precision="auto", device="cpu"))
    ) as client:
        wait_until_ready(client)
        ready = client.get("/health/ready").json()
    assert (ready["precision"], ready["device"]) == (expected, "cpu")

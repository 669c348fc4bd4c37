"""bench.capacity's search on a fake engine with known service times, the settings it prints (and
the manifests that carry them), the metric they scale on, and the autoscaling simulation."""

import json
import math
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.config import Settings
from app.serving.app import create_app
from bench.autoscale_sim import Simulation, closed_loop_p99, service_time
from bench.capacity import Capacity, CapacityError, Step, as_capacity, find_capacity
from bench.scaling_settings import (
    IN_FLIGHT_METRIC,
    azure_autoscale,
    hard_limit,
    kserve_predictor,
    render_settings,
    scale_threshold,
)
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served
from tests.paths import REPO_ROOT

FIXED_S, PER_INPUT_S = 0.020, 0.005  # a batch of n inputs takes 20 ms + 5 ms x n


def linear(size: int) -> float:
    return FIXED_S + PER_INPUT_S * size


def fake_replica(concurrency: int) -> Step:
    """One replica batching continuously under `concurrency` closed-loop clients."""
    return Step(concurrency, 0.0, 0.0, round(1000 * closed_loop_p99(linear, concurrency), 3), 0)


@pytest.mark.parametrize("slo_p99_ms", [40, 100, 137])
def test_the_search_finds_the_known_capacity(slo_p99_ms: float) -> None:
    # Closed-loop clients all ride one batch each turn: p99 = 20 ms + 5 ms x concurrency.
    known = math.floor((slo_p99_ms / 1000 - FIXED_S) / PER_INPUT_S + 1e-9)
    found = find_capacity(fake_replica, slo_p99_ms)
    assert found.concurrency == known
    assert found.p99_ms <= slo_p99_ms
    assert all(step.p99_ms > slo_p99_ms for step in found.steps if step.concurrency > known)


def test_failures_end_the_search_and_too_slow_a_replica_is_an_error() -> None:
    def refusing_from_8(concurrency: int) -> Step:
        return Step(concurrency, 10.0, 1.0, 1.0, errors=5 if concurrency >= 8 else 0)

    assert find_capacity(refusing_from_8, 1000).concurrency == 7
    with pytest.raises(CapacityError, match="One request at a time already misses"):
        find_capacity(fake_replica, 10)


def measured() -> Capacity:
    steps = [Step(1, 10.0, 50, 90, 0), Step(2, 18.0, 90, 200, 0), Step(4, 30.0, 150, 260, 0)]
    steps += [Step(8, 38.0, 300, 420, 0), Step(16, 41.0, 500, 700, 0), Step(12, 41.5, 400, 480.0, 0)]
    return Capacity(500, 12, 41.5, 480.0, steps, machine="2-core test", precision="fp32", cold_start_s=42)


def test_the_printed_settings_parse_and_carry_the_measured_numbers() -> None:
    capacity = measured()
    text = render_settings(capacity)
    blocks = {}
    for block in text.split("# --- ")[1:]:
        title, body = block.split("\n", 1)
        blocks[title] = json.loads(body) if title.startswith("Azure Monitor") else yaml.safe_load(body)
    kserve, keda, azure, autoscale = blocks.values()
    # The target: the most in flight within half the objective (2: p99 200 ms); the hard limit:
    # twice the most within all of it.
    target = (kserve["scaleMetric"], kserve["scaleTarget"], kserve["containerConcurrency"])
    assert target == ("concurrency", 2, 24)
    assert kserve["minReplicas"] == 1, "no scale to zero"
    (trigger,) = keda["spec"]["triggers"]
    assert IN_FLIGHT_METRIC in trigger["metadata"]["query"]
    assert trigger["metadata"]["threshold"] == str(scale_threshold(capacity)) == "1"
    assert azure["request_settings"]["max_concurrent_requests_per_instance"] == hard_limit(capacity)
    (profile,) = autoscale["properties"]["profiles"]
    out = profile["rules"][0]["metricTrigger"]
    assert (out["metricName"], out["threshold"], out["dividePerInstance"]) == ("RequestsPerMinute", 756, True)
    assert "p99 480 ms at 12 requests in flight (41.5 req/s), and p99 200 ms at 2 (18 req/s)" in text


def test_the_keda_metric_is_in_metrics(fake_model: FakeFillMaskTask) -> None:
    with TestClient(create_app(Settings(model_id="fake"), load_model=lambda _: served(fake_model))) as client:
        wait_until_ready(client)
        exposition = client.get("/metrics").text
    assert f"\n{IN_FLIGHT_METRIC} " in exposition
    assert "\nbert_serving_queue_inputs " in exposition


def test_the_manifests_carry_the_committed_measurement() -> None:
    capacity = as_capacity(
        json.loads((REPO_ROOT / "bench" / "results" / "capacity" / "fp32.json").read_text())
    )
    manifest = yaml.safe_load((REPO_ROOT / "deploy" / "kserve" / "inferenceservice.yaml").read_text())
    predictor = manifest["spec"]["predictor"]
    assert {key: predictor[key] for key in kserve_predictor(capacity)} == kserve_predictor(capacity)
    keda = yaml.safe_load((REPO_ROOT / "deploy" / "kserve" / "keda-scaledobject.yaml").read_text())
    assert keda["spec"]["triggers"][0]["metadata"]["threshold"] == str(scale_threshold(capacity))
    deployment = yaml.safe_load((REPO_ROOT / "deploy" / "azureml" / "deployment.yml").read_text())
    assert deployment["request_settings"]["max_concurrent_requests_per_instance"] == hard_limit(capacity)
    autoscale: dict[str, Any] = json.loads((REPO_ROOT / "deploy" / "azureml" / "autoscale.json").read_text())
    assert autoscale["properties"]["profiles"] == azure_autoscale(capacity)["properties"]["profiles"]


def test_the_service_time_is_measured_where_it_ran_and_a_line_elsewhere() -> None:
    service = service_time({1: 0.03, 4: 0.045, 8: 0.07})
    assert service(4) == 0.045
    per_input = (service(16) - service(2)) / 14  # sizes that never ran lie on one line
    assert per_input > 0 and service(32) == pytest.approx(service(16) + 16 * per_input, rel=1e-9)
    assert service(2) == pytest.approx(service(16) - 14 * per_input, rel=1e-9)


def test_every_request_is_answered_or_refused_and_enough_replicas_refuse_none() -> None:
    simulation = Simulation(linear, hard_limit=64, cold_start_s=0.0, seed=1)
    outcome = simulation.run("concurrency", base_rate=20, target=4, minutes=12)
    assert outcome.rejected == 0
    assert len(outcome.latencies) > 20 * 60 * 12 * 0.9  # 1x for 10 minutes, then the ramp begins
    assert max(count for _, count in outcome.replicas) >= 2, "the ramp asked for more"
    starved = Simulation(linear, hard_limit=2, cold_start_s=1e6, seed=1).run(
        "cpu", base_rate=50, target=4, minutes=2
    )
    assert starved.rejected > 0 and len(starved.latencies) > 0

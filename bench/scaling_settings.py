"""The autoscaling settings that follow from one replica's measured capacity (`bench.capacity`):
KServe's (Knative's) concurrency target, a KEDA ScaledObject on the server's in-flight gauge for
RawDeployment, and Azure ML's request settings with an Azure Monitor autoscale profile.

One rule for all three. The scale target is the concurrency one replica held within HALF the
objective, and replicas are kept at 70% of it (Knative's default target utilization; KEDA's and
Azure's thresholds are set to the same share): a rise then has room while new replicas start.
Scaling to the concurrency held within the whole objective keeps p99 at the objective only in
steady traffic; `bench.autoscale_sim` replays both, and CPU at 70%, on an hour of traffic
(docs/operations.md, "Scaling out"). The hard limit, what one replica takes before the orchestrator
queues or refuses, is twice the concurrency held within the whole objective (within
MAX_CONCURRENT_REQUESTS): in a spike a replica answers more, late, rather than have them refused.
"""

import json
import math
from typing import Any, Protocol

import yaml

TARGET_UTILIZATION = 0.7
MAX_CONCURRENT_REQUESTS = 64  # the server's default admission limit
MAX_REPLICAS = 20  # a ceiling against runaway scaling (the simulated spike reaches it at half the objective)
IN_FLIGHT_METRIC = "bert_serving_requests_in_flight"  # requests queued or computing, per process
KSERVE_NAME = "bert-base-cased"


class Level(Protocol):
    concurrency: int
    requests_per_s: float
    p99_ms: float
    errors: int


class Measured(Protocol):
    concurrency: int
    requests_per_s: float
    slo_p99_ms: float
    p99_ms: float
    machine: str
    precision: str
    cold_start_s: float
    steps: Any  # the levels measured, each a Level


def headroom(capacity: Measured) -> Level:
    """The highest level measured within half the objective (the lowest level where none is)."""
    within = [s for s in capacity.steps if s.errors == 0 and s.p99_ms <= capacity.slo_p99_ms / 2]
    return (
        max(within, key=lambda s: s.concurrency)
        if within
        else min(capacity.steps, key=lambda s: s.concurrency)
    )


def scale_target(capacity: Measured) -> int:
    return int(headroom(capacity).concurrency)


def hard_limit(capacity: Measured) -> int:
    return max(capacity.concurrency, min(2 * capacity.concurrency, MAX_CONCURRENT_REQUESTS))


def scale_threshold(capacity: Measured) -> int:
    return max(1, math.floor(TARGET_UTILIZATION * scale_target(capacity)))


def sized(capacity: Measured) -> str:
    level = headroom(capacity)
    return (
        f"sized by `python -m bench.capacity --slo-p99-ms {capacity.slo_p99_ms:g} --precision "
        f"{capacity.precision}`: one replica held p99 {capacity.p99_ms:g} ms at {capacity.concurrency} "
        f"requests in flight ({capacity.requests_per_s:g} req/s), and p99 {level.p99_ms:g} ms at "
        f"{level.concurrency} ({level.requests_per_s:g} req/s), on {capacity.machine}"
    )


def kserve_predictor(capacity: Measured) -> dict[str, Any]:
    """The v1beta1 predictor's scaling fields (Knative's concurrency autoscaler, serverless mode)."""
    return {
        "minReplicas": 1,  # no scale to zero: a cold start loads (or compiles) the model
        "maxReplicas": MAX_REPLICAS,
        "scaleMetric": "concurrency",
        "scaleTarget": scale_target(capacity),  # Knative keeps each pod at 70% of it
        "containerConcurrency": hard_limit(capacity),
    }


def keda_scaled_object(capacity: Measured, namespace: str = "default") -> dict[str, Any]:
    """For RawDeployment: HPA through KEDA on the sum of the pods' in-flight gauges, per replica."""
    deployment = f"{KSERVE_NAME}-predictor"
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": deployment, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"name": deployment},
            "minReplicaCount": 1,
            "maxReplicaCount": MAX_REPLICAS,
            "pollingInterval": 5,
            "cooldownPeriod": 300,
            "triggers": [
                {
                    "type": "prometheus",
                    "metricType": "AverageValue",  # the query's sum divided by the replicas
                    "metadata": {
                        "serverAddress": "http://prometheus-server.monitoring.svc:9090",
                        "query": in_flight_query(namespace, deployment),
                        "threshold": str(scale_threshold(capacity)),
                    },
                }
            ],
        },
    }


def in_flight_query(namespace: str, deployment: str) -> str:
    return f'sum({IN_FLIGHT_METRIC}{{namespace="{namespace}", pod=~"{deployment}-.*"}})'


def azureml_request_settings(capacity: Measured) -> dict[str, Any]:
    return {
        "request_settings": {
            "max_concurrent_requests_per_instance": hard_limit(capacity),
            "request_timeout_ms": 60000,  # above the server's own REQUEST_TIMEOUT_MS (50000): its 504 first
        }
    }


def azure_autoscale(capacity: Measured, deployment: str = "blue") -> dict[str, Any]:
    """An Azure Monitor autoscale setting for the deployment: its instances follow the endpoint's
    RequestsPerMinute for this deployment, per instance, against the measured rate."""
    per_minute = headroom(capacity).requests_per_s * 60

    def rule(direction: str, operator: str, share: float, window: str) -> dict[str, Any]:
        return {
            "metricTrigger": {
                "metricName": "RequestsPerMinute",
                "metricResourceUri": "<ENDPOINT_RESOURCE_ID>",
                "timeGrain": "PT1M",
                "statistic": "Average",
                "timeWindow": window,
                "timeAggregation": "Average",
                "operator": operator,
                "threshold": round(share * per_minute),
                "dividePerInstance": True,
                "dimensions": [{"DimensionName": "deployment", "Operator": "Equals", "Values": [deployment]}],
            },
            "scaleAction": {"direction": direction, "type": "ChangeCount", "value": "1", "cooldown": "PT5M"},
        }

    return {
        "location": "<LOCATION>",
        "properties": {
            "enabled": True,
            "targetResourceUri": "<DEPLOYMENT_RESOURCE_ID>",
            "profiles": [
                {
                    "name": "measured-capacity",
                    "capacity": {"minimum": "1", "maximum": str(MAX_REPLICAS), "default": "1"},
                    "rules": [
                        rule("Increase", "GreaterThan", TARGET_UTILIZATION, "PT5M"),
                        rule("Decrease", "LessThan", TARGET_UTILIZATION / 2, "PT10M"),
                    ],
                }
            ],
        },
    }


def render_settings(capacity: Measured) -> str:
    """Each orchestrator's settings, as YAML (Azure's autoscale as the JSON `az` takes)."""
    blocks = [
        ("KServe InferenceService, spec.predictor (Knative)", yaml.safe_dump(kserve_predictor(capacity))),
        (
            f"KEDA ScaledObject (RawDeployment), {IN_FLIGHT_METRIC}",
            yaml.safe_dump(keda_scaled_object(capacity)),
        ),
        ("Azure ML managed online deployment", yaml.safe_dump(azureml_request_settings(capacity))),
        ("Azure Monitor autoscale setting (JSON)", json.dumps(azure_autoscale(capacity), indent=2)),
    ]
    text = [f"# {sized(capacity)}; ready {capacity.cold_start_s:g} s after start"]
    for title, body in blocks:
        text += ["", f"# --- {title}", body.rstrip()]
    return "\n".join(text)

"""deploy/kserve/inferenceservice*.yaml must match the app: its ports, its probes' routes, its
environment variables, and the protocol KServe is told about (v2, v1, gRPC v2)."""

from pathlib import Path
from typing import Any

import grpc
import yaml
from fastapi.testclient import TestClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import Settings
from app.serving.app import create_app
from bench.server_process import free_port
from tests.conftest import wait_until_ready
from tests.fakes import FakeFillMaskTask, served
from tests.live_server import live_server
from tests.paths import REPO_ROOT

MANIFEST = REPO_ROOT / "deploy" / "kserve" / "inferenceservice.yaml"
# Read by KServe itself, not by the server.
KSERVE_VARIABLES = {"PROTOCOL", "STORAGE_URI"}


def container() -> dict[str, Any]:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert (manifest["apiVersion"], manifest["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    (only,) = manifest["spec"]["predictor"]["containers"]
    return dict(only)


def environment() -> dict[str, str]:
    return {variable["name"]: variable["value"] for variable in container()["env"]}


def test_the_predictor_is_a_v2_custom_container_on_the_apps_port() -> None:
    spec = container()
    assert spec["name"] == "kserve-container"  # the container KServe reads PROTOCOL from
    assert environment()["PROTOCOL"] == "v2"
    (port,) = spec["ports"]
    assert port["containerPort"] == Settings.model_fields["port"].default
    assert "args" not in spec and "command" not in spec, "the image's own CMD serves"


def test_every_other_variable_is_a_setting_of_the_server() -> None:
    settings = {name.upper() for name in Settings.model_fields}
    assert set(environment()) - KSERVE_VARIABLES <= settings
    assert "MODEL_NAME" in environment()


def test_the_probes_answer_on_the_apps_v2_health_routes() -> None:
    spec = container()
    probes = {kind: spec[kind]["httpGet"] for kind in ("readinessProbe", "livenessProbe")}
    assert {probe["port"] for probe in probes.values()} == {spec["ports"][0]["containerPort"]}
    assert probes["readinessProbe"]["path"] == "/v2/health/ready"
    assert probes["livenessProbe"]["path"] == "/v2/health/live"
    name = environment()["MODEL_NAME"]
    app = create_app(
        Settings(model_id="/opt/model", model_name=name), load_model=lambda _: served(FakeFillMaskTask())
    )
    with TestClient(app) as client:
        wait_until_ready(client)
        for probe in probes.values():
            assert client.get(probe["path"]).status_code == 200
        assert client.get(f"/v2/models/{name}/ready").json() == {"name": name, "ready": True}


def test_the_v1_manifest_differs_only_in_protocol_and_readiness_and_its_probes_answer() -> None:
    v1_path = MANIFEST.with_name("inferenceservice-v1.yaml")
    v2, v1 = yaml.safe_load(MANIFEST.read_text()), yaml.safe_load(v1_path.read_text())
    (v1_container,) = v1["spec"]["predictor"]["containers"]
    v1_env = {variable["name"]: variable["value"] for variable in v1_container["env"]}
    name = v1_env["MODEL_NAME"]
    assert v1_env["PROTOCOL"] == "v1"
    assert v1_container["readinessProbe"]["httpGet"]["path"] == f"/v1/models/{name}"
    for manifest, protocol, readiness in ((v1, "v1", f"/v1/models/{name}"), (v2, "v2", "/v2/health/ready")):
        (only,) = manifest["spec"]["predictor"]["containers"]
        only["env"] = [v for v in only["env"] if v["name"] != "PROTOCOL"]
        assert only["readinessProbe"]["httpGet"].pop("path") == readiness, protocol
    assert v1 == v2
    app = create_app(
        Settings(model_id="/opt/model", model_name=name), load_model=lambda _: served(FakeFillMaskTask())
    )
    with TestClient(app) as client:
        wait_until_ready(client)
        assert (
            client.get(f"/v1/models/{name}").json() | {"name": name, "ready": True}
            == client.get(f"/v1/models/{name}").json()
        ), "KServe's keys, as KServe's probe reads them"
        assert client.get(v1_container["livenessProbe"]["httpGet"]["path"]).status_code == 200


def test_the_grpc_manifest_exposes_the_grpc_port_as_h2c_and_its_probe_answers(tiny_bert_dir: Path) -> None:
    manifest = yaml.safe_load(MANIFEST.with_name("inferenceservice-grpc.yaml").read_text())
    (spec,) = manifest["spec"]["predictor"]["containers"]
    env = {variable["name"]: variable["value"] for variable in spec["env"]}
    assert set(env) - KSERVE_VARIABLES <= {name.upper() for name in Settings.model_fields}
    (port,) = spec["ports"]
    assert (port["name"], port["containerPort"]) == ("h2c", int(env["GRPC_PORT"]))
    assert env["PROTOCOL"] == "grpc-v2"
    assert spec["readinessProbe"]["grpc"]["port"] == port["containerPort"]
    assert spec["livenessProbe"]["tcpSocket"]["port"] == port["containerPort"]
    grpc_port = free_port()  # the manifest's own port may be taken on the test machine
    with live_server(model_id=str(tiny_bert_dir), grpc_port=grpc_port, model_name=env["MODEL_NAME"]):
        with grpc.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert check.status == health_pb2.HealthCheckResponse.SERVING  # what Kubernetes' grpc probe asks

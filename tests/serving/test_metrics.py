"""Prometheus metrics of requests, batches and load time."""

from fastapi.testclient import TestClient

from app.serving.azure.schemas import SAMPLE_REQUEST


def test_metrics_count_requests_batches_and_load_time(client: TestClient) -> None:
    client.post("/score", json=SAMPLE_REQUEST)
    client.post("/score", json={"inputs": []})
    client.get("/nowhere")
    client.get("/")
    text = client.get("/metrics").text
    assert 'bert_serving_requests_total{method="GET",route="/",status="200"} 1.0' in text, "apart from POST /"
    assert 'bert_serving_requests_total{method="POST",route="/score",status="200"} 1.0' in text
    assert 'bert_serving_requests_total{method="POST",route="/score",status="400"} 1.0' in text
    assert 'bert_serving_requests_total{method="GET",route="unmatched",status="404"} 1.0' in text
    assert 'bert_serving_request_duration_seconds_count{method="POST",route="/score"} 2.0' in text
    assert "bert_serving_batch_size_count" in text and "bert_serving_batch_tokens_sum" in text
    assert "bert_serving_queue_inputs 0.0" in text
    assert "bert_serving_requests_in_flight 0.0" in text
    model = client.get("/health/ready").json()["models"][0]["name"]
    assert f'bert_serving_model_requests_total{{model="{model}",status="200"}} 1.0' in text
    assert f'bert_serving_model_requests_total{{model="{model}",status="400"}} 1.0' in text
    assert f'bert_serving_model_request_duration_seconds_count{{model="{model}"}} 2.0' in text
    assert "bert_serving_models_loaded 1.0" in text
    busy = next(
        line
        for line in text.splitlines()
        if line.startswith(f'bert_serving_model_busy_seconds_total{{model="{model}"}} ')
    )
    assert float(busy.split()[1]) > 0
    load_seconds = next(
        line for line in text.splitlines() if line.startswith("bert_serving_model_load_seconds ")
    )
    assert float(load_seconds.split()[1]) > 0

"""The naive baseline: Azure's scorer in miniature.

transformers' fill-mask pipeline called per request, one request at a time (Azure's inference
server runs a single synchronous worker by default), with the pipeline's default top_k as
MLflow's pyfunc wrapper calls it. Run: MODEL_ID=DIR uvicorn bench.baseline_app:app --port P
"""

import os
import threading
from typing import Any

from fastapi import FastAPI
from transformers import pipeline

fill_mask = pipeline(
    "fill-mask", model=os.environ["MODEL_ID"], device="cpu"
)  # loaded at import, as naive servers do
one_at_a_time = threading.Lock()
app = FastAPI()


@app.get("/health/ready")
def ready() -> dict[str, str]:
    return {"status": "ready"}


@app.post("/score")
def score(body: dict[str, Any]) -> list[dict[str, str]]:
    with one_at_a_time:
        outputs = [fill_mask(text) for text in body["input_data"]["input_string"]]
    answers = []
    for output in outputs:
        masks = output if isinstance(output[0], list) else [output]
        answers.append({"0": ",".join(candidates[0]["token_str"] for candidates in masks)})
    return answers

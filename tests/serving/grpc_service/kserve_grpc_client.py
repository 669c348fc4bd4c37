"""KServe's own InferenceGRPCClient, as a user writes it: `python kserve_grpc_client.py HOST:PORT MODEL
KEY TEXTS_JSON` prints its answers as one JSON line (run by test_grpc_clients.py in a process of its own)."""

import asyncio
import json
import sys

from kserve import InferenceGRPCClient, InferInput, InferRequest


async def main(address: str, model: str, key: str, texts: list[str]) -> dict[str, object]:
    client = InferenceGRPCClient(address, timeout=30)
    headers = (("authorization", f"Bearer {key}"),)
    text = InferInput("text", [len(texts)], "BYTES", data=texts)
    request = InferRequest(model_name=model, infer_inputs=[text], parameters={"top_k": 2})
    response = await client.infer(request, headers=headers)
    outputs = {output.name: output for output in response.outputs}
    scores = outputs["score"].as_numpy()
    answer = {
        "live": await client.is_server_live(),
        "ready": await client.is_server_ready(),
        "model_ready": await client.is_model_ready(model),
        "token_str": [
            value.decode() if isinstance(value, bytes) else value
            for value in outputs["token_str"].as_numpy().flat
        ],
        "score": scores.flatten().tolist(),
        "shape": list(scores.shape),
    }
    await client.close()
    return answer


if __name__ == "__main__":
    address, model, key, texts = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    print(json.dumps(asyncio.run(main(address, model, key, texts))))

"""`make image-test`: run the built images as a deployment would, and check what only a container shows.

    python -m tests.image_check --image bert-fill-mask --train-image bert-fill-mask:train

Not part of pytest (it needs a Docker engine and built images). Checks, each printed as it passes:
the serving image's size (at most --max-gb), its non-root uid, `/health/ready` and `/score` on
sample_request.json for a tiny checkpoint mounted read-only (answers equal transformers' pipeline on
the same checkpoint) and the same over gRPC (tritonclient.grpc), no training package inside,
`finetune` naming the train extra, an unreadable model folder named with "permission denied", the
file and the uid; and the train image's extra.
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.install_sets import TRAIN_EXTRA_MODULES
from tests.paths import REPO_ROOT
from tests.tiny_bert import build_tiny_bert

ROOT = REPO_ROOT
SERVER_UID = "10001"


def docker(*args: str, timeout_s: float = 300, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout_s, check=False)
    if check and result.returncode != 0:
        raise SystemExit(f"docker {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def passed(what: str) -> None:
    print(f"ok  {what}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def readable_copy(source: Path, into: Path) -> Path:
    """A copy anyone may read: the container's uid is not the host's."""
    shutil.copytree(source, into)
    for path in [into, *into.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return into


def http(url: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


@contextmanager
def running(image: str, model: Path, port: int, grpc_port: int | None = None) -> Iterator[str]:
    """The image on `port`, and gRPC on `grpc_port` (the image's own 8081 may be taken here:
    --network host)."""
    grpc = ["--env", f"GRPC_PORT={grpc_port}"] if grpc_port is not None else []
    container = docker(
        "run", "--detach", "--network", "host", "--env", f"PORT={port}", "--env", "MODEL_ID=/model",
        *grpc, "--volume", f"{model}:/model:ro", image,
    ).stdout.strip()  # fmt: skip
    try:
        yield container
    finally:
        docker("rm", "--force", container, check=False)


def wait_until_ready(container: str, port: int, timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if docker("inspect", "-f", "{{.State.Running}}", container).stdout.strip() != "true":
            raise SystemExit(f"the container stopped:\n{docker('logs', container).stderr[-3000:]}")
        try:
            status, body = http(f"http://127.0.0.1:{port}/health/ready")
            if status == 200:
                return dict(body)
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"not ready after {timeout_s} s:\n{docker('logs', container).stderr[-3000:]}")


def expected_answers(model: Path, texts: list[str]) -> list[dict[str, str]]:
    """The oracle: transformers' own fill-mask pipeline, top-1 token of each input's mask."""
    from transformers import pipeline

    fill_mask = pipeline("fill-mask", model=str(model), tokenizer=str(model), device="cpu")
    return [{"0": fill_mask(text, top_k=1)[0]["token_str"]} for text in texts]


def grpc_answers(port: int, texts: list[str]) -> list[dict[str, str]]:
    """Each text's top-1 token through the image's gRPC service, as /score answers it."""
    import numpy as np
    import tritonclient.grpc as triton

    client = triton.InferenceServerClient(f"127.0.0.1:{port}")
    text = triton.InferInput("text", [len(texts)], "BYTES")
    text.set_data_from_numpy(np.array([t.encode() for t in texts], dtype=object))
    tokens = client.infer("model", [text]).as_numpy("token_str")  # the folder /model names it
    return [{"0": row[0][0].decode()} for row in tokens]


def check_serving_image(image: str, max_gb: float, work: Path) -> None:
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(f"    {image}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB) uncompressed")
    if size > max_gb * 1e9:
        raise SystemExit(f"{image} is {size / 1e9:.2f} GB, over the {max_gb} GB target")
    passed(f"size at most {max_gb} GB")

    model = readable_copy(build_tiny_bert(work / "built"), work / "model")
    port, grpc_port = free_port(), free_port()
    with running(image, model, port, grpc_port) as container:
        ready = wait_until_ready(container, port)
        assert ready["status"] == "ready" and ready["model"] == "/model", ready
        assert ready["tasks"][0] == "fill-mask", ready
        passed(f"/health/ready: {json.dumps(ready)[:160]}")
        uid = docker("exec", container, "id", "-u").stdout.strip()
        assert uid == SERVER_UID, f"the server runs as uid {uid}, not {SERVER_UID}"
        passed(f"runs as uid {uid}")
        request = (ROOT / "sample_request.json").read_bytes()
        status, answer = http(f"http://127.0.0.1:{port}/score", request)
        expected = expected_answers(model, json.loads(request)["input_data"]["input_string"])
        assert (status, answer) == (200, expected), (status, answer, expected)
        passed(f"/score on sample_request.json: {json.dumps(answer)} (transformers' pipeline: the same)")
        by_grpc = grpc_answers(grpc_port, json.loads(request)["input_data"]["input_string"])
        assert by_grpc == expected, (by_grpc, expected)
        passed(f"gRPC ModelInfer (tritonclient.grpc) on GRPC_PORT: {json.dumps(by_grpc)}, the same")

    found = docker(
        "run", "--rm", "--network", "none", image, "python", "-c",
        "import importlib.util, sys; print([m for m in sys.argv[1:] if importlib.util.find_spec(m)])",
        *TRAIN_EXTRA_MODULES,
    ).stdout.strip()  # fmt: skip
    assert found == "[]", f"training packages in the serving image: {found}"
    passed("no training package inside")
    finetune = docker(
        "run", "--rm", "--network", "none", image,
        "bert-fill-mask", "finetune", "text-classification", "--train", "x.jsonl", "--output", "/tmp/run",
        check=False,
    )  # fmt: skip
    assert finetune.returncode == 2 and "pip install 'bert-fill-mask[train]'" in finetune.stderr, finetune
    passed(f"finetune without the extra: {finetune.stderr.strip()}")

    unreadable = readable_copy(model, work / "unreadable")
    weights = next(unreadable.glob("*.safetensors"))
    weights.chmod(0o600)  # as save_pretrained writes it, owned by the host's user
    port = free_port()
    with running(image, unreadable, port) as container:
        deadline = time.monotonic() + 120
        logs = ""
        while time.monotonic() < deadline and "permission denied" not in logs:
            time.sleep(0.5)
            logs = docker("logs", container).stderr
        wanted = f"permission denied reading '/model/{weights.name}' as uid {SERVER_UID}"
        assert wanted in logs, f"wanted {wanted!r} in the logs:\n{logs[-3000:]}"
        passed(f"an unreadable weights file: ...{wanted}...")


def check_train_image(image: str, work: Path) -> None:
    size = int(docker("image", "inspect", "-f", "{{.Size}}", image).stdout)
    print(f"    {image}: {size / 1e9:.2f} GB ({size / 2**30:.2f} GiB) uncompressed")
    imported = docker(
        "run", "--rm", "--network", "none", image, "python", "-c",
        f"import {', '.join(TRAIN_EXTRA_MODULES)}; import os; print(os.getuid())",
    ).stdout.strip()  # fmt: skip
    assert imported == SERVER_UID, f"the train image runs as uid {imported}, not {SERVER_UID}"
    passed(f"{image}: the train extra imports ({', '.join(TRAIN_EXTRA_MODULES)}), as uid {imported}")
    data = work / "data"
    data.mkdir()
    rows = [{"text": f"text number {i}", "label": ("neg", "pos")[i % 2]} for i in range(8)]
    (data / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (data / "train.jsonl").chmod(0o644)
    data.chmod(0o755)
    dry_run = docker(
        "run", "--rm", "--network", "none", "--volume", f"{work / 'model'}:/model:ro",
        "--volume", f"{data}:/data:ro", image, "bert-fill-mask", "finetune", "text-classification",
        "--model", "/model", "--train", "/data/train.jsonl", "--output", "/tmp/run", "--dry-run",
    )  # fmt: skip
    passed(f"{image}: finetune --dry-run on the tiny checkpoint ({len(dry_run.stdout.splitlines())} lines)")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--image", required=True, help="The serving image.")
    parser.add_argument("--train-image", help="The train target's image; unset: not checked.")
    parser.add_argument("--max-gb", type=float, default=1.0, help="Most the serving image may weigh.")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="image-check-"))
    work.chmod(0o755)
    try:
        check_serving_image(args.image, args.max_gb, work)
        if args.train_image:
            check_train_image(args.train_image, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("image checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A real uvicorn server on a free loopback port, in a thread of the test process: for clients
that need a socket (huggingface_hub's InferenceClient, tritonclient, a browser)."""

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from app.config import Settings
from app.serving.app import create_app
from bench.server_process import free_port


@contextmanager
def live_server(timeout_s: float = 60, **settings: Any) -> Iterator[str]:
    """`with live_server(model_id=str(checkpoint)) as base_url:` the app, loaded and ready."""
    port = free_port()
    app = create_app(Settings(**settings), on_fatal=lambda: None)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_ready(base_url, thread, timeout_s)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_until_ready(base_url: str, thread: threading.Thread, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError(f"the server at {base_url} stopped before it was ready")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{base_url} was not ready after {timeout_s} s")

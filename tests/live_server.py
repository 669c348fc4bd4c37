"""A real uvicorn server on a free loopback port, in a thread of the test process: for clients
that need a socket (huggingface_hub's InferenceClient, tritonclient, a browser)."""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from app.config import Settings
from app.repository.repository import ModelLoader
from app.serving.app import create_app
from app.serving.connections import server_config
from app.serving.tracing import RequestTracer
from bench.server_process import ROOT, free_port, wait_until_ready


@contextmanager
def live_server(
    timeout_s: float = 60,
    load_model: ModelLoader | None = None,
    tracer: RequestTracer | None = None,
    **settings: Any,
) -> Iterator[str]:
    """`with live_server(model_id=str(checkpoint)) as base_url:` the app, loaded and ready (with
    `load_model`, a fake's; with `tracer`, its spans there)."""
    port = free_port()
    app = create_app(Settings(**settings), load_model=load_model, on_fatal=lambda: None, tracer=tracer)
    server = uvicorn.Server(
        server_config(app, app.state.settings, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name=f"live-server-{port}", daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base_url, thread, timeout_s)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# The server layouts the protocol tests run against: one process (WORKERS=1), and two front-end
# processes around an engine process (WORKERS=2, app.workers), started as `python -m app serve`.
SERVER_LAYOUTS = ["one process", "two front-ends"]


@contextmanager
def server_in_layout(layout: str, timeout_s: float = 180, **settings: Any) -> Iterator[str]:
    """`live_server(**settings)`, or the same settings (as their environment variables) served by
    two front-ends."""
    if layout == "one process":
        with live_server(timeout_s, **settings) as base_url:
            yield base_url
        return
    port = free_port()
    env = {
        name.upper(): ",".join(value) if isinstance(value, list) else str(value)
        for name, value in settings.items()
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "app", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    with ready_process(server, base_url, timeout_s):
        yield base_url


@contextmanager
def ready_process(
    server: "subprocess.Popen[Any]", base_url: str, timeout_s: float = 180
) -> Iterator["subprocess.Popen[Any]"]:
    """A server process, once ready at `base_url`; stopped (SIGTERM, then SIGKILL) on the way out,
    unless its test stopped it."""
    try:
        wait_until_ready(base_url, server, timeout_s)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        finally:
            server.kill()

"""Helpers for a server started as a real process: a free port, and waiting until it is ready."""

import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


class ServerExitedError(RuntimeError):
    """The server process ended before it became ready."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(
    base_url: str,
    server: "subprocess.Popen[bytes] | subprocess.Popen[str] | threading.Thread",
    timeout_s: float,
) -> None:
    """Until /health/ready answers 200; a server process or thread that ends first is an error."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if isinstance(server, threading.Thread) and not server.is_alive():
            raise ServerExitedError(f"the server thread stopped before {base_url} was ready")
        if isinstance(server, subprocess.Popen) and server.poll() is not None:
            raise ServerExitedError(f"the server exited with status {server.returncode} before it was ready")
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{base_url} was not ready after {timeout_s} s")


def start_our_server(checkpoint: str | Path, port: int, **env: str) -> "subprocess.Popen[bytes]":
    """`python -m app serve` on 127.0.0.1:port, offline, quiet, with extra environment settings."""
    command = [sys.executable, "-m", "app", "serve", "--model", str(checkpoint), "--host", "127.0.0.1"]
    return subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "warning", **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

"""What runs in each process of a WORKERS=N server: the engine process and a front-end."""

import asyncio
import contextlib
import ctypes
import logging
import math
import os
import signal
from pathlib import Path
from typing import Any

import uvicorn

from app.config import Settings
from app.logs import configure_logging, configure_request_log
from app.serving.app import create_app
from app.serving.connections import server_config
from app.workers.engine_server import EngineServer

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def run_engine(supervisor: int, settings: Settings, address: str) -> None:
    """The engine process: the whole app (models, queue, inference thread), answering front-ends
    over ZMQ instead of HTTP. Exits non-zero where no model loaded or the inference worker died."""
    stop_with(supervisor)
    _configure_logs(settings)
    # Ctrl-C reaches every process of the group: the supervisor stops this one last.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(asyncio.run(_serve_engine(settings, address)))


async def _serve_engine(settings: Settings, address: str) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    failed = False

    def fatal() -> None:
        nonlocal failed
        failed = True
        loop.call_soon_threadsafe(stopping.set)

    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    # The front-ends serve gRPC, as they serve HTTP.
    app = create_app(settings.model_copy(update={"grpc_port": None}), on_fatal=fatal)
    async with app.router.lifespan_context(app):
        # Named here, once loading has begun: a name set at the process's start did not last.
        name_this_process("bert-engine")
        server = asyncio.create_task(EngineServer(app.state.serving, address).serve())
        await stopping.wait()
        server.cancel()
    return 1 if failed else 0


def run_front_end(
    supervisor: int, settings: Settings, address: str, engine_pid: int, workers: int, sockets: list[Any]
) -> None:
    """One front-end: uvicorn on the shared listening socket, the app over the engine process.
    Admission's limits are the server's, shared out: each of the N front-ends admits its part."""
    stop_with(supervisor)
    name_this_process("bert-front-end")
    _configure_logs(settings)
    share = {
        "max_concurrent_requests": math.ceil(settings.max_concurrent_requests / workers),
        "max_pending_bodies": math.ceil(settings.max_pending_bodies / workers),
        "max_refusals_per_s": settings.max_refusals_per_s / workers,
    }
    settings = settings.model_copy(update=share)
    app = create_app(settings, engine_address=address)
    app.state.serving.engine.watch(engine_pid)
    uvicorn.Server(server_config(app, settings)).run(sockets=sockets)


def stop_with(supervisor: int) -> None:
    """SIGTERM to this process when its supervisor is gone, however it went (SIGKILL, a crash): no
    orphan keeps serving the port, or the weights in memory, on its own (Linux's PR_SET_PDEATHSIG)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != supervisor:  # it was gone before this process could ask
        os.kill(os.getpid(), signal.SIGTERM)


def name_this_process(name: str) -> None:
    """The name `top` and `ps -L` show for this process's main thread (15 bytes at most)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(name[:15])


def _configure_logs(settings: Settings) -> None:  # a spawned process starts bare
    configure_logging(settings.log_level)
    configure_request_log()
    logger.debug("Process %d started", os.getpid())

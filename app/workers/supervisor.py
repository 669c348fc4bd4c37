"""`serve` with WORKERS=N: one engine process and N front-ends on one listening socket, watched.

- A front-end that dies is restarted (its connections are lost; the others' are not).
- The engine process that dies stops the server, non-zero: it held every model.
- SIGTERM or Ctrl-C drains: the front-ends stop accepting and answer what they hold (uvicorn's
  graceful shutdown, DRAIN_TIMEOUT_S), then the engine stops.
"""

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import uvicorn
from prometheus_client import multiprocess

from app.config import Settings
from app.serving.metrics import MULTIPROCESS_DIR
from app.workers.processes import run_engine, run_front_end

logger = logging.getLogger(__name__)

WATCH_INTERVAL_S = 0.2
ENGINE_STOP_TIMEOUT_S = 30


class Supervisor:
    def __init__(self, settings: Settings, front_ends: int) -> None:
        self.settings = settings
        self.front_end_count = front_ends
        self._spawn = multiprocessing.get_context("spawn")  # no torch state forked into children
        self._folder = Path(tempfile.mkdtemp(prefix="bert-serving-"))
        self.address = f"ipc://{self._folder / 'engine.sock'}"
        self._stopping = False
        self.engine: BaseProcess | None = None
        self.front_ends: list[BaseProcess] = []
        self._socket: Any = None
        self._grpc_socket: socket.socket | None = None

    def run(self) -> int:
        # Before any child starts: each writes its metrics there, and any front-end's /metrics sums them.
        metrics_folder = self._folder / "metrics"
        metrics_folder.mkdir()
        os.environ[MULTIPROCESS_DIR] = str(metrics_folder)
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop_signal, self._stop)
        config = uvicorn.Config(app="app.workers:unused", host=self.settings.host, port=self.settings.port)
        # The app is never loaded here (the front-ends load theirs): the config only binds.
        self._socket = config.bind_socket()  # a port in use fails here, before any model loads
        if self.settings.grpc_port is not None:
            self._grpc_socket = reserve_grpc_port(self.settings.host, self.settings.grpc_port)
        try:
            self.engine = self._start(run_engine, "engine", self.settings, self.address)
            self.front_ends = [self._start_front_end(index) for index in range(self.front_end_count)]
            logger.info(
                "Serving on %s:%d with %d front-end processes around the engine process %d",
                self.settings.host,
                self.settings.port,
                self.front_end_count,
                self.engine.pid,
            )
            return self._watch()
        finally:
            self._shut_down()
            shutil.rmtree(self._folder, ignore_errors=True)

    def _start(self, target: Any, name: str, *args: Any) -> BaseProcess:
        process = self._spawn.Process(target=target, name=name, args=(os.getpid(), *args))
        process.start()
        return process

    def _start_front_end(self, index: int) -> BaseProcess:
        assert self.engine is not None
        return self._start(
            run_front_end,
            f"front-end-{index}",
            self.settings,
            self.address,
            self.engine.pid,
            self.front_end_count,
            [self._socket],
        )

    def _watch(self) -> int:
        assert self.engine is not None
        while not self._stopping:
            if not self.engine.is_alive():
                logger.error("The engine process exited (%s); the server stops.", self.engine.exitcode)
                return 1
            for index, front_end in enumerate(self.front_ends):
                if not front_end.is_alive() and not self._stopping:
                    logger.error("Front-end %d exited (%s); starting another.", index, front_end.exitcode)
                    multiprocess.mark_process_dead(front_end.pid)
                    self.front_ends[index] = self._start_front_end(index)
            time.sleep(WATCH_INTERVAL_S)
        return 0

    def _stop(self, *_: Any) -> None:
        self._stopping = True

    def _shut_down(self) -> None:
        """Front-ends first (they drain), then the engine that answers them."""
        for front_end in self.front_ends:
            if front_end.is_alive():
                front_end.terminate()  # SIGTERM: uvicorn's graceful shutdown
        for front_end in self.front_ends:
            front_end.join(self.settings.drain_timeout_s + 5)
            if front_end.is_alive():
                front_end.kill()
        if self.engine is not None and self.engine.is_alive():
            self.engine.terminate()
            self.engine.join(ENGINE_STOP_TIMEOUT_S)
            if self.engine.is_alive():
                self.engine.kill()
        if self._socket is not None:
            self._socket.close()
        if self._grpc_socket is not None:
            self._grpc_socket.close()


def reserve_grpc_port(host: str, port: int) -> socket.socket:
    """GRPC_PORT bound (not listened on) with SO_REUSEPORT while the server runs: its front-ends,
    which bind it the same way, share it; any other server cannot take it. A port in use fails
    here, before any model loads, as the HTTP port does."""
    reserved = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reserved.bind((host, port))
    except OSError as exc:
        reserved.close()
        logger.error("The gRPC port cannot be bound (%s:%d, GRPC_PORT): %s", host, port, exc.strerror)
        raise SystemExit(1) from None
    return reserved


def serve_with_workers(settings: Settings, front_ends: int) -> int:
    return Supervisor(settings, front_ends).run()

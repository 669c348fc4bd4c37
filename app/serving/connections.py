"""What a connection may cost before its request reaches the app, and the uvicorn server that holds it.

uvicorn's httptools protocol keeps whatever a client sends of a header line, with no limit and no
deadline: twenty clients each sending one unfinished 50 MB header grew the server by a gigabyte, and
a client that connects and sends a byte a second holds its connection forever. This protocol adds,
per connection, what nginx and Apache have: headers within HEADER_TIMEOUT_MS (408), at most
MAX_HEADER_BYTES and MAX_HEADERS of them (431), both answered before routing and followed by a
close. A response sent before its request's body came in (a refusal, a 404) closes the connection too:
the rest of that body would otherwise keep it open with no deadline at all.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from app.config import Settings
from app.serving.metrics import ServiceMetrics

LINGER_S = 5.0  # nginx: lingering_timeout 5 s (within a lingering_time of 30 s)


@dataclass(frozen=True)
class ConnectionLimits:
    header_timeout_s: float = 10.0
    max_header_bytes: int = 65_536
    max_headers: int = 100


class HeaderLimitError(Exception):
    """Raised from a parser callback to stop parsing; httptools reports it as a parser error, which
    uvicorn answers through `send_400_response`."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request's headers."""

    limits = ConnectionLimits()
    on_refusal: Callable[[str], None] = staticmethod(lambda reason: None)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.socket_transport = transport
        self.transport = LingeringTransport(transport, self)  # type: ignore[assignment]
        self.reading_headers = True  # from connecting, or a request's first byte, to its headers' end
        self.request_begun = False
        self.header_bytes = 0
        self.began_in_this_chunk = False
        self.header_refusal: str | None = None
        self.header_timer: asyncio.TimerHandle | None = None
        self.lingering = False
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # refused: what still arrives is dropped, not kept
        self.began_in_this_chunk = False
        super().data_received(data)
        # The parser keeps an unfinished header line itself, so the bytes are counted as they come.
        # A chunk in which a request began may hold the end of the last one's body: not counted.
        if self.reading_headers and not self.began_in_this_chunk and not self.transport.is_closing():
            self.header_bytes += len(data)
            if self.header_bytes > self.limits.max_header_bytes:
                limit = self.limits.max_header_bytes
                self._refuse(
                    431, f"The request's headers are over {limit} bytes (MAX_HEADER_BYTES).", "header_bytes"
                )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.reading_headers, self.request_begun, self.began_in_this_chunk = True, True, True
        self.header_bytes = 0
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        # Counted once they are all in (MAX_HEADER_BYTES bounds how many that can be), not per header:
        # a check per header costs every request a call per header.
        if len(self.headers) > self.limits.max_headers:
            self.header_refusal = f"The request has over {self.limits.max_headers} headers (MAX_HEADERS)."
            raise HeaderLimitError(self.header_refusal)
        self.reading_headers, self.request_begun = False, False
        self._cancel_header_timer()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error, which is how a refusal from `on_headers_complete` surfaces."""
        if self.header_refusal is not None:
            self._refuse(431, self.header_refusal, "header_count")
        else:
            super().send_400_response(msg)

    def on_response_complete(self) -> None:
        # With a request queued behind it (pipelining), this response's own body was all in.
        unread_body = self.cycle is not None and self.cycle.more_body and not self.pipeline
        if unread_body and not self.transport.is_closing():
            self.transport.close()  # answered before its body was in: don't wait for the rest
            return
        super().on_response_complete()

    def _arm_header_timer(self) -> None:
        if self.header_timer is None:
            self.header_timer = self.loop.call_later(self.limits.header_timeout_s, self._on_header_timeout)

    def _cancel_header_timer(self) -> None:
        if self.header_timer is not None:
            self.header_timer.cancel()
            self.header_timer = None

    def _on_header_timeout(self) -> None:
        self.header_timer = None
        if self.transport.is_closing():
            return
        if not self.request_begun:
            self.transport.close()  # connected and said nothing: an idle connection, closed quietly
            return
        timeout_ms = round(self.limits.header_timeout_s * 1000)
        message = f"The request's headers did not arrive within {timeout_ms} ms (HEADER_TIMEOUT_MS)."
        self._refuse(408, message, "header_timeout")

    def _refuse(self, status: int, message: str, reason: str) -> None:
        """Answer before routing, then close lingering; `reason` is counted (`on_refusal`)."""
        self.on_refusal(reason)
        path = self.url.partition(b"?")[0] if self.request_begun else b""
        body = json.dumps({"message" if path == b"/score" else "error": message}).encode()
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head.append(
            b"content-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
        )
        self.transport.write(b"".join(head) + body)
        self._cancel_header_timer()
        self.reading_headers = False
        self._close_lingering()

    def client_may_be_sending(self) -> bool:
        """Part of a request (its headers, or its body) has not arrived."""
        return (self.reading_headers and self.request_begun) or (
            self.cycle is not None and self.cycle.more_body
        )

    def _close_lingering(self) -> None:
        """Close as nginx's lingering close does: a socket closed while the client still sends is
        reset, and the reset can destroy the answer before the client reads it. So: end our side,
        drop what still comes for LINGER_S, then close."""
        if self.lingering:
            return
        self.lingering = True
        self.flow.resume_reading()  # a paused socket would fill up and reset the same way
        if self.socket_transport.can_write_eof():
            self.socket_transport.write_eof()
        self.loop.call_later(LINGER_S, self.socket_transport.close)


class LingeringTransport:
    """The connection's transport as uvicorn sees it: a close while the client may still be sending
    (an answer before the body was in: 408, 413, a refusal) lingers; everything else is the socket's."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedHttpToolsProtocol) -> None:
        self.socket_transport = transport
        self.protocol = protocol
        self.write = transport.write  # every response's bytes: no __getattr__ on the way

    def close(self) -> None:
        if self.protocol.client_may_be_sending() and not self.socket_transport.is_closing():
            self.protocol._close_lingering()
        else:
            self.socket_transport.close()

    def is_closing(self) -> bool:
        return self.protocol.lingering or self.socket_transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.socket_transport, name)


def limits_for(settings: Settings) -> ConnectionLimits:
    return ConnectionLimits(
        header_timeout_s=settings.header_timeout_ms / 1000,
        max_header_bytes=settings.max_header_bytes,
        max_headers=settings.max_headers,
    )


def guarded_protocol(
    limits: ConnectionLimits, on_refusal: Callable[[str], None]
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with these limits."""
    attributes = {"limits": limits, "on_refusal": staticmethod(on_refusal)}
    return type(GuardedHttpToolsProtocol.__name__, (GuardedHttpToolsProtocol,), attributes)


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The one uvicorn configuration every server of this app runs with (`serve`, and live tests);
    the connections it refuses are counted in the app's metrics."""
    metrics: ServiceMetrics = app.state.metrics
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,  # app.serving.observability logs one JSON line per request instead
        "timeout_graceful_shutdown": settings.drain_timeout_s,
        "timeout_keep_alive": settings.keep_alive_timeout_s,
        "http": guarded_protocol(limits_for(settings), metrics.count_refused_connection),
    }
    return uvicorn.Config(app, **(options | overrides))

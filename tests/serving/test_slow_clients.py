"""Clients that send slowly, or too much, over real sockets: they cost only themselves.

Each test runs a real uvicorn server (the protocol and settings `serve` uses) on a fake model, opens
misbehaving connections with raw sockets, and checks what they get and what a well-behaved client
gets meanwhile.
"""

import asyncio
import json
import time
from contextlib import AbstractContextManager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from app.serving.azure.schemas import SAMPLE_REQUEST
from tests.fakes import FakeFillMaskTask, served
from tests.live_server import live_server

pytestmark = pytest.mark.e2e


def fake_server(**settings: object) -> AbstractContextManager[str]:
    fake = FakeFillMaskTask()
    return live_server(model_id="fake", load_model=lambda *_: served(fake), **settings)


async def trickle(
    writer: asyncio.StreamWriter, piece: bytes, every_s: float, until: "asyncio.Future[object]"
) -> None:
    """Send `piece` every `every_s` until the answer came (or the server closed)."""
    try:
        while not until.done():
            writer.write(piece)
            await writer.drain()
            await asyncio.wait({until}, timeout=every_s)
    except ConnectionError:
        pass


async def connect(base_url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlsplit(base_url)
    return await asyncio.open_connection(address.hostname, address.port)


RESET = -1  # the server closed while bytes it had not read were arriving: TCP resets the connection


async def answer_of(reader: asyncio.StreamReader, timeout_s: float) -> tuple[int | None, bytes]:
    """The status and body the server sent before closing, (None, b"") if it closed without one, or
    RESET where a byte the client sent after the server's answer reset the connection first."""
    try:
        raw = await asyncio.wait_for(reader.read(), timeout_s)
    except ConnectionResetError:
        return RESET, b""
    if not raw:
        return None, b""
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@pytest.mark.parametrize("connections", [70, 200])
def test_slow_bodies_get_408_and_never_lock_out_a_client_that_sends_at_once(connections: int) -> None:
    """Each slow client sends its headers, then a byte of its body every 0.5 s: it is let go with a
    408 once it falls behind MIN_BODY_BYTES_PER_S, while a real client keeps getting 200 at once."""
    with fake_server(max_concurrent_requests=64, body_timeout_ms=3000) as base_url:

        async def slow_client(chunked: bool) -> tuple[int | None, bytes]:
            reader, writer = await connect(base_url)
            framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: 1000000"
            writer.write(
                b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + framing
                + b"\r\n\r\n"
            )
            answer = asyncio.ensure_future(answer_of(reader, timeout_s=20))
            await trickle(writer, b"1\r\n[\r\n" if chunked else b"[", 0.5, answer)
            writer.close()
            return await answer

        async def real_client() -> list[tuple[int, float]]:
            answers = []
            async with httpx.AsyncClient(base_url=base_url, timeout=5) as client:
                await asyncio.sleep(0.5)  # every slow client is connected and sending
                for _ in range(10):
                    started = time.monotonic()
                    response = await client.post("/score", json=SAMPLE_REQUEST)
                    answers.append((response.status_code, time.monotonic() - started))
                    await asyncio.sleep(0.1)
            return answers

        async def scenario() -> tuple[list[tuple[int | None, bytes]], list[tuple[int, float]]]:
            slow = [
                asyncio.ensure_future(slow_client(chunked=index % 2 == 1)) for index in range(connections)
            ]
            answers = await real_client()
            return list(await asyncio.gather(*slow)), answers

        started = time.monotonic()
        slow_answers, real_answers = asyncio.run(scenario())

    assert [status for status, _ in real_answers] == [200] * 10
    assert max(seconds for _, seconds in real_answers) < 1.0, real_answers
    assert {status for status, _ in slow_answers} == {408}, "each read its answer: the close lingers"
    assert "MIN_BODY_BYTES_PER_S" in json.loads(slow_answers[0][1])["message"]
    assert time.monotonic() - started < 10, "each slow client was let go within seconds, not at 40 bytes"


def test_a_body_that_keeps_the_minimum_rate_still_ends_at_body_timeout() -> None:
    with fake_server(body_timeout_ms=1500, min_body_bytes_per_s=0) as base_url:

        async def scenario() -> tuple[int | None, bytes, float]:
            reader, writer = await connect(base_url)
            writer.write(b"POST /v2/models/fake/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{")
            started = time.monotonic()
            status, body = await answer_of(reader, timeout_s=10)
            writer.close()
            return status, body, time.monotonic() - started

        status, body, seconds = asyncio.run(scenario())
    assert status == 408
    assert json.loads(body) == {
        "error": "The request's body did not arrive within 1500 ms (BODY_TIMEOUT_MS)."
    }
    assert 1.4 < seconds < 5


def test_headers_sent_slowly_get_408_and_a_silent_connection_is_closed() -> None:
    with fake_server(header_timeout_ms=800) as base_url:

        async def slow_headers() -> tuple[int | None, bytes]:
            reader, writer = await connect(base_url)
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
            answer = asyncio.ensure_future(answer_of(reader, timeout_s=5))
            await trickle(writer, b"X", 0.2, answer)
            writer.close()
            return await answer

        async def silent() -> tuple[int | None, bytes]:
            reader, writer = await connect(base_url)
            answer = await answer_of(reader, timeout_s=5)
            writer.close()
            return answer

        async def scenario() -> list[tuple[int | None, bytes]]:
            answers = await asyncio.gather(*(slow_headers() for _ in range(50)), silent())
            async with httpx.AsyncClient(base_url=base_url) as client:
                assert (await client.get("/health/live")).status_code == 200
                metrics = (await client.get("/metrics")).text
                assert 'bert_serving_connections_refused_total{reason="header_timeout"} 50.0' in metrics
            return list(answers)

        *slow, quiet = asyncio.run(scenario())
    assert {status for status, _ in slow} == {408}
    assert "HEADER_TIMEOUT_MS" in json.loads(slow[0][1])["error"]
    assert quiet == (None, b""), "a connection that never sent a byte is closed without an answer"


def test_a_50_mb_header_line_gets_431_and_memory_stays_bounded() -> None:
    chunk = b"a" * 65_536
    with fake_server() as base_url:

        async def huge_header() -> int | None:
            reader, writer = await connect(base_url)
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
            answer = asyncio.ensure_future(answer_of(reader, timeout_s=30))
            sent = 0
            try:
                while sent < 50_000_000 and not answer.done():
                    writer.write(chunk)
                    await writer.drain()
                    sent += len(chunk)
            except ConnectionError:
                pass
            status, _ = await answer
            writer.close()
            return status

        async def scenario() -> list[int | None]:
            return list(await asyncio.gather(*(huge_header() for _ in range(20))))

        before = rss_mb()
        answers = asyncio.run(scenario())
        grown = rss_mb() - before
        metrics = httpx.get(f"{base_url}/metrics").text
    assert 'bert_serving_connections_refused_total{reason="header_bytes"} 20.0' in metrics
    assert set(answers) == {431}
    assert grown < 100, f"RSS grew {grown:.0f} MB for 20 connections (unbounded: about 1 GB)"


def test_too_many_headers_get_431_naming_the_setting() -> None:
    with fake_server(max_headers=20) as base_url:
        headers = {f"x-h{index}": "1" for index in range(30)}
        response = httpx.get(f"{base_url}/health/live", headers=headers)
        assert response.status_code == 431
        assert "MAX_HEADERS" in response.json()["error"]
        assert httpx.get(f"{base_url}/health/live").status_code == 200
        metrics = httpx.get(f"{base_url}/metrics").text
        assert 'bert_serving_connections_refused_total{reason="header_count"} 1.0' in metrics


def test_an_idle_keep_alive_connection_and_one_answered_before_its_body_are_closed() -> None:
    with fake_server(keep_alive_timeout_s=1, max_payload_bytes=1000) as base_url:

        async def idle_after_answer() -> float:
            reader, writer = await connect(base_url)
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            await reader.readuntil(b'{"status":"live"}')
            started = time.monotonic()
            assert await asyncio.wait_for(reader.read(), 5) == b""
            writer.close()
            return time.monotonic() - started

        async def refused_before_body() -> tuple[int | None, bytes]:
            reader, writer = await connect(base_url)
            writer.write(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n{")
            answer = await answer_of(reader, timeout_s=5)  # read() returns only once the server closed
            writer.close()
            return answer

        idle_seconds = asyncio.run(idle_after_answer())
        status, body = asyncio.run(refused_before_body())
    assert 0.9 < idle_seconds < 3
    assert status == 413 and "the limit is 1000" in json.loads(body)["message"]

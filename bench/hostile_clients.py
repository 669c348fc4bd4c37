"""Hostile clients for bench/attacks.py: raw sockets speaking just enough HTTP to misbehave as no
HTTP library would (a body or a header one byte at a time, a 50 MB header line, a wrong key resent
at once), each filling an AttackerOutcome with what the server answered or did instead.

They run in a process of their own (bench.attacks.run_attacker), so their CPU stays out of the
legitimate client's event loop.
"""

import asyncio
import collections
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.load import request_body

HOST = "127.0.0.1"
SENTENCE_BODY = request_body("Paris is the [MASK] of France.")
JSON_HEADERS = {"Content-Type": "application/json"}
TRICKLE_EVERY_S = 2
ANSWER_TIMEOUT_S = 120  # how long an attacker waits for one answer
SHORT_WORDS = "the cat sat on a mat and ran off "
LONE_SURROGATE = "\ud800"  # json.dumps writes it as the escape `\ud800`, as a hostile client would
MB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """The server under attack: where it listens, its process, its model, the key it wants."""

    port: int
    pid: int
    model: str
    api_key: str | None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass
class AttackerOutcome:
    """What the attacker got: its answers by status (or by what the server did instead), and notes."""

    answers: collections.Counter[str] = field(default_factory=collections.Counter)
    details: dict[str, str] = field(default_factory=dict)


Attacker = Callable[[Target, float, AttackerOutcome], Awaitable[None]]


def http_request(method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def read_answer(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """One response's status code and body (its Content-Length, else up to the close)."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    status_line, *header_lines = head.strip().split("\r\n")
    headers = {
        name.strip().lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)
    }
    length = headers.get("content-length")
    body = await reader.readexactly(int(length)) if length is not None else await reader.read()
    return status_line.split()[1], body


async def exchange(
    target: Target, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[str, bytes]:
    """One request on a connection of its own; without an answer, what the server did instead."""
    try:
        reader, writer = await asyncio.open_connection(HOST, target.port)
    except OSError as exc:
        return type(exc).__name__, b""
    try:
        # Not drained: the server may answer (413) before it has read the whole body.
        writer.write(http_request(method, path, body, {**(headers or {}), "Connection": "close"}))
        return await asyncio.wait_for(read_answer(reader), ANSWER_TIMEOUT_S)
    except asyncio.TimeoutError:
        return "timeout", b""
    except asyncio.IncompleteReadError:
        return "closed", b""
    except OSError as exc:
        return type(exc).__name__, b""
    finally:
        writer.close()


def status_of(line: bytes) -> str:
    return line.split()[1].decode() if line.startswith(b"HTTP/") else "closed"


def short_words(chars: int) -> str:
    """About `chars` characters of short words with one [MASK] in the middle."""
    half = SHORT_WORDS * (chars // 2 // len(SHORT_WORDS))
    return f"{half}[MASK] {half}"[:chars]


async def trickle(target: Target, head: bytes, piece: bytes, deadline: float) -> str:
    """`head`, then `piece` every TRICKLE_EVERY_S until the server answers or closes, or time is up."""
    reader, writer = await asyncio.open_connection(HOST, target.port)
    try:
        writer.write(head)
        while (left := deadline - time.monotonic()) > 0:
            try:
                return status_of(await asyncio.wait_for(reader.readline(), min(TRICKLE_EVERY_S, left)))
            except asyncio.TimeoutError:
                writer.write(piece)
        return "open at the end"
    finally:
        writer.close()


async def slow_sender(
    target: Target, seconds: float, outcome: AttackerOutcome, *, connections: int, head: bytes, piece: bytes
) -> None:
    """`connections` trickling connections, each opened again as soon as the server ends it."""
    deadline = time.monotonic() + seconds

    async def keep_trickling() -> None:
        while time.monotonic() < deadline:
            try:
                outcome.answers[await trickle(target, head, piece, deadline)] += 1
            except OSError as exc:
                outcome.answers[type(exc).__name__] += 1
                await asyncio.sleep(0.5)

    await asyncio.gather(*(keep_trickling() for _ in range(connections)))


async def huge_header(target: Target, deadline: float, megabytes: int) -> tuple[str, int]:
    """One header line of `megabytes` MB, as fast as the socket takes it, never ended: what the
    server answered (or did instead) and how many bytes it took before."""
    reader, writer = await asyncio.open_connection(HOST, target.port)
    answer = asyncio.ensure_future(reader.readline())
    chunk, sent = b"a" * 65536, 0
    try:
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ")
        while sent < megabytes * MB and not answer.done() and time.monotonic() < deadline:
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), max(0.01, deadline - time.monotonic()))
            sent += len(chunk)
    except (OSError, asyncio.TimeoutError):
        pass  # the server closed, or stopped reading: its answer, if any, is in `answer`
    try:
        line = await asyncio.wait_for(answer, max(0.01, deadline - time.monotonic()))
        return status_of(line), sent
    except asyncio.TimeoutError:
        return "open at the end", sent
    except OSError as exc:
        return type(exc).__name__, sent
    finally:
        writer.close()


async def huge_headers(
    target: Target, seconds: float, outcome: AttackerOutcome, *, connections: int, megabytes: int
) -> None:
    deadline = time.monotonic() + seconds
    sent = await asyncio.gather(*(huge_header(target, deadline, megabytes) for _ in range(connections)))
    outcome.answers.update(status for status, _ in sent)
    taken = sorted(round(count / MB, 1) for _, count in sent)
    outcome.details["MB each connection wrote (into socket buffers too)"] = f"{taken[0]}-{taken[-1]}"


async def large_texts(
    target: Target,
    seconds: float,
    outcome: AttackerOutcome,
    *,
    requests: int,
    inputs: int,
    chars: int,
    repeat: bool,
) -> None:
    """`requests` concurrent /score requests of `inputs` texts of `chars` characters: once, or again
    as soon as each is answered until the time is up."""
    body = json.dumps({"input_data": {"input_string": [short_words(chars)] * inputs}}).encode()
    deadline = time.monotonic() + seconds
    answer_s: list[float] = []

    async def send() -> None:
        while True:
            sent = time.monotonic()
            status, answer = await exchange(target, "POST", "/score", body, JSON_HEADERS)
            answer_s.append(time.monotonic() - sent)
            outcome.answers[status] += 1
            if status != "200":
                outcome.details[f"{status} answer"] = answer[:120].decode(errors="replace")
            if not repeat or time.monotonic() >= deadline:
                return

    await asyncio.gather(*(send() for _ in range(requests)))
    outcome.details["request bytes"] = str(len(body))
    outcome.details["answered in s"] = f"{min(answer_s):.1f}-{max(answer_s):.1f}"


async def tokenize_large(target: Target, seconds: float, outcome: AttackerOutcome) -> None:
    body = json.dumps({"inputs": short_words(1_900_000)}).encode()
    sent = time.monotonic()
    status, answer = await exchange(target, "POST", "/tokenize", body, JSON_HEADERS)
    outcome.answers[status] += 1
    outcome.details["answer"] = f"{len(answer):,} bytes in {time.monotonic() - sent:.2f} s"
    outcome.details["answer starts"] = answer[:120].decode(errors="replace")


def lone_surrogate_requests(model: str) -> dict[str, dict[str, Any]]:
    """A body per protocol's route, each with a lone surrogate in a text."""
    text = f"{LONE_SURROGATE} a [MASK]"
    tensor = {"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}
    return {
        "/score": {"inputs": [text]},
        "/": {"inputs": text},
        f"/models/{model}": {"inputs": text},
        f"/v1/models/{model}:predict": {"instances": [text]},
        "/embed": {"inputs": text},
        "/embed_all": {"inputs": text},
        "/similarity": {"inputs": {"source_sentence": LONE_SURROGATE, "sentences": ["a"]}},
        "/tokenize": {"inputs": text},
        "/v1/embeddings": {"input": [f"{LONE_SURROGATE} a"], "model": model},
        f"/v2/models/{model}/infer": {"inputs": [tensor]},
    }


async def lone_surrogates(target: Target, seconds: float, outcome: AttackerOutcome) -> None:
    outcome.details["note"] = (
        "a fill-mask checkpoint's embedding routes may answer 400 (not an embedding model) before "
        "reading the text: that is acceptable"
    )
    for path, body in lone_surrogate_requests(target.model).items():
        status, answer = await exchange(target, "POST", path, json.dumps(body).encode(), JSON_HEADERS)
        outcome.answers[status] += 1
        outcome.details[path] = f"{status} {answer[:120].decode(errors='replace')}"


async def anonymous_unload(target: Target, seconds: float, outcome: AttackerOutcome) -> None:
    """What a cross-site form in a browser can send: text/plain, no key, another Origin."""
    headers = {"Content-Type": "text/plain", "Origin": "https://evil.example"}
    path = f"/v2/repository/models/{target.model}/unload"
    status, answer = await exchange(target, "POST", path, b"{}", headers)
    outcome.answers[f"unload {status}"] += 1
    outcome.details["unload answer"] = answer[:120].decode(errors="replace")
    score_status, _ = await exchange(
        target, "POST", "/score", json.dumps(SENTENCE_BODY).encode(), JSON_HEADERS
    )
    outcome.answers[f"/score then {score_status}"] += 1


async def wrong_key_flood(
    target: Target, seconds: float, outcome: AttackerOutcome, *, connections: int
) -> None:
    """`connections` keep-alive connections, each resending at once whatever the answer."""
    request = http_request(
        "POST",
        "/score",
        json.dumps(SENTENCE_BODY).encode(),
        {**JSON_HEADERS, "Authorization": "Bearer wrong"},
    )
    deadline = time.monotonic() + seconds

    async def resend() -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection(HOST, target.port)
            except OSError as exc:
                outcome.answers[type(exc).__name__] += 1
                await asyncio.sleep(0.5)
                continue
            try:
                while time.monotonic() < deadline:
                    writer.write(request)
                    outcome.answers[(await read_answer(reader))[0]] += 1
            except (OSError, asyncio.IncompleteReadError):
                outcome.answers["closed"] += 1
            finally:
                writer.close()

    await asyncio.gather(*(resend() for _ in range(connections)))


def slow_head(*lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in lines).encode()


SLOW_BODY = slow_head(
    "POST /score HTTP/1.1", "Host: x", "Content-Type: application/json", "Content-Length: 1000000", ""
)
SLOW_CHUNKED = slow_head(
    "POST /score HTTP/1.1", "Host: x", "Content-Type: application/json", "Transfer-Encoding: chunked", ""
)
SLOW_HEADERS = slow_head("GET /health/live HTTP/1.1", "Host: x") + b"X-Slow: "

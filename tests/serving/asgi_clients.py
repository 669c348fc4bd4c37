"""Clients for tests that need many requests in flight, or control over how a body arrives."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.serving.app import create_app
from tests.fakes import FakeFillMaskTask, served


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan, and a client that can have many requests in flight at once (and
    sends the app's API key, where it has one: a request refused for want of it says `headers=`)."""
    api_key = app.state.settings.api_key
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://test", timeout=30, headers=headers
        ) as client:
            for _ in range(500):
                if (await client.get("/health/ready")).status_code == 200:
                    break
                await asyncio.sleep(0.01)
            yield client


def fake_app(fake: FakeFillMaskTask, **settings: Any) -> FastAPI:
    return create_app(
        Settings(model_id="fake", **settings), load_model=lambda _: served(fake), on_fatal=lambda: None
    )


async def call_asgi(
    app: FastAPI, receive: Callable[[], Awaitable[dict[str, Any]]], headers: list[tuple[bytes, bytes]]
) -> list[dict[str, Any]]:
    """POST /score at the ASGI level, where a test controls how the body arrives and when the
    client goes away; returns the messages the app sent."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/score",
        "raw_path": b"/score",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await asyncio.wait_for(app(scope, receive, send), timeout=5)
    return sent


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())

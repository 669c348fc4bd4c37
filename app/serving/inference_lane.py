"""The inference routes without FastAPI's per-request machinery.

A POST to a fixed-path inference route (`/score`, `POST /`, TEI's, ...) goes straight to its
endpoint function, past FastAPI's router, its dependency solving and the wrappers it puts around
every endpoint (exit stacks, request objects built twice): 40% of the event loop's CPU per
`/score` with a tiny model (`python -m bench.request_path`). It sits inside the app's own
middleware (admission, the API key, request ids, metrics, the access log), so every guarantee
stays; its exceptions go to the app's exception handlers as the router's would, through
Starlette's own `wrap_app_handling_exceptions`.

A route rides the lane only where nothing FastAPI does per request changes its answer: its
endpoint takes just the `Request`, returns a `Response` itself, and its path has no parameters.
Every other request, and any app mounted under a root path, goes the usual way.
"""

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.routing import APIRoute
from starlette._exception_handler import wrap_app_handling_exceptions
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from app.serving.admission import leaf_routes


def lane_routes(routes: Sequence[BaseRoute]) -> dict[str, APIRoute]:
    """By path, the routes that ride the lane: each one the router itself would pick for a POST to
    its path (the first full match, as FastAPI tries them)."""
    every = list(leaf_routes(routes))
    lane = {}
    for route in every:
        if isinstance(route, APIRoute) and rides_the_lane(route):
            scope = {"type": "http", "method": "POST", "path": route.path, "root_path": ""}
            chosen = next((r for r in every if r.matches(scope)[0] is Match.FULL), None)
            if chosen is route:
                lane[route.path] = route
    return lane


def rides_the_lane(route: APIRoute) -> bool:
    if route.methods != {"POST"} or "{" in route.path:
        return False
    signature = inspect.signature(route.endpoint)
    returns = signature.return_annotation
    return (
        list(signature.parameters) == ["request"]
        and inspect.isclass(returns)
        and issubclass(returns, Response)
        and not route.dependencies
    )


class InferenceLane:
    def __init__(
        self, app: ASGIApp, routes: Sequence[BaseRoute], exception_handlers: Mapping[Any, Any]
    ) -> None:
        self.app = app
        self.routes = lane_routes(routes)
        # As Starlette's ExceptionMiddleware holds them: by class, and by status code but 500
        # (that one, and Exception, are the outermost ServerErrorMiddleware's).
        self.handlers = (
            {
                key: value
                for key, value in exception_handlers.items()
                if not isinstance(key, int) and key is not Exception
            },
            {key: value for key, value in exception_handlers.items() if isinstance(key, int) and key != 500},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = (
            self.routes.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path")
            else None
        )
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"], scope["endpoint"], scope["path_params"] = route, route.endpoint, {}
        scope["starlette.exception_handlers"] = self.handlers
        request = Request(scope, receive, send)

        async def respond(scope: Scope, receive: Receive, send: Send) -> None:
            response: Response = await route.endpoint(request)
            await response(scope, receive, send)

        await wrap_app_handling_exceptions(respond, request)(scope, receive, send)

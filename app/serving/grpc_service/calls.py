"""What every gRPC call gets that an HTTP request gets from the app's middleware: a request id, the
API key (`authorization` metadata, for the calls whose REST twin is a POST), admission (inference
calls count against MAX_CONCURRENT_REQUESTS), errors as gRPC status codes, and one metrics sample
and access-log line (method `GRPC`, the full method name as route, the HTTP twin's status)."""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, TypeVar

import grpc
from fastapi import HTTPException

from app.config import Settings
from app.errors import AtCapacityError, public_text
from app.serving.admission import AdmissionControl, bearer_matches
from app.serving.grpc_service.status_codes import error_text, grpc_code_for, http_status_of
from app.serving.metrics import ServiceMetrics
from app.serving.observability import (
    RequestRecord,
    finish_span,
    new_request_id,
    record_request,
    safe_request_id,
)
from app.serving.tracing import RequestTracer

logger = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
GRPC_UNAUTHORIZED = "Missing or wrong API key: send the metadata 'authorization: Bearer <key>'."
Answer = TypeVar("Answer")


@dataclass(frozen=True)
class Rpc:
    name: str
    needs_key: bool = False  # its REST twin is a POST: the API key, where one is set
    admitted: bool = False  # an inference: counted in flight, refused at capacity

    @property
    def route(self) -> str:
        return f"/{SERVICE}/{self.name}"


class GrpcCall:
    """One call, as the data plane's `Caller`: the log fields it writes, and whether the client is
    still there (grpc.aio also cancels the handler when the client cancels or its deadline passes)."""

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], request_id: str) -> None:
        self.context = context
        self.request_id = request_id
        self.state = SimpleNamespace(log_fields={})

    async def is_disconnected(self) -> bool:
        return bool(self.context.cancelled())

    def timeout_ms(self) -> int | None:
        """What is left of the client's gRPC deadline, if it set one."""
        remaining = self.context.time_remaining()
        return None if remaining is None else max(1, int(remaining * 1000))


class CallGuard:
    def __init__(
        self,
        settings: Settings,
        admission: AdmissionControl,
        metrics: ServiceMetrics,
        tracer: RequestTracer | None = None,
    ) -> None:
        self.settings = settings
        self.admission = admission
        self.metrics = metrics
        self.tracer = tracer

    async def answer(
        self,
        rpc: Rpc,
        context: grpc.aio.ServicerContext[Any, Any],
        work: Callable[[GrpcCall], Awaitable[Answer]],
    ) -> Answer:
        started = time.perf_counter()
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        call = GrpcCall(context, _text(metadata.get("x-request-id")) or new_request_id())
        span = self.tracer.start(rpc.route[1:], metadata) if self.tracer is not None else None
        status, admitted = 200, False
        try:
            self._check_key(rpc, metadata)
            if rpc.admitted:
                await self._admit()
                admitted = True
            answer = await work(call)
            context.set_trailing_metadata((("x-request-id", call.request_id),))
            return answer
        except asyncio.CancelledError:
            status = 499  # the client cancelled, or its deadline passed: nobody reads an answer
            raise
        except Exception as exc:
            status = http_status_of(exc)
            await self._abort(context, call, status, exc)
            raise  # abort raised already; this line is for the type checker
        finally:
            if admitted:
                self.admission.release()
            client_request_id = _text(metadata.get("x-ms-client-request-id"))
            record = RequestRecord("GRPC", rpc.route, call.request_id, client_request_id)
            record_request(self.metrics, record, status, time.perf_counter() - started, call.state.log_fields)
            if span is not None and self.tracer is not None:
                code = grpc_code_for(status).value[0] if status != 200 else 0
                attributes: dict[str, Any] = {"rpc.system": "grpc", "rpc.service": SERVICE}
                attributes |= {"rpc.method": rpc.name, "rpc.grpc.status_code": code}
                fields = call.state.log_fields | attributes
                finish_span(self.tracer, span, record, status, fields, getattr(call.state, "timeline", None))

    def _check_key(self, rpc: Rpc, metadata: dict[str, Any]) -> None:
        api_key = self.settings.api_key
        if rpc.needs_key and api_key is not None:
            authorization = metadata.get("authorization", "")
            if isinstance(authorization, str):
                authorization = authorization.encode()
            if not bearer_matches(authorization, api_key):
                self.metrics.unauthorized_requests.inc()
                raise HTTPException(401, GRPC_UNAUTHORIZED)

    async def _admit(self) -> None:
        if not self.admission.try_admit():
            self.metrics.refused_requests.inc()
            delay = self.admission.refusal_delay()  # MAX_REFUSALS_PER_S, as on HTTP
            if delay > 0:
                await asyncio.sleep(delay)
            raise AtCapacityError(self.admission.at_capacity)

    async def _abort(
        self, context: grpc.aio.ServicerContext[Any, Any], call: GrpcCall, status: int, exc: Exception
    ) -> None:
        if status == 500:
            logger.error("gRPC call %s failed", call.request_id, exc_info=exc)
            message = f"Internal error; the server's log has the details (request id {call.request_id})."
        else:
            message = public_text(error_text(exc), self.settings.expose_details)
        trailer = (("x-request-id", call.request_id),)
        await context.abort(grpc_code_for(status), message, trailing_metadata=trailer)


def _text(value: Any) -> str | None:
    return safe_request_id(value) if isinstance(value, str) else None

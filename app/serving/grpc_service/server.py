"""The gRPC server on GRPC_PORT, run on the app's own event loop beside uvicorn (grpc.aio), started
and stopped by the app's lifespan: the Open Inference service and `grpc.health.v1`.

Bounds, as on HTTP: a connection that does not open HTTP/2 within HEADER_TIMEOUT_MS is closed; a
message over MAX_PAYLOAD_BYTES is refused by gRPC itself (RESOURCE_EXHAUSTED) before any handler
runs; RPCs beyond MAX_CONCURRENT_REQUESTS plus MAX_PENDING_BODIES at once are refused the same way;
inference calls pass the same admission.
"""

import logging
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from app.config import Settings
from app.errors import ServiceError
from app.serving.grpc_service.calls import SERVICE, CallGuard
from app.serving.grpc_service.generated import open_inference_pb2 as pb
from app.serving.grpc_service.service import OpenInferenceService

logger = logging.getLogger(__name__)

MAX_STREAMS_PER_CONNECTION = 100
IDLE_CONNECTION_MS = 300_000  # a connection without calls for 5 minutes is closed (GOAWAY)


class GrpcPortError(ServiceError):
    """GRPC_PORT cannot be bound."""


def rpc_handlers(service: OpenInferenceService) -> grpc.GenericRpcHandler:
    """Every RPC of the proto's service, registered under the protocol's service name."""
    methods = pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            method.name: grpc.unary_unary_rpc_method_handler(
                getattr(service, method.name),
                request_deserializer=getattr(pb, method.input_type.name).FromString,
                response_serializer=getattr(pb, method.output_type.name).SerializeToString,
            )
            for method in methods
        },
    )


class HealthService(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
    """`grpc.health.v1.Health/Check`: SERVING once the server is ready (as GET /health/ready), for
    the whole server ("") and for the inference service by name."""

    def __init__(self, app_state: Any) -> None:
        self.app_state = app_state

    async def Check(self, request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        if request.service not in ("", SERVICE):
            await context.abort(grpc.StatusCode.NOT_FOUND, f"Unknown service '{request.service}'.")
        answer = health_pb2.HealthCheckResponse
        return answer(status=answer.SERVING if self.app_state.serving.ready else answer.NOT_SERVING)


class GrpcServer:
    def __init__(self, app_state: Any, reuse_port: bool) -> None:
        """`reuse_port`: several front-end processes (WORKERS=N) listen on the one port, the kernel
        sharing the connections out; a single process refuses a port another server holds."""
        settings: Settings = app_state.settings
        self.address = f"{settings.host}:{settings.grpc_port}"
        self.server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", int(reuse_port)),
                ("grpc.max_receive_message_length", settings.max_payload_bytes),
                ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
                ("grpc.max_connection_idle_ms", IDLE_CONNECTION_MS),
                # HTTP/2's preface and settings within HEADER_TIMEOUT_MS, as HTTP's headers: a
                # connection that sends nothing is closed then, not after gRPC's default 120 s.
                ("grpc.server_handshake_timeout_ms", settings.header_timeout_ms),
            ],
            maximum_concurrent_rpcs=settings.max_concurrent_requests + settings.max_pending_bodies,
        )
        guard = CallGuard(settings, app_state.admission, app_state.metrics, app_state.tracer)
        self.server.add_generic_rpc_handlers((rpc_handlers(OpenInferenceService(app_state, guard)),))
        health_pb2_grpc.add_HealthServicer_to_server(HealthService(app_state), self.server)

    async def start(self) -> None:
        try:
            self.server.add_insecure_port(self.address)
        except RuntimeError as exc:
            raise GrpcPortError(
                f"The gRPC port cannot be bound ({self.address}, GRPC_PORT): {exc}. Is another server "
                "listening there? Choose another GRPC_PORT, or unset it."
            ) from None
        await self.server.start()
        logger.info("Serving the Open Inference Protocol over gRPC on %s", self.address)

    async def stop(self, grace_s: float) -> None:
        """Refuses new calls at once; those in flight have `grace_s` to finish."""
        await self.server.stop(grace_s)

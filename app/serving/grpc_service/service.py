"""`inference.GRPCInferenceService`: each RPC answered as its REST twin under /v2 answers, from the
same functions (metadata, tensors, model configuration, statistics, the repository)."""

from typing import Any, TypeAlias

import grpc
from google.protobuf import json_format

from app import __version__
from app.errors import InvalidRequestError, public_text
from app.repository.entries import ModelState
from app.repository.repository import ModelRepository
from app.serving.grpc_service.calls import CallGuard, GrpcCall, Rpc
from app.serving.grpc_service.generated import open_inference_pb2 as pb
from app.serving.grpc_service.tensors import decode_infer_request, infer_response_message, parameter_values
from app.serving.jobs import InferenceJob, serving_plane
from app.serving.lifespan import ServingState
from app.serving.model_control import check_model_control, load_refusal
from app.serving.model_naming import MODEL_VERSION, require_known_version
from app.serving.open_inference_core.infer_job import prepare_job
from app.serving.open_inference_core.metadata import EXTENSIONS, PLATFORM, SERVER_NAME
from app.serving.open_inference_core.model_config import model_config
from app.serving.open_inference_core.statistics import model_statistics
from app.serving.open_inference_core.task_tensors import metadata_tensors, output_tensors

Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]

OPEN = {name: Rpc(name) for name in ("ServerLive", "ServerReady", "ModelReady", "ServerMetadata")}
OPEN |= {name: Rpc(name) for name in ("ModelMetadata", "ModelConfig", "ModelStatistics")}
INFER = Rpc("ModelInfer", needs_key=True, admitted=True)
WITH_KEY = {name: Rpc(name, needs_key=True) for name in ("RepositoryIndex", "RepositoryModelLoad")}
WITH_KEY["RepositoryModelUnload"] = Rpc("RepositoryModelUnload", needs_key=True)


class OpenInferenceService:
    """One method per RPC, each `(request, context) -> response`, named as the protocol names them."""

    def __init__(self, app_state: Any, guard: CallGuard) -> None:
        self.app_state = app_state
        self.guard = guard

    @property
    def serving(self) -> ServingState:
        state: ServingState = self.app_state.serving
        return state

    def repository(self) -> ModelRepository:
        return self.serving.serving_repository()

    async def _named(self, name: str, version: str) -> ModelRepository:
        """The repository, once `name` (and `version`, where given) is known: NOT_FOUND otherwise."""
        repository = self.repository()
        repository.entry(name)
        if version:
            await require_known_version(name, version)
        return repository

    async def ServerLive(self, request: pb.ServerLiveRequest, context: Context) -> pb.ServerLiveResponse:
        answer = pb.ServerLiveResponse(live=True)
        return await self.guard.answer(OPEN["ServerLive"], context, lambda _: _done(answer))

    async def ServerReady(self, request: pb.ServerReadyRequest, context: Context) -> pb.ServerReadyResponse:
        async def ready(_: GrpcCall) -> pb.ServerReadyResponse:
            return pb.ServerReadyResponse(ready=self.serving.ready)

        return await self.guard.answer(OPEN["ServerReady"], context, ready)

    async def ModelReady(self, request: pb.ModelReadyRequest, context: Context) -> pb.ModelReadyResponse:
        async def ready(_: GrpcCall) -> pb.ModelReadyResponse:
            repository = await self._named(request.name, request.version)
            return pb.ModelReadyResponse(ready=repository.entry(request.name).state is ModelState.READY)

        return await self.guard.answer(OPEN["ModelReady"], context, ready)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Context
    ) -> pb.ServerMetadataResponse:
        answer = pb.ServerMetadataResponse(name=SERVER_NAME, version=__version__, extensions=EXTENSIONS)
        return await self.guard.answer(OPEN["ServerMetadata"], context, lambda _: _done(answer))

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Context
    ) -> pb.ModelMetadataResponse:
        async def metadata(_: GrpcCall) -> pb.ModelMetadataResponse:
            model = (await self._named(request.name, request.version)).ready_model(request.name)
            inputs, outputs = metadata_tensors(list(model.tasks))
            answer = pb.ModelMetadataResponse(name=request.name, versions=[MODEL_VERSION], platform=PLATFORM)
            for tensors, into in ((inputs, answer.inputs), (outputs, answer.outputs)):
                for tensor in tensors:
                    into.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape)
            return answer

        return await self.guard.answer(OPEN["ModelMetadata"], context, metadata)

    async def ModelConfig(self, request: pb.ModelConfigRequest, context: Context) -> pb.ModelConfigResponse:
        async def config(_: GrpcCall) -> pb.ModelConfigResponse:
            model = (await self._named(request.name, request.version)).ready_model(request.name)
            settings, instances = self.app_state.settings, self.serving.engine.instances
            found = model_config(request.name, model, settings, instances, PLATFORM)
            return pb.ModelConfigResponse(config=json_format.ParseDict(found, pb.ModelConfig()))

        return await self.guard.answer(OPEN["ModelConfig"], context, config)

    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: Context
    ) -> pb.ModelStatisticsResponse:
        async def statistics(_: GrpcCall) -> pb.ModelStatisticsResponse:
            if request.name:  # one model; without a name, every model (Triton's convention)
                names = [request.name] if await self._named(request.name, request.version) else []
            else:
                names = list(self.repository().entries)
            found = model_statistics(self.app_state.metrics.samples(), names)
            answer = pb.ModelStatisticsResponse()
            json_format.ParseDict(found, answer, ignore_unknown_fields=True)  # no memory_usage here
            return answer

        return await self.guard.answer(OPEN["ModelStatistics"], context, statistics)

    async def ModelInfer(self, request: pb.ModelInferRequest, context: Context) -> pb.ModelInferResponse:
        return await self.guard.answer(INFER, context, lambda call: self._infer(request, call))

    async def _infer(self, request: pb.ModelInferRequest, call: GrpcCall) -> pb.ModelInferResponse:
        if request.model_version:
            await require_known_version(request.model_name, request.model_version)
        decoded = decode_infer_request(request)
        async with serving_plane(self.app_state, call, request.model_name or None) as plane:
            prepared = prepare_job(decoded, plane.model, plane.settings)
            timeout_ms = prepared.timeout_ms
            if (deadline_ms := call.timeout_ms()) is not None:  # the client's gRPC deadline
                timeout_ms = min(timeout_ms, deadline_ms)
            parsed = prepared.request
            job = InferenceJob(
                prepared.task, parsed.examples, parsed.options, parsed.table.columns, timeout_ms
            )
            answers = await plane.run(call, job)
            header = pb.ModelInferResponse(
                model_name=plane.name, model_version=MODEL_VERSION, id=prepared.id or call.request_id
            )
            header.parameters["task"].string_param = prepared.task
            names = [output.name for output in prepared.outputs]
            return infer_response_message(header, output_tensors(prepared.task, answers), names)

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: Context
    ) -> pb.RepositoryIndexResponse:
        async def index(_: GrpcCall) -> pb.RepositoryIndexResponse:
            expose_details = self.app_state.settings.expose_details
            answer = pb.RepositoryIndexResponse()
            for entry in self.repository().entries.values():
                if not request.ready or entry.state is ModelState.READY:
                    answer.models.add(
                        name=entry.spec.name,
                        version=MODEL_VERSION,
                        state=entry.state.value,
                        reason=public_text(entry.reason, expose_details),
                    )
            return answer

        return await self.guard.answer(WITH_KEY["RepositoryIndex"], context, index)

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: Context
    ) -> pb.RepositoryModelLoadResponse:
        async def load(_: GrpcCall) -> pb.RepositoryModelLoadResponse:
            check_model_control(self.app_state.settings)
            if (refusal := load_refusal(parameter_values(request.parameters))) is not None:
                raise InvalidRequestError(refusal)
            entry = await self.repository().load(request.model_name)
            if entry.state is not ModelState.READY:
                raise InvalidRequestError(f"failed to load '{request.model_name}': {entry.reason}")
            return pb.RepositoryModelLoadResponse()

        return await self.guard.answer(WITH_KEY["RepositoryModelLoad"], context, load)

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: Context
    ) -> pb.RepositoryModelUnloadResponse:
        async def unload(_: GrpcCall) -> pb.RepositoryModelUnloadResponse:
            check_model_control(self.app_state.settings)
            await self.repository().unload(request.model_name)
            return pb.RepositoryModelUnloadResponse()

        return await self.guard.answer(WITH_KEY["RepositoryModelUnload"], context, unload)


async def _done(answer: Any) -> Any:
    return answer

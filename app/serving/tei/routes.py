"""TEI's routes on the job pipeline: `/embed`, `/embed_all`, `/similarity`, `/predict`, `/rerank`,
`/tokenize`, `/decode` and `GET /info`. /tokenize and /decode need only the tokenizer."""

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app import __version__
from app.engine.predict import INLINE_CHARACTERS, characters
from app.errors import InvalidInputError, InvalidRequestError, public_text
from app.serving.embedding_inputs import EmbedAllRequest, EmbedRequest, SimilarityRequest
from app.serving.guards import read_json_body
from app.serving.jobs import DataPlane, check_text_sizes, data_plane_of
from app.serving.openapi_inline import json_request_body
from app.serving.tei.codec import (
    DecodeRequest,
    PredictRequest,
    RerankRequest,
    TokenizeRequest,
    encode_embeddings,
    encode_predictions,
    encode_token_embeddings,
    encode_tokens,
    tei_error,
)
from app.serving.validation import parse_body
from app.tasks.feature_extraction import FeatureExtractionTask, similarity_scores
from app.tasks.text_classification import TextClassificationTask
from app.tasks.tokens import text_of, tokens_of


class TeiRoute(APIRoute):
    """Errors as TEI's `{"error", "error_type"}` (app.errors reads `error_body` from the matched route)."""

    error_body = staticmethod(tei_error)


class ErrorResponse(BaseModel):
    error: str
    error_type: str


router = APIRouter(tags=["text-embeddings-inference"], route_class=TeiRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 413, 429, 503, 504)
}


Endpoint = Callable[..., Any]


def _post(path: str, model: type[BaseModel], example: dict[str, Any]) -> Callable[[Endpoint], Endpoint]:
    return router.post(
        path,
        responses=ERRORS,
        openapi_extra=json_request_body(model, example),
    )


async def _parsed(request: Request, plane: DataPlane, model: type[Any]) -> Any:
    return parse_body(model, await read_json_body(request, plane.settings.max_payload_bytes))


@_post("/embed", EmbedRequest, {"inputs": ["What is Deep Learning?"], "normalize": True})
async def embed(request: Request) -> JSONResponse:
    """One vector per input, normalized unless `normalize` is false."""
    async with data_plane_of(request) as plane:
        body: EmbedRequest = await _parsed(request, plane, EmbedRequest)
        return JSONResponse(encode_embeddings(await plane.run(request, body.job(plane.settings))))


@_post("/embed_all", EmbedAllRequest, {"inputs": "What is Deep Learning?"})
async def embed_all(request: Request) -> JSONResponse:
    """Every token's vector (special tokens included), per input."""
    async with data_plane_of(request) as plane:
        body: EmbedAllRequest = await _parsed(request, plane, EmbedAllRequest)
        return JSONResponse(encode_token_embeddings(await plane.run(request, body.job(plane.settings))))


@_post(
    "/similarity",
    SimilarityRequest,
    {"inputs": {"source_sentence": "What is Deep Learning?", "sentences": ["Deep Learning is...", "Paris"]}},
)
async def similarity(request: Request) -> JSONResponse:
    """The cosine of `source_sentence` to each of `sentences`, in their order."""
    async with data_plane_of(request) as plane:
        body: SimilarityRequest = await _parsed(request, plane, SimilarityRequest)
        return JSONResponse(similarity_scores(await plane.run(request, body.job(plane.settings))))


def _label_count(plane: DataPlane) -> int:
    task = plane.model.task("text-classification")  # an embedding model: 400 saying what it does
    return len(task.labels) if isinstance(task, TextClassificationTask) else 1


@_post("/predict", PredictRequest, {"inputs": ["What is Deep Learning?", "Deep Learning is..."]})
async def predict(request: Request) -> JSONResponse:
    """Every label's score per input (a pair `[a, b]` is one input), best first."""
    async with data_plane_of(request) as plane:
        body: PredictRequest = await _parsed(request, plane, PredictRequest)
        answers = await plane.run(request, body.job(_label_count(plane), plane.settings))
        return JSONResponse(encode_predictions(answers, body.single))


@_post(
    "/rerank", RerankRequest, {"query": "What is Deep Learning?", "texts": ["Deep Learning is...", "Paris"]}
)
async def rerank(request: Request) -> JSONResponse:
    """`texts` by a cross-encoder's score for `(query, text)`, best first, with their `index`."""
    async with data_plane_of(request) as plane:
        body: RerankRequest = await _parsed(request, plane, RerankRequest)
        answers = await plane.run(request, body.job(_label_count(plane), plane.settings))
        return JSONResponse(body.ranks(answers))


@_post("/tokenize", TokenizeRequest, {"inputs": "What is Deep Learning?"})
async def tokenize(request: Request) -> JSONResponse:
    """Each input's tokens: id, text, whether special, and its character span in the input."""
    async with data_plane_of(request) as plane:
        body: TokenizeRequest = await _parsed(request, plane, TokenizeRequest)
        texts = body.texts(plane.settings)
        check_text_sizes(texts, plane.settings)
        prompt = _prompt(plane, body.prompt_name) if body.prompt_name is not None else ""
        tokenizer = _tokenizer(plane)

        def answer() -> (
            JSONResponse
        ):  # its body is rendered here too: some 19 bytes per character of short words
            return JSONResponse(
                [
                    encode_tokens(tokens_of(tokenizer, prompt + text, body.add_special_tokens))
                    for text in texts
                ]
            )

        if characters(texts) <= INLINE_CHARACTERS:
            return answer()
        response: JSONResponse = await plane.engine.prepare(answer)
        return response


@_post("/decode", DecodeRequest, {"ids": [101, 1327, 1110, 7643, 9681, 136, 102]})
async def decode(request: Request) -> JSONResponse:
    """Each list of token ids as text, without the special tokens unless `skip_special_tokens` is false."""
    async with data_plane_of(request) as plane:
        body: DecodeRequest = await _parsed(request, plane, DecodeRequest)
        tokenizer = _tokenizer(plane)
        return JSONResponse(
            [
                text_of(tokenizer, ids, where, body.skip_special_tokens)
                for where, ids in body.id_lists(plane.settings)
            ]
        )


def _prompt(plane: DataPlane, name: str) -> str:
    """The text the named prompt puts before each input; prompts are an embedding model's (another
    model: 400 saying what it does)."""
    task: FeatureExtractionTask = plane.model.task("feature-extraction")  # type: ignore[assignment]
    prompt = task.prompt(name)
    if isinstance(prompt, InvalidInputError):
        raise prompt
    return prompt


def _tokenizer(plane: DataPlane) -> Any:
    if plane.model.tokenizer is None:
        raise InvalidRequestError("This model has no tokenizer to list tokens with.")
    return plane.model.tokenizer


@router.get("/info", responses={503: {"model": ErrorResponse}})
async def info(request: Request) -> dict[str, Any]:
    """TEI's model info, with the fields that mean something here."""
    async with data_plane_of(request) as plane:
        tasks = plane.model.tasks
        embedder, classifier = tasks.get("feature-extraction"), tasks.get("text-classification")
        max_input_length: int | None = None
        if isinstance(embedder, FeatureExtractionTask):
            model_type: dict[str, Any] = {"embedding": {"pooling": embedder.config.pooling}}
            max_input_length = embedder.max_tokens
        elif isinstance(classifier, TextClassificationTask):
            id2label = {str(index): label for index, label in enumerate(classifier.labels)}
            kind = "reranker" if len(id2label) == 1 else "classifier"
            model_type = {kind: {"id2label": id2label, "label2id": {v: int(k) for k, v in id2label.items()}}}
            max_input_length = classifier.max_tokens
        else:
            model_type = {"other": {"tasks": list(tasks)}}
        described: dict[str, Any] = {
            "model_id": public_text(plane.model.source, plane.settings.expose_details),
            "model_dtype": plane.model.precision,
            "model_type": model_type,
            "max_concurrent_requests": plane.settings.max_concurrent_requests,
            "max_input_length": max_input_length,
            "max_batch_tokens": plane.settings.max_batch_tokens,
            "max_client_batch_size": plane.settings.max_inputs_per_request,
            "auto_truncate": plane.settings.auto_truncate,
            "version": __version__,
        }
        return described

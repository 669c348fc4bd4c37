"""Settings: every command-line flag has an environment twin."""

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL_ID = "bert-base-cased"

TaskName = Literal[
    "fill-mask",
    "text-classification",
    "token-classification",
    "question-answering",
    "next-sentence-prediction",
    "feature-extraction",
]
TASK_NAMES: tuple[TaskName, ...] = (
    "fill-mask",
    "text-classification",
    "token-classification",
    "question-answering",
    "next-sentence-prediction",
    "feature-extraction",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", protected_namespaces=())

    model_id: str | None = Field(
        default=None,
        description="Hugging Face hub id or local folder of the checkpoint. "
        "Unset: the folder holding config.json under AZUREML_MODEL_DIR, else bert-base-cased.",
    )
    azureml_model_dir: Path | None = Field(
        default=None, description="Set by Azure ML to where the registered model is mounted."
    )
    task: TaskName | None = Field(
        default=None,
        description="The task to serve. Unset: the checkpoint's config.architectures[0] decides "
        "(*ForMaskedLM: fill-mask, *ForSequenceClassification: text-classification, ..., a bare "
        "encoder (*Model, a sentence-transformers folder): feature-extraction).",
    )
    pooling: Literal["cls", "mean", "max", "lasttoken"] | None = Field(
        default=None,
        description="feature-extraction: how token vectors become one per text. Unset: what a "
        "sentence-transformers folder's Pooling module says, else mean.",
    )
    auto_truncate: bool = Field(
        default=False,
        description="feature-extraction: truncate inputs longer than the model reads instead of refusing "
        "them (a request may still ask with `truncate`).",
    )
    model_name: str | None = Field(
        default=None,
        min_length=1,
        description="The model's name on the Open Inference Protocol routes (/v2/models/<name>). "
        "Unset: the checkpoint's folder name or hub name (bert-base-cased).",
    )
    models: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="More models on one server, each NAME=PATH (a hub id, a checkpoint folder or a LoRA "
        "adapter folder); the env twin MODELS separates them with commas. Adapters whose base is another "
        "of the models share its weights.",
    )
    model_repository: Path | None = Field(
        default=None,
        description="A folder with one model per subfolder, each named by its subfolder: a checkpoint, "
        "or a LoRA adapter whose adapter_config.json names its base.",
    )
    default_model: str | None = Field(
        default=None,
        description="The model that answers the routes without a model name (Azure's /score, POST /, "
        "TEI's). Unset: the first model.",
    )
    max_loaded_models: int | None = Field(
        default=None,
        ge=1,
        description="Models held in memory at most; beyond, the least recently used one is unloaded, "
        "and loaded again when a request names it. Unset: no limit.",
    )
    root_liveness: Literal["azure", "kserve"] = Field(
        default="azure",
        description='What GET / answers: azure: `Healthy` (plain text, as Azure ML); kserve: `{"status": '
        '"alive"}`, which KServe\'s v1 client reads (the KServe manifests set it).',
    )
    host: str = Field(default="0.0.0.0", description="Address to listen on.")
    port: int = Field(default=5001, ge=1, le=65535, description="Port (5001, like Azure's inference server).")
    grpc_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Port of the Open Inference Protocol over gRPC (tritonclient.grpc, KServe's "
        "InferenceGRPCClient), on HOST; unset: no gRPC. The image and the KServe manifests set 8081.",
    )
    max_top_k: int = Field(default=100, ge=1, description="Largest `top_k` a request may ask for.")
    log_level: str = Field(default="info", description="Log level: debug, info, warning, error.")

    precision: Literal["auto", "fp32", "bf16", "fp16", "int8"] = Field(
        default="fp32",
        description="fp32: exact, equal to the pipeline. auto: the fastest mode this machine runs "
        "natively (bf16 on a GPU with bf16 or a CPU with AMX, else fp32). bf16: bfloat16 weights. "
        "fp16: GPU only. int8: dynamic quantization of Linear layers, CPU only.",
    )
    compile: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Run the encoder compiled (AOTInductor, frozen weights, one graph for every shape), "
        "cached in COMPILE_CACHE_DIR. auto: where this machine can (CPU, fp32 or bf16, a C++ compiler) "
        "and a probe batch runs faster compiled; on: always, or fail to start; off: eager. The first "
        "start compiles (about a minute for bert-base on two cores); later ones load the cache.",
    )
    compile_cache_dir: Path | None = Field(
        default=None,
        description="Where compiling at start keeps its packages, one per torch, CPU, precision and "
        "weights, for later starts to load. Unset: $XDG_CACHE_HOME/bert-fill-mask/compiled, else "
        "~/.cache/bert-fill-mask/compiled.",
    )
    compiled_package: Path | None = Field(
        default=None,
        description="A folder made by `python -m app compile`: the encoder compiled ahead of time, "
        "loaded in seconds. Refused, saying why, where it was made for another torch, CPU, precision "
        "or weights. Unset: a local model's own compiled/<precision>/ folder is used when it matches.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(default="auto", description="auto: cuda when present.")
    workers: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        default=1,
        description="Front-end processes (HTTP, validation, tokenizing, JSON, logs) around one engine "
        "process that holds the models and their batches; 1: one process does it all. auto: by the "
        "CPUs this process may use and whether it has a GPU (1 below 4 CPUs).",
    )
    instances: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = Field(
        default=1,
        description="Batches the engine runs at once over one copy of the weights, each on an equal "
        "share of torch's threads: more throughput under load on a CPU. auto: the count a probe batch "
        "runs fastest at start (1 when compiled or on a GPU). Above 1, COMPILE=auto serves eager.",
    )
    torch_threads: int | None = Field(
        default=None, ge=1, description="torch intra-op threads. Unset: the CPUs this process may use."
    )
    max_batch_tokens: int = Field(
        default=4096,
        ge=1,
        description="Token budget of one batch (its inputs' own tokens: batches run without padding). "
        "Raise it on a GPU; lower it to cut the latency of a batch on a small CPU.",
    )
    max_batch_size: int = Field(default=32, ge=1, description="Most inputs in one batch.")
    max_wait_ms: float = Field(
        default=0,
        ge=0,
        description="How long a batch waits for company before it runs. 0: continuous batching, the "
        "next batch is formed from whatever queued while the last one ran.",
    )
    max_queued_inputs: int = Field(
        default=2048, ge=1, description="Inputs waiting for the model at most; beyond, inference answers 429."
    )

    max_concurrent_requests: int = Field(
        default=64,
        ge=1,
        description="Inference requests (POSTs) in flight and queued at most; beyond, 429 with "
        "Retry-After, before the body is read.",
    )
    max_refusals_per_s: float = Field(
        default=100,
        gt=0,
        description="429s answered at once per second, after a burst of 64; beyond, a refusal waits its "
        "turn (at most 2 s), so clients that retry without waiting cannot eat the model's CPU.",
    )
    max_requests_per_model: int | None = Field(
        default=None,
        ge=1,
        description="Inference requests one model may have in flight (bodies in) at most; beyond, 429 naming "
        "it, so one busy model cannot take every MAX_CONCURRENT_REQUESTS slot from the others. Unset: none.",
    )
    max_inputs_per_request: int = Field(default=256, ge=1, description="More inputs in one request: 413.")
    max_input_characters: int = Field(
        default=100_000,
        ge=1,
        description="Characters in one input (a text, a pair's text, a question or context) at most; "
        "a longer one: 413 naming it. 100,000 is about 25,000 tokens, 50 windows of the model's 512.",
    )
    max_request_characters: int = Field(
        default=1_000_000,
        ge=1,
        description="Characters in all of a request's inputs at most; more: 413. Bounds what one request "
        "may cost in tokenizing, memory and the size of its answer (/tokenize's included).",
    )
    max_payload_bytes: int = Field(
        default=2_000_000, ge=1, description="A larger body: 413, without reading it all (TEI uses 2 MB)."
    )
    header_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Time a client has to send a request's headers, from its first byte (or from "
        "connecting); past it, 408 and the connection closes.",
    )
    max_header_bytes: int = Field(
        default=65_536,
        ge=1024,
        description="Bytes of a request's line and headers at most; more: 431 and the connection closes, "
        "before any of it is kept.",
    )
    max_headers: int = Field(
        default=100, ge=1, description="Header fields in one request at most; more: 431."
    )
    body_timeout_ms: int = Field(
        default=10_000,
        ge=1,
        description="Time a client has to send a request's body once its headers are in; past it, or when "
        "the body falls behind MIN_BODY_BYTES_PER_S, 408 and the connection closes.",
    )
    min_body_bytes_per_s: int = Field(
        default=1024,
        ge=0,
        description="After a grace of 2 s, a body must arrive at least this fast on average, or 408 at once "
        "rather than at BODY_TIMEOUT_MS. 0: no minimum.",
    )
    max_pending_bodies: int = Field(
        default=256,
        ge=1,
        description="Request bodies being received at once at most (a body being received holds no "
        "admission slot); beyond, 429 before reading. Memory held by bodies is at most this times "
        "MAX_PAYLOAD_BYTES.",
    )
    keep_alive_timeout_s: int = Field(
        default=5, ge=1, description="An idle keep-alive connection is closed after this long."
    )
    request_timeout_ms: int = Field(
        default=50_000,
        ge=1,
        description="Deadline of an inference request (Azure's request_timeout_ms is 60000). Work still "
        "queued past it is dropped before compute and the client gets 504.",
    )
    drain_timeout_s: int = Field(
        default=30, ge=0, description="On SIGTERM, how long accepted requests may take to finish."
    )
    api_key: str | None = Field(
        default=None,
        description="If set, every POST (inference and model control) requires `Authorization: Bearer "
        "<key>`; health, metadata, metrics and docs stay open. Set but empty: the server refuses to start.",
    )
    model_control: Literal["none", "explicit"] = Field(
        default="none",
        description="Triton's model control: none, the repository's load and unload answer 403 (its index "
        "stays readable); explicit, they load and unload models, and API_KEY must be set.",
    )
    log_inputs: bool = Field(default=False, description="Log input texts (off: no user text in logs).")
    expose_details: bool = Field(
        default=False,
        description="On: public bodies (errors, /health/ready, the repository index, TEI's /info) carry "
        "absolute paths and exception class names. Off: they are redacted (a path shows its last part) "
        "and the server's log keeps them.",
    )

    @field_validator("grpc_port", mode="before")
    @classmethod
    def _grpc_port_empty_is_off(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("api_key")
    @classmethod
    def _api_key_not_empty(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("API_KEY is set but empty: set a key, or unset it to leave the routes open")
        return value

    @model_validator(mode="after")
    def _model_control_needs_a_key(self) -> "Settings":
        if self.model_control == "explicit" and self.api_key is None:
            raise ValueError(
                "MODEL_CONTROL=explicit lets clients load and unload models: it needs API_KEY set"
            )
        return self

    @model_validator(mode="after")
    def _instances_run_eager(self) -> "Settings":
        if self.compile == "on" and self.instances != 1:
            raise ValueError(
                "COMPILE=on runs one instance (a compiled encoder's runner holds the GIL through a call, "
                "so instances would take turns): set INSTANCES=1, or COMPILE=auto or off"
            )
        return self

    def compile_choice(self) -> Literal["auto", "on", "off"]:
        """COMPILE as the model loads: more than one instance runs eager (see INSTANCES)."""
        return "off" if isinstance(self.instances, int) and self.instances > 1 else self.compile

    @field_validator("models", mode="before")
    @classmethod
    def _split_models(cls, value: object) -> object:
        return (
            [item.strip() for item in value.split(",") if item.strip()] if isinstance(value, str) else value
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()


def settings_error(exc: ValidationError) -> str:
    """One line per wrong setting, named as its environment variable: the server does not start."""
    lines = []
    for error in exc.errors():
        name = "_".join(str(part) for part in error["loc"]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"Invalid setting {name}: {message}." if name else f"Invalid settings: {message}.")
    return "\n".join(lines)

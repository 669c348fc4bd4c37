"""What the server says of itself and its models in the Open Inference Protocol, over REST and
gRPC alike: its name, platform and extensions, and a model's tensors."""

from pydantic import BaseModel, Field

SERVER_NAME = "bert-fill-mask"
PLATFORM = "pytorch"
# What this server answers besides the core protocol (Triton's names).
EXTENSIONS = ["binary_tensor_data", "model_repository", "model_configuration", "statistics"]


class MetadataTensor(BaseModel):
    name: str
    datatype: str = Field(description="BYTES (UTF-8 strings), FP32 or INT64.")
    shape: list[int] = Field(description="-1: any size along that axis.")
    parameters: dict[str, str | bool] | None = Field(
        default=None,
        description="`task`: the task the tensor belongs to; `optional`: an input that may be left out; "
        "`content_type`: `str` (MLServer's name for UTF-8 text).",
    )

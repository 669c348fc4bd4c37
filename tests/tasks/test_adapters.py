"""The shared encoder: an adapter joins and leaves by name, and a view never runs an adapter that left."""

import pytest
import torch
from peft import LoraConfig
from transformers import BertConfig, BertModel

from app.errors import ModelNotReadyError
from app.tasks.adapters import EncoderView, SharedEncoder


def test_an_adapter_that_left_is_refused_and_the_base_runs_as_before() -> None:
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    )
    shared = SharedEncoder(BertModel(config).eval())
    inputs = {"input_ids": torch.tensor([[1, 2, 3, 4]])}
    base = EncoderView(shared, None)
    with torch.inference_mode():
        before = base(**inputs).last_hidden_state
        lora = LoraConfig(r=2, lora_alpha=4, target_modules=["query", "value"])
        weights = {
            f"encoder.layer.0.attention.self.{name}.lora_{half}.weight": torch.randn(shape)
            for name in ("query", "value")
            for half, shape in (("A", (2, 16)), ("B", (16, 2)))
        }
        shared.attach("one", lora, weights)
        joined = EncoderView(shared, "one")(**inputs).last_hidden_state
        assert not torch.allclose(joined, before)  # the adapter changes the encoder
        assert torch.equal(base(**inputs).last_hidden_state, before)  # the base runs without it
        shared.detach("one")
        with pytest.raises(ModelNotReadyError, match="'one' has left its base"):
            EncoderView(shared, "one")(**inputs)
        assert torch.equal(base(**inputs).last_hidden_state, before)

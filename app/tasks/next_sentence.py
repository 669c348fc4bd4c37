"""Next-sentence prediction: does the second sentence follow the first? (label 0 = IsNext)

The head runs on the pooled [CLS] output: the encoder and pooler, then one 2-way linear layer.
It comes from BertForNextSentencePrediction, or from BertForPreTraining beside the masked-LM
head (the real bert-base-cased weights hold both).
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.config import TaskName
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, Scored, pad_features, pad_token_id
from app.tasks.text_classification import encode_pairs, rank_labels

NSP_LABELS = ["IsNext", "NotNext"]
# Weight names of the next-sentence head and the pooler it reads.
NSP_KEY_PARTS = ("seq_relationship", "pooler")


@dataclass(frozen=True)
class NextSentenceOptions:
    top_k: int = 1


class NextSentenceTask:
    name: TaskName = "next-sentence-prediction"

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
        self.encoder: torch.nn.Module = getattr(model, model.base_model_prefix)
        self.head: torch.nn.Module = model.cls.seq_relationship  # type: ignore[union-attr,assignment]
        self.tokenizer = tokenizer
        self.device = model.device
        self.pad_token_id = pad_token_id(tokenizer)
        self.max_tokens: int = model.config.max_position_embeddings

    def encode(
        self, examples: Sequence[tuple[str, str]], options: NextSentenceOptions
    ) -> list[Encoded[Feature] | InvalidInputError]:
        pairs = [(first, second) for first, second in examples]
        return encode_pairs(self.tokenizer, pairs, self.max_tokens)

    @torch.inference_mode()
    def forward(self, features: Sequence[Feature]) -> list[list[float]]:
        batch = pad_features(features, self.pad_token_id, self.device)
        pooled = self.encoder(**batch.model_inputs()).pooler_output
        rows: list[list[float]] = self.head(pooled).float().softmax(dim=-1).tolist()
        return rows

    def decode(
        self, encoded: Encoded[Feature], outputs: list[list[float]], options: NextSentenceOptions
    ) -> list[Scored]:
        (scores,) = outputs
        return rank_labels(NSP_LABELS, scores, options.top_k)

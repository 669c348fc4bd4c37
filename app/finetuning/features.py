"""Training features per task: token ids with the labels the loss reads, as `datasets.Dataset`s.

- classification: the text (and pair) truncated to the max length, the label id;
- NER: the words, the tag id at each word's first sub-token and -100 (ignored by the loss) on the
  rest and on special tokens, as transformers' run_ner does with `label_all_tokens=False`;
- QA: run_qa's `prepare_train_features`: windows of the context with a stride, the answer's start
  and end token in each window that holds it, else the [CLS] position.
"""

from collections.abc import Sequence
from typing import Any

from datasets import Dataset
from transformers import PreTrainedTokenizerBase

from app.datasets.conll import TaggedSentence
from app.datasets.squad import QAExample
from app.datasets.text_classification import LabelledText

IGNORED = -100  # the label CrossEntropyLoss skips


def classification_features(
    examples: Sequence[LabelledText], labels: list[str], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> Dataset:
    ids = {name: index for index, name in enumerate(labels)}
    rows: dict[str, list[Any]] = {"text": [], "text_pair": [], "label": []}
    for example in examples:
        rows["text"].append(example.text)
        rows["text_pair"].append(example.text_pair)
        rows["label"].append(ids[example.label])
    with_pairs = any(pair is not None for pair in rows["text_pair"])

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        pairs = batch["text_pair"] if with_pairs else None
        if pairs is not None:
            pairs = [pair or "" for pair in pairs]
        return tokenizer(batch["text"], pairs, truncation=True, max_length=max_length)

    dataset = Dataset.from_dict(rows)
    return dataset.map(tokenize, batched=True, remove_columns=["text", "text_pair"], desc="tokenizing")


def ner_features(
    sentences: Sequence[TaggedSentence],
    labels: list[str],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int,
) -> Dataset:
    ids = {name: index for index, name in enumerate(labels)}
    dataset = Dataset.from_dict(
        {
            "tokens": [sentence.tokens for sentence in sentences],
            "tag_ids": [[ids[tag] for tag in sentence.tags] for sentence in sentences],
        }
    )

    def tokenize(batch: dict[str, list[Any]]) -> Any:
        encoding = tokenizer(
            batch["tokens"], is_split_into_words=True, truncation=True, max_length=max_length
        )
        encoding["labels"] = [
            first_subtoken_labels(encoding.word_ids(row), tag_ids)
            for row, tag_ids in enumerate(batch["tag_ids"])
        ]
        return encoding

    return dataset.map(tokenize, batched=True, remove_columns=["tokens", "tag_ids"], desc="tokenizing")


def first_subtoken_labels(word_ids: list[int | None], tag_ids: list[int]) -> list[int]:
    """A word's tag at its first sub-token; -100 at its other sub-tokens and at special tokens."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(tag_ids[word] if word is not None and word != previous else IGNORED)
        previous = word
    return labels


def qa_features(
    examples: Sequence[QAExample], tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int
) -> Dataset:
    """One row per window; the first answer (with a known start) gives the positions."""
    questions = [example.question.lstrip() for example in examples]
    contexts = [example.context for example in examples]
    encoding = tokenizer(
        questions,
        contexts,
        truncation="only_second",
        max_length=max_length,
        stride=doc_stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    starts, ends = [], []
    for window, offsets in enumerate(encoding["offset_mapping"]):
        example = examples[encoding["overflow_to_sample_mapping"][window]]
        answer = next((a for a in example.answers if a.start is not None), None)
        sequence_ids = encoding.sequence_ids(window)
        cls_index = encoding["input_ids"][window].index(tokenizer.cls_token_id)
        if answer is None:
            starts.append(cls_index)
            ends.append(cls_index)
            continue
        start_char, end_char = answer.start, answer.start + len(answer.text)
        context_positions = [i for i, sequence in enumerate(sequence_ids) if sequence == 1]
        first, last = context_positions[0], context_positions[-1]
        if not (offsets[first][0] <= start_char and offsets[last][1] >= end_char):
            starts.append(cls_index)  # the answer is not (wholly) in this window
            ends.append(cls_index)
            continue
        start_token = first
        while start_token <= last and offsets[start_token][0] <= start_char:
            start_token += 1
        end_token = last
        while end_token >= first and offsets[end_token][1] >= end_char:
            end_token -= 1
        starts.append(start_token - 1)
        ends.append(end_token + 1)
    columns = {
        name: encoding[name] for name in ("input_ids", "token_type_ids", "attention_mask") if name in encoding
    }
    return Dataset.from_dict({**columns, "start_positions": starts, "end_positions": ends})

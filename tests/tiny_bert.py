"""A tiny BERT with a vocabulary of our own, built in a temp dir: no download, no shared data."""

from pathlib import Path

WORDS = """the a an of in on at to is was are were be and or but not with from by for as this that
it he she they we you i his her their our my your Paris France London England Berlin Germany
capital city country river king queen man woman child day night today tomorrow morning evening
beautiful good bad great small large old new happy sad red blue green black white dog cat bird
horse house car road school book music film game team war peace time year world life water fire
sat ran walked saw made took gave said went came played wrote read sang ate drank slept
quickly slowly very often never always here there where when what who why how
one two three four five six seven eight nine ten first last next
""".split()
SUBWORDS = ["##s", "##ed", "##ing", "##ly", "##er", "##est"]
PUNCTUATION = list(".,!?;:'\"()-")
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MAX_POSITIONS = 128


EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
CONLL_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
# Task -> the transformers class whose head it trains.
TASK_CLASSES = {
    "fill-mask": "BertForMaskedLM",
    "pretraining": "BertForPreTraining",
    "text-classification": "BertForSequenceClassification",
    "token-classification": "BertForTokenClassification",
    "question-answering": "BertForQuestionAnswering",
    "next-sentence-prediction": "BertForNextSentencePrediction",
}


def build_tiny_bert(directory: Path, seed: int = 0) -> Path:
    return build_tiny_task_model(directory, "fill-mask", seed, max_positions=MAX_POSITIONS)


def build_tiny_task_model(
    directory: Path,
    task: str,
    seed: int = 0,
    labels: list[str] | None = None,
    max_positions: int = 512,
    initializer_range: float = 1.0,
) -> Path:
    """A tiny BERT with the head of `task` (a key of TASK_CLASSES), random weights, saved whole.

    Classifiers get emotion's six labels and NER CoNLL-2003's nine tags unless `labels` says.
    512 positions by default, so QA windows of 384 tokens fit as on the real model.
    `initializer_range=0.02` (BERT's own) gives a model that fine-tuning can teach in a few steps.
    """
    import torch
    import transformers
    from transformers import BertConfig, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokens = SPECIAL + WORDS + SUBWORDS + PUNCTUATION
    vocab = {token: index for index, token in enumerate(tokens)}
    try:  # transformers 5 takes the vocabulary itself; 4.x takes a file
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=max_positions)
    except TypeError:
        vocab_file = directory / "vocab.txt"
        vocab_file.write_text("\n".join(tokens) + "\n")
        tokenizer = BertTokenizer(
            vocab_file=str(vocab_file), do_lower_case=False, model_max_length=max_positions
        )
    assert len(tokenizer) == len(tokens), "the tokenizer did not take our vocabulary"
    if labels is None:
        labels = {"text-classification": EMOTION_LABELS, "token-classification": CONLL_TAGS}.get(task, [])
    label_fields = (
        {"id2label": dict(enumerate(labels)), "label2id": {name: i for i, name in enumerate(labels)}}
        if labels
        else {}
    )
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        # The real 0.02 makes a tiny random model predict the same token for every input.
        initializer_range=initializer_range,
        architectures=[TASK_CLASSES[task]],
        **label_fields,
    )
    torch.manual_seed(seed)
    getattr(transformers, TASK_CLASSES[task])(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

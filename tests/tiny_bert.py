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


def build_tiny_bert(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import BertConfig, BertForMaskedLM, BertTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    tokens = SPECIAL + WORDS + SUBWORDS + PUNCTUATION
    vocab = {token: index for index, token in enumerate(tokens)}
    try:  # transformers 5 takes the vocabulary itself; 4.x takes a file
        tokenizer = BertTokenizer(vocab=vocab, do_lower_case=False, model_max_length=MAX_POSITIONS)
    except TypeError:
        vocab_file = directory / "vocab.txt"
        vocab_file.write_text("\n".join(tokens) + "\n")
        tokenizer = BertTokenizer(
            vocab_file=str(vocab_file), do_lower_case=False, model_max_length=MAX_POSITIONS
        )
    assert len(tokenizer) == len(tokens), "the tokenizer did not take our vocabulary"
    config = BertConfig(
        vocab_size=len(tokens),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        # The real 0.02 makes a tiny random model predict the same token for every input.
        initializer_range=1.0,
    )
    torch.manual_seed(seed)
    BertForMaskedLM(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory

"""Fine-tuning runs for the tests: toy data sets a tiny BERT learns in a few dozen steps, the
command line, and readers of what a run leaves in DIR.

Every word is in tests/tiny_bert.py's vocabulary, so nothing becomes [UNK]; seeded, so every run
trains on the same rows.
"""

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from app.cli import main

# Classification by topic: the label is decided by which words a text holds.
ZEBRA_WORDS = "dog cat bird horse river water fire night morning evening".split()
APPLE_WORDS = "Paris France London England Berlin Germany city country king queen".split()
FILLER = "the a of in on and is was".split()

# NER: places are LOC, "king"/"queen" are PER (two in a row: one two-word entity).
PLACES = "Paris France London England Berlin Germany".split()
PEOPLE = ["king", "queen"]
NER_FILLER = "the a of in on and is was saw went to from with".split()

QA_QUESTION = "where is the king ?"
QA_FILLER = "the a of in on and is was dog cat bird horse river water fire night morning".split()


def finetune(task: str, model: Path, output: Path, *arguments: str, **splits: Path) -> int:
    """`python -m app finetune TASK --train ... --output DIR` in fp32 with seed 0; the exit status."""
    files = [argument for split, path in splits.items() for argument in (f"--{split}", str(path))]
    command = ["finetune", task, "--model", str(model), "--output", str(output), *files]
    return main([*command, "--precision", "fp32", "--seed", "0", *arguments])


def last_trainer_state(output: Path) -> dict[str, Any]:
    """trainer_state.json of DIR's latest checkpoint."""
    checkpoints = sorted(
        (output / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
    )
    state: dict[str, Any] = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
    return state


def logged_losses(output: Path) -> list[float]:
    return [entry["loss"] for entry in last_trainer_state(output)["log_history"] if "loss" in entry]


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def topic_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """{"text", "label"}; the first two rows are "zebra" then "apple", so first-appearance order
    is the reverse of alphabetical."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        label = ("zebra", "apple")[index % 2] if index < 2 else rng.choice(("zebra", "apple"))
        words = rng.choices(ZEBRA_WORDS if label == "zebra" else APPLE_WORDS, k=3) + rng.choices(FILLER, k=3)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def tagged_sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """(tokens, IOB2 tags): filler words around a place and a person; the first sentence names its
    person first, so PER is the first entity type to appear."""
    rng = random.Random(seed)
    sentences = []
    for index in range(count):
        person = rng.sample(PEOPLE, k=rng.randint(1, 2))
        entities = [
            (person, ["B-PER", *["I-PER"] * (len(person) - 1)]),
            ([rng.choice(PLACES)], ["B-LOC"]),
        ]
        if index > 0:
            rng.shuffle(entities)
        tokens: list[str] = []
        tags: list[str] = []
        for words, entity_tags in entities:
            filler = rng.choices(NER_FILLER, k=rng.randint(1, 3))
            tokens += [*filler, *words]
            tags += [*["O"] * len(filler), *entity_tags]
        tokens.append(".")
        tags.append("O")
        sentences.append((tokens, tags))
    return sentences


def ner_rows(sentences: list[tuple[list[str], list[str]]]) -> list[dict[str, Any]]:
    return [{"tokens": tokens, "ner_tags_str": tags} for tokens, tags in sentences]


def iob2_to_iob1(tags: list[str]) -> list[str]:
    """The original CoNLL-2003 scheme: I- opens an entity; B- only right after one of its type."""
    converted, previous = [], "O"
    for tag in tags:
        continues_same_type = tag.startswith("B-") and previous[2:] == tag[2:] and previous != "O"
        converted.append(tag if continues_same_type or not tag.startswith("B-") else "I-" + tag[2:])
        previous = tag
    return converted


def conll_columns(sentences: list[tuple[list[str], list[str]]]) -> str:
    """An eng.train-style file: -DOCSTART-, then `token POS chunk IOB1-tag` lines, blank between."""
    lines = ["-DOCSTART- -X- -X- O", ""]
    for tokens, tags in sentences:
        lines += [f"{token} NN I-NP {tag}" for token, tag in zip(tokens, iob2_to_iob1(tags), strict=True)]
        lines.append("")
    return "\n".join(lines) + "\n"


def qa_rows(count: int, seed: int, min_words: int = 6, max_words: int = 14) -> list[dict[str, Any]]:
    """SQuAD-on-the-Hub rows: the answer is the one place in a context of filler words."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        before = rng.choices(QA_FILLER, k=rng.randint(min_words // 2, max_words // 2))
        after = rng.choices(QA_FILLER, k=rng.randint(min_words // 2, max_words // 2))
        place = rng.choice(PLACES)
        prefix = " ".join([*before, "the king is in"]) + " "
        context = prefix + " ".join([place, *after]) + " ."
        rows.append(
            {
                "id": f"q{index}",
                "question": QA_QUESTION,
                "context": context,
                "answers": {"text": [place], "answer_start": [len(prefix)]},
            }
        )
    return rows

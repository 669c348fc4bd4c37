"""Readers of labelled data: CoNLL columns (IOB1 → IOB2), SQuAD, labels as ids or names, NSP pairs."""

import json
from pathlib import Path

import pytest

from app.datasets.conll import iob1_to_iob2, load_tagged_sentences, read_conll_columns
from app.datasets.records import DatasetError
from app.datasets.sentence_pairs import build_sentence_pairs, read_documents
from app.datasets.squad import load_qa_examples, read_squad_json
from app.datasets.text_classification import load_labelled_texts
from tests.tiny_bert import CONLL_TAGS, EMOTION_LABELS

# IOB1 as in eng.testa: entities open with I-; B- only splits two adjacent entities of one type.
IOB1_COLUMNS = """-DOCSTART- -X- -X- O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O
. . O O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
Paul NNP I-NP B-PER
Smith NNP I-NP I-PER
met VBD I-VP O
New NNP I-NP I-LOC
York NNP I-NP I-LOC

-DOCSTART- -X- -X- O

BRUSSELS NNP I-NP I-LOC
"""


def test_iob1_column_file_is_read_as_iob2_sentences(tmp_path: Path) -> None:
    path = tmp_path / "eng.testa"
    path.write_text(IOB1_COLUMNS)
    sentences = read_conll_columns(path)
    assert [s.tokens for s in sentences] == [
        ["EU", "rejects", "German", "call", "."],
        ["Peter", "Blackburn", "Paul", "Smith", "met", "New", "York"],
        ["BRUSSELS"],
    ]
    assert [s.tags for s in sentences] == [
        ["B-ORG", "O", "B-MISC", "O", "O"],
        ["B-PER", "I-PER", "B-PER", "I-PER", "O", "B-LOC", "I-LOC"],
        ["B-LOC"],
    ]
    assert [s.row for s in sentences] == [3, 9, 19]  # lines where they start


def test_iob1_to_iob2_starts_entities_after_another_type_and_keeps_iob2() -> None:
    assert iob1_to_iob2(["I-PER", "I-ORG", "I-ORG", "O", "I-LOC"]) == [
        "B-PER",
        "B-ORG",
        "I-ORG",
        "O",
        "B-LOC",
    ]
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "I-LOC"]
    assert iob1_to_iob2(iob2) == iob2


def test_conll_rows_read_tag_names_when_present_else_ids(tmp_path: Path) -> None:
    path = tmp_path / "conll.jsonl"
    rows = [
        {"tokens": ["Peter", "met", "Paris"], "ner_tags": [1, 0, 5], "ner_tags_str": ["B-PER", "O", "B-LOC"]},
        {"tokens": ["London"], "ner_tags": [5]},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    # Names win: with a model whose id order differs, ids would mislabel every tag.
    reordered = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-MISC", "I-MISC"]
    sentences = load_tagged_sentences(path, reordered)
    assert sentences[0].tags == ["B-PER", "O", "B-LOC"]
    assert sentences[1].tags == ["B-ORG"]  # id 5 of the reordered labels
    assert load_tagged_sentences(path, CONLL_TAGS, tags_column="ner_tags")[0].tags == ["B-PER", "O", "B-LOC"]


def test_conll_row_with_more_tags_than_tokens_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "conll.jsonl"
    path.write_text(json.dumps({"tokens": ["Paris"], "ner_tags": [5, 0]}) + "\n")
    with pytest.raises(DatasetError, match=r"conll.jsonl row 1, field 'ner_tags': 2 tags for 1 tokens"):
        load_tagged_sentences(path, CONLL_TAGS)


def test_unknown_tag_in_a_column_file_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "eng.testa"
    path.write_text("Paris NNP I-NP I-LOC\nis VBZ I-VP I-GPE\n")
    with pytest.raises(DatasetError, match=r"eng.testa row 2, field 'NER tag \(last column\)'.*'B-GPE'"):
        load_tagged_sentences(path, CONLL_TAGS)


def test_integer_and_string_labels_name_the_same_model_labels(tmp_path: Path) -> None:
    jsonl = tmp_path / "emotion.jsonl"
    jsonl.write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "anger"}\n')
    csv = tmp_path / "emotion.csv"
    csv.write_text("sentence,feeling\nc,4\nd,surprise\n")
    assert [e.label for e in load_labelled_texts(jsonl, EMOTION_LABELS)] == ["joy", "anger"]
    from_csv = load_labelled_texts(csv, EMOTION_LABELS, text_column="sentence", label_column="feeling")
    assert [(e.text, e.label, e.row) for e in from_csv] == [("c", "fear", 1), ("d", "surprise", 2)]


@pytest.mark.parametrize(
    ("label", "message"),
    [
        (
            '"boredom"',
            r"emotion.jsonl row 2, field 'label': label 'boredom' is not one of the model's labels",
        ),
        ("6", r"emotion.jsonl row 2, field 'label': label id 6 is out of range; the model has 6 labels"),
    ],
)
def test_unknown_label_is_an_error_naming_file_row_and_field(
    tmp_path: Path, label: str, message: str
) -> None:
    path = tmp_path / "emotion.jsonl"
    path.write_text(f'{{"text": "a", "label": 0}}\n{{"text": "b", "label": {label}}}\n')
    with pytest.raises(DatasetError, match=message):
        load_labelled_texts(path, EMOTION_LABELS)


def test_missing_field_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "emotion.jsonl"
    path.write_text('{"sentence": "a", "label": 0}\n')
    with pytest.raises(DatasetError, match=r"emotion.jsonl row 1, field 'text': missing"):
        load_labelled_texts(path, EMOTION_LABELS)


SQUAD_OFFICIAL = {
    "version": "1.1",
    "data": [
        {
            "title": "Paris",
            "paragraphs": [
                {
                    "context": "Paris is the capital of France.",
                    "qas": [
                        {
                            "id": "q1",
                            "question": "What is Paris?",
                            "answers": [
                                {"text": "the capital of France", "answer_start": 9},
                                {"text": "capital", "answer_start": 13},
                            ],
                        },
                        {
                            "id": "q2",
                            "question": "Where is Paris?",
                            "answers": [{"text": "France", "answer_start": 24}],
                        },
                    ],
                }
            ],
        }
    ],
}


def test_squad_official_json_gives_one_example_per_question(tmp_path: Path) -> None:
    path = tmp_path / "dev-v1.1.json"
    path.write_text(json.dumps(SQUAD_OFFICIAL, indent=1))
    examples = read_squad_json(path)
    assert load_qa_examples(path) == examples
    assert [(e.id, e.question, e.title) for e in examples] == [
        ("q1", "What is Paris?", "Paris"),
        ("q2", "Where is Paris?", "Paris"),
    ]
    assert [(a.text, a.start) for a in examples[0].answers] == [("the capital of France", 9), ("capital", 13)]
    context = examples[1].context
    assert context[24 : 24 + len("France")] == "France"


def test_squad_rows_read_hub_answers_and_plain_lists(tmp_path: Path) -> None:
    path = tmp_path / "squad.jsonl"
    rows = [
        {
            "id": "a",
            "question": "q?",
            "context": "c",
            "answers": {"text": ["x", "y"], "answer_start": [0, 2]},
        },
        {"id": "b", "question": "q?", "context": "c", "answers": ["x"]},
        {"id": "c", "question": "q?", "context": "c", "answers": {"text": [], "answer_start": []}},
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    examples = load_qa_examples(path)
    assert [[(a.text, a.start) for a in e.answers] for e in examples] == [
        [("x", 0), ("y", 2)],
        [("x", None)],
        [],
    ]
    with pytest.raises(DatasetError, match=r"squad.jsonl row 1, field 'query': missing"):
        load_qa_examples(path, question_column="query")


def test_sentence_pairs_are_half_true_next_sentences_and_seeded(tmp_path: Path) -> None:
    path = tmp_path / "text.txt"
    sentences = [f"sentence {i} ." for i in range(21)]
    path.write_text("\n".join(sentences[:11]) + "\n\n" + "\n".join(sentences[11:]) + "\n")
    documents = read_documents(path)
    assert [len(d) for d in documents] == [11, 10]
    pairs = build_sentence_pairs(documents, seed=42)
    assert len(pairs) == 10 + 9  # no pair across the document break
    assert sum(p.is_next for p in pairs) == 10 and sum(not p.is_next for p in pairs) == 9
    following = {documents[d][i]: documents[d][i + 1] for d in range(2) for i in range(len(documents[d]) - 1)}
    for pair in pairs:
        assert (pair.second == following[pair.first]) == pair.is_next
        assert pair.second != pair.first
    assert build_sentence_pairs(documents, seed=42) == pairs
    assert build_sentence_pairs(documents, seed=7) != pairs

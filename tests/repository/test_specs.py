"""Which models a server serves and under which names: MODEL_ID alone as ever, `--model NAME=PATH`
(repeated), MODEL_REPOSITORY's subfolders; an adapter's base matched through links; wrong lists refused."""

import json
import re
from pathlib import Path

import pytest

from app.cli import build_parser, settings_from
from app.config import Settings
from app.errors import ModelLoadError
from app.repository.specs import model_specs


def adapter(folder: Path, base: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    return folder


def checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_one_model_keeps_its_name_and_flags_name_more() -> None:
    assert [
        (spec.name, spec.source.model)
        for spec in model_specs(Settings(model_id="google-bert/bert-base-cased"))
    ] == [("bert-base-cased", "google-bert/bert-base-cased")]
    one = settings_from(build_parser().parse_args(["serve", "--model", "./folder"]))
    assert (one.model_id, one.models) == ("./folder", [])
    many = settings_from(build_parser().parse_args(["serve", "--model", "a=./x", "--model", "b=./y"]))
    assert [(spec.name, spec.source.model) for spec in model_specs(many)] == [("a", "./x"), ("b", "./y")]


def test_a_repository_names_each_subfolder_and_an_adapter_shares_its_linked_base(tmp_path: Path) -> None:
    root = tmp_path / "models"
    base = checkpoint(root / "bert")
    (tmp_path / "elsewhere").symlink_to(base)  # the adapter names the base by another path
    adapter(root / "emotion", str(tmp_path / "elsewhere"))
    adapter(root / "hub-adapter", "bert-base-cased")
    (root / ".cache").mkdir()
    specs = {spec.name: spec for spec in model_specs(Settings(model_repository=root))}
    assert list(specs) == ["bert", "emotion", "hub-adapter"]  # hidden folders are not models
    assert specs["emotion"].adapter_base == str(tmp_path / "elsewhere")
    assert specs["emotion"].base_key == specs["bert"].base_key == str(base.resolve())
    assert specs["hub-adapter"].base_key == "bert-base-cased"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"models": ["a=./x", "a=./y"]}, "Two models are named a"),
        ({"models": ["=./x"]}, "give NAME=PATH"),
        ({"models": ["a=./x"], "default_model": "b"}, "DEFAULT_MODEL=b is none of the served models (a)"),
        ({"model_repository": "/no/such/folder"}, "is not a folder"),
    ],
)
def test_a_wrong_list_of_models_is_refused_saying_why(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ModelLoadError, match=re.escape(message)):
        model_specs(Settings(**settings))  # type: ignore[arg-type]


def test_models_from_the_environment_are_separated_by_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODELS", "a=./x, b=./y")
    assert Settings().models == ["a=./x", "b=./y"]

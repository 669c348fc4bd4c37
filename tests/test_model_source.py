import shutil
from pathlib import Path

import pytest

from app.config import DEFAULT_MODEL_ID, Settings
from app.model_source import ModelSource, find_checkpoint_dir, resolve_model_source
from app.tasks.checkpoint import load_fill_mask_model


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_model_id_wins_over_azureml_model_dir(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model")
    settings = Settings(model_id="my/model", azureml_model_dir=tmp_path)
    assert resolve_model_source(settings) == ModelSource("my/model", "my/model")


def test_azureml_model_dir_is_searched_for_the_shallowest_config(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "a" / "b" / "deep")
    shallow = _checkpoint(tmp_path / "bert-base-cased")
    assert resolve_model_source(Settings(azureml_model_dir=tmp_path)).model == str(shallow)


def test_azureml_model_dir_itself_may_hold_the_config(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model")
    assert find_checkpoint_dir(tmp_path / "model") == tmp_path / "model"


def test_falls_back_to_bert_base_cased(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert str(resolve_model_source(Settings())) == DEFAULT_MODEL_ID
    assert str(resolve_model_source(Settings(azureml_model_dir=tmp_path))) == DEFAULT_MODEL_ID
    assert "holds no config.json" in caplog.text


def test_settings_read_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_ID", "/models/bert")
    monkeypatch.setenv("PORT", "6001")
    monkeypatch.setenv("HOST", "127.0.0.1")
    settings = Settings()
    assert (settings.model_id, settings.port, settings.host) == ("/models/bert", 6001, "127.0.0.1")
    assert Settings(model_id=None).port == 6001


def test_azureml_mlflow_layout_loads_model_and_tokenizer_from_their_folders(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    """Azure's registry packaging: mlflow_model_folder/{model, components/tokenizer}."""
    mlflow_folder = tmp_path / "bert-base-cased" / "mlflow_model_folder"
    (mlflow_folder / "model").mkdir(parents=True)
    (mlflow_folder / "components" / "tokenizer").mkdir(parents=True)
    (mlflow_folder / "MLmodel").write_text("flavors: {}")
    for file in tiny_bert_dir.iterdir():
        is_tokenizer_file = file.name.startswith(("tokenizer", "vocab", "special_tokens"))
        target = mlflow_folder / ("components/tokenizer" if is_tokenizer_file else "model") / file.name
        shutil.copy(file, target)

    source = resolve_model_source(Settings(azureml_model_dir=tmp_path))
    assert source == ModelSource(
        str(mlflow_folder / "model"), str(mlflow_folder / "components" / "tokenizer")
    )
    loaded = load_fill_mask_model(source)
    reference = load_fill_mask_model(str(tiny_bert_dir))
    texts = ["the [MASK] sat on the dog .", "Paris is the [MASK] of France ."]
    assert loaded.predict(texts, top_k=3) == reference.predict(texts, top_k=3)

from pathlib import Path

import pytest

from app.config import DEFAULT_MODEL_ID, Settings
from app.model_source import find_checkpoint_dir, resolve_model_source


def _checkpoint(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return folder


def test_model_id_wins_over_azureml_model_dir(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model")
    settings = Settings(model_id="my/model", azureml_model_dir=tmp_path)
    assert resolve_model_source(settings) == "my/model"


def test_azureml_model_dir_is_searched_for_the_shallowest_config(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "a" / "b" / "deep")
    shallow = _checkpoint(tmp_path / "bert-base-cased")
    assert resolve_model_source(Settings(azureml_model_dir=tmp_path)) == str(shallow)


def test_azureml_model_dir_itself_may_hold_the_config(tmp_path: Path) -> None:
    _checkpoint(tmp_path / "model")
    assert find_checkpoint_dir(tmp_path / "model") == tmp_path / "model"


def test_falls_back_to_bert_base_cased(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_model_source(Settings()) == DEFAULT_MODEL_ID
    assert resolve_model_source(Settings(azureml_model_dir=tmp_path)) == DEFAULT_MODEL_ID
    assert "holds no config.json" in caplog.text


def test_settings_read_environment_twins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_ID", "/models/bert")
    monkeypatch.setenv("PORT", "6001")
    monkeypatch.setenv("HOST", "127.0.0.1")
    settings = Settings()
    assert (settings.model_id, settings.port, settings.host) == ("/models/bert", 6001, "127.0.0.1")
    assert Settings(model_id=None).port == 6001

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.config import DEFAULT_MODEL_ID, Settings
from app.errors import ModelLoadError
from app.model_source import ModelSource, find_checkpoint_dir, first_unreadable, resolve_model_source
from app.tasks.checkpoint import load_fill_mask_model, load_served_model


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


def _load_error_as_another_user(load: Callable[[], object]) -> tuple[int, str]:
    """The ModelLoadError that `load` raises for a user who is not the files' owner.

    As root (which reads everything) a forked child drops to nobody first; the check raises before
    any model work, so the child needs nothing it has not already imported."""
    if os.geteuid() != 0:
        with pytest.raises(ModelLoadError) as raised:
            load()
        return os.getuid(), raised.value.message
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report, never return into pytest
        message = "loaded: no error"
        try:
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            load()
        except ModelLoadError as error:
            message = error.message
        except BaseException as error:  # any other failure, shown in the assertion
            message = f"{type(error).__name__}: {error}"
        finally:
            os.write(write_end, message.encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    os.waitpid(pid, 0)
    return NOBODY, message


NOBODY = 65534


@pytest.fixture
def world_readable_checkpoint(tiny_bert_dir: Path) -> Iterator[Path]:
    """A copy of a tiny checkpoint outside pytest's private temp folders, readable by anyone."""
    folder = Path(tempfile.mkdtemp()) / "model"
    shutil.copytree(tiny_bert_dir, folder)
    for path in [folder.parent, folder, *folder.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    yield folder
    shutil.rmtree(folder.parent)


def test_an_unreadable_weights_file_is_named_with_the_uid(world_readable_checkpoint: Path) -> None:
    weights = next(world_readable_checkpoint.glob("*.safetensors"))
    weights.chmod(0o000 if os.geteuid() != 0 else 0o600)  # 0600: as save_pretrained writes it
    uid, message = _load_error_as_another_user(lambda: load_served_model(str(world_readable_checkpoint)))
    assert f"permission denied reading '{weights}' as uid {uid}" in message
    assert "chmod -R a+rX" in message


def test_an_unreadable_folder_is_named(world_readable_checkpoint: Path) -> None:
    world_readable_checkpoint.chmod(0o000 if os.geteuid() != 0 else 0o700)
    uid, message = _load_error_as_another_user(lambda: load_served_model(str(world_readable_checkpoint)))
    assert f"permission denied reading '{world_readable_checkpoint}' as uid {uid}" in message


def test_an_unreadable_azureml_model_dir_is_named_not_skipped(world_readable_checkpoint: Path) -> None:
    """Unchecked, the search for config.json skips what it cannot enter and falls back to the hub."""
    root = world_readable_checkpoint.parent
    world_readable_checkpoint.chmod(0o000 if os.geteuid() != 0 else 0o700)
    settings = Settings(azureml_model_dir=root)
    uid, message = _load_error_as_another_user(lambda: load_served_model(resolve_model_source(settings)))
    assert f"permission denied reading '{world_readable_checkpoint}' as uid {uid}" in message


def test_a_readable_checkpoint_passes_the_check(world_readable_checkpoint: Path) -> None:
    assert first_unreadable(world_readable_checkpoint) is None

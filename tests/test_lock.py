"""The lock files in requirements/ agree with pyproject.toml: what it declares is pinned, with hashes,
and nothing is pinned that no declaration brings in. `make lock` rewrites them."""

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.lock_files import parse_lock
from tests.paths import REPO_ROOT

ROOT = REPO_ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# The platform `make lock` resolves for (the image's): markers are evaluated for it.
LOCK_ENVIRONMENT = {"python_version": "3.11", "python_full_version": "3.11.0", "sys_platform": "linux"}

# Each lock file and the install sets it holds: project dependencies, extras, dependency groups.
LOCK_SETS: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...]]] = {
    "serve.txt": (True, (), ()),
    "train.txt": (True, ("train",), ()),
    "build.txt": (False, (), ("build",)),
    "dev.txt": (True, ("train", "dev"), ("build",)),
}


def declared(lock_name: str) -> list[Requirement]:
    with_dependencies, extras, groups = LOCK_SETS[lock_name]
    texts: list[str] = list(PROJECT["dependencies"]) if with_dependencies else []
    for extra in extras:
        texts += PROJECT["optional-dependencies"][extra]
    for group in groups:
        texts += PYPROJECT["dependency-groups"][group]
    requirements = [Requirement(text) for text in texts]
    return [r for r in requirements if r.marker is None or r.marker.evaluate(LOCK_ENVIRONMENT)]


def test_every_install_set_has_a_lock_file() -> None:
    extras = set(PROJECT["optional-dependencies"])
    groups = set(PYPROJECT["dependency-groups"])
    assert extras == {extra for _, e, _ in LOCK_SETS.values() for extra in e}
    assert groups == {group for _, _, g in LOCK_SETS.values() for group in g}
    assert sorted(path.name for path in (ROOT / "requirements").glob("*.txt")) == sorted(LOCK_SETS)


@pytest.mark.parametrize("lock_name", sorted(LOCK_SETS))
def test_lock_pins_every_declared_dependency(lock_name: str) -> None:
    pins = parse_lock(ROOT / "requirements" / lock_name)
    for requirement in declared(lock_name):
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"pyproject.toml declares {requirement} but {lock_name} does not pin it: make lock"
        )
        assert requirement.specifier.contains(pins[name].version, prereleases=True), (
            f"{lock_name} pins {name}=={pins[name].version}, outside pyproject.toml's {requirement}: "
            "make lock"
        )


@pytest.mark.parametrize("lock_name", sorted(LOCK_SETS))
def test_lock_pins_nothing_undeclared(lock_name: str) -> None:
    """A pin is there because pyproject.toml declares it, or because another pin needs it."""
    pins = parse_lock(ROOT / "requirements" / lock_name)
    direct = {canonicalize_name(r.name) for r in declared(lock_name)}
    for name, pin in pins.items():
        assert pin.hashes > 0, f"{lock_name}: {name} has no --hash"
        from_project = [via for via in pin.via if via.startswith(f"{PROJECT['name']} (pyproject.toml")]
        assert not from_project or name in direct, (
            f"{lock_name} pins {name} for pyproject.toml, which no longer declares it: make lock"
        )
    needed = set(direct)
    changed = True
    while changed:  # what the needed pins need, until nothing new
        changed = False
        for name, pin in pins.items():
            if name not in needed and any(canonicalize_name(via) in needed for via in pin.via):
                needed.add(name)
                changed = True
    assert set(pins) <= needed, f"{lock_name} pins what nothing declares: {sorted(set(pins) - needed)}"


@pytest.mark.parametrize("lock_name", sorted(set(LOCK_SETS) - {"dev.txt"}))
def test_every_lock_has_the_versions_ci_tests(lock_name: str) -> None:
    """CI installs dev.txt; the image's serve.txt and train.txt must run exactly those versions."""
    dev = parse_lock(ROOT / "requirements" / "dev.txt")
    pins = parse_lock(ROOT / "requirements" / lock_name)
    differing = {name: (str(pin.version), str(dev[name].version)) for name, pin in pins.items()
                 if name not in dev or dev[name].version != pin.version}  # fmt: skip
    assert not differing, f"{lock_name} differs from dev.txt: {differing}"


def test_serving_lock_holds_no_training_package() -> None:
    serve = parse_lock(ROOT / "requirements" / "serve.txt")
    training = {canonicalize_name(Requirement(t).name) for t in PROJECT["optional-dependencies"]["train"]}
    assert not training & set(serve), f"serve.txt pins training packages: {sorted(training & set(serve))}"

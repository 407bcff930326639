"""requirements.lock is current: it satisfies pyproject.toml, and the environment runs what it pins.

Both README commands install with ``-c requirements.lock``. These tests fail when a range in
pyproject.toml changes without re-locking (``bash scripts/lock.sh``), when a dependency is added
without a pin, or when the environment that runs the suite differs from the lock.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parents[1]
LOCK = REPO / "requirements.lock"


def _pins(text: str) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in text.splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _project_requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["test"]]
    return reqs


def _applies(req: Requirement, extras: tuple[str, ...] = ("",)) -> bool:
    if req.marker is None:
        return True
    return any(req.marker.evaluate({"extra": e}) for e in extras)


def test_pins_parse() -> None:
    assert _pins("a==1.0\n    # via x\nB_c==2.1 ; python_version >= '3'\n") == {
        "a": "1.0", "b-c": "2.1"}


def test_lock_satisfies_pyproject() -> None:
    pins = _pins(LOCK.read_text())
    assert len(pins) > 50, "requirements.lock looks empty"
    problems = []
    for req in _project_requirements():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name}: not pinned")
        elif not req.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{req.name}: pinned {pins[name]}, pyproject wants {req.specifier}")
    assert not problems, "re-run bash scripts/lock.sh: " + "; ".join(problems)


def test_environment_matches_lock() -> None:
    """Every package qidash (with the test extra) needs, transitively, is installed at its pin."""
    pins = _pins(LOCK.read_text())
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [
        (r.name, tuple(r.extras)) for r in _project_requirements() if _applies(r)]
    problems = []
    while todo:
        name, extras = todo.pop()
        key = canonicalize_name(name)
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: not installed")
            continue
        if key not in pins:
            problems.append(f"{name} {dist.version}: installed but not in the lock")
        elif dist.version != pins[key]:
            problems.append(f"{name}: installed {dist.version}, locked {pins[key]}")
        for raw in dist.requires or []:
            req = Requirement(raw)
            if _applies(req, ("", *extras)):
                todo.append((req.name, tuple(req.extras)))
    assert len(seen) > 50
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("script", ["demo.sh", "test.sh"])
def test_readme_commands_install_from_the_lock(script: str) -> None:
    body = (REPO / "scripts" / script).read_text()
    env = (REPO / "scripts" / "_env.sh").read_text()
    assert 'pip_install "${LOCK[@]}"' in body
    assert "LOCK=(-c requirements.lock)" in env


def test_marker_helper() -> None:
    req = Requirement("x; extra == 'test'")
    assert req.marker == Marker("extra == 'test'")
    assert _applies(req, ("", "test"))
    assert not _applies(req)

"""The three descriptions of the environment agree: pyproject.toml, environment.yml and the lock.

No conda channel is reachable where shopmig is built, so environment.yml cannot be checked by
solving it; instead every dependency it lists must be the one pyproject.toml declares (same name,
same version range), and the lock file must pin a version inside each range.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in ("notebooks", "dev", "bench"):
        reqs += project["optional-dependencies"][extra]
    return {canonicalize_name(r.name): r for r in map(Requirement, reqs)}


def _conda_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    specs = [d for d in env["dependencies"] if isinstance(d, str)]
    out = {}
    for spec in specs:
        req = Requirement(spec)
        if canonicalize_name(req.name) not in ("python", "pip"):
            out[canonicalize_name(req.name)] = req
    return out


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements-lock.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_environment_yml_lists_exactly_the_pyproject_dependencies() -> None:
    pyproject, conda = _pyproject_requirements(), _conda_requirements()
    assert sorted(conda) == sorted(pyproject)
    for name, req in pyproject.items():
        assert conda[name].specifier == req.specifier, name


def test_environment_yml_python_matches_requires_python() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(Requirement(d) for d in env["dependencies"] if str(d).startswith("python"))
    assert str(python.specifier) == project["requires-python"]


@pytest.mark.parametrize("name", sorted(_pyproject_requirements()))
def test_lock_pins_a_version_inside_each_range(name: str) -> None:
    pins = _lock()
    req = _pyproject_requirements()[name]
    assert name in pins, f"{name} is not pinned in requirements-lock.txt"
    assert req.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {req.specifier}"


def test_installed_versions_match_the_lock() -> None:
    """The environment running the tests is the one the notebook outputs were recorded with."""
    from importlib.metadata import version

    pins = _lock()
    for name in ("sqlalchemy", "alembic", "pandas", "numpy", "nbval", "ipykernel"):
        assert version(name) == pins[name], name

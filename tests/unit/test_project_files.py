"""pyproject.toml says what the requirements files install (the scripts install from those):
the project's dependencies are requirements.txt, its `dev` group is requirements-dev.txt."""

from __future__ import annotations

import pathlib
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def pins(path: pathlib.Path) -> list[str]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return sorted(line for line in lines if line and not line.startswith("-"))


def test_pyproject_lists_the_pins_of_the_requirements_files():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert sorted(project["project"]["dependencies"]) == pins(ROOT / "requirements.txt")
    assert sorted(project["dependency-groups"]["dev"]) == pins(ROOT / "requirements-dev.txt")


def test_the_version_is_written_once():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "chalicelib.version.VERSION"}

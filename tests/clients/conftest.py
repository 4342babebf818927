"""Clients generated from the OpenAPI document, as an API user would make them:
openapi-python-client (pinned in requirements-dev.txt) and openapi-typescript with
the TypeScript compiler (pinned in package.json / package-lock.json here, installed
into node_modules/ by `npm ci` on first use). A generator that prints anything but
its usual lines (a warning, a skipped schema or endpoint) fails the test."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import pathlib
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

HERE = pathlib.Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
INSTALLED_LOCK = NODE_MODULES / ".dangol-package-lock.sha256"
PYTHON_CLIENT = "dangol_client"


def document_file(folder: pathlib.Path) -> pathlib.Path:
    from chalicelib.api import openapi

    path = folder / "openapi.json"
    path.write_text(json.dumps(openapi.document(), ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def run(command: list[str], cwd: pathlib.Path) -> str:
    """Run a generator or compiler; its stdout and stderr together (it must succeed)."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"{' '.join(command)} failed ({done.returncode}):\n{output}"
    return output


def unexpected_lines(output: str, expected: list[str]) -> list[str]:
    """Every non-blank line of `output` that none of the `expected` patterns matches:
    a warning, a skipped part of the document, or anything else new."""
    return [
        line
        for line in output.splitlines()
        if line.strip() and not any(re.match(pattern, line) for pattern in expected)
    ]


@contextlib.contextmanager
def locked() -> Iterator[None]:
    """One `npm ci` at a time (pytest-xdist workers share this folder)."""
    with open(HERE / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def node_tools() -> pathlib.Path:
    """node_modules/.bin with the pinned openapi-typescript and tsc, `npm ci` when the
    lock file changed or nothing is installed (from the npm registry)."""
    npm = shutil.which("npm")
    assert npm is not None, "npm (Node.js 20) is needed for the TypeScript client test: apt-get install nodejs npm"
    want = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()
    with locked():
        if not INSTALLED_LOCK.exists() or INSTALLED_LOCK.read_text() != want:
            run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], HERE)
            INSTALLED_LOCK.write_text(want)
    return NODE_MODULES / ".bin"


@pytest.fixture(scope="session")
def python_client(tmp_path_factory):
    """(generator output, the generated package imported)."""
    folder = tmp_path_factory.mktemp("python-client")
    output = run(
        [
            str(pathlib.Path(sys.executable).parent / "openapi-python-client"),
            "generate",
            "--path",
            str(document_file(folder)),
            "--meta",
            "none",
            "--output-path",
            str(folder / PYTHON_CLIENT),
            "--config",
            str(HERE / "openapi-python-client.yaml"),
        ],
        folder,
    )
    sys.path.insert(0, str(folder))
    try:
        package = importlib.import_module(PYTHON_CLIENT)
    finally:
        sys.path.remove(str(folder))
    return output, package

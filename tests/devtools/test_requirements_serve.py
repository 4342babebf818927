"""The local service installs requirements-serve.lock only (scripts/serve.sh):
it must hold what the service imports, at the versions the tests run with."""

from __future__ import annotations

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# import name -> distribution name, where they differ
DISTRIBUTION = {
    "ulid": "python-ulid",
    "email_validator": "email-validator",
    "pydantic_core": "pydantic-core",
    "yaml": "pyyaml",
    "dateutil": "python-dateutil",
}


def pins(path: pathlib.Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0].strip().rstrip("\\").strip()
        if line and not line.startswith("-") and "==" in line:
            name, _, version = line.partition("==")
            found[re.sub(r"\[.*\]", "", name).strip().lower()] = version.strip()
    return found


def service_imports() -> set[str]:
    """Top-level third-party modules that the local service's own code imports."""
    files = [
        ROOT / "app.py",
        ROOT / "scripts" / "serve_local.py",
        *(ROOT / "chalicelib").rglob("*.py"),
        *(ROOT / "devtools").glob("*.py"),
    ]
    found = set()
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {
        name for name in found - {"chalicelib", "devtools", "app", "__future__"} if name not in sys.stdlib_module_names
    }


def test_the_service_lock_has_what_the_service_imports_at_the_tested_versions():
    lock = pins(ROOT / "requirements-serve.lock")
    wanted = {**pins(ROOT / "requirements.txt"), **pins(ROOT / "requirements-serve.txt")}
    tested = {**pins(ROOT / "requirements.txt"), **pins(ROOT / "requirements-dev.txt")}
    for name, version in wanted.items():
        assert lock.get(name) == version, f"{name}=={version}: run the uv pip compile in docs/local-service.md"
        if name in tested:
            assert tested[name] == version, f"{name}: {version} in the service's set, {tested[name]} in the tests'"
    for module in service_imports():
        assert DISTRIBUTION.get(module, module).lower().replace("_", "-") in lock, module
    text = (ROOT / "requirements-serve.lock").read_text()
    requirements = re.findall(r"^[A-Za-z0-9._-]+==\S+", text, re.MULTILINE)
    assert len(requirements) == len(lock) and text.count("--hash=sha256:") >= len(lock)

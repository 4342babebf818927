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


def devtools_imported_by(path: pathlib.Path) -> set[str]:
    """The devtools modules a file imports, at any depth of its code (lazy imports too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "devtools":
                names |= {alias.name for alias in node.names}
            elif node.module.startswith("devtools."):
                names.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            names |= {a.name.split(".")[1] for a in node.names if a.name.startswith("devtools.")}
    return names


def service_files() -> list[pathlib.Path]:
    """The files the local service runs: app.py, serve_local.py, all of chalicelib, and the
    devtools modules they import, followed from module to module (`chalice local --stage local`
    loads devtools/embedded_aws.py); test-only devtools modules are not among them."""
    roots = [ROOT / "app.py", ROOT / "scripts" / "serve_local.py", *(ROOT / "chalicelib").rglob("*.py")]
    seen: set[str] = {"embedded_aws"}
    todo = [*roots, ROOT / "devtools" / "embedded_aws.py"]
    while todo:
        for name in devtools_imported_by(todo.pop()) - seen:
            seen.add(name)
            todo.append(ROOT / "devtools" / f"{name}.py")
    return [*roots, *(ROOT / "devtools" / f"{name}.py" for name in sorted(seen))]


def service_imports() -> set[str]:
    """Top-level third-party modules that the local service's own code imports."""
    found = set()
    for path in service_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {
        name for name in found - {"chalicelib", "devtools", "app", "__future__"} if name not in sys.stdlib_module_names
    }


def test_the_service_loads_no_test_only_module():
    loaded = {path.name for path in service_files() if path.parent.name == "devtools"}
    assert "moto_patches.py" in loaded and "serial_moto.py" in loaded  # the probe saw the service
    assert loaded.isdisjoint({"moto_patch_sets.py", "memory_store.py", "memory_ledger.py", "faults.py"})


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

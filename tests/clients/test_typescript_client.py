"""TypeScript types from /openapi.json (openapi-typescript), without a warning, and
type-checked (`tsc --noEmit --strict`) with usage.ts, which reads the answers a
storefront gets by their schema names."""

from __future__ import annotations

import shutil

from tests.clients.conftest import HERE, document_file, node_tools, run, unexpected_lines

# openapi-typescript's usual lines: its name and version, then "🚀 input → output [time]"
USUAL = [r"^✨ openapi-typescript \d+\.\d+\.\d+$", r"^🚀 \S+ → \S+ \[[0-9.]+m?s\]$"]


def test_typescript_types_generate_without_warnings_and_type_check(tmp_path):
    tools = node_tools()
    # --default-non-nullable false: a field with a default may be absent from an answer
    # (a transaction shows only the fields it has), so it is optional, not required
    output = run(
        [
            str(tools / "openapi-typescript"),
            str(document_file(tmp_path)),
            "--output",
            str(tmp_path / "dangol.ts"),
            "--default-non-nullable",
            "false",
        ],
        tmp_path,
    )
    assert unexpected_lines(output, USUAL) == [], output
    generated = (tmp_path / "dangol.ts").read_text(encoding="utf-8")
    for name in ("Member", "MemberPage", "Program", "ProgramPreview", "Transfer", "TransferRules"):
        assert f"\n        {name}: {{" in generated, name
    shutil.copy(HERE / "usage.ts", tmp_path / "usage.ts")
    compiled = run(
        [
            str(tools / "tsc"),
            "--noEmit",
            "--strict",
            "--noUnusedLocals",
            "--target",
            "ES2022",
            "--module",
            "ES2022",
            "--moduleResolution",
            "bundler",
            "dangol.ts",
            "usage.ts",
        ],
        tmp_path,
    )
    assert compiled.strip() == ""

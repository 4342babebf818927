"""Measured figures in the docs are written by the benchmark scripts (devtools/doc_figures.py)."""

from __future__ import annotations

import datetime as dt
import pathlib
import re

import pytest

from devtools import doc_figures

ROOT = pathlib.Path(__file__).resolve().parents[2]
DAY = dt.date(2026, 12, 4)
DOC = """# Figures

Text before.

<!-- figures:round-trips -->
| old | hand-typed |
|---|---|
| 1 | 2 |
<!-- /figures:round-trips -->

Text after.
"""


def write(doc: pathlib.Path, markdown: str, name: str = "round-trips") -> None:
    doc_figures.write_block(
        doc, name, markdown, ".venv/bin/python scripts/benchmark.py --write-docs", day=DAY, where="2 cores"
    )


def test_write_block_replaces_the_block_under_a_line_naming_the_command_and_keeps_the_rest(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    write(doc, "| new | table |\n|---|---|\n| 3 | 4 |\n")
    assert doc.read_text() == (
        "# Figures\n\nText before.\n\n"
        "<!-- figures:round-trips -->\n"
        "_Written by `.venv/bin/python scripts/benchmark.py --write-docs` on 2026-12-04 (machine: 2 cores)._\n\n"
        "| new | table |\n|---|---|\n| 3 | 4 |\n"
        "<!-- /figures:round-trips -->\n\nText after.\n"
    )


def test_write_block_is_idempotent(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    write(doc, "| a |\n|---|\n| 1 |")
    once = doc.read_text()
    write(doc, "| a |\n|---|\n| 1 |")
    assert doc.read_text() == once
    write(doc, "| a |\n|---|\n| 2 |")  # new figures replace, never accumulate
    assert doc.read_text().count("<!-- figures:round-trips -->") == 1
    assert "| 1 |" not in doc.read_text() and "| 2 |" in doc.read_text()


@pytest.mark.parametrize(
    "text",
    [
        "# no markers\n",
        "<!-- figures:round-trips -->\nonly the opening\n",
        "only the closing\n<!-- /figures:round-trips -->\n",
        "<!-- /figures:round-trips -->\nclosed before opened\n<!-- figures:round-trips -->\n",
        DOC + DOC,  # twice
    ],
)
def test_write_block_refuses_a_doc_without_one_pair_of_markers_and_changes_nothing(tmp_path, text):
    doc = tmp_path / "doc.md"
    doc.write_text(text)
    with pytest.raises(doc_figures.FiguresBlockError, match="round-trips"):
        write(doc, "| a |\n|---|\n| 1 |")
    with pytest.raises(doc_figures.FiguresBlockError, match="round-trips"):
        doc_figures.require_block(doc, "round-trips")
    assert doc.read_text() == text


def test_another_block_name_is_not_a_match(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text(DOC)
    with pytest.raises(doc_figures.FiguresBlockError, match="figures:load"):
        write(doc, "x", name="load")
    assert doc.read_text() == DOC


def test_command_line_is_the_script_as_typed_from_the_repository_root():
    argv = [str(ROOT / "scripts" / "benchmark.py"), "--repeat", "5", "--write-docs"]
    assert doc_figures.command_line(argv) == ".venv/bin/python scripts/benchmark.py --repeat 5 --write-docs"


def test_every_figures_block_in_the_docs_has_a_script_that_writes_it():
    scripts = {path.name: path.read_text() for path in (ROOT / "scripts").glob("*.py")}
    blocks = {
        (doc.name, name) for doc in (ROOT / "docs").glob("*.md") for name in doc_figures.names_in(doc.read_text())
    }
    assert blocks, "no figures blocks in docs/"
    for doc, name in sorted(blocks):
        writers = [
            script
            for script, source in scripts.items()
            if "write_block" in source and re.search(rf"[\"']{re.escape(name)}[\"']", source) and f'"{doc}"' in source
        ]
        assert writers, f"docs/{doc}: no script writes <!-- figures:{name} -->"
        text = (ROOT / "docs" / doc).read_text()
        doc_figures.require_block(ROOT / "docs" / doc, name)  # exactly one well-ordered pair
        assert doc_figures.closing(name) in text

"""Measured figures in the docs, written by the benchmark scripts.

A doc marks each block of figures with a pair of comments:

    <!-- figures:round-trips -->
    ...written by scripts/benchmark.py --write-docs...
    <!-- /figures:round-trips -->

`write_block` replaces what is between them with the script's markdown, under
a first line saying which command wrote it, when, and on what machine. The
text outside the markers is the docs' own; a block is never edited by hand.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import shlex
import sys
from collections.abc import Sequence

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


class FiguresBlockError(ValueError):
    """The doc has no (or no single, well-ordered) pair of markers for the block."""


def opening(name: str) -> str:
    return f"<!-- figures:{name} -->"


def closing(name: str) -> str:
    return f"<!-- /figures:{name} -->"


def machine() -> str:
    cores = os.cpu_count() or 1
    text = f"{cores} core{'s' if cores != 1 else ''}"
    try:
        text += f", load average {os.getloadavg()[0]:.1f}"
    except OSError:  # not every platform has one
        pass
    return text


def header(command: str, day: dt.date, where: str) -> str:
    return f"_Written by `{command}` on {day.isoformat()} (machine: {where})._"


def replace_block(text: str, name: str, body: str) -> str:
    """`text` with the block `name` holding `body` (the markers kept)."""
    if not NAME.fullmatch(name):
        raise FiguresBlockError(f"block name {name!r}: use lower-case letters, digits and '-'")
    start, end = opening(name), closing(name)
    if text.count(start) != 1 or text.count(end) != 1:
        raise FiguresBlockError(
            f"the doc needs exactly one {start} and one {end} (found {text.count(start)} and {text.count(end)})"
        )
    head, rest = text.split(start)
    if end not in rest:
        raise FiguresBlockError(f"{end} comes before {start}")
    _, tail = rest.split(end)
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def require_block(doc: pathlib.Path, name: str) -> None:
    """Raise FiguresBlockError now, before a long run, when `doc` cannot take the block `name`."""
    doc = pathlib.Path(doc)
    try:
        replace_block(doc.read_text(encoding="utf-8"), name, "")
    except FiguresBlockError as error:
        raise FiguresBlockError(f"{doc}: {error}") from None


def write_block(
    doc: pathlib.Path,
    name: str,
    markdown: str,
    command: str,
    *,
    day: dt.date | None = None,
    where: str | None = None,
) -> None:
    """Replace the block `name` of `doc` with `markdown`, under a line naming `command`.

    Raises FiguresBlockError, changing nothing, when the doc lacks the markers.
    Writing the same figures again on the same day leaves the file as it was.
    """
    doc = pathlib.Path(doc)
    text = doc.read_text(encoding="utf-8")
    try:
        first = header(command, day or dt.date.today(), where or machine())
        new = replace_block(text, name, f"{first}\n\n{markdown.strip()}")
    except FiguresBlockError as error:
        raise FiguresBlockError(f"{doc}: {error}") from None
    if new != text:
        doc.write_text(new, encoding="utf-8")


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that ran this script, as a reader would type it from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = pathlib.Path(argv[0]).resolve()
    try:
        shown = str(script.relative_to(ROOT))
    except ValueError:
        shown = argv[0]
    return shlex.join([".venv/bin/python", shown, *argv[1:]])


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]], right: Sequence[int] = ()) -> str:
    """A markdown table; the columns numbered in `right` are right-aligned."""
    rule = ["---:" if i in right else "---" for i in range(len(columns))]

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(columns), "|" + "|".join(rule) + "|", *(line(row) for row in rows)])


def names_in(text: str) -> list[str]:
    """The block names a doc marks (a name is lower-case: `<!-- figures:NAME -->` in prose is not a block)."""
    return re.findall(r"<!-- figures:([a-z0-9][a-z0-9-]*) -->", text)

"""The analytics queries: written once in DuckDB's dialect (queries/*.sql), one text per engine.

`for_engine(name, "duckdb" | "athena")` is a query's text for that engine: DuckDB's is the source;
Athena's is sqlglot's transpilation of it (`sqlglot.transpile(text, read="duckdb",
write="athena")`), made at development time by devtools/analytics_sql.py into
queries/athena/*.sql, so the job function carries the text but never sqlglot (a test checks
every compiled file is current and parses in both dialects).
`render(name, engine, **parameters)` fills the `:name` placeholders with typed literals (dates,
timestamps, integers; never text), ready to run.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from pathlib import Path

QUERY_DIR = Path(__file__).with_name("queries")
COMPILED_DIR = QUERY_DIR / "athena"
ENGINES = ("duckdb", "athena")
SOURCE_DIALECT = "duckdb"
PLACEHOLDER = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)\b")


def names() -> list[str]:
    return sorted(path.stem for path in QUERY_DIR.glob("*.sql"))


@functools.cache
def source(name: str) -> str:
    path = QUERY_DIR / f"{name}.sql"
    if not path.is_file():
        raise KeyError(f"no query named {name!r}")
    return path.read_text(encoding="utf-8")


def _check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, not {engine!r}")


@functools.cache
def for_engine(name: str, engine: str) -> str:
    """The query's text for `engine` (placeholders left in)."""
    _check_engine(engine)
    if engine == SOURCE_DIALECT:
        return source(name)
    return (COMPILED_DIR / f"{name}.sql").read_text(encoding="utf-8")


def _code(text: str) -> str:
    """The text without its comments (placeholders named in a comment are no parameters)."""
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"--[^\n]*", " ", text)


def parameters(name: str) -> set[str]:
    """The `:name` placeholders the query uses."""
    return set(PLACEHOLDER.findall(_code(source(name))))


def literal(value: object) -> str:
    """A parameter as a typed SQL literal both engines read the same way."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(f"query parameters are dates, timestamps or integers, not {type(value).__name__}")


def render(name: str, engine: str, **values: object) -> str:
    """The query for `engine` with every placeholder replaced by its value's literal."""
    wanted = parameters(name)
    if set(values) != wanted:
        raise ValueError(f"query {name!r} takes {sorted(wanted)}, given {sorted(values)}")
    literals = {key: literal(value) for key, value in values.items()}
    text = _code(for_engine(name, engine))
    return PLACEHOLDER.sub(lambda match: literals[match.group(1)], text)


# The one-row `windows` table of a query over date windows (summary.sql), as both engines' texts spell it.
WINDOWS_ROW = re.compile(r"SELECT\s+0\s+AS\s+window_id,\s+:from_date\s+AS\s+from_date,\s+:to_date\s+AS\s+to_date")


def render_windows(name: str, engine: str, windows: list[tuple[dt.date, dt.date]], **values: object) -> str:
    """The query for `engine` over many date windows at once: its one-row `windows` table
    (`SELECT 0 AS window_id, :from_date AS from_date, :to_date AS to_date`) becomes one row
    per (from_date, to_date) of `windows`, window_id its position; the other placeholders are
    filled from `values` as `render` does."""
    if not windows:
        raise ValueError("at least one window")
    wanted = parameters(name) - {"from_date", "to_date"}
    if set(values) != wanted:
        raise ValueError(f"query {name!r} over windows takes {sorted(wanted)}, given {sorted(values)}")
    text = _code(for_engine(name, engine))
    rows = " UNION ALL ".join(
        f"SELECT {index} AS window_id, {literal(first)} AS from_date, {literal(last)} AS to_date"
        for index, (first, last) in enumerate(windows)
    )
    text, found = WINDOWS_ROW.subn(lambda _: rows, text)
    if found != 1:
        raise ValueError(f"query {name!r} has no one-row windows table")
    literals = {key: literal(value) for key, value in values.items()}
    return PLACEHOLDER.sub(lambda match: literals[match.group(1)], text)

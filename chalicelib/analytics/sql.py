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
    rows = " UNION ALL ".join(
        f"SELECT {index} AS window_id, {literal(first)} AS from_date, {literal(last)} AS to_date"
        for index, (first, last) in enumerate(windows)
    )
    return _render_table(name, engine, WINDOWS_ROW, rows, {"from_date", "to_date"}, values)


# The one-row `named` table of member_bought.sql (every category and sku), as both engines' texts spell it.
NAMED_ROW = re.compile(r"SELECT\s+TRUE\s+AS\s+every_value,\s+'category'\s+AS\s+field,\s+''\s+AS\s+value")
NAMED_FIELDS = ("category", "sku")


def text_literal(value: str) -> str:
    """A string as a SQL literal both engines read the same way (quotes doubled)."""
    if not isinstance(value, str) or "\x00" in value:
        raise TypeError("a text value is a string without NUL")
    return "'" + value.replace("'", "''") + "'"


def render_named(name: str, engine: str, named: list[tuple[str, str]], **values: object) -> str:
    """The query for `engine` with its one-row `named` table (every value) made the given
    (field, value) pairs, field "category" or "sku" (none: a row naming nothing)."""
    for field, _ in named:
        if field not in NAMED_FIELDS:
            raise ValueError(f"a named field is one of {NAMED_FIELDS}, not {field!r}")
    pairs = sorted(set(named)) or [("none", "")]
    rows = " UNION ALL ".join(
        f"SELECT FALSE AS every_value, {text_literal(field)} AS field, {text_literal(value)} AS value"
        for field, value in pairs
    )
    return _render_table(name, engine, NAMED_ROW, rows, set(), values)


# The one-row `campaigns` table of campaign_results.sql, as both engines' texts spell it.
CAMPAIGNS_ROW = re.compile(r"SELECT\s+''\s+AS\s+campaign_id,\s+:from_date\s+AS\s+from_date,\s+:to_date\s+AS\s+to_date")


def render_campaigns(name: str, engine: str, campaigns: list[tuple[str, dt.date, dt.date]], **values: object) -> str:
    """The query for `engine` with its one-row `campaigns` table made one row per
    (campaign_id, from_date, to_date) of `campaigns` (at least one)."""
    if not campaigns:
        raise ValueError("at least one campaign")
    rows = " UNION ALL ".join(
        f"SELECT {text_literal(campaign_id)} AS campaign_id, {literal(first)} AS from_date, {literal(last)} AS to_date"
        for campaign_id, first, last in campaigns
    )
    return _render_table(name, engine, CAMPAIGNS_ROW, rows, {"from_date", "to_date"}, values)


def _render_table(
    name: str, engine: str, row: re.Pattern, rows: str, replaced: set[str], values: dict[str, object]
) -> str:
    wanted = parameters(name) - replaced
    if set(values) != wanted:
        raise ValueError(f"query {name!r} takes {sorted(wanted)} here, given {sorted(values)}")
    text, found = row.subn(lambda _: rows, _code(for_engine(name, engine)))
    if found != 1:
        raise ValueError(f"query {name!r} has no such one-row table")
    literals = {key: literal(value) for key, value in values.items()}
    return PLACEHOLDER.sub(lambda match: literals[match.group(1)], text)

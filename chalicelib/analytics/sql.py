"""The analytics queries: written once in DuckDB's dialect (queries/*.sql), compiled per engine.

`for_engine(name, "duckdb" | "athena")` is a query's text for that engine (Athena's through
sqlglot's transpiler); `render(name, engine, **parameters)` fills its `:name` placeholders with
literals (dates, timestamps, integers; never text from a request), ready to run.
Imported by the analytics jobs only: the API function never loads sqlglot.
"""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

import sqlglot
from sqlglot import exp

QUERY_DIR = Path(__file__).with_name("queries")
ENGINES = ("duckdb", "athena")
SOURCE_DIALECT = "duckdb"


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
    (text,) = sqlglot.transpile(source(name), read=SOURCE_DIALECT, write=engine, pretty=True)
    return text


def parameters(name: str) -> set[str]:
    """The `:name` placeholders the query uses."""
    tree = sqlglot.parse_one(source(name), read=SOURCE_DIALECT)
    return {node.name for node in tree.find_all(exp.Placeholder)}


def _literal(value: object) -> exp.Expression:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("TIMESTAMP"))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))
    if isinstance(value, int) and not isinstance(value, bool):
        return exp.Literal.number(value)
    raise TypeError(f"query parameters are dates, timestamps or integers, not {type(value).__name__}")


def render(name: str, engine: str, **values: object) -> str:
    """The query for `engine` with every placeholder replaced by its value's literal."""
    _check_engine(engine)
    wanted = parameters(name)
    if set(values) != wanted:
        raise ValueError(f"query {name!r} takes {sorted(wanted)}, given {sorted(values)}")
    tree = sqlglot.parse_one(source(name), read=SOURCE_DIALECT)
    literals = {key: _literal(value) for key, value in values.items()}
    filled = tree.transform(lambda node: literals[node.name].copy() if isinstance(node, exp.Placeholder) else node)
    return filled.sql(dialect=engine, pretty=True)

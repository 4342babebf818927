"""Compile the analytics queries for Athena (development time; the Lambda never loads sqlglot).

The queries are written once, in DuckDB's dialect, in chalicelib/analytics/queries/*.sql;
their Athena text is sqlglot's transpilation, kept beside them in queries/athena/*.sql
(a test checks every file is what this produces):

    .venv/bin/python -m devtools.analytics_sql      # rewrite queries/athena/*.sql
"""

from __future__ import annotations

import sys

import sqlglot

from chalicelib.analytics import sql

HEADER = "-- Generated from ../{name}.sql by `python -m devtools.analytics_sql`: edit that file, not this one.\n"


def athena_text(name: str) -> str:
    """`sqlglot.transpile(text, read="duckdb", write="athena")` of the query, with its header."""
    (text,) = sqlglot.transpile(sql.source(name), read=sql.SOURCE_DIALECT, write="athena", pretty=True)
    return HEADER.format(name=name) + text + "\n"


def main() -> int:
    sql.COMPILED_DIR.mkdir(exist_ok=True)
    for name in sql.names():
        (sql.COMPILED_DIR / f"{name}.sql").write_text(athena_text(name), encoding="utf-8")
        print(f"{name}: {sql.COMPILED_DIR / (name + '.sql')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

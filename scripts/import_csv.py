"""Convert a CSV export of members into the JSON lines POST /imports takes (contract §25).

The CSV has a header row naming the columns as the line fields: member_id, name,
email, phone, birthday, opening_balance, opening_expires_at, lifetime_spend (any
order; only member_id and name are required). Empty cells are left out. Amounts
in won become integers: `5,000`, `₩5,000`, `5000원` and `5 000` are all 5000.
A value that is no whole number is written as it is, so that the import reports
it on its line. Every CSV record gives one line, in order (a blank record a
blank line), so line n of the output is record n after the header (line n + 1
of a CSV without quoted line breaks).

Usage:
    python scripts/import_csv.py members.csv > members.jsonl
    python scripts/import_csv.py members.csv -o members.jsonl --encoding cp949
Then POST {"format": "jsonl", "data": <the file>} to /imports (at most 5 MiB), or
upload it to the imports bucket under uploads/ and POST {"format": "jsonl", "s3_key"}.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Iterable, Iterator
from typing import Any

FIELDS = (
    "member_id",
    "name",
    "email",
    "phone",
    "birthday",
    "opening_balance",
    "opening_expires_at",
    "lifetime_spend",
)
WON_FIELDS = ("opening_balance", "lifetime_spend")
WON = re.compile(r"^[₩￦]?\s*([0-9][0-9,\s]*)\s*(원|KRW)?$", re.IGNORECASE)


class CsvHeaderError(ValueError):
    """The header row names a column that is no line field, or lacks member_id or name."""


def won(text: str) -> Any:
    """`5,000`, `₩5,000`, `5000원` -> 5000; anything else as it is (the import reports it)."""
    found = WON.match(text.strip())
    if not found:
        return text
    digits = re.sub(r"[,\s]", "", found.group(1))
    return int(digits)


def lines_of(rows: Iterable[list[str]]) -> Iterator[str]:
    """JSON lines of CSV rows (the first is the header)."""
    rows = iter(rows)
    header = [name.strip().lstrip("\ufeff") for name in next(rows, [])]
    unknown = [name for name in header if name not in FIELDS]
    if unknown:
        raise CsvHeaderError(f"unknown column {unknown[0]!r}; columns are {', '.join(FIELDS)}")
    missing = [name for name in ("member_id", "name") if name not in header]
    if missing:
        raise CsvHeaderError(f"the header has no {missing[0]!r} column")
    if len(set(header)) != len(header):
        raise CsvHeaderError("a column is named twice")
    for row in rows:
        if not any(cell.strip() for cell in row):
            yield ""
            continue
        line: dict[str, Any] = {}
        for name, cell in zip(header, row, strict=False):
            value = cell.strip()
            if value:
                line[name] = won(value) if name in WON_FIELDS else value
        yield json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def convert(text: str) -> str:
    return "".join(line + "\n" for line in lines_of(csv.reader(io.StringIO(text))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", help="the CSV export (header row first)")
    parser.add_argument("-o", "--output", help="the JSON lines file (default: standard output)")
    parser.add_argument("--encoding", default="utf-8-sig", help="the CSV's encoding (default utf-8, BOM or not)")
    args = parser.parse_args(argv)
    with open(args.csv, encoding=args.encoding, newline="") as source:
        try:
            converted = convert(source.read())
        except CsvHeaderError as error:
            print(f"import_csv: {error}", file=sys.stderr)
            return 2
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(converted)
    else:
        sys.stdout.write(converted)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time the §23 `recommendations` query on an in-memory DuckDB filled with synthetic facts.

    .venv/bin/python scripts/benchmark_recommendations_query.py --members 5000

Members enrolled 2026-06-01, each with 0-4 purchases of 1-3 items in 2027-01-01..2027-05-01,
skus drawn from 500 with a heavy-tailed (Pareto) popularity; as_of 2027-05-10. Prints the
query's time and the sizes (a timing, never a pass/fail test)."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import pathlib
import random
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.analytics import refresh  # noqa: E402
from chalicelib.analytics.engine import DuckDBEngine  # noqa: E402


def facts(members: int, seed: int) -> tuple[list, list, list]:
    rng = random.Random(seed)
    member_rows, transactions, items = [], [], []
    seq = 0
    for m in range(members):
        seq += 1
        enrolled = dt.datetime(2026, 6, 1, 3)
        member_rows.append(
            (f"M{m:06d}", 0, enrolled, enrolled.date(), "basic", 0, None, False, "active", f"{seq:040d}")
        )
    for m in range(members):
        for _ in range(rng.randint(0, 4)):
            seq += 1
            tx = f"T{seq:08d}"
            day = dt.date(2027, 1, 1) + dt.timedelta(days=rng.randint(0, 120))
            at = dt.datetime.combine(day, dt.time(3))
            transactions.append((tx, f"M{m:06d}", 0, "earn", 10, at, day, at, day, f"O{tx}", 1000, 0, f"{seq:040d}"))
            for line in range(rng.randint(1, 3)):
                sku = int(rng.paretovariate(1.2)) % 500
                items.append((tx, f"M{m:06d}", 0, day, line, f"SKU{sku:03d}", f"cat{sku % 7}", 100))
    return member_rows, transactions, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    engine = DuckDBEngine()
    tables = dict(zip(("members", "transactions", "earn_items"), facts(args.members, args.seed), strict=True))
    with tempfile.TemporaryDirectory() as folder:
        for table, rows in tables.items():
            path = pathlib.Path(folder) / f"{table}.csv"
            with path.open("w", newline="") as out:
                csv.writer(out).writerows(["" if v is None else v for v in row] for row in rows)
            engine.connection.execute(f"COPY {table} FROM '{path}' (HEADER false, NULLSTR '')")
    started = time.perf_counter()
    rows = refresh.run(
        engine,
        "recommendations",
        as_of_time=dt.datetime(2027, 5, 10, 3, tzinfo=dt.UTC),
        as_of_date=dt.date(2027, 5, 10),
        window_start=dt.date(2026, 5, 11),
    )
    elapsed = time.perf_counter() - started
    lists = refresh.recommendation_lists(rows)
    print(
        f"{args.members} members, {len(tables['transactions'])} purchases, {len(tables['earn_items'])} items: "
        f"{len(rows)} rows, {len(lists.members)} buyers' lists, cold list of {len(lists.cold)}; query {elapsed:.2f} s"
    )


if __name__ == "__main__":
    main()

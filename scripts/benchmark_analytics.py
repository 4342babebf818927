"""Analytics refresh at shop scale: the queries and computations of one `refresh_analytics`
on the embedded DuckDB engine, over a synthetic café of `--members` members and
`--purchases` purchases (defaults: 1,000,000 and 20,000,000).

    .venv/bin/python scripts/benchmark_analytics.py [--members N] [--purchases N]
        [--threads N] [--duckdb-memory SIZE] [--writers N] [--json] [--write-docs]

The facts are made by DuckDB itself (`range()`, `random()` after `setseed`) in a child
process, straight into the fact tables of a `DuckDBEngine` kept in a temporary file; the
measuring process opens that file, so its peak RSS is the refresh's, not the generator's:
- members enrolled over the 2 years before `as_of`, a few erased, some dormant;
- purchases (`earn`) of 1-3 café items (2 on average; categories and skus below), ~3%
  refunded (the earn's later row carries `refunded_amount`, plus a `reversal`), redeems,
  bonuses, expiries, and coupon events (issued / used / released).

The refresh is chalicelib/analytics/refresh.py's own `refresh()`, run on an engine without
`append` (so it reads the facts as they are, not a DynamoDB stream) and on `RecordingStore`,
a dict-backed stand-in for the table implementing just what results.py calls; every member
has a profile there (made on demand, not stored) so segment membership is written as on
AWS. Each query is timed (refresh.run is wrapped). Then 10,000 members (1%) get a new
purchase and the refresh runs again at the same `as_of`: what it writes to members is what
a day's change costs.

This prints numbers; it passes or fails nothing. The goals (docs/analytics-costs.md):
the full refresh at 1M members / 20M purchases in <= 120 s and <= 4 GB RSS on 2 cores, and
a second refresh after 1% of members changed writing to <= 2% of members.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pathlib
import pickle
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, Optional

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

AS_OF = dt.datetime(2027, 5, 10, 3, 0, 0, tzinfo=dt.UTC)
ENROL_DAYS = 730  # members enrolled over the 2 years before as_of
SEED = 0.42
CHANGED_SHARE = 0.01  # members given a new purchase before the second refresh
DOC = ROOT / "docs" / "analytics-costs.md"
BLOCK = "analytics-refresh"

# A café: (category, sku, price in won)
MENU = [
    ("coffee", "americano", 4500),
    ("coffee", "latte", 5000),
    ("coffee", "flat-white", 5200),
    ("coffee", "cold-brew", 5500),
    ("coffee", "espresso", 3800),
    ("coffee", "mocha", 5800),
    ("tea", "earl-grey", 4800),
    ("tea", "green-tea", 4500),
    ("tea", "chai-latte", 5500),
    ("bakery", "croissant", 3900),
    ("bakery", "scone", 3500),
    ("bakery", "bagel", 3600),
    ("bakery", "muffin", 3700),
    ("dessert", "cheesecake", 6500),
    ("dessert", "tiramisu", 7000),
    ("dessert", "macaron", 2500),
    ("sandwich", "blt", 7500),
    ("sandwich", "ham-cheese", 6900),
    ("sandwich", "veggie", 6800),
    ("beans", "house-blend-200g", 16000),
    ("beans", "single-origin-200g", 21000),
    ("merch", "tumbler", 25000),
    ("merch", "mug", 18000),
    ("juice", "orange", 6000),
]

# Segments the refresh evaluates for every member (the listing's rules).
SEGMENTS = {
    "big-spenders": [{"field": "clv", "op": "gte", "value": 400000}],
    "lapsing-regulars": [
        {"field": "recency_days", "op": "gt", "value": 60},
        {"field": "frequency", "op": "gte", "value": 3},
    ],
    "bean-buyers": [{"field": "bought_category", "op": "eq", "value": "beans"}],
    "champions": [{"field": "rfm_segment", "op": "eq", "value": "champions"}],
}


# -- generating the facts (child process) ------------------------------------------------
def utc_offset_hours() -> int:
    from chalicelib.domain.calendar import zone
    from chalicelib.ledger.programs import Program

    offset = AS_OF.astimezone(zone(Program().timezone)).utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds() // 3600)


def generate(path: str, members: int, purchases: int, threads: int) -> dict:
    """Fill the fact tables of a DuckDBEngine in the file `path`; returns row counts and timing."""
    from chalicelib.analytics.engine import DuckDBEngine

    started = time.perf_counter()
    engine = DuckDBEngine(path)
    con = engine.connection
    con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SELECT setseed({SEED})")
    tz = utc_offset_hours()
    as_of = AS_OF.replace(tzinfo=None).isoformat(sep=" ")
    span = ENROL_DAYS * 86400
    menu = ", ".join(f"({i}, '{c}', '{s}', {p})" for i, (c, s, p) in enumerate(MENU))
    con.execute(
        f"CREATE TEMP TABLE menu (n INTEGER, category VARCHAR, sku VARCHAR, price BIGINT); "
        f"INSERT INTO menu VALUES {menu}"
    )
    n_menu = len(MENU)

    def local_date(column: str) -> str:
        return f"CAST({column} + INTERVAL {tz} HOUR AS DATE)"

    # members: enrolment spread over 2 years (a member's time is a function of its number,
    # so purchases can be dated after it without a join)
    enrol = f"(TIMESTAMP '{as_of}' - INTERVAL {span} SECOND + to_seconds(((i * 2654435761) % {span - 3600})::BIGINT))"
    con.execute(f"""
        INSERT INTO members
        SELECT 'm' || lpad(i::VARCHAR, 8, '0'), 0, {enrol}, {local_date(enrol)},
            CASE WHEN r < 0.70 THEN 'bronze' WHEN r < 0.92 THEN 'silver' ELSE 'gold' END,
            (random() * 20000)::BIGINT, {enrol} + to_seconds((random() * {span // 2})::BIGINT),
            random() < 0.12, CASE WHEN random() < 0.002 THEN 'erased' ELSE 'active' END,
            lpad(i::VARCHAR, 24, '0')
        FROM (SELECT range AS i, random() AS r FROM range({members}))
    """)
    # purchases: members skewed (a few regulars buy a lot), dated between enrolment and as_of
    con.execute(f"""
        CREATE TEMP TABLE purchase AS
        SELECT p, m, e + to_seconds((random() * date_diff('second', e, TIMESTAMP '{as_of}' - INTERVAL 60 SECOND))::BIGINT) AS ts,
            1 + (random() * 3)::INTEGER % 3 AS items, random() AS refund
        FROM (
            SELECT p, m, TIMESTAMP '{as_of}' - INTERVAL {span} SECOND + to_seconds(((m * 2654435761) % {span - 3600})::BIGINT) AS e
            FROM (SELECT range AS p, least(({members} * pow(random(), 1.6))::BIGINT, {members - 1}) AS m FROM range({purchases}))
        )
    """)
    con.execute(f"""
        CREATE TEMP TABLE item AS
        SELECT p.p, p.m, p.ts, l.line, ((random() * {n_menu})::INTEGER % {n_menu}) AS n
        FROM purchase AS p, range(1, 4) AS l(line)
        WHERE l.line <= p.items
    """)
    con.execute(f"""
        INSERT INTO earn_items
        SELECT 't' || i.p, 'm' || lpad(i.m::VARCHAR, 8, '0'), 0, {local_date("i.ts")}, i.line, menu.sku, menu.category, menu.price
        FROM item AS i JOIN menu ON menu.n = i.n
    """)
    con.execute("""
        CREATE TEMP TABLE purchase_amount AS
        SELECT i.p, sum(menu.price) AS amount FROM item AS i JOIN menu ON menu.n = i.n GROUP BY i.p
    """)
    con.execute("DROP TABLE item")
    seq = "lpad(({base} + p.p)::VARCHAR, 24, '0')"
    earn_select = f"""
        SELECT 't' || p.p, 'm' || lpad(p.m::VARCHAR, 8, '0'), 0, 'earn', a.amount // 100,
            p.ts, {local_date("p.ts")}, p.ts, {local_date("p.ts")}, 'o' || p.p, a.amount, {{refunded}},
            {{seq}}
        FROM purchase AS p JOIN purchase_amount AS a ON a.p = p.p
    """
    con.execute("INSERT INTO transactions " + earn_select.format(refunded="0", seq=seq.format(base=10**12)))
    # ~3% refunded: the earn's later row, and the reversal's own
    refunded = "CASE WHEN p.refund < 0.015 THEN a.amount ELSE a.amount // 2 END"
    con.execute(
        "INSERT INTO transactions "
        + earn_select.format(refunded=refunded, seq=seq.format(base=10**14))
        + " WHERE p.refund < 0.03"
    )
    con.execute(f"""
        INSERT INTO transactions
        SELECT 'r' || p.p, 'm' || lpad(p.m::VARCHAR, 8, '0'), 0, 'reversal', -(({refunded}) // 100),
            p.ts + INTERVAL 2 DAY, {local_date("p.ts + INTERVAL 2 DAY")}, NULL, NULL, 'o' || p.p, NULL, NULL,
            {seq.format(base=10**14)}
        FROM purchase AS p JOIN purchase_amount AS a ON a.p = p.p
        WHERE p.refund < 0.03 AND p.ts + INTERVAL 2 DAY < TIMESTAMP '{as_of}'
    """)
    # redeems (1 per 20 purchases), bonuses and expiries (per member)
    for prefix, kind, count, points in (
        ("d", "redeem", purchases // 20, "-(500 + (random() * 30)::INTEGER * 100)"),
        ("b", "bonus", members // 2, "(1 + (random() * 10)::INTEGER) * 100"),
        ("x", "expire", members // 3, "-(10 + (random() * 500)::INTEGER)"),
    ):
        con.execute(f"""
            INSERT INTO transactions
            SELECT '{prefix}' || p, 'm' || lpad(m::VARCHAR, 8, '0'), 0, '{kind}', {points},
                ts, {local_date("ts")}, NULL, NULL, NULL, NULL, NULL, {seq.format(base=2 * 10**14)}
            FROM (
                SELECT range AS p, m, e + to_seconds((random() * date_diff('second', e, TIMESTAMP '{as_of}' - INTERVAL 60 SECOND))::BIGINT) AS ts
                FROM (
                    SELECT range, m, TIMESTAMP '{as_of}' - INTERVAL {span} SECOND + to_seconds(((m * 2654435761) % {span - 3600})::BIGINT) AS e
                    FROM (SELECT range, (random() * {members})::BIGINT % {members} AS m FROM range({count}))
                )
            ) AS p
        """)
    # coupons: 2 issued per member on average, 40% used, 1 in 20 of those released again
    con.execute(f"""
        CREATE TEMP TABLE coupon AS
        SELECT range AS c, (random() * {members})::BIGINT % {members} AS m,
            TIMESTAMP '{as_of}' - to_seconds((random() * {span})::BIGINT) AS ts, random() AS fate
        FROM range({2 * members})
    """)
    for event, where, delay, base in (
        ("issued", "true", 0, 3 * 10**14),
        ("used", "fate < 0.40", 3, 4 * 10**14),
        ("released", "fate < 0.02", 4, 5 * 10**14),
    ):
        at = f"(ts + INTERVAL {delay} DAY)"
        con.execute(f"""
            INSERT INTO coupon_events
            SELECT 'c' || c, 'm' || lpad(m::VARCHAR, 8, '0'), 0, '{event}', {at}, {local_date(at)},
                lpad(({base} + c)::VARCHAR, 24, '0')
            FROM coupon WHERE {where} AND {at} < TIMESTAMP '{as_of}'
        """)
    for temp in ("coupon", "purchase", "purchase_amount", "menu"):
        con.execute(f"DROP TABLE {temp}")
    con.execute("CHECKPOINT")
    counts = {
        table: con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("members", "transactions", "earn_items", "coupon_events")
    }
    engine.close()
    return {"rows": counts, "generate_seconds": round(time.perf_counter() - started, 1)}


def table_sizes(con: Any) -> dict[str, dict[str, int]]:
    """Bytes per column of each fact table as DuckDB stores them (compressed segments)."""
    sizes: dict[str, dict[str, int]] = {}
    (block_size,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchone()
    for table in ("members", "transactions", "earn_items", "coupon_events"):
        # a segment's bytes: up to the next segment in its block (or the block's end), plus
        # the whole blocks it continues into
        found = con.execute(f"""
            SELECT column_name, sum(coalesce(next_offset, {block_size}) - block_offset
                + {block_size} * coalesce(len(additional_block_ids), 0))
            FROM (
                SELECT column_name, block_offset, additional_block_ids,
                    lead(block_offset) OVER (PARTITION BY block_id ORDER BY block_offset) AS next_offset
                FROM pragma_storage_info('{table}')
                WHERE persistent AND block_id >= 0
            )
            GROUP BY column_name
        """).fetchall()
        sizes[table] = {name: int(size) for name, size in found}
    return sizes


# -- the store stand-in ----------------------------------------------------------------
class RecordingClient:
    """The low-level calls results.py makes on `store.client`."""

    def __init__(self, store: RecordingStore):
        self.store = store

    def batch_get_item(self, RequestItems: dict) -> dict:  # noqa: N803 (boto3's name)
        (table, request) = next(iter(RequestItems.items()))
        names = request.get("ExpressionAttributeNames") or {}
        projection = request.get("ProjectionExpression")
        wanted = None if projection is None else {names.get(n.strip(), n.strip()) for n in projection.split(",")}
        found = []
        item_keys = [(key["pk"]["S"], key["sk"]["S"]) for key in request["Keys"]]
        stored = self.store.load_many(item_keys)
        for pk, sk in item_keys:
            attrs = stored.get((pk, sk))
            if attrs is None and sk == "PROFILE" and pk.startswith("MEMBER#"):
                attrs = self.store.profile_attrs(pk)
            if attrs is not None:  # as DynamoDB answers: only the attributes projected
                found.append(attrs if wanted is None else {k: v for k, v in attrs.items() if k in wanted})
        return {"Responses": {table: found}, "UnprocessedKeys": {}}

    def delete_item(self, TableName: str, Key: dict) -> dict:  # noqa: N803
        self.store.delete(Key["pk"]["S"], Key["sk"]["S"])
        return {}

    def batch_write_item(self, RequestItems: dict) -> dict:  # noqa: N803
        (requests,) = RequestItems.values()
        puts = [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
        deletes = [r["DeleteRequest"]["Key"] for r in requests if "DeleteRequest" in r]
        self.store.save_attrs(puts)
        self.store.delete_keys([(key["pk"]["S"], key["sk"]["S"]) for key in deletes])
        with self.store.lock:
            self.store.writes["batch_write_requests"] += 1
        return {"UnprocessedItems": {}}


class RecordingStore:
    """A stand-in for the table, implementing what the refresh calls (get, put, update_if,
    query_all, client.batch_get_item, client.batch_write_item, client.delete_item). Every member in `members` has a
    profile of generation 0 with no segments until the refresh sets some; profiles are made on
    demand, not stored. Writes are counted by kind of item.

    The items are kept as attribute values (what the client is sent, as DynamoDB keeps them),
    pickled in an SQLite file (`path`) beside the facts, not in this process's memory: on AWS
    DynamoDB holds them, so the refresh's peak RSS must not include them (at 1M members the
    first refresh writes 4.2M items: ~2 GB as Python objects). Its CPU (pickling, SQLite) stays
    in the refresh's figures, standing in for the requests' own; the product's conversions to
    and from attribute values (`to_attrs`, `from_attrs`) are counted where the product makes
    them, as on AWS."""

    table = "dangol-benchmark"

    def __init__(self, member_ids: set[str], path: str = ":memory:"):
        import sqlite3

        from chalicelib.storage import repository as keys

        self.keys = keys
        self.member_ids = member_ids
        self.db = sqlite3.connect(path, check_same_thread=False)  # the refresh's senders write too
        self.lock = threading.Lock()
        self.db.execute("PRAGMA journal_mode = OFF")
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("PRAGMA cache_size = -32768")  # 32 MB of pages
        self.db.execute("CREATE TABLE items (pk TEXT, sk TEXT, v BLOB, PRIMARY KEY (pk, sk)) WITHOUT ROWID")
        self.client = RecordingClient(self)
        self.writes: Counter = Counter()

    def profile(self, pk: str) -> Optional[dict]:
        """The profile a member in `members` has before the refresh writes one (not stored)."""
        member_id = pk[len("MEMBER#") :]
        if member_id not in self.member_ids:
            return None
        return {"pk": pk, "sk": "PROFILE", "member_id": member_id, "generation": 0, "version": 1, "segments": []}

    def profile_attrs(self, pk: str) -> Optional[dict]:
        """`profile` as attribute values (as DynamoDB keeps it)."""
        member_id = pk[len("MEMBER#") :]
        if member_id not in self.member_ids:
            return None
        return {
            "pk": {"S": pk},
            "sk": {"S": "PROFILE"},
            "member_id": {"S": member_id},
            "generation": {"N": "0"},
            "version": {"N": "1"},
            "segments": {"L": []},
        }

    # items are kept as DynamoDB keeps them: attribute values (what the client is sent)
    def load_attrs(self, pk: str, sk: str) -> Optional[dict]:
        with self.lock:
            found = self.db.execute("SELECT v FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
        return None if found is None else pickle.loads(found[0])

    def load_many(self, item_keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict]:
        """The stored attribute values of those of `item_keys` that are stored (one SELECT)."""
        if not item_keys:
            return {}
        wanted = " OR ".join("(pk = ? AND sk = ?)" for _ in item_keys)  # a key lookup each
        values = [part for key in item_keys for part in key]
        with self.lock:
            found = self.db.execute(f"SELECT pk, sk, v FROM items WHERE {wanted}", values).fetchall()
        return {(pk, sk): pickle.loads(blob) for pk, sk, blob in found}

    def save_attrs(self, items: list[dict]) -> None:
        rows = [(i["pk"]["S"], i["sk"]["S"], pickle.dumps(i, protocol=pickle.HIGHEST_PROTOCOL)) for i in items]
        with self.lock:
            if len(rows) == 1:  # an UpdateItem's item
                self.db.execute("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows[0])
            else:
                self.db.executemany("INSERT OR REPLACE INTO items VALUES (?, ?, ?)", rows)
            self.writes["put"] += len(items)

    def delete_keys(self, item_keys: list[tuple[str, str]]) -> None:
        with self.lock:
            self.db.executemany("DELETE FROM items WHERE pk = ? AND sk = ?", item_keys)
            self.writes["delete"] += len(item_keys)

    def get(self, pk: str, sk: str, consistent: bool = True) -> Optional[dict]:
        from chalicelib.storage.store import from_attrs

        found = self.load_attrs(pk, sk)
        if found is None and sk == "PROFILE" and pk.startswith("MEMBER#"):
            return self.profile(pk)
        return None if found is None else from_attrs(found)

    def put(self, item: dict, condition: Optional[str] = None) -> bool:
        from chalicelib.storage.store import to_attrs

        if condition:
            raise NotImplementedError("the refresh makes no conditional put")
        self.save_attrs([to_attrs(item)])
        return True

    def delete(self, pk: str, sk: str) -> None:
        self.delete_keys([(pk, sk)])

    def update_if(
        self,
        pk: str,
        sk: str,
        expression: str,
        names: dict,
        values: Optional[dict] = None,
        condition: Optional[str] = None,
    ) -> bool:
        """`Store.update_if`: nothing read back (ReturnValues NONE)."""
        return self.apply_update(pk, sk, expression, names, values or {}) is not None

    def apply_update(self, pk: str, sk: str, expression: str, names: dict, values: dict) -> Optional[dict]:
        """The two updates the refresh makes, applied to the stored attribute values (as
        DynamoDB applies an UpdateItem: the caller sends only the expression and values);
        the new item's attribute values, None when its condition fails."""
        from chalicelib.storage.store import to_attrs

        # what Store.update sends (its CPU counted, as on AWS)
        to_attrs({"pk": pk, "sk": sk})
        to_attrs(values)
        attrs = self.load_attrs(pk, sk)
        if attrs is None and sk == "PROFILE" and pk.startswith("MEMBER#"):
            attrs = self.profile_attrs(pk)
        if attrs is None:
            return None  # every condition the refresh uses asks for attribute_exists(#pk)
        attrs = dict(attrs)
        if names.get("#s") == "segments":  # results.set_profile_segments
            if int(attrs.get("generation", {"N": "0"})["N"]) != values[":g"]:
                return None
            erased = attrs.get("erased", {}).get("BOOL", False)
            if ":true" in values and not (erased and attrs.get("segments", {}).get("L")):
                return None
            attrs["segments"] = {"L": [{"S": segment} for segment in values[":s"]]}
            attrs["version"] = {"N": str(int(attrs.get("version", {"N": "0"})["N"]) + 1)}
        elif names.get("#m") == "members":  # results.set_segment_figures
            attrs.update(members={"N": str(values[":m"])}, avg_clv={"N": str(values[":c"])}, as_of={"S": values[":t"]})
        else:
            raise NotImplementedError(f"update {expression!r}")
        self.save_attrs([attrs])
        with self.lock:
            self.writes["put"] -= 1
            self.writes["update"] += 1
        return attrs

    def query_all(self, pk: str, prefix: str = "") -> list[dict]:
        from chalicelib.storage.store import from_attrs

        if pk.startswith("MEMBER#"):
            raise NotImplementedError("the refresh queries no member partition")
        found = self.db.execute("SELECT sk, v FROM items WHERE pk = ? AND sk >= ? ORDER BY sk", (pk, prefix))
        items = []
        for sk, blob in found:
            if not sk.startswith(prefix):
                break
            items.append(from_attrs(pickle.loads(blob)))
        return items


class FactsEngine:
    """The DuckDB engine as the refresh sees it on AWS: it only answers queries (no `append`,
    so the refresh does not try to read a DynamoDB stream into it)."""

    dialect = "duckdb"

    def __init__(self, engine: Any):
        self.engine = engine

    def query(self, text: str) -> list[dict]:
        return self.engine.query(text)

    def submit(self, text: str, beside: bool = False) -> Any:
        return self.engine.submit(text, beside=beside)


# -- measuring ------------------------------------------------------------------------
def cpu_seconds() -> float:
    """User + system CPU time of this process (DuckDB's threads included): on a shared machine
    a steadier figure than wall time, which the other processes' load stretches."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    """The process's peak RSS in MiB (2**20 bytes: the docs' tables say MiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return round(kib / 1024, 1)


def timed_refresh(engine: Any, store: RecordingStore, writers: int = 1) -> dict:
    from chalicelib.analytics import refresh as refresh_module

    original = refresh_module.run
    timings: list[dict] = []

    def run(engine_: Any, name: str, **values: object) -> list[dict]:
        started = time.perf_counter()
        rows = original(engine_, name, **values)
        label = name
        if name == "summary":
            label = f"summary {values['from_date']}..{values['to_date']}"
        timings.append({"query": label, "seconds": round(time.perf_counter() - started, 3), "rows": len(rows)})
        return rows

    def timed_beside(label: str, started: float, rows: Any, fewer_threads: bool = False) -> Any:
        threads = "one DuckDB thread fewer, leaving the Python work a core" if fewer_threads else "every DuckDB thread"

        def timed_rows() -> Iterator[dict]:
            reading, count = time.perf_counter(), 0
            for row in rows():
                count += 1
                yield row
            timings.append(
                {
                    "query": f"{label} (started at once, run in turn beside the refresh's own work with {threads}; seconds: from its start to its rows read)",
                    "seconds": round(time.perf_counter() - started, 3),
                    "reading_seconds": round(time.perf_counter() - reading, 3),
                    "rows": count,
                    "beside": True,
                }
            )

        return timed_rows

    original_ahead = refresh_module.run_ahead
    original_windows_ahead = refresh_module.run_windows_ahead

    def run_ahead(engine_: Any, name: str, beside: bool = False, **values: object) -> Any:
        started = time.perf_counter()
        return timed_beside(name, started, original_ahead(engine_, name, beside, **values), beside)

    original_named_ahead = refresh_module.run_named_ahead

    def run_named_ahead(engine_: Any, name: str, named: list, **values: object) -> Any:
        started = time.perf_counter()
        return timed_beside(
            f"{name} ({len(named)} named values)", started, original_named_ahead(engine_, name, named, **values)
        )

    def run_windows_ahead(engine_: Any, name: str, windows: list, **values: object) -> Any:
        started = time.perf_counter()
        rows = original_windows_ahead(engine_, name, windows, **values)
        return timed_beside(f"{name} ({len(windows) - 4} months + 4 day windows, one query)", started, rows, True)

    refresh_module.run = run
    refresh_module.run_ahead = run_ahead
    refresh_module.run_windows_ahead = run_windows_ahead
    refresh_module.run_named_ahead = run_named_ahead
    try:
        started, cpu_started, load = time.perf_counter(), cpu_seconds(), os.getloadavg()[0]
        report = refresh_module.refresh(FactsEngine(engine), store, AS_OF, writers)
        total, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    finally:
        refresh_module.run = original
        refresh_module.run_ahead = original_ahead
        refresh_module.run_windows_ahead = original_windows_ahead
        refresh_module.run_named_ahead = original_named_ahead
    # a query run beside other work counts only the time spent reading its rows (the rest
    # overlapped the refresh's own work, which is counted where it happened)
    query_seconds = sum(t.get("reading_seconds", t["seconds"]) for t in timings)
    return {
        "seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2),
        "load_average": f"{load:.1f} → {os.getloadavg()[0]:.1f}",
        "query_seconds": round(query_seconds, 2),
        "compute_and_store_seconds": round(total - query_seconds, 2),
        "queries": timings,
        "member_writes": report["member_writes"],
        "batch_write_requests": report.get("batch_write_requests", 0),
        "writes": report["writes"],
        "rescored_not_rewritten": report.get("rescored_not_rewritten", 0),
        "recommendations_reordered": report.get("recommendations_reordered", 0),
        "recommendations_rescored": report.get("recommendations_rescored", 0),
        "peak_rss_mb": peak_rss_mb(),
    }


def change_members(con: Any, members: int, share: float) -> int:
    """A new purchase (two items) for `share` of the members, dated the day before as_of, and
    their profile's new row (balance up). Returns how many members changed."""
    changed = max(1, int(members * share))
    as_of = AS_OF.replace(tzinfo=None).isoformat(sep=" ")
    at = f"TIMESTAMP '{as_of}' - INTERVAL 1 DAY"
    tz = utc_offset_hours()
    day = f"CAST({at} + INTERVAL {tz} HOUR AS DATE)"
    con.execute(f"SELECT setseed({SEED / 2})")
    con.execute(f"""
        CREATE TEMP TABLE changed AS
        SELECT row_number() OVER () AS n, member_id
        FROM (SELECT DISTINCT member_id FROM members WHERE status <> 'erased')
        USING SAMPLE reservoir({changed} ROWS) REPEATABLE (7)
    """)
    con.execute(f"""
        INSERT INTO transactions
        SELECT 'tn' || n, member_id, 0, 'earn', 95, {at}, {day}, {at}, {day}, 'on' || n, 9500, 0,
            lpad(({9 * 10**14} + n)::VARCHAR, 24, '0')
        FROM changed
    """)
    con.execute(f"""
        INSERT INTO earn_items
        SELECT 'tn' || n, member_id, 0, {day}, line,
            CASE line WHEN 1 THEN 'latte' ELSE 'croissant' END,
            CASE line WHEN 1 THEN 'coffee' ELSE 'bakery' END,
            CASE line WHEN 1 THEN 5000 ELSE 4500 END
        FROM changed, range(1, 3) AS l(line)
    """)
    con.execute(f"""
        INSERT INTO members
        SELECT m.member_id, m.generation, m.enrolled_at, m.enrolled_date, m.tier, m.balance + 95,
            {at}, false, m.status, lpad(({9 * 10**14} + c.n)::VARCHAR, 24, '0')
        FROM changed AS c
        JOIN (SELECT * FROM members QUALIFY row_number() OVER (PARTITION BY member_id ORDER BY seq DESC) = 1) AS m
            ON m.member_id = c.member_id
    """)
    (count,) = con.execute("SELECT count(*) FROM changed").fetchone()
    con.execute("DROP TABLE changed")
    return int(count)


def measure(members: int, purchases: int, threads: int, memory_limit: Optional[str] = None, writers: int = 1) -> dict:
    from chalicelib.analytics.engine import DuckDBEngine
    from chalicelib.storage import repository as keys

    with tempfile.TemporaryDirectory(prefix="dangol-analytics-") as folder:
        path = os.path.join(folder, "facts.duckdb")
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--generate-into",
                path,
                "--members",
                str(members),
                "--purchases",
                str(purchases),
                "--threads",
                str(threads),
            ],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
        generated = json.loads(child.stdout)
        engine = DuckDBEngine(path)
        con = engine.connection
        con.execute(f"SET threads = {threads}")
        if memory_limit:  # DuckDB spills what is over it to its temporary directory
            con.execute("SET memory_limit = ?", [memory_limit])
        sizes = table_sizes(con)
        file_mb = round(os.path.getsize(path) / 2**20, 1)
        member_ids = {row[0] for row in con.execute("SELECT DISTINCT member_id FROM members").fetchall()}
        store = RecordingStore(member_ids, os.path.join(folder, "table.sqlite"))
        for segment_id, rules in SEGMENTS.items():
            pk, sk = keys.segment_listing_key(segment_id)
            store.put({"pk": pk, "sk": sk, "segment_id": segment_id, "rules": rules})
        del member_ids
        os.sync()  # the generated facts' file is on disk: its writeback is not the refresh's
        first = timed_refresh(engine, store, writers)
        changed = change_members(con, members, CHANGED_SHARE)
        con.execute("CHECKPOINT")
        os.sync()  # the same for the changes and the first refresh's table
        second = timed_refresh(engine, store, writers)
        engine.close()
    return {
        "members": members,
        "purchases": purchases,
        "threads": threads,
        "duckdb_memory_limit": memory_limit,
        "writers": writers,
        "as_of": AS_OF.isoformat().replace("+00:00", "Z"),
        "rows": generated["rows"],
        "generate_seconds": generated["generate_seconds"],
        "duckdb_file_mb": file_mb,
        "column_bytes": sizes,
        "first_refresh": first,
        "changed_members": changed,
        "second_refresh": second,
        "peak_rss_mb": peak_rss_mb(),
    }


# -- reporting -------------------------------------------------------------------------
def markdown(report: dict) -> str:
    from devtools.doc_figures import markdown_table

    first, second = report["first_refresh"], report["second_refresh"]
    lines = [
        f"{report['members']:,} members, {report['purchases']:,} purchases "
        f"({report['rows']['transactions']:,} transaction rows, {report['rows']['earn_items']:,} item rows, "
        f"{report['rows']['coupon_events']:,} coupon events; DuckDB file {report['duckdb_file_mb']:,} MB), "
        f"DuckDB threads {report['threads']}, DuckDB memory limit {report.get('duckdb_memory_limit') or 'default'}, "
        f"threads sending the member writes {report.get('writers', 1)}, "
        f"as of {report['as_of']}.",
        "",
    ]
    # one summary query per window (`summary <from>..<to>`): added up in one row
    summaries = [q for q in first["queries"] if q["query"].startswith("summary ") and ".." in q["query"]]
    others = [q for q in first["queries"] if q not in summaries]
    rows = [(q["query"], f"{q['rows']:,}", f"{q['seconds']:.2f}") for q in others]
    if summaries:
        rows.append(
            (
                f"summary × {len(summaries)} ({len(summaries) - 4} months + 4 day windows)",
                f"{sum(q['rows'] for q in summaries):,}",
                f"{sum(q['seconds'] for q in summaries):.2f} (slowest {max(q['seconds'] for q in summaries):.2f})",
            )
        )
    lines.append(markdown_table(["first refresh: query", "rows", "seconds"], rows, right=(1, 2)))

    def refresh_row(label: str, r: dict) -> tuple:
        return (
            label,
            r["seconds"],
            r.get("cpu_seconds", ""),
            r.get("load_average", ""),
            r["query_seconds"],
            r["compute_and_store_seconds"],
            f"{r['member_writes']:,}",
            f"{r['peak_rss_mb']:,}",
        )

    lists = second.get("recommendations_reordered", 0) + second.get("recommendations_rescored", 0)
    without = second["member_writes"] - second["writes"].get("recommendations_put", 0)
    without -= second["writes"].get("recommendations_delete", 0)
    lines += [
        "",
        markdown_table(
            [
                "refresh",
                "wall s",
                "CPU s",
                "load average",
                "queries s",
                "compute + store s",
                "member writes",
                "peak RSS MiB",
            ],
            [
                refresh_row("first (full)", first),
                refresh_row(f"second ({report['changed_members']:,} members changed)", second),
            ],
            right=(1, 2, 4, 5, 6, 7),
        ),
        "",
        f"Second refresh member writes: {second['member_writes'] / report['members']:.2%} of members "
        f"(goal ≤ 2%); writes by kind {second['writes']}; members whose RFM scores moved with the "
        f"boundaries but whose INSIGHTS item was not rewritten (scores read at request time): "
        f"{second.get('rescored_not_rewritten', 0):,}. Without the recommendation lists: "
        f"{without / report['members']:.2%} of members. Recommendation lists rewritten: {lists:,} "
        f"({lists / report['members']:.2%} of members): {second.get('recommendations_reordered', 0):,} whose "
        f"skus or their order changed, {second.get('recommendations_rescored', 0):,} whose scores alone changed.",
    ]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=20_000_000)
    parser.add_argument("--threads", type=int, default=2, help="DuckDB threads (default 2)")
    parser.add_argument(
        "--duckdb-memory", default=None, help="DuckDB memory_limit, e.g. 2GB (default: DuckDB's, 80%% of RAM)"
    )
    parser.add_argument(
        "--writers",
        type=int,
        default=1,
        help="threads sending the member writes (the refresh's `writers`; default 1: the stand-in "
        "table's work is CPU under Python's lock, where on AWS a request mostly waits for the network)",
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--write-docs", action="store_true", help=f"write the figures into {DOC.relative_to(ROOT)}")
    parser.add_argument("--generate-into", help=argparse.SUPPRESS)  # the child process making the facts
    args = parser.parse_args(argv)
    if args.members < 10 or args.purchases < 1:
        parser.error("--members must be at least 10 and --purchases at least 1")
    if args.generate_into:
        print(json.dumps(generate(args.generate_into, args.members, args.purchases, args.threads)))
        return 0
    if args.write_docs:
        from devtools.doc_figures import require_block

        require_block(DOC, BLOCK)
    report = measure(args.members, args.purchases, args.threads, args.duckdb_memory, args.writers)
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    else:
        print(markdown(report))
    if args.write_docs:
        from devtools.doc_figures import command_line, write_block

        write_block(DOC, BLOCK, markdown(report), command_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())

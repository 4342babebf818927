"""The engines the analytics queries run on (contract §17).

- `DuckDBEngine`: locally (tests, the local service), an embedded DuckDB holding
  the fact tables; `append` adds rows, `query` runs SQL.
- `AthenaEngine`: on AWS, Amazon Athena over the facts Firehose writes to S3 as
  Parquet (Glue tables of the same names and columns).

Rows are appended, never updated: the latest row per key wins (queries pick it
with `row_number() over (partition by <key> order by seq desc) = 1`). The local
engine keeps each row once: a record applied again (a feed that stopped before
saving its checkpoint) adds nothing (`UNIQUE_KEYS`). Athena's facts can hold a
row twice (Lambda and Firehose deliver at least once): queries pick the latest
row per key, and count coupon events by (coupon_id, event, seq), earn items and
breakdown lines by (transaction_id, line), campaign members by (campaign_id,
member_id, generation) and campaign coupons by coupon_id.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import repeat
from typing import Any, Optional

from chalicelib.analytics.facts import (
    BREAKDOWN_LINES,
    CAMPAIGN_COUPONS,
    CAMPAIGN_MEMBERS,
    COLUMNS,
    COUPON_EVENTS,
    EARN_ITEMS,
    MEMBERS,
    TRANSACTIONS,
)

SCHEMA = {
    MEMBERS: """
        member_id VARCHAR NOT NULL, generation INTEGER NOT NULL, enrolled_at TIMESTAMP, enrolled_date DATE,
        tier VARCHAR, balance BIGINT, last_activity_at TIMESTAMP, dormant BOOLEAN, status VARCHAR,
        seq VARCHAR NOT NULL""",
    TRANSACTIONS: """
        transaction_id VARCHAR NOT NULL, member_id VARCHAR, generation INTEGER, type VARCHAR, points BIGINT,
        created_at TIMESTAMP, created_date DATE, occurred_at TIMESTAMP, occurred_date DATE, order_id VARCHAR,
        amount BIGINT, refunded_amount BIGINT, seq VARCHAR NOT NULL""",
    EARN_ITEMS: """
        transaction_id VARCHAR NOT NULL, member_id VARCHAR, generation INTEGER, occurred_date DATE,
        line INTEGER NOT NULL, sku VARCHAR, category VARCHAR, amount BIGINT""",
    COUPON_EVENTS: """
        coupon_id VARCHAR NOT NULL, member_id VARCHAR, generation INTEGER, event VARCHAR NOT NULL,
        event_at TIMESTAMP, event_date DATE, seq VARCHAR NOT NULL""",
    BREAKDOWN_LINES: """
        transaction_id VARCHAR NOT NULL, member_id VARCHAR, generation INTEGER, occurred_date DATE,
        line INTEGER NOT NULL, rule VARCHAR, points BIGINT""",
    CAMPAIGN_MEMBERS: """
        campaign_id VARCHAR NOT NULL, member_id VARCHAR NOT NULL, generation INTEGER NOT NULL, arm VARCHAR,
        assigned_at TIMESTAMP""",
    CAMPAIGN_COUPONS: """
        coupon_id VARCHAR NOT NULL, campaign_id VARCHAR, member_id VARCHAR, generation INTEGER""",
}
# What makes a row the same row delivered again (the local engine keeps it once).
UNIQUE_KEYS = {
    MEMBERS: ("member_id", "generation", "seq"),
    TRANSACTIONS: ("transaction_id", "seq"),
    EARN_ITEMS: ("transaction_id", "line"),
    COUPON_EVENTS: ("coupon_id", "event", "seq"),
    BREAKDOWN_LINES: ("transaction_id", "line"),
    CAMPAIGN_MEMBERS: ("campaign_id", "member_id", "generation"),
    CAMPAIGN_COUPONS: ("coupon_id",),
}


class DuckDBEngine:
    """An embedded DuckDB with the fact tables (in memory, or in the file `path`)."""

    dialect = "duckdb"

    def __init__(self, path: Optional[str] = None):
        import duckdb  # the analytics engine: never imported by the API (see test_cold_start_imports)

        self.path = path
        self.connection = duckdb.connect(path or ":memory:")
        # every query orders what it returns: DuckDB need not keep rows in insertion order (less
        # memory and more parallel work in the large joins and group bys of a refresh)
        self.connection.execute("SET preserve_insertion_order = false")
        self.lock = threading.Lock()  # one connection, used by one thread at a time
        self._ahead: Optional[ThreadPoolExecutor] = None  # runs the queries `submit` starts
        self.beside_threads = BesideThreads()  # DuckDB's threads while they run
        self._submitted = 0  # queries submitted so far (numbered from 1)
        with self.lock:
            for table, columns in SCHEMA.items():
                keys = ", ".join(UNIQUE_KEYS[table])
                self.connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns}, PRIMARY KEY ({keys}))")
            # which engine a feed checkpoint belongs to (kept in the file, when there is one)
            self.connection.execute("CREATE TABLE IF NOT EXISTS engine_identity (id VARCHAR NOT NULL)")
            found = self.connection.execute("SELECT id FROM engine_identity").fetchone()
            if found is None:
                found = (str(uuid.uuid4()),)
                self.connection.execute("INSERT INTO engine_identity VALUES (?)", found)
            self.identity: str = found[0]
            self.connection.execute("CREATE TABLE IF NOT EXISTS engine_source (stream_arn VARCHAR NOT NULL)")

    def append(self, table: str, rows: Sequence[dict]) -> int:
        """Add `rows` to `table`; a row already there (same unique key) is skipped.
        Returns how many rows were new."""
        if not rows:
            return 0
        columns = COLUMNS[table]
        values = [tuple(row.get(c) for c in columns) for row in rows]
        marks = ", ".join("?" for _ in columns)
        with self.lock:
            before = self._count(table)
            self.connection.executemany(
                f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({marks})", values
            )
            return self._count(table) - before

    def query(self, sql: str, params: Optional[Sequence[Any] | dict] = None) -> list[dict]:
        with self.lock:
            cursor = self.connection.execute(sql, params) if params else self.connection.execute(sql)
            names = [d[0] for d in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def stream(self, sql: str, batch: int = 10_000) -> Iterator[dict]:
        """`query`'s rows fetched `batch` at a time, for a large result read once (the
        connection stays locked until the rows are all read)."""
        with self.lock:
            yield from _dict_rows(self.connection.execute(sql), batch)

    def submit(self, sql: str, batch: int = 10_000, beside: bool = False) -> Callable[[], Iterator[dict]]:
        """Start `sql` now on a connection of its own, beside whatever this engine runs next
        (DuckDB works in its own threads, without Python's lock); the function returned gives
        its rows, `batch` at a time, once it has finished. Queries submitted run one after
        another, in the order submitted. `beside`: the caller works in Python while it runs,
        so the query leaves it a core (one DuckDB thread fewer than the engine's `threads`,
        at least one, until the caller waits for rows; the setting restored when it ends:
        `BesideThreads`)."""
        with self.lock:
            cursor = self.connection.cursor()
            if self._ahead is None:
                self._ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="duckdb-ahead")
            self._submitted += 1
            number = self._submitted
            if beside:
                running = self._ahead.submit(_execute_beside, self, number, cursor, sql)
            else:
                running = self._ahead.submit(_execute, cursor, sql)

        def rows() -> Iterator[dict]:
            try:
                self._wait(running, number)
                yield from _dict_rows(cursor, batch)
            finally:
                cursor.close()

        return rows

    def _wait(self, running: Any, number: int) -> None:
        """Wait for submitted query `number`; meanwhile a query running beside gets every thread."""
        if not running.done():
            threads = self.beside_threads
            setting = self.connection.cursor()
            try:
                with threads.lock:
                    _set_threads(setting, threads.caller_waits(number))
            finally:
                setting.close()
        running.result()

    def source(self) -> Optional[str]:
        """The stream the facts came from (None: none yet)."""
        with self.lock:
            found = self.connection.execute("SELECT stream_arn FROM engine_source").fetchone()
            return found[0] if found else None

    def start_over(self, stream_arn: str) -> None:
        """Forget every fact: they are to come from `stream_arn` (another table's
        stream, whose sequence numbers say nothing about these rows)."""
        with self.lock:
            for table in SCHEMA:
                self.connection.execute(f"DELETE FROM {table}")
            self.connection.execute("DELETE FROM engine_source")
            self.connection.execute("INSERT INTO engine_source VALUES (?)", [stream_arn])

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.shutdown(wait=True)
        with self.lock:
            self.connection.close()

    def _count(self, table: str) -> int:
        (count,) = self.connection.execute(f"SELECT count(*) FROM {table}").fetchone() or (0,)
        return int(count)


def _execute(cursor: Any, sql: str) -> None:
    cursor.execute(sql)


class BesideThreads:
    """DuckDB's `threads` while queries run beside the caller's Python work (`submit(...,
    beside=True)`): such a query runs with one thread fewer, leaving the caller a core, unless
    the caller waits for its rows or for a query submitted after it (they run in turn): then
    the caller's core is idle, and the query gets every thread (DuckDB's running query takes up
    the threads added). Queries are numbered as submitted, so what a query gets depends on what
    the caller waits for, not on when the caller wakes up. Each method returns the setting to
    apply now (None: leave it); `threads` is the database's setting, so every change is made on
    a connection of its own, one at a time (`lock`)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: Optional[tuple[int, int]] = None  # a beside query: (number, the engine's threads)
        self.waited = 0  # the caller has waited for every query up to this number

    def query_starts(self, number: int, threads: int) -> Optional[int]:
        self.running = (number, threads)
        return None if number <= self.waited else max(1, threads - 1)

    def query_ends(self) -> Optional[int]:
        if self.running is None:
            return None
        threads = self.running[1]
        self.running = None
        return threads

    def caller_waits(self, number: int) -> Optional[int]:
        """The caller waits for query `number` (and so for every query before it)."""
        self.waited = max(self.waited, number)
        if self.running is not None and self.running[0] <= number:
            return self.running[1]  # it holds the caller up: every thread to it
        return None


def _execute_beside(engine: DuckDBEngine, number: int, cursor: Any, sql: str) -> None:
    """`sql` with one DuckDB thread fewer while the caller works (`BesideThreads`)."""
    setting = cursor.cursor()  # a statement on `cursor` would replace its rows
    threads = engine.beside_threads
    try:
        with threads.lock:
            (configured,) = setting.execute("SELECT current_setting('threads')").fetchone()
            _set_threads(setting, threads.query_starts(number, int(configured)))
        try:
            cursor.execute(sql)
        finally:
            with threads.lock:
                _set_threads(setting, threads.query_ends())
    finally:
        setting.close()


def _set_threads(cursor: Any, threads: Optional[int]) -> None:
    if threads is not None:
        cursor.execute(f"SET threads = {int(threads)}")


def _dict_rows(cursor: Any, batch: int) -> Iterator[dict]:
    """A cursor's rows as dicts by column name, fetched `batch` at a time."""
    names = [d[0] for d in cursor.description or []]
    while found := cursor.fetchmany(batch):
        yield from map(dict, map(zip, repeat(names), found))  # a row has a value per column


_local: dict[str, DuckDBEngine] = {}
_local_lock = threading.Lock()


def local_engine(path: Optional[str] = None) -> DuckDBEngine:
    """The process's DuckDB engine (made on first use; `reset_local_engine` forgets it)."""
    with _local_lock:
        if "engine" not in _local:
            _local["engine"] = DuckDBEngine(path)
        return _local["engine"]


def engine_for(settings: Any) -> Any:
    """This deployment's engine: Athena where the stack names its results location
    (`DANGOL_ATHENA_OUTPUT`), else the process's embedded DuckDB (tests, the local service)."""
    if settings.athena_output:
        from chalicelib import aws

        return AthenaEngine(
            aws.client("athena"), settings.athena_workgroup, settings.facts_database, settings.athena_output
        )
    return local_engine()


def reset_local_engine() -> None:
    with _local_lock:
        engine = _local.pop("engine", None)
    if engine is not None:
        engine.close()


class AthenaQueryError(RuntimeError):
    pass


class AthenaEngine:
    """Amazon Athena over the S3 facts: StartQueryExecution in `workgroup` (whose
    results go to `output`, an s3:// prefix) on Glue `database`, polled with
    GetQueryExecution, rows read with GetQueryResults page by page. `client` is
    a boto3 Athena client (made where the refresh is wired)."""

    TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
    dialect = "athena"

    def __init__(
        self,
        client: Any,
        workgroup: str,
        database: str,
        output: str,
        poll_seconds: float = 0.5,
        timeout_seconds: float = 600.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self.output = output
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.sleep = sleep

    def append(self, table: str, rows: Sequence[dict]) -> int:
        raise NotImplementedError("on AWS the stream handler delivers facts through Firehose (analytics/stream.py)")

    def query(self, sql: str, params: Optional[Sequence[Any]] = None) -> list[dict]:
        execution_id = self._start(sql, params)
        self._wait(execution_id)
        return self._rows(execution_id)

    def _start(self, sql: str, params: Optional[Sequence[Any]] = None) -> str:
        request: dict[str, Any] = {
            "QueryString": sql,
            "QueryExecutionContext": {"Database": self.database},
            "WorkGroup": self.workgroup,
            "ResultConfiguration": {"OutputLocation": self.output},
        }
        if params:
            request["ExecutionParameters"] = [athena_literal(p) for p in params]
        return str(self.client.start_query_execution(**request)["QueryExecutionId"])

    def submit(self, sql: str, beside: bool = False) -> Callable[[], Iterator[dict]]:
        """Start `sql` now (Athena runs it beside the others, on its own machines: `beside`
        changes nothing); the function returned waits for it and gives its rows."""
        execution_id = self._start(sql)

        def rows() -> Iterator[dict]:
            self._wait(execution_id)
            yield from self._rows(execution_id)

        return rows

    def _wait(self, execution_id: str) -> None:
        waited = 0.0
        while True:
            status = self.client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                return
            if state in self.TERMINAL:
                raise AthenaQueryError(f"query {execution_id} {state}: {status.get('StateChangeReason', '')}")
            if waited >= self.timeout_seconds:
                raise AthenaQueryError(f"query {execution_id} still {state} after {waited:.0f} s")
            self.sleep(self.poll_seconds)
            waited += self.poll_seconds

    def _rows(self, execution_id: str) -> list[dict]:
        rows: list[dict] = []
        names: Optional[list[str]] = None
        types: list[str] = []
        token: Optional[str] = None
        while True:
            request: dict[str, Any] = {"QueryExecutionId": execution_id, "MaxResults": 1000}
            if token:
                request["NextToken"] = token
            page = self.client.get_query_results(**request)
            result = page["ResultSet"]
            data = result.get("Rows", [])
            if names is None:
                names = [c["Name"] for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
                types = [c.get("Type", "varchar") for c in result.get("ResultSetMetadata", {}).get("ColumnInfo", [])]
                if data and [d.get("VarCharValue") for d in data[0].get("Data", [])] == names:
                    data = data[1:]  # the first page starts with the column names
            for row in data:
                cells = [d.get("VarCharValue") for d in row.get("Data", [])]
                rows.append({n: athena_value(v, t) for n, v, t in zip(names, cells, types, strict=False)})
            token = page.get("NextToken")
            if not token:
                return rows


def athena_literal(value: Any) -> str:
    """An execution parameter as Athena takes it (SQL literal text)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def athena_value(text: Optional[str], type_: str) -> Any:
    """A result cell (always text in GetQueryResults) as the Python value DuckDB would give."""
    if text is None:
        return None
    if type_ in ("tinyint", "smallint", "integer", "bigint"):
        return int(text)
    if type_ == "boolean":
        return text == "true"
    if type_ in ("double", "float", "real"):
        return float(text)
    if type_ == "decimal":
        import decimal

        return decimal.Decimal(text)
    if type_ == "date":
        import datetime as dt

        return dt.date.fromisoformat(text)
    return text

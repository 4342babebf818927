"""One query for many windows (summary.sql over every month and day window) and member_bought
for only the values segment rules name: the same exact answers as one query per window / every
value, and texts that parse in both engines' dialects."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlglot

from chalicelib.analytics import refresh, sql

from .analytics_facts import FactsEngine
from .test_analytics_queries import AS_OF, AS_OF_DATE, WINDOW_START, cafe

WINDOWS = [
    (dt.date(2026, 5, 1), dt.date(2026, 5, 31)),
    (dt.date(2027, 3, 1), dt.date(2027, 3, 31)),
    (dt.date(2027, 4, 1), dt.date(2027, 4, 30)),
    (dt.date(2027, 5, 1), AS_OF_DATE),
    (dt.date(2027, 5, 4), AS_OF_DATE),  # 7 days
    (dt.date(2026, 5, 11), AS_OF_DATE),  # 365 days
    (dt.date(2020, 1, 1), dt.date(2020, 1, 31)),  # before anything: zeros
]


def test_one_query_over_every_window_gives_each_window_its_own_answer():
    facts = cafe()
    together = list(refresh.run_windows_ahead(facts, "summary", WINDOWS, as_of_time=AS_OF)())
    assert [int(row["window_id"]) for row in together] == list(range(len(WINDOWS)))
    for (first, last), row in zip(WINDOWS, together, strict=True):
        (alone,) = refresh.run(facts, "summary", as_of_time=AS_OF, from_date=first, to_date=last)
        assert {k: row[k] for k in refresh.SUMMARY_COLUMNS} == {k: alone[k] for k in refresh.SUMMARY_COLUMNS}
    assert together[-1]["members_at_end"] == 0 and together[-1]["purchases"] == 0
    assert facts.queries == 1 + len(WINDOWS)


@pytest.mark.parametrize("engine", sql.ENGINES)
def test_the_windows_and_named_values_render_for_both_engines(engine):
    text = sql.render_windows("summary", engine, WINDOWS, as_of_time=AS_OF)
    assert text.count("AS window_id") == len(WINDOWS)
    assert sqlglot.parse_one(text, read=engine)
    text = sql.render_named(
        "member_bought",
        engine,
        [("category", "it's"), ("sku", "SKU-1")],
        as_of_time=AS_OF,
        as_of_date=AS_OF_DATE,
        window_start=WINDOW_START,
    )
    assert "'it''s'" in text and "every_value" in text
    assert sqlglot.parse_one(text, read=engine)
    with pytest.raises(ValueError):
        sql.render_windows("summary", engine, WINDOWS, as_of_time=AS_OF, from_date=AS_OF_DATE)
    with pytest.raises(ValueError):
        sql.render_named(
            "member_bought",
            engine,
            [("tier", "gold")],
            as_of_time=AS_OF,
            as_of_date=AS_OF_DATE,
            window_start=WINDOW_START,
        )


def bought(facts: FactsEngine, named: list[tuple[str, str]]) -> set[tuple]:
    rows = refresh.run_named_ahead(
        facts, "member_bought", named, as_of_time=AS_OF, as_of_date=AS_OF_DATE, window_start=WINDOW_START
    )()
    return {(r["member_id"], r["category"], r["sku"]) for r in rows}


def test_member_bought_returns_only_the_named_categories_and_skus():
    facts = cafe()
    assert bought(facts, [("category", "coffee"), ("sku", "SKU-2"), ("category", "tea")]) == {
        ("A", "coffee", None),  # F's coffee is outside the window
        ("A", None, "SKU-2"),
    }
    assert bought(facts, [("category", "beans")]) == {("D", "beans", None)}  # refunded or not
    assert bought(facts, []) == set()  # nothing named: nothing to ship


def test_the_named_values_are_those_of_the_bought_rules():
    definitions = {
        "coffee": [
            {"field": "bought_category", "op": "eq", "value": "coffee"},
            {"field": "clv", "op": "gte", "value": 1},
        ],
        "cake": [
            {"field": "bought_sku", "op": "eq", "value": "SKU-2"},
            {"field": "bought_category", "op": "eq", "value": "coffee"},
        ],
        "big": [{"field": "tier", "op": "eq", "value": "gold"}],
    }
    assert refresh.named_bought_values(definitions) == [("category", "coffee"), ("sku", "SKU-2")]


def test_the_embedded_engine_streams_a_large_result_in_batches():
    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        rows = engine.stream("SELECT range AS n FROM range(25000) ORDER BY n", batch=1000)
        assert not isinstance(rows, list)
        assert [row["n"] for row in rows] == list(range(25000))
        assert engine.query("SELECT 1 AS one") == [{"one": 1}]  # the connection is free again
    finally:
        engine.close()


def test_the_embedded_engine_runs_a_submitted_query_beside_its_own_connection():
    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        engine.connection.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(30000)")
        first = engine.submit("SELECT n FROM numbers ORDER BY n", batch=1000)
        second = engine.submit("SELECT sum(n) AS total FROM numbers")
        # the engine's own connection is free while they run (the refresh reads members meanwhile)
        assert engine.query("SELECT count(*) AS c FROM numbers") == [{"c": 30000}]
        assert list(second()) == [{"total": sum(range(30000))}]
        assert [row["n"] for row in first()] == list(range(30000))
    finally:
        engine.close()


def test_a_query_run_beside_the_refresh_leaves_it_a_core_and_gives_its_own_rows():
    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        engine.connection.execute("SET threads = 3")
        engine.connection.execute("CREATE TABLE numbers AS SELECT range AS n FROM range(30000)")
        seen = engine.submit("SELECT current_setting('threads') AS threads, count(*) AS c FROM numbers", beside=True)
        rows = engine.submit("SELECT n FROM numbers ORDER BY n", batch=1000, beside=True)
        assert engine._ahead is not None
        engine._ahead.submit(lambda: None).result()  # both ran while the caller was not waiting
        assert list(seen()) == [{"threads": 2, "c": 30000}]  # one thread fewer while it ran
        assert [row["n"] for row in rows()] == list(range(30000))  # its rows, not the setting's
        assert engine.query("SELECT current_setting('threads') AS t") == [{"t": 3}]  # put back

        engine.connection.execute("SET threads = 1")  # never fewer than one
        alone = engine.submit("SELECT current_setting('threads') AS t", beside=True)
        engine._ahead.submit(lambda: None).result()
        assert list(alone()) == [{"t": 1}]
    finally:
        engine.close()


def test_a_query_the_caller_waits_for_gets_every_thread_and_the_setting_is_put_back():
    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        engine.connection.execute("SET threads = 2")
        total = "SELECT sum(a.range * b.range) AS s FROM range(3000) AS a, range(3000) AS b"
        for _ in range(3):  # the caller waits at once: whether it ran lowered or not, the same rows
            assert list(engine.submit(total, beside=True)()) == [{"s": sum(range(3000)) ** 2}]
            assert engine.query("SELECT current_setting('threads') AS t") == [{"t": 2}]
        assert engine.beside_threads.running is None
    finally:
        engine.close()


def test_the_caller_waiting_gives_the_query_running_beside_every_thread():
    import threading
    import time
    from concurrent.futures import Future

    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        engine.connection.execute("SET threads = 1")  # as a beside query of a 2-thread engine runs
        engine.beside_threads.running = (1, 2)  # query 1 runs beside with one thread fewer
        running: Future = Future()
        waiter = threading.Thread(target=engine._wait, args=(running, 2), daemon=True)
        waiter.start()
        setting = engine.connection.cursor()
        try:
            deadline, found = time.monotonic() + 5, None
            while found != (2,) and time.monotonic() < deadline:  # set once the caller waits
                found = setting.execute("SELECT current_setting('threads')").fetchone()
                time.sleep(0.01)
            assert found == (2,) and engine.beside_threads.waited == 2
        finally:
            running.set_result(None)
        waiter.join(5)
        assert not waiter.is_alive()
    finally:
        engine.close()


def test_beside_threads_leave_a_core_unless_the_caller_waits_for_the_query_or_one_after_it():
    from chalicelib.analytics.engine import BesideThreads

    threads = BesideThreads()
    assert threads.query_starts(1, 4) == 3  # the caller works: one thread fewer
    assert threads.caller_waits(2) == 4  # it waits for a later query: the running one holds it up
    assert threads.query_ends() == 4  # put back
    assert threads.query_starts(2, 4) is None  # the query waited for starts with every thread
    assert threads.query_ends() == 4
    # the caller woke up from its wait after query 3 had started: 3 still leaves it a core
    assert threads.query_starts(3, 4) == 3
    assert threads.caller_waits(2) is None  # done already: nothing running holds it up
    assert threads.query_ends() == 4
    assert threads.caller_waits(5) is None  # nothing running beside: nothing to change
    assert threads.query_starts(4, 1) is None and threads.query_ends() == 1
    assert threads.query_starts(6, 1) == 1  # never fewer than one
    assert threads.query_ends() == 1 and threads.query_ends() is None


def test_a_query_run_beside_that_fails_puts_the_threads_back():
    import duckdb

    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        engine.connection.execute("SET threads = 2")
        with pytest.raises(duckdb.CatalogException):
            list(engine.submit("SELECT * FROM no_such_table", beside=True)())
        assert engine.query("SELECT current_setting('threads') AS t") == [{"t": 2}]
    finally:
        engine.close()


def test_a_submitted_query_that_fails_raises_when_its_rows_are_read():
    import duckdb

    from chalicelib.analytics.engine import DuckDBEngine

    engine = DuckDBEngine()
    try:
        rows = engine.submit("SELECT * FROM no_such_table")
        with pytest.raises(duckdb.CatalogException):
            list(rows())
        assert engine.query("SELECT 1 AS one") == [{"one": 1}]
    finally:
        engine.close()

"""scripts/benchmark_analytics.py at a tiny size: its report has every figure, and a refresh
after a few members changed writes to fewer members than the full one."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "benchmark_analytics.py"


def test_tiny_run_reports_every_figure_and_the_second_refresh_writes_less():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--members", "2000", "--purchases", "20000", "--threads", "1", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    for key in (
        "members",
        "purchases",
        "threads",
        "rows",
        "column_bytes",
        "first_refresh",
        "second_refresh",
        "changed_members",
        "peak_rss_mb",
    ):
        assert key in report
    assert report["rows"]["members"] == 2000
    assert report["rows"]["transactions"] >= 20000
    assert set(report["column_bytes"]) == {"members", "transactions", "earn_items", "coupon_events"}
    first, second = report["first_refresh"], report["second_refresh"]
    for refresh in (first, second):
        for key in (
            "seconds",
            "query_seconds",
            "compute_and_store_seconds",
            "queries",
            "member_writes",
            "writes",
            "peak_rss_mb",
        ):
            assert key in refresh
        names = {q["query"].split()[0] for q in refresh["queries"]}
        assert names == {"member_values", "member_bought", "recommendations", "cohorts", "program_start", "summary"}
    assert report["changed_members"] == 20
    assert first["member_writes"] > 0
    assert 0 < second["member_writes"] < first["member_writes"]
